"""PyTorch helpers (torch is optional: it is imported only here, when a function is called).

::

    import nnr.torch
    data = nnr.torch.encode(model)                 # a module or a state dict, every entry kept
    nnr.torch.load_state_dict(model, data)         # decode + model.load_state_dict(strict=True)
    sd = nnr.torch.state_dict(data)                # {name: torch.Tensor} in the original dtypes

Everything in the state dict is coded: float tensors (float32 / bf16 / fp16 / fp8) quantized
from float32, integer buffers (``num_batches_tracked``, step counters) as integers, 0-d entries
with their shape recorded; decoding restores dtypes and shapes, so ``load_state_dict(...,
strict=True)`` accepts the result.

Data-driven encoding with the caller's data (:func:`nnr.torch.encode_model`, :class:`nnr.torch.ModelData`)::

    data = nnr.torch.encode_model(model, train_loader, loss=F.cross_entropy, metric=accuracy,
                                  qp=-30, bnf=True, lsa=True, ioq=True)
    nnr.torch.load_model(model, data)              # scaling applied, folded batch norms undone

(NNCodec's ``nn.encode`` / ``compress_model``, and so the
drop-in :mod:`nnr.nncodec.nn`, leave ``num_batches_tracked`` out; their streams load with
``strict=False`` only.)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

if sys.version_info >= (3, 11) or TYPE_CHECKING:  # annotations only (lazy): Python 3.10 needs no Unpack
    from typing import Unpack

from nnr.block_layout import BlockRole
from nnr.decoder import Decoder
from nnr.dtypes import NUMPY_LACKS
from nnr.encoder import EncodeKeywords, StreamOptions
from nnr.encoder import encode as _encode
from nnr.encoding.datadriven import DataDrivenStep
from nnr.encoding.model import role_of_type
from nnr.encoding.pytorch import describe_state_dict, guess_blocks, state_dict_of
from nnr.errors import NNRUsageError
from nnr.usage import check_keywords

__all__ = ["EncodeModelOptions", "ModelData", "Tuning", "describe", "encode", "encode_model", "load_model",
           "load_state_dict", "model_state_dict", "state_dict"]


def _torch() -> Any:
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise NNRUsageError("nnr.torch needs torch (pip install torch)") from None
    return torch


def _state_dict_of(obj: Any) -> Mapping[str, Any]:
    torch = _torch()
    if isinstance(obj, torch.nn.Module):
        sd: Mapping[str, Any] = obj.state_dict()
        return sd
    if isinstance(obj, Mapping):
        return obj
    raise NNRUsageError(f"expected a torch.nn.Module or a state dict, got {type(obj).__name__}")


def encode(model: Any, **options: Unpack[StreamOptions]) -> bytes:
    """One stream of a module's state dict (or a state dict), options as :func:`nnr.encode`
    (every original dtype recorded: ``record_dtypes=True``)."""
    options.setdefault("record_dtypes", True)
    return _encode(dict(_state_dict_of(model)), **options)


def state_dict(stream: Any, *, dtype: object = "original") -> dict[str, Any]:
    """Decode a stream into ``{name: torch.Tensor}`` (by default in the original dtypes)."""
    torch = _torch()
    ds = Decoder().decode_stream(stream)
    arrays = ds.arrays(None)
    original = ds.original()
    out: dict[str, Any] = {}
    for name, v in arrays.items():
        want = None
        if isinstance(dtype, str) and dtype == "original":
            rec = original.get(name)
            want = rec.dtype if rec is not None else None
        elif dtype is not None and v.dtype.kind == "f":
            want = str(dtype).removeprefix("torch.")
        t = torch.from_numpy(np.ascontiguousarray(v))
        if want is not None and want != str(v.dtype):
            target = getattr(torch, want, None)
            if target is None or not isinstance(target, torch.dtype):
                raise NNRUsageError(f"tensor {name!r}: torch has no dtype {want!r}")
            if want in NUMPY_LACKS or target.is_floating_point or not t.is_floating_point():
                t = t.to(target)
            else:
                t = t.round().to(target)
        out[name] = t
    return out


def load_state_dict(module: Any, stream: Any, *, strict: bool = True, dtype: object = "original") -> Any:
    """Decode ``stream`` and load it into ``module`` (``module.load_state_dict(..., strict)``);
    returns what ``load_state_dict`` returns (missing / unexpected keys)."""
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise NNRUsageError(f"expected a torch.nn.Module, got {type(module).__name__}")
    return module.load_state_dict(state_dict(stream, dtype=dtype), strict=strict)


# =============================================================================================
# Data-driven encoding of a module: IOQ, LSA, FT and batch-norm folding with the caller's data


class Tuning(TypedDict, total=False):
    """How :class:`ModelData` tunes and evaluates (each optional; defaults in brackets):
    ``eval_loader`` [``loader``], ``epochs`` [1], ``lr`` [1e-3], ``max_batches`` [None: all],
    ``keep_best`` [True]."""

    eval_loader: Any
    epochs: int
    lr: float
    max_batches: int | None
    keep_best: bool


class ModelData:
    """A module with its data, as the data-driven tools' ``evaluate`` and ``tune`` callables
    (:mod:`nnr.encoding.datadriven`).

    ``loader`` yields ``(inputs, targets)`` batches (a ``DataLoader`` or any iterable);
    ``loss(outputs, targets)`` is a scalar tensor to minimise (LSA, FT); ``metric(outputs,
    targets)`` a number, larger is better (IOQ; averaged over the batches weighted by their size),
    on ``eval_loader`` (default ``loader``).  Tuning runs ``epochs`` passes of Adam at ``lr`` over
    at most ``max_batches`` batches each, with the module in eval mode (batch norm uses and keeps
    its running statistics, dropout is off).  LSA trains one factor per output channel of each
    weight (``<weight>_scaling``) with the weights frozen at their quantized values; FT trains the
    module's other non-weight parameters (biases, batch-norm scales and shifts).
    With ``keep_best`` (the default) the tuned values kept are those of the epoch with the lowest
    mean loss on ``eval_loader`` (the values before tuning count as epoch 0; an epoch must lower
    it by more than 1e-3), as NNCodec's PyTorch executer keeps them.
    ``progress(step, done, total)`` is called per tuning batch.  The module itself is not changed.
    """

    def __init__(self, module: Any, loader: Any, loss: Any = None, metric: Any = None, *, progress: Any = None,
                 **tuning: Unpack[Tuning]) -> None:
        check_keywords("ModelData", tuning, Tuning)
        eval_loader, epochs, lr = tuning.get("eval_loader"), tuning.get("epochs", 1), tuning.get("lr", 1e-3)
        max_batches, keep_best = tuning.get("max_batches"), tuning.get("keep_best", True)
        torch = _torch()
        if not isinstance(module, torch.nn.Module):
            raise NNRUsageError(f"expected a torch.nn.Module, got {type(module).__name__}")
        for name, fn in (("loss", loss), ("metric", metric), ("progress", progress)):
            if fn is not None and not callable(fn):
                raise NNRUsageError(f"{name} must be None or a callable, got {fn!r}")
        if loader is None or not hasattr(loader, "__iter__"):
            raise NNRUsageError(f"loader must be an iterable of (inputs, targets) batches, got {loader!r}")
        if not (isinstance(epochs, int) and epochs >= 1) or not (isinstance(max_batches, int) or max_batches is None):
            raise NNRUsageError("epochs must be an int >= 1 and max_batches None or an int")
        self.module = module
        self.loader = loader
        self.eval_loader = eval_loader if eval_loader is not None else loader
        self.loss = loss
        self.metric = metric
        self.epochs = epochs
        self.lr = float(lr)
        self.max_batches = max_batches
        self.progress = progress
        self.keep_best = bool(keep_best)

    def _inputs(self, params: Mapping[str, Any], trainable: Mapping[str, Any]) -> dict[str, Any]:
        """The module's tensors for ``functional_call``: weights times their scaling factors."""
        torch = _torch()
        own = dict(self.module.state_dict())
        out: dict[str, Any] = {}
        for name, v in params.items():
            if name.endswith("_scaling") or name not in own:
                continue
            t = trainable.get(name)
            if t is None:
                t = torch.as_tensor(np.asarray(v)).to(own[name].dtype).reshape(own[name].shape)
            out[name] = t
        for name in list(out):
            s_name = name + "_scaling"
            if s_name in params:
                s = trainable.get(s_name)
                if s is None:
                    s = torch.as_tensor(np.asarray(params[s_name], dtype=np.float32))
                out[name] = out[name] * s.reshape([-1] + [1] * (out[name].dim() - 1))
        return out

    def _batches(self, loader: Any) -> Any:
        for i, batch in enumerate(loader):
            if self.max_batches is not None and i >= self.max_batches:
                return
            if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
                raise NNRUsageError("loader must yield (inputs, targets) batches")
            yield batch[0], batch[1]

    def evaluate(self, params: Mapping[str, Any]) -> float:
        """The metric of the module with ``params`` (weighted mean over ``eval_loader``)."""
        if self.metric is None:
            raise NNRUsageError("ioq needs metric, a callable metric(outputs, targets) -> number (larger is better)")
        torch = _torch()
        from torch.func import functional_call  # type: ignore[import-not-found, unused-ignore]

        was = self.module.training
        self.module.eval()
        total, n = 0.0, 0
        try:
            with torch.no_grad():
                tensors = self._inputs(params, {})
                for x, y in self._batches(self.eval_loader):
                    k = int(len(y))
                    total += float(self.metric(functional_call(self.module, tensors, (x,)), y)) * k
                    n += k
        finally:
            self.module.train(was)
        if n == 0:
            raise NNRUsageError("eval_loader yielded no batches")
        return total / n

    def tune(self, params: Mapping[str, Any], types: Mapping[str, str], lsa: bool, fine_tune: bool
             ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train the scaling factors (``lsa``) and / or the non-weight parameters (``fine_tune``)."""
        if self.loss is None:
            raise NNRUsageError("lsa and fine_tune need loss, a callable loss(outputs, targets) -> scalar tensor")
        torch = _torch()
        from torch.func import functional_call

        learnable = {n for n, _ in self.module.named_parameters()}
        train: dict[str, Any] = {}
        for name, v in params.items():
            t = types.get(name)
            role = role_of_type(t)
            tuned_here = fine_tune and name in learnable and t is not None and role not in (BlockRole.WEIGHT,
                                                                                            BlockRole.LS)
            if (lsa and role == BlockRole.LS) or tuned_here:
                train[name] = torch.tensor(np.asarray(v, dtype=np.float32), requires_grad=True)
        if not train:
            return {}, {}
        opt = torch.optim.Adam(list(train.values()), lr=self.lr)
        was = self.module.training
        self.module.eval()
        try:
            best = {n: v.detach().numpy().copy() for n, v in train.items()}
            best_loss = self._mean_loss(params, train) if self.keep_best else 0.0
            total = self.epochs * self._count()
            done = 0
            for _ in range(self.epochs):
                for x, y in self._batches(self.loader):
                    opt.zero_grad()
                    out = functional_call(self.module, self._inputs(params, train), (x,))
                    self.loss(out, y).backward()
                    opt.step()
                    done += 1
                    if self.progress is not None:
                        self.progress(DataDrivenStep.TUNE, done, max(total, done))
                now = self._mean_loss(params, train) if self.keep_best else 0.0
                if not self.keep_best or now < best_loss - 1e-3:
                    best_loss = now
                    best = {n: v.detach().numpy().copy() for n, v in train.items()}
        finally:
            self.module.train(was)
        out_ls = {n: v for n, v in best.items() if role_of_type(types.get(n)) == BlockRole.LS}
        out_ft = {n: v for n, v in best.items() if role_of_type(types.get(n)) != BlockRole.LS}
        return out_ls, out_ft

    def _mean_loss(self, params: Mapping[str, Any], train: Mapping[str, Any]) -> float:
        """The loss on ``eval_loader`` (weighted mean over the batches)."""
        torch = _torch()
        from torch.func import functional_call

        total, n = 0.0, 0
        with torch.no_grad():
            tensors = self._inputs(params, {k: v.detach() for k, v in train.items()})
            for x, y in self._batches(self.eval_loader):
                k = int(len(y))
                total += float(self.loss(functional_call(self.module, tensors, (x,)), y)) * k
                n += k
        return total / n if n else 0.0

    def _count(self) -> int:
        try:
            n = len(self.loader)
        except TypeError:
            return 0
        return min(n, self.max_batches) if self.max_batches is not None else n


def describe(module: Any, *, lsa: bool = False, blocks: bool = False
             ) -> tuple[dict[str, Any], Any, dict[str, Any] | None]:
    """(parameters, model description, block_id_and_param_type) of a module as the encoder takes
    them: NNCodec's PyTorch description (``num_batches_tracked`` left out); with ``lsa`` a
    ``<weight>_scaling`` tensor of ones after every weight of two or more dimensions; with
    ``blocks`` (or ``lsa``) the blocks found from the module's structure: each weight with its
    bias, scaling and the batch norm that follows it (None when the structure has none)."""
    sd, bn_info = state_dict_of(module)
    if lsa:
        with_ls: dict[str, Any] = {}
        for name, v in sd.items():
            with_ls[name] = v
            if name.endswith(".weight") and v.ndim > 1 and not bn_info.get(name, False):
                with_ls[name + "_scaling"] = np.ones(v.shape[0], dtype=np.float32)
                bn_info[name + "_scaling"] = False
        sd = with_ls
    params, m = describe_state_dict(sd)
    spec = guess_blocks(params, bn_info) if (blocks or lsa) else None
    return params, m, spec


class EncodeModelOptions(EncodeKeywords, Tuning, total=False):
    """The keyword arguments of :func:`encode_model`: the settings of :func:`nnr.encode`
    (:class:`nnr.encoder.EncodeKeywords`), :class:`Tuning`, ``loss``, ``metric``, ``progress``
    and :func:`nnr.encode`'s ``workers``, ``dtypes``, ``record_dtypes``."""

    loss: Any
    metric: Any
    progress: Any
    workers: int
    dtypes: Mapping[str, str] | None
    record_dtypes: bool | None


_MODEL_DATA_KEYWORDS = ("loss", "metric", "progress") + tuple(Tuning.__optional_keys__)


def encode_model(module: Any, loader: Any = None, **options: Unpack[EncodeModelOptions]) -> bytes:
    """Encode a module with the data-driven tools, its data given by ``loader`` (see
    :class:`nnr.torch.ModelData`, also for ``epochs``, ``lr``, ``max_batches``, ``keep_best``): ``ioq``
    needs ``metric``, ``lsa`` / ``fine_tune`` need ``loss``;
    ``bnf`` folds each batch norm into the weight before it (found from the module's structure);
    other settings as :func:`nnr.encode`.  ``progress``: a callable ``progress(step, done,
    total)`` (:class:`nnr.encoding.datadriven.DataDrivenStep`) or True for a bar on stderr.
    :func:`nnr.torch.load_model` loads the stream back into the module."""
    settings: dict[str, Any] = {k: v for k, v in options.items() if k not in _MODEL_DATA_KEYWORDS}
    tuning: dict[str, Any] = {k: v for k, v in options.items() if k in Tuning.__optional_keys__}
    loss, metric, progress = options.get("loss"), options.get("metric"), options.get("progress")
    ioq, lsa, fine_tune = (bool(settings.pop(k, False)) for k in ("ioq", "lsa", "fine_tune"))
    bnf = settings.pop("bnf", False)
    tools = [t for t, on in (("ioq", ioq), ("lsa", lsa), ("fine_tune", fine_tune)) if on]
    if tools and loader is None:
        raise NNRUsageError(f"{', '.join(tools)} need(s) loader, an iterable of (inputs, targets) batches")
    if ioq and metric is None:
        raise NNRUsageError("ioq needs metric, a callable metric(outputs, targets) -> number (larger is better)")
    if (lsa or fine_tune) and loss is None:
        raise NNRUsageError("lsa and fine_tune need loss, a callable loss(outputs, targets) -> scalar tensor")
    report = _stderr_progress() if progress is True else (progress or None)
    params, m, spec = describe(module, lsa=lsa, blocks=True)
    if lsa and spec is None:
        raise NNRUsageError("lsa: no blocks found in the module's structure (weights of two or more dimensions)")
    data = ModelData(module, loader if loader is not None else [], loss, metric, progress=report,
                     **tuning) if tools else None
    return _encode(params, model=m, block_id_and_param_type=spec, bnf=bnf and spec is not None, ioq=ioq, lsa=lsa,
                   fine_tune=fine_tune, evaluate=data.evaluate if data else None, tune=data.tune if data else None,
                   tool_progress=report, **settings)


def _stderr_progress() -> Any:
    def show(step: DataDrivenStep, done: int, total: int) -> None:
        pct = int(100 * done / total) if total else 100
        sys.stderr.write(f"\r{step.value:>4} [{'#' * (pct * 30 // 100):<30}] {pct:3d}%")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def model_state_dict(module: Any, stream: Any) -> dict[str, Any]:
    """The state dict a stream of :func:`nnr.torch.encode_model` gives ``module``: local scaling applied to
    the weights, a folded batch norm made the identity with the folded bias put back (into the
    weight's bias, or else the batch norm's shift), ``num_batches_tracked`` kept from the module."""
    torch = _torch()
    ds = Decoder(reconstruct_lsa=True).decode_stream(stream)
    dec = {o.name: o.value for o in ds.outputs}
    own = module.state_dict()
    out: dict[str, Any] = {}
    _, _, spec = describe(module, blocks=True)
    folded: dict[str, str] = {}  # bn prefix -> weight name, for batch norms absent from the stream
    if spec is not None:
        by_block: dict[str, dict[str, str]] = {}
        for name, b in spec["block_identifier"].items():
            if b is not None:
                by_block.setdefault(b, {})[spec["parameter_type"][name]] = name
        for members in by_block.values():
            if "bn.mean" in members and members["bn.mean"] not in dec and "weight" in members:
                folded[members["bn.mean"].rsplit(".", 1)[0]] = members["weight"]
    for prefix, w in folded.items():
        bias = dec.pop(w + ".bias", None) if (w + ".bias") in dec else None
        wb = w.rsplit(".", 1)[0] + ".bias"
        dec[prefix + ".weight"] = np.ones_like(own[prefix + ".weight"].numpy())
        dec[prefix + ".running_mean"] = np.zeros_like(own[prefix + ".running_mean"].numpy())
        eps = float(getattr(module.get_submodule(prefix), "eps", 0.0))
        dec[prefix + ".running_var"] = np.full_like(own[prefix + ".running_var"].numpy(), 1.0 - eps)
        if wb in own and wb in dec:
            dec[prefix + ".bias"] = np.zeros_like(own[prefix + ".bias"].numpy())
        else:
            dec[prefix + ".bias"] = bias if bias is not None else np.zeros_like(own[prefix + ".bias"].numpy())
    for name, ref in own.items():
        if name in dec:
            out[name] = torch.as_tensor(np.asarray(dec.pop(name))).to(ref.dtype).reshape(ref.shape)
        elif name.endswith("num_batches_tracked"):
            out[name] = ref.clone()
        else:
            raise NNRUsageError(f"the stream has no tensor for {name!r}")
    if dec:
        raise NNRUsageError(f"the stream has tensors the module does not: {', '.join(sorted(dec)[:5])}")
    return out


def load_model(module: Any, stream: Any) -> Any:
    """Load a stream of :func:`nnr.torch.encode_model` into ``module`` (see :func:`nnr.torch.model_state_dict`)."""
    return module.load_state_dict(model_state_dict(module, stream), strict=True)
