"""Decoder options, validated (mirror of :mod:`nnr.encoding.settings`).

:class:`DecoderOptions` names the keyword arguments of :class:`nnr.Decoder` (and of
:func:`nnr.open`, which takes a subset); :func:`decode_settings` checks them once into the frozen
:class:`DecodeSettings` the decoding wing reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from nnr import parallel
from nnr.decoding.payload import EXPANSION_PER_BYTE
from nnr.dialect import Dialect, as_dialect
from nnr.limits import MAX_TENSOR_ELEMENTS, MAX_UNITS
from nnr.units.compressed_data_unit import OutOfBandParameters
from nnr.usage import check_bool, check_int, out_of_band_table

# A session keeps per tensor the levels of its last update: at most what the stream being decoded
# may describe plus max_expansion / SESSION_SHARE (and what coded bits can describe) per byte of
# all streams it decoded (docs/robustness.rst)
SESSION_SHARE = 8


class DecoderOptions(TypedDict, total=False):
    """The keyword arguments of :class:`nnr.Decoder` (documented there)."""

    verify_entry_points: bool
    max_tensor_elements: int
    max_expansion: int
    max_units: int
    out_of_band: Mapping[str, OutOfBandParameters | Mapping[str, object]] | None
    reconstruct_lsa: bool
    reconstruct_bnf: bool
    recompose_decomposition: bool
    workers: int
    dialect: Dialect | str


@dataclass(frozen=True)
class DecodeSettings:
    """The options of a decoder session, checked (:func:`decode_settings`)."""

    verify_entry_points: bool = True
    max_tensor_elements: int = MAX_TENSOR_ELEMENTS
    max_expansion: int = EXPANSION_PER_BYTE
    max_units: int = MAX_UNITS
    out_of_band: dict[str, OutOfBandParameters] = field(default_factory=dict)
    reconstruct_lsa: bool = False
    reconstruct_bnf: bool = False
    recompose_decomposition: bool = False
    workers: int = 1  # NDUs of a stream on this many processes (resolved: 0 -> one per core)
    dialect: Dialect = Dialect.AUTO


_CHECKS: dict[str, Any] = {
    "verify_entry_points": lambda v: check_bool("verify_entry_points", v),
    "max_tensor_elements": lambda v: check_int("max_tensor_elements", v, 1),
    "max_expansion": lambda v: check_int("max_expansion", v, 0),
    "max_units": lambda v: check_int("max_units", v, 1),
    "out_of_band": out_of_band_table,
    "recompose_decomposition": lambda v: check_bool("recompose_decomposition", v),
    "reconstruct_lsa": lambda v: check_bool("reconstruct_lsa", v),
    "reconstruct_bnf": lambda v: check_bool("reconstruct_bnf", v),
    "workers": parallel.resolve_workers,
    "dialect": as_dialect,
}


def decode_settings(options: Mapping[str, object], owner: str = "Decoder") -> DecodeSettings:
    """:class:`DecodeSettings` from keyword arguments; an unknown keyword is a TypeError, as for
    any function."""
    for k in options:
        if k not in _CHECKS:
            raise TypeError(f"{owner}() got an unexpected keyword argument {k!r}")
    # workers first: the order in which the options were checked when they were parameters
    order = ["workers", *(k for k in _CHECKS if k != "workers")]
    return DecodeSettings(**{k: _CHECKS[k](options[k]) for k in order if k in options})
