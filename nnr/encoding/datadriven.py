"""Data-driven encoding: inference-optimised quantization, local scaling adaptation, fine tuning.

These processes decide what the encoder codes by running the model on data; the data and the
model stay with the caller, who provides two callables (the protocol of :class:`nnr.encoding.datadriven.DataDriven`):

``evaluate(parameters) -> number``
    The model's performance (larger is better, e.g. accuracy) with ``parameters``, a dict of
    name -> array in the encoder's tensor order (quantized tensors reconstructed as float32).
``tune(parameters, parameter_types, lsa, fine_tune) -> (scaling, tuned)``
    Train the model starting from ``parameters`` (weights already reconstructed from their
    levels) and return two dicts: ``scaling`` maps local-scaling tensors (``<weight>_scaling``,
    one factor per output channel) to their trained values, ``tuned`` maps non-weight tensors
    (biases, batch-norm tensors) to their fine-tuned values.  ``parameter_types`` maps every
    tensor to its parameter type (``"weight"``, ``"weight.ls"``, ``"bias"``, ``"bn.mean"``, ...).

The decisions are NNCodec 2.1.3's, so that the drop-in (``nnr.nncodec.nnc``, whose model
executers are adapted to this protocol) writes NNCodec's bytes:

* **IOQ** (inference-optimised quantization) searches a QP per weight tensor.  The stream at the
  configured QPs is the reference (its size and performance).  Two trials with every weight QP
  lowered and raised by one give a rate-performance slope λ (the mean of the two, at least 0).
  Then, for each weight tensor but the largest (largest first), the offsets -4..-1 and 1..4 of
  its configured QP are tried on top of the QPs accepted so far; a trial is accepted when its
  cost, (reference performance - trial performance) + λ · (trial size - reference size), is
  below the best cost so far (which starts at 0).  Each trial is a full stream and one
  ``evaluate``.
* **LSA** (local scaling adaptation) and **FT** (fine tuning) run after IOQ, before batch-norm
  folding.  The model is quantized with the chosen QPs and reconstructed; with LSA every
  tensor is quantized except the local-scaling tensors, with FT alone only the weights are.
  ``tune`` gets these values.  Tuned non-weight tensors replace the originals (they are
  quantized again when the stream is coded); trained scaling factors replace the block's
  ``<weight>_scaling`` tensor and get the non-weight QP (``nonweight_qp``, or the weight QP
  minus ``2 << qp_density``) with dependent quantization as ``use_dq`` says, whatever QP they had.
  The quantization before tuning is NNCodec's approximation without encoder information: as
  for an edition-1 stream (``general_profile_idc`` 0), without parameter optimisation.

Local scaling needs its tensors in the model: for each weight to be scaled, a ``<weight>_scaling``
tensor (ones, one per output channel) of type ``"weight.ls"`` in the weight's block.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.block_layout import BlockRole
from nnr.encoding.approx import Approximation, QuantLayer, QuantMethod, approximate, coding_order, stepsize_from_qp
from nnr.encoding.settings import EncodeSettings
from nnr.encoding.stream import write_stream
from nnr.errors import NNRUsageError
from nnr.units.types import CompressedParameterTypes as CPT

__all__ = ["DataDriven", "DataDrivenStep", "Evaluate", "Tune", "reconstruct"]

Params = dict[str, npt.NDArray[Any]]
Evaluate = Callable[[Params], Any]
Tune = Callable[[Params, dict[str, str], bool, bool], Any]

# IOQ's QP offsets per tensor, in the order they are tried
IOQ_OFFSETS = (-4, -3, -2, -1, 1, 2, 3, 4)


class DataDrivenStep(enum.Enum):
    """What a data-driven progress report counts."""

    IOQ = "ioq"  # trial streams evaluated (done, total)
    TUNE = "tune"  # tuning (0, 1) before, (1, 1) after


class LsaUnknown(enum.Enum):
    """What to do with a trained scaling tensor the model does not code."""

    REFUSE = "refuse"
    IGNORE = "ignore"  # NNCodec's drop-in: left out of the stream, as NNCodec leaves it


@dataclass
class DataDriven:
    """The data-driven tools of one encoding, with the callables they need (see the module)."""

    evaluate: Evaluate | None = None
    tune: Tune | None = None
    ioq: bool = False
    lsa: bool = False
    fine_tune: bool = False
    progress: Callable[[DataDrivenStep, int, int], None] | None = None
    unknown_scaling: LsaUnknown = LsaUnknown.REFUSE

    @property
    def active(self) -> bool:
        return self.ioq or self.lsa or self.fine_tune

    def check(self) -> None:
        """Each tool has what it needs (:class:`nnr.NNRUsageError` naming the argument otherwise)."""
        if self.ioq and not callable(self.evaluate):
            raise NNRUsageError("ioq needs evaluate, a callable evaluate(parameters) -> performance "
                                "(larger is better)")
        if (self.lsa or self.fine_tune) and not callable(self.tune):
            tools = " and ".join(t for t, on in (("lsa", self.lsa), ("fine_tune", self.fine_tune)) if on)
            raise NNRUsageError(f"{tools} need(s) tune, a callable tune(parameters, parameter_types, lsa, "
                                "fine_tune) -> (scaling, tuned)")
        if self.progress is not None and not callable(self.progress):
            raise NNRUsageError("data-driven progress must be None or a callable progress(step, done, total)")

    def run(self, a: Approximation, s: EncodeSettings, qfn: QuantLayer, workers: int = 1) -> None:
        """IOQ, then LSA / FT, on an approximation whose QPs are assigned (before batch-norm folding)."""
        self.check()
        if self.ioq:
            assert self.evaluate is not None
            a.qp = ioq_search(a, s, qfn, self.evaluate, workers, self.progress)
        if self.lsa or self.fine_tune:
            assert self.tune is not None
            if self.progress is not None:
                self.progress(DataDrivenStep.TUNE, 0, 1)
            tune_parameters(a, s, qfn, self.tune, self.lsa, self.fine_tune, workers, self.unknown_scaling)
            if self.progress is not None:
                self.progress(DataDrivenStep.TUNE, 1, 1)


def reconstruct(a: Approximation) -> Params:
    """The encoder-side reconstruction of every tensor, in ``a.params`` order: quantized tensors
    as level × step size (float32; codebook tensors float64), the others as they are."""
    out: Params = {}
    for name in a.params:
        q = a.out.get(name)
        if q is None:
            out[name] = a.params[name]
        elif q.method == QuantMethod.UNIFORM:
            step = np.float32(stepsize_from_qp(q.qp, a.qp_density))
            out[name] = q.values.astype(np.float32) * step
        elif q.method == QuantMethod.CODEBOOK:
            cb = np.asarray(q.codebook, dtype=np.int32) * stepsize_from_qp(q.qp, a.qp_density)
            out[name] = cb[q.values + q.cb_zero]
        else:
            out[name] = q.values
    return out


def _quantized_copy(a: Approximation, s: EncodeSettings, qfn: QuantLayer, qp: Mapping[str, int],
                    workers: int) -> Approximation:
    t = replace(a, qp=dict(qp), dq=dict(a.dq), out={})
    approximate(t, s, qfn, None, workers)
    return t


def _trial(a: Approximation, s: EncodeSettings, qfn: QuantLayer, qp: Mapping[str, int],
           workers: int) -> tuple[int, Params]:
    """One IOQ trial: the size of the whole stream at these QPs and its reconstruction (coded as
    NNCodec's search codes it: no incremental state, no HDSP)."""
    t = _quantized_copy(a, s, qfn, qp, workers)
    res = write_stream(t, s, state=None, hdsp=False, put_nodes=False, workers=workers)
    return len(res.data), reconstruct(t)


def _slope(perf_loss: Any, size_change: int) -> Any:
    """-Δperformance / Δsize (numpy's inf / nan when the size did not change)."""
    if size_change == 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.float64(perf_loss) / np.float64(0)
    return -perf_loss / size_change


def _weights(a: Approximation) -> list[str]:
    m = a.model
    out = []
    for name in a.qp:
        if name not in m.dims:
            raise NNRUsageError(f"ioq: tensor {name!r} is a decomposition factor; IOQ is not defined for "
                                "decomposed weights (NNCodec fails)")
        if m.role(name) == BlockRole.WEIGHT:
            out.append(name)
    return out


def ioq_search(a: Approximation, s: EncodeSettings, qfn: QuantLayer, evaluate: Evaluate, workers: int = 1,
               progress: Callable[[DataDrivenStep, int, int], None] | None = None) -> dict[str, int]:
    """Inference-optimised quantization: the QPs IOQ chooses (see the module)."""
    base = dict(a.qp)
    weights = _weights(a)
    if not weights:
        return base
    by_size = sorted(((n, int(a.params[n].size)) for n in a.params if n in weights), key=lambda x: x[1], reverse=True)
    tried = by_size[1:]
    total = 3 + len(tried) * len(IOQ_OFFSETS)
    done = 0

    def measure(qp: Mapping[str, int]) -> tuple[int, Any]:
        nonlocal done
        size, rec = _trial(a, s, qfn, qp, workers)
        perf = evaluate(rec)
        done += 1
        if progress is not None:
            progress(DataDrivenStep.IOQ, done, total)
        return size, perf

    ref_size, ref_perf = measure(base)
    slopes = []
    for delta in (-1, 1):
        size, perf = measure({n: q + delta if n in weights else q for n, q in base.items()})
        slopes.append(_slope(ref_perf - perf, size - ref_size))
    lam = max((slopes[1] + slopes[0]) / 2, 0.0)
    best = dict(base)
    best_cost: Any = 0.0
    for name, _ in tried:
        for off in IOQ_OFFSETS:
            cand = dict(best)
            cand[name] = base[name] + off
            size, perf = measure(cand)
            cost = (ref_perf - perf) + lam * (size - ref_size)
            if cost < best_cost:
                best, best_cost = cand, cost
    return best


def _as_float32(name: str, value: Any, what: str) -> npt.NDArray[np.float32]:
    try:
        v = np.asarray(value)
    except Exception as e:  # noqa: BLE001 - any unconvertible object is the caller's error
        raise NNRUsageError(f"tune returned {what} {name!r} that is not an array: {e}") from None
    if v.dtype.kind not in "fiu" or v.size == 0:
        raise NNRUsageError(f"tune returned {what} {name!r} of dtype {v.dtype} and size {v.size}; "
                            "expected a non-empty numeric array")
    v = v.astype(np.float32)
    if not np.all(np.isfinite(v)):
        raise NNRUsageError(f"tune returned {what} {name!r} with NaN or infinite values")
    return v


def _pairs(result: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    if not (isinstance(result, (tuple, list)) and len(result) == 2
            and all(isinstance(d, Mapping) or d is None for d in result)):
        raise NNRUsageError("tune must return a pair (scaling, tuned) of dicts name -> array")
    return result[0] or {}, result[1] or {}


def tune_parameters(a: Approximation, s: EncodeSettings, qfn: QuantLayer, tune: Tune, lsa: bool, fine_tune: bool,
                    workers: int = 1, unknown_scaling: LsaUnknown = LsaUnknown.REFUSE) -> list[str]:
    """LSA and / or FT (see the module); returns the names of the scaling tensors ``tune`` trained."""
    m = a.model
    before = replace(s, general_profile_idc=0, param_opt=False, compress_differences=False, pre_signalling=False)
    t = _quantized_copy(a, before, qfn, a.qp, workers)
    rec = reconstruct(t)
    keep_float = {name for name, role in coding_order(a)
                  if role is None or (role == BlockRole.LS if lsa else role not in (BlockRole.WEIGHT, BlockRole.DC_G,
                                                                                   BlockRole.DC_H))}
    given = {n: (a.params[n] if n in keep_float else rec[n]) for n in a.params}
    types = {n: m.types.get(n, "unspecified") for n in m.dims}
    scaling, tuned = _pairs(tune(given, types, lsa, fine_tune))
    if fine_tune:
        for name, v in tuned.items():
            if name not in a.params:
                raise NNRUsageError(f"tune returned a tuned tensor {name!r} that the model does not have")
            arr = _as_float32(name, v, "tuned tensor")
            if arr.size != a.params[name].size:
                raise NNRUsageError(f"tune returned tuned tensor {name!r} with {arr.size} values; it has "
                                    f"{a.params[name].size}")
            a.params[name] = arr.reshape(a.params[name].shape)
    names: list[str] = []
    if lsa:
        scaled = _scaling_tensors(a)
        for name, v in scaling.items():
            if name in scaled or name in a.params:
                arr = _as_float32(name, v, "scaling tensor")
                want = scaled[name] if name in scaled else int(a.params[name].size)
                if arr.size != want:
                    raise NNRUsageError(f"tune returned scaling tensor {name!r} with {arr.size} values; "
                                        f"it needs {want}")
                a.params[name] = arr.reshape(a.params[name].shape if name not in scaled else (want,))
                names.append(name)
            elif unknown_scaling == LsaUnknown.REFUSE:
                raise NNRUsageError(f"tune returned scaling tensor {name!r}, which the model does not code: give "
                                    "each scaled weight a '<weight>_scaling' tensor (ones) of type 'weight.ls' in "
                                    "its block")
            else:
                warnings.warn(f"scaling tensor {name!r} is not in the model and is left out of the stream "
                              "(as NNCodec leaves it out)", stacklevel=3)
                names.append(name)
        for b, cpt in a.cpt.items():
            if cpt & CPT.NNR_CPT_LS:
                ls = m.block(b).ls
                a.qp[ls] = s.qp_other
                a.dq[ls] = 1 if s.use_dq else 0
    return names


def _scaling_tensors(a: Approximation) -> dict[str, int]:
    """Local-scaling tensors the blocks code -> their number of factors (the weight's rows)."""
    out: dict[str, int] = {}
    for b, cpt in a.cpt.items():
        if cpt & CPT.NNR_CPT_LS:
            blk = a.model.block(b)
            out[blk.ls] = int(a.model.dims[blk.w][0])
    return out
