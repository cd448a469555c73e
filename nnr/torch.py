"""PyTorch helpers (torch is optional: it is imported only here, when a function is called).

::

    import nnr.torch
    data = nnr.torch.encode(model)                 # a module or a state dict, every entry kept
    nnr.torch.load_state_dict(model, data)         # decode + model.load_state_dict(strict=True)
    sd = nnr.torch.state_dict(data)                # {name: torch.Tensor} in the original dtypes

Everything in the state dict is coded: float tensors (float32 / bf16 / fp16 / fp8) quantized
from float32, integer buffers (``num_batches_tracked``, step counters) as integers, 0-d entries
with their shape recorded; decoding restores dtypes and shapes, so ``load_state_dict(...,
strict=True)`` accepts the result.  (NNCodec's ``nn.encode`` / ``compress_model``, and so the
drop-in :mod:`nnr.nncodec.nn`, leave ``num_batches_tracked`` out; their streams load with
``strict=False`` only.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nnr.errors import NNRUsageError

__all__ = ["encode", "load_state_dict", "state_dict"]


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


def encode(model: Any, **settings: Any) -> bytes:
    """One stream of a module's state dict (or a state dict), settings as :func:`nnr.encode`
    (every original dtype recorded: ``record_dtypes=True``)."""
    from nnr.encoder import encode as _encode

    settings.setdefault("record_dtypes", True)
    return _encode(dict(_state_dict_of(model)), **settings)


def state_dict(stream: Any, *, dtype: object = "original") -> dict[str, Any]:
    """Decode a stream into ``{name: torch.Tensor}`` (by default in the original dtypes)."""
    torch = _torch()
    import numpy as np

    from nnr.decoder import Decoder
    from nnr.dtypes import NUMPY_LACKS

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
