"""Original tensor dtypes and shapes: recorded at encoding, restored at decoding on request.

NNR codes float tensors from float32 (quantized) and integer tensors as int32 levels.  A
checkpoint's tensors are often bf16 / fp16 (sometimes fp8), its buffers int64 and 0-d
(``num_batches_tracked``).  The encoder codes them from float32 / int32 and records what the
caller had:

* ``nnr_decompressed_data_format`` in the NDU header (``..._present_flag`` 1) where its
  enumeration has the dtype: float16, float64, int8, int16, int64 (NNCodec's values, see
  :class:`nnr.units.types.DecompressedDataFormat`; NNCodec's decoder reads and ignores it).
* a *tensor-info record* for what that enumeration cannot express (bfloat16, float8, unsigned
  and bool dtypes, 0-d shapes): an ``NNR_TPL`` unit with ``topology_storage_format``
  NNR_TPL_UNREC whose ``topology_data`` is the text ``nnr.tensor_info/1`` and a JSON object
  ``{"tensors": {name: {"dtype": ..., "shape": [...]}}}`` (an ``st(v)`` string, as NNCodec writes
  topology data; decoders that do not know it ignore a topology unit).  This is an nnr
  convention, not part of the standard (docs/deviations.rst).

Streams of float32 / int32 tensors with shapes of one or more dimensions carry neither, so
their bytes stay NNCodec's.  numpy has no bfloat16 / float8 dtypes: such tensors are returned as
``ml_dtypes`` arrays when that package is installed, as torch tensors by :mod:`nnr.torch`, and
written as such by the safetensors writer (:mod:`nnr.checkpoint`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.errors import NNRUsageError
from nnr.units.types import DecompressedDataFormat

__all__ = ["TENSOR_INFO_MAGIC", "TensorInfo", "cast_to", "decode_record", "encode_record", "from_float32_bits",
           "to_float32", "FLOAT_DTYPES", "INT_DTYPES"]

TENSOR_INFO_MAGIC = b"nnr.tensor_info/1"

FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64", "float8_e4m3fn", "float8_e5m2")
INT_DTYPES = ("int32", "int8", "int16", "int64", "uint8", "uint16", "uint32", "uint64", "bool")
NUMPY_LACKS = ("bfloat16", "float8_e4m3fn", "float8_e5m2")
RECORD_DTYPES = frozenset(FLOAT_DTYPES + INT_DTYPES)  # what a tensor-info record may name

# dtypes that nnr_decompressed_data_format can carry (NNCodec's enumeration)
FORMAT_OF = {
    "int32": DecompressedDataFormat.TENSOR_INT32,
    "float32": DecompressedDataFormat.TENSOR_FLOAT32,
    "int8": DecompressedDataFormat.TENSOR_INT8,
    "int16": DecompressedDataFormat.TENSOR_INT16,
    "int64": DecompressedDataFormat.TENSOR_INT64,
    "float16": DecompressedDataFormat.TENSOR_FLOAT16,
    "float64": DecompressedDataFormat.TENSOR_FLOAT64,
}
DTYPE_OF_FORMAT = {int(v): k for k, v in FORMAT_OF.items()}


@dataclass(frozen=True)
class TensorInfo:
    """What the caller gave: dtype name (numpy / torch spelling without ``torch.``) and shape."""

    dtype: str
    shape: tuple[int, ...]


def dtype_name(value: Any) -> str:
    """The dtype of a numpy array, ml_dtypes array or torch tensor, as one of our names."""
    name = str(getattr(value, "dtype", ""))
    name = name.removeprefix("torch.")
    return {"bool_": "bool", "half": "float16", "float": "float32", "double": "float64",
            "long": "int64", "int": "int32", "short": "int16"}.get(name, name)


# -- bfloat16 / float8 bits -------------------------------------------------------------------------


def _fp8_table(exp_bits: int, man_bits: int, fn: bool) -> npt.NDArray[np.float32]:
    """Values of the 256 float8 codes (``fn``: no infinities, only 0x7f / 0xff are NaN)."""
    bias = (1 << (exp_bits - 1)) - 1
    codes = np.arange(256)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    e = (codes >> man_bits) & ((1 << exp_bits) - 1)
    m = codes & ((1 << man_bits) - 1)
    sub = e == 0
    val = np.where(sub, m / (1 << man_bits) * 2.0 ** (1 - bias), (1 + m / (1 << man_bits)) * 2.0 ** (e - bias))
    top = e == (1 << exp_bits) - 1
    if fn:
        val = np.where(top & (m == (1 << man_bits) - 1), np.nan, val)
    else:
        val = np.where(top, np.where(m == 0, np.inf, np.nan), val)
    return (sign * val).astype(np.float32)


FP8 = {"float8_e4m3fn": _fp8_table(4, 3, True), "float8_e5m2": _fp8_table(5, 2, False)}


def to_float32(bits: npt.NDArray[Any], dtype: str) -> npt.NDArray[np.float32]:
    """float32 values of raw bfloat16 (uint16) or float8 (uint8) bit patterns."""
    if dtype == "bfloat16":
        return (bits.astype(np.uint32) << 16).view(np.float32)
    return FP8[dtype][bits.astype(np.uint8)]


def from_float32_bits(x: npt.NDArray[np.float32], dtype: str) -> npt.NDArray[Any]:
    """Raw bit patterns (uint16 / uint8) of float32 values rounded to bfloat16 / float8
    (round to nearest, ties to even; float8 e4m3fn saturates at ±448)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dtype == "bfloat16":
        u = x.view(np.uint32).astype(np.uint64)
        r = (u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
        return r.astype(np.uint16)
    table = FP8[dtype]
    pos = table[:128]
    finite = np.isfinite(pos)
    codes = np.nonzero(finite)[0]
    vals = pos[codes]  # increasing with the code
    mag = np.minimum(np.abs(x), vals[-1])
    i = np.clip(np.searchsorted(vals, mag), 1, len(vals) - 1)
    lo, hi = vals[i - 1], vals[i]
    take_hi = (hi - mag < mag - lo) | ((hi - mag == mag - lo) & (codes[i] % 2 == 0))
    code = np.where(take_hi, codes[i], codes[i - 1]).astype(np.uint8)
    code = np.where(mag == 0, 0, code).astype(np.uint8)
    return np.where(np.signbit(x) & (code != 0), code | 0x80, code).astype(np.uint8)


def _ml_dtypes(dtype: str) -> Any:
    try:
        import ml_dtypes  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return getattr(ml_dtypes, dtype, None)


def cast_to(name: str, v: npt.NDArray[Any], dtype: str) -> npt.NDArray[Any]:
    """``v`` (decoded float32 / int32) as ``dtype``: numpy dtypes directly, bfloat16 / float8 as
    ml_dtypes arrays (an :class:`NNRUsageError` without that package)."""
    if dtype in NUMPY_LACKS:
        t = _ml_dtypes(dtype)
        if t is None:
            raise NNRUsageError(f"tensor {name!r} was {dtype}, which numpy lacks: install ml_dtypes, use "
                                f"nnr.torch, write a .safetensors file, or decode with dtype=None (float32)")
        return from_float32_bits(v.astype(np.float32), dtype).view(t)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise NNRUsageError(f"unknown dtype {dtype!r}") from None
    out: npt.NDArray[Any] = np.rint(v).astype(dt) if dt.kind in "iub" and v.dtype.kind == "f" else v.astype(dt)
    return out


# -- the tensor-info record -------------------------------------------------------------------------


def encode_record(info: Mapping[str, TensorInfo]) -> bytes:
    """``topology_data`` of the tensor-info NNR_TPL unit (without the st(v) terminator)."""
    body = {"tensors": {k: {"dtype": v.dtype, "shape": list(v.shape)} for k, v in info.items()}}
    return TENSOR_INFO_MAGIC + b"\n" + json.dumps(body, separators=(",", ":"), sort_keys=False).encode()


def decode_record(topology_data: bytes) -> dict[str, TensorInfo] | None:
    """The record in a topology unit's data, or None when the data is something else."""
    data = topology_data.rstrip(b"\x00")
    if not data.startswith(TENSOR_INFO_MAGIC + b"\n"):
        return None
    try:
        body = json.loads(data[len(TENSOR_INFO_MAGIC) + 1:].decode())
        out: dict[str, TensorInfo] = {}
        for k, v in body["tensors"].items():
            shape, dt = v["shape"], v["dtype"]
            # only the dtypes nnr records (no object, string, datetime, void or structured
            # arrays from a hostile record) and shapes of non-negative ints
            if (dt not in RECORD_DTYPES or not isinstance(shape, list)
                    or not all(type(d) is int and d >= 0 for d in shape)):
                continue
            out[str(k)] = TensorInfo(dt, tuple(shape))
        return out
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError):
        return None  # not ours: ignored like any topology


def unit_format(info: Mapping[str, TensorInfo], names: list[str]) -> int | None:
    """``nnr_decompressed_data_format`` for an NDU carrying ``names``: the format of their common
    original dtype when the enumeration has it and it is not the coded one, else None."""
    dts = {info[n].dtype if n in info else None for n in names}
    if len(dts) != 1:
        return None
    dt = dts.pop()
    if dt is None or dt in ("float32", "int32") or dt not in FORMAT_OF:
        return None
    return int(FORMAT_OF[dt])


def record_entries(info: Mapping[str, TensorInfo], unit_names: list[list[str]]) -> dict[str, TensorInfo]:
    """The entries the NDU headers cannot carry: 0-d shapes, dtypes outside the enumeration, and
    tensors whose unit (a block) mixes dtypes."""
    out: dict[str, TensorInfo] = {}
    for names in unit_names:
        fmt = unit_format(info, names)
        for n in names:
            t = info.get(n)
            if t is None:
                continue
            if len(t.shape) == 0 or fmt is None or DTYPE_OF_FORMAT[fmt] != t.dtype:
                out[n] = t
    return out
