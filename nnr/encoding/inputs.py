"""Checking and converting the caller's tensors before anything is coded.

The encoder codes float32 tensors (quantized) and int32 tensors (as integers, NNR_PT_INT).
:func:`prepare_tensors` converts other numeric dtypes the way NNCodec's front ends do
(float16 / float64 -> float32; int8/16/64, uint8/16/32/64 -> int32) but, unlike NNCodec, refuses
what would silently change values or produce a corrupt stream: NaN or infinite values (also
float64 values beyond the float32 range), integers outside int32, 0-d and empty tensors, and
dtypes without a meaning here (bool, complex, strings, objects).

:func:`prepare_tensors_with_info` (``nnr.encode``, ``nnr.Encoder``, :mod:`nnr.torch`) accepts
more, as checkpoints have it: bfloat16 / float8 tensors (torch, ml_dtypes) coded from float32,
and 0-d tensors coded with shape (1,); it returns the original
dtypes and shapes (:class:`nnr.dtypes.TensorInfo`) for the stream to record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.dtypes import FLOAT_DTYPES, INT_DTYPES, NUMPY_LACKS, TensorInfo, dtype_name
from nnr.errors import NNRUsageError
from nnr.limits import INT32_MAX, INT32_MIN
from nnr.units.compressed_data_unit import MAX_TENSOR_DIMENSIONS
from nnr.usage import check_name



def _as_array(name: str, value: Any) -> npt.NDArray[Any]:
    if isinstance(value, np.ndarray):
        if value.dtype.name in NUMPY_LACKS:  # ml_dtypes bfloat16 / float8
            return value.astype(np.float32)
        return value
    if dtype_name(value) in NUMPY_LACKS and callable(getattr(value, "float", None)):
        value = value.float()  # torch bfloat16 / float8: numpy cannot hold them
    to_numpy = getattr(value, "numpy", None)  # torch / tensorflow tensors
    if callable(to_numpy):
        detach = getattr(value, "detach", None)
        if callable(detach):
            value = detach()
            cpu = getattr(value, "cpu", None)
            if callable(cpu):
                value = cpu()
        return np.asarray(value.numpy())
    if isinstance(value, (list, tuple)) or np.isscalar(value):
        try:
            return np.asarray(value)
        except ValueError as e:  # ragged nesting
            raise NNRUsageError(f"tensor {name!r}: not a rectangular array ({e})") from None
    raise NNRUsageError(f"tensor {name!r}: expected a numpy array, got {type(value).__name__}")


def prepare_tensor(name: str, value: Any, *, convert: bool = True) -> npt.NDArray[Any]:
    """One tensor as float32 or int32 (see the module docstring); ``convert=False`` accepts only
    float32 and int32 (NNCodec's ``compress``)."""
    if not isinstance(name, str):
        raise NNRUsageError(f"tensor names must be strings, got {type(name).__name__}")
    if not name or "\x00" in name:
        raise NNRUsageError(f"tensor name {name!r} cannot be coded (empty or containing NUL)")
    check_name("tensors", name)
    a = _as_array(name, value)
    if a.ndim == 0:
        raise NNRUsageError(f"tensor {name!r} is 0-dimensional; give it shape (1,)")
    if a.ndim > MAX_TENSOR_DIMENSIONS:
        raise NNRUsageError(f"tensor {name!r} has {a.ndim} dimensions; a stream carries at most "
                            f"{MAX_TENSOR_DIMENSIONS}")
    if a.size == 0:
        raise NNRUsageError(f"tensor {name!r} is empty (shape {a.shape})")
    kind = a.dtype.kind
    if kind == "f":
        if not convert and a.dtype != np.float32:
            raise NNRUsageError(f"tensor {name!r} is {a.dtype}; compress takes float32 or int32 arrays")
        if a.dtype.itemsize > 8:
            raise NNRUsageError(f"tensor {name!r}: dtype {a.dtype} is not supported")
        if not np.all(np.isfinite(a)):
            raise NNRUsageError(f"tensor {name!r} contains NaN or infinite values")
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(a, dtype=np.float32)
        if not np.all(np.isfinite(out)):
            raise NNRUsageError(f"tensor {name!r} has values beyond the float32 range")
        return out
    if kind in "iu":
        if not convert and a.dtype != np.int32:
            raise NNRUsageError(f"tensor {name!r} is {a.dtype}; compress takes float32 or int32 arrays")
        if a.dtype.itemsize >= 4 and a.dtype != np.int32:
            lo, hi = int(a.min()), int(a.max())
            if lo < INT32_MIN or hi > INT32_MAX:
                raise NNRUsageError(f"tensor {name!r} ({a.dtype}) has values outside the int32 range "
                                    f"({lo}..{hi})")
        return np.ascontiguousarray(a, dtype=np.int32)
    raise NNRUsageError(f"tensor {name!r}: dtype {a.dtype} is not supported (use float or integer arrays)")


def prepare_tensors(tensors: Mapping[str, Any], *, convert: bool = True) -> dict[str, npt.NDArray[Any]]:
    if not isinstance(tensors, Mapping):
        raise NNRUsageError(f"expected a mapping of tensor names to arrays, got {type(tensors).__name__}")
    if not tensors:
        raise NNRUsageError("no tensors to encode")
    return {name: prepare_tensor(name, v, convert=convert) for name, v in tensors.items()}


def prepare_tensors_with_info(tensors: Mapping[str, Any], dtypes: Mapping[str, str] | None = None,
                              record: bool | None = None) -> tuple[dict[str, npt.NDArray[Any]], dict[str, TensorInfo]]:
    """Tensors as float32 / int32 arrays, and the original dtype and shape of tensors that were
    not float32 / int32 arrays of one or more dimensions (``dtypes`` overrides the arrays' own
    dtypes, e.g. for bfloat16 values the caller already converted to float32).

    ``record=None`` returns only what NNCodec cannot encode at all (bfloat16 / float8, 0-d
    shapes), so for every input NNCodec takes the stream stays NNCodec's; ``True``: every
    dtype that differs (float16, int64, ...); ``False``: nothing."""
    for k, d in (dtypes or {}).items():
        if k not in tensors:
            raise NNRUsageError(f"dtypes names {k!r}, which is not among the tensors")
        if d not in FLOAT_DTYPES + INT_DTYPES:
            raise NNRUsageError(f"dtypes[{k!r}]: unknown dtype {d!r} (one of {', '.join(FLOAT_DTYPES + INT_DTYPES)})")
    if not isinstance(tensors, Mapping):
        raise NNRUsageError(f"expected a mapping of tensor names to arrays, got {type(tensors).__name__}")
    if not tensors:
        raise NNRUsageError("no tensors to encode")
    out: dict[str, npt.NDArray[Any]] = {}
    info: dict[str, TensorInfo] = {}
    for name, v in tensors.items():
        dt = dtype_name(v) if not isinstance(v, (list, tuple, int, float)) else ""
        a = _as_array(name, v) if isinstance(name, str) else v
        shape = tuple(int(d) for d in np.shape(a))
        if isinstance(a, np.ndarray) and a.ndim == 0:
            a = a.reshape(1)
        out[name] = prepare_tensor(name, a)
        if not dt:
            dt = str(out[name].dtype)
        if dtypes and name in dtypes:
            dt = dtypes[name]
        if record is False:
            continue
        if len(shape) == 0 or dt in NUMPY_LACKS or (record and dt not in ("float32", "int32")):
            info[name] = TensorInfo(dt, shape)
    return out, info
