"""Checking and converting the caller's tensors before anything is coded.

The encoder codes float32 tensors (quantized) and int32 tensors (as integers, NNR_PT_INT).
:func:`prepare_tensors` converts other numeric dtypes the way NNCodec's front ends do
(float16 / float64 -> float32; int8/16/64, uint8/16/32/64 -> int32) but, unlike NNCodec, refuses
what would silently change values or produce a corrupt stream: NaN or infinite values (also
float64 values beyond the float32 range), integers outside int32, 0-d and empty tensors, and
dtypes without a meaning here (bool, complex, strings, objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.errors import NNRUsageError
from nnr.units.compressed_data_unit import MAX_TENSOR_DIMENSIONS
from nnr.usage import check_name

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def _as_array(name: str, value: Any) -> npt.NDArray[Any]:
    if isinstance(value, np.ndarray):
        return value
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
