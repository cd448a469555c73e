"""Checks of API arguments: a misuse raises :class:`nnr.NNRUsageError` naming the argument.

Python's truthiness is not accepted for flags (``use_dq='False'`` is a mistake, not ``True``),
numbers are not parsed from strings, and sizes are Python ints within stated bounds.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

from nnr.errors import NNRUsageError
from nnr.units.compressed_data_unit import OutOfBandParameters


def check_bool(name: str, v: Any) -> bool:
    """A flag: ``True``/``False`` (or a numpy bool, or the ints 0 / 1)."""
    if isinstance(v, bool):
        return v
    if type(v).__name__ == "bool_" and type(v).__module__ == "numpy":
        return bool(v)
    if isinstance(v, numbers.Integral) and int(v) in (0, 1):
        return bool(int(v))
    raise NNRUsageError(f"{name} must be True or False, got {v!r}")


def check_int(name: str, v: Any, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (Python or numpy, not a bool, not a float or string) within lo..hi."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise NNRUsageError(f"{name} must be an integer, got {v!r}")
    iv = int(v)
    if (lo is not None and iv < lo) or (hi is not None and iv > hi):
        rng = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
        raise NNRUsageError(f"{name} {iv} is outside {rng}")
    return iv


def check_number(name: str, v: Any, lo: float | None = None, hi: float | None = None) -> float:
    """A finite real number (int or float, not a bool or a string) within lo..hi."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise NNRUsageError(f"{name} must be a number, got {v!r}")
    fv = float(v)
    if not math.isfinite(fv) or (lo is not None and fv < lo) or (hi is not None and fv > hi):
        rng = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
        raise NNRUsageError(f"{name} must be a finite number in {rng}, got {v!r}")
    return fv


def check_name(name: str, v: Any) -> str:
    """A tensor name: a str that encodes to UTF-8 (no lone surrogates)."""
    if not isinstance(v, str):
        raise NNRUsageError(f"{name}: tensor names must be str, got {type(v).__name__} {v!r}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise NNRUsageError(f"{name}: tensor name {v!r} is not encodable as UTF-8") from None
    return v


def check_keywords(function: str, given: Mapping[str, Any], keywords: Any) -> None:
    """Refuse keyword arguments ``**options: Unpack[keywords]`` does not name (a TypedDict), as
    Python refuses unknown keywords of a plain signature (TypeError)."""
    known = keywords.__required_keys__ | keywords.__optional_keys__
    unknown = [k for k in given if k not in known]
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")


def check_mapping(name: str, v: Any) -> Mapping[Any, Any]:
    if not isinstance(v, Mapping):
        raise NNRUsageError(f"{name} must be a dict, got {type(v).__name__} {v!r}")
    return v


def out_of_band_table(v: Any) -> dict[str, Any]:
    """``out_of_band``: {tensor name: OutOfBandParameters or NNCodec's oob_dict entry}, checked."""
    if v is None:
        return {}
    out: dict[str, OutOfBandParameters] = {}
    for k, e in check_mapping("out_of_band", v).items():
        key = check_name("out_of_band", k)
        where = f"out_of_band[{key!r}]"
        if isinstance(e, OutOfBandParameters):
            d: Mapping[str, Any] = {f: getattr(e, f) for f in ("tensor_dimensions", "cabac_unary_length_minus1",
                                                               "compressed_parameter_types", "decomposition_rank",
                                                               "g_number_of_rows")}
        else:
            d = check_mapping(where, e)
        o = OutOfBandParameters()
        dims = d.get("tensor_dimensions")
        if dims is not None:
            if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__"):
                raise NNRUsageError(f"{where}['tensor_dimensions'] must be a list of integers, got {dims!r}")
            o.tensor_dimensions = [check_int(f"{where}['tensor_dimensions']", x, 0) for x in dims]
            if not 1 <= len(o.tensor_dimensions) <= 32:
                raise NNRUsageError(f"{where}['tensor_dimensions'] must have 1..32 dimensions, got {dims!r}")
        bounds = {"cabac_unary_length_minus1": (0, 255), "compressed_parameter_types": (0, 15),
                  "decomposition_rank": (1, None), "g_number_of_rows": (1, None)}
        for fk, (lo, hi) in bounds.items():
            if d.get(fk) is not None:
                setattr(o, fk, check_int(f"{where}[{fk!r}]", d[fk], lo, hi))
        out[key] = o
    return out


def check_path(name: str, v: Any) -> str:
    """A file path the caller wants written: a str / PathLike without NUL, not a directory."""
    if not isinstance(v, (str, os.PathLike)):
        raise NNRUsageError(f"{name} must be a path, got {type(v).__name__} {v!r}")
    p = os.fspath(v)
    if not isinstance(p, str) or "\0" in p or not p:
        raise NNRUsageError(f"{name}: not a usable path: {p!r}")
    p = os.path.expanduser(p)
    if os.path.isdir(p):
        raise NNRUsageError(f"{name}: {p!r} is a directory")
    return p


def write_file(name: str, path: Any, data: bytes | bytearray) -> None:
    """Write ``data`` to the path given as argument ``name`` (an OSError is a misuse)."""
    p = check_path(name, path)
    try:
        with open(p, "wb") as f:
            f.write(data)
    except (OSError, UnicodeError) as e:
        raise NNRUsageError(f"{name}: cannot write {p!r}: {getattr(e, 'strerror', None) or e}") from None
