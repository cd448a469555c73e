"""Checks of what a peer sends, against what the receiver already knows (docs/robustness.rst).

The server knows the model layout (names, shapes, dtypes) and its bookkeeping; a client reply is
held to them field by field before anything is decoded or aggregated.  Each check raises
:class:`ReplyFieldError` naming the field; :class:`nnr.fl.NNCStrategy` turns it into a
``CorruptReplyError`` naming node and round and leaves the reply out.  The client mod holds the
server's bookkeeping values to the same checks (:func:`config_int`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.errors import NNRError

__all__ = ["ReplyFieldError", "config_float", "config_int", "decode_limits", "plain_arrays", "stream_field",
           "weight_value"]


class ReplyFieldError(NNRError):
    """One field of a peer's message is malformed (its name and what is wrong)."""


def config_int(conf: Mapping[str, Any], key: str, default: int, lo: int = 0, hi: int = 1 << 62) -> int:
    """An integer bookkeeping value of a ConfigRecord, in ``lo..hi`` (absent: ``default``)."""
    v = conf.get(key, default)
    if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)) or not lo <= int(v) <= hi:
        raise ReplyFieldError(f"{key!r} is {_show(v)}, not an integer in {lo}..{hi}")
    return int(v)


def config_float(conf: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    """A finite, non-negative number of a ConfigRecord (absent: ``default``)."""
    v = conf.get(key, default)
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, (bool, np.bool_)) \
            or not math.isfinite(float(v)) or float(v) < 0:
        raise ReplyFieldError(f"{key!r} is {_show(v)}, not a finite non-negative number")
    return float(v)


def stream_field(array: Any, key: str, stream_stype: str, max_bytes: int) -> bytes:
    """The bytes of a stream field (an ``Array`` of ``stype`` ``stream_stype``)."""
    stype, data = getattr(array, "stype", None), getattr(array, "data", None)
    if stype != stream_stype or not isinstance(data, (bytes, bytearray, memoryview)):
        raise ReplyFieldError(f"{key!r} is not an NNC stream array (stype {_show(stype)})")
    if len(data) > max_bytes:
        raise ReplyFieldError(f"{key!r} holds {len(data)} bytes, more than {max_bytes}")
    return bytes(data)


def plain_arrays(record: Mapping[str, Any], names: tuple[str, ...], shapes: tuple[tuple[int, ...], ...],
                 dtypes: tuple[str, ...], only: set[str] | None = None) -> dict[str, npt.NDArray[Any]]:
    """Arrays of a record that must have the model layout's names (``only``: just these),
    shapes and dtypes, with finite float values."""
    want = [(n, s, d) for n, s, d in zip(names, shapes, dtypes) if only is None or n in only]
    extra = set(record) - {n for n, _, _ in want} - (set(names) if only is not None else set())
    if extra:
        raise ReplyFieldError(f"array {_show(sorted(extra)[0])} is not part of the model")
    out: dict[str, npt.NDArray[Any]] = {}
    for n, shape, dt in want:
        a = record.get(n)
        if a is None:
            raise ReplyFieldError(f"the reply lacks array {n!r}")
        if getattr(a, "dtype", None) is not None and not isinstance(a, np.ndarray):
            if getattr(a, "stype", None) != "numpy.ndarray":
                raise ReplyFieldError(f"array {n!r} has stype {_show(getattr(a, 'stype', None))}")
            try:
                a = a.numpy()
            except Exception as e:  # noqa: BLE001 -- Flower's deserialization of hostile bytes
                raise ReplyFieldError(f"array {n!r} does not deserialize ({type(e).__name__})") from None
        if not isinstance(a, np.ndarray):
            raise ReplyFieldError(f"{n!r} is not an array")
        want_dt = np.dtype(dt)
        same_kind = a.dtype.kind == want_dt.kind or (a.dtype.kind in "iu" and want_dt.kind in "iu")
        if a.dtype.fields is not None or not same_kind or tuple(a.shape) != tuple(shape):
            raise ReplyFieldError(f"array {n!r} is {a.dtype.str} {tuple(a.shape)}, the model's is {dt} {shape}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ReplyFieldError(f"array {n!r} holds non-finite values")
        out[n] = a.astype(want_dt, copy=False)  # a client may train in float64: the model's dtype
    return out


def weight_value(metrics: Mapping[str, Any], key: str) -> float:
    """The weighting value of a reply (``num-examples``): a finite non-negative number."""
    if key not in metrics:
        raise ReplyFieldError(f"the MetricRecord lacks {key!r}")
    return config_float(metrics, key)


def decode_limits(shapes: tuple[tuple[int, ...], ...]) -> dict[str, int]:
    """Decoder limits from the model layout: no tensor larger than the model's largest, no more
    units than a stream of the model can have (each tensor its own NDU, plus the parameter sets
    and topology units)."""
    largest = max((math.prod(s) for s in shapes), default=1)
    return {"max_tensor_elements": max(1, largest), "max_units": 2 * len(shapes) + 16}


def _show(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
