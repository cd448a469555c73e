"""``nnr_unit()``: ``nnr_unit_size()``, ``nnr_unit_header()`` and the payload dispatch (syntax.md §2).

Also the aggregate unit (NNR_AGG), whose payload is a sequence of complete NNR units.  Its
header syntax is not in the available notes; the layout implemented here is our reading of the
public drafts and is marked [U] in the docs:
``nnr_aggregate_unit_type u(8)``, ``entry_points_present_flag u(1)``,
``num_of_nnr_units_minus2 u(16)``, per unit (when entry points are present)
``nnr_unit_type u(6)`` + ``nnr_unit_entry_point u(32)`` (byte offset in the payload), then
``byte_alignment()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from nnr.bitstream import BitReader, BitWriter
from nnr.errors import MalformedStreamError, ReservedValueError, TruncatedStreamError
from nnr.units.context import UnitContext
from nnr.units.types import NNRUnitType


@dataclass
class NNRUnitHeader:
    """``nnr_unit_size()`` + the common part of ``nnr_unit_header()``."""

    nnr_unit_size_flag: int = 0
    nnr_unit_size: int = 0
    nnr_unit_type: int = 0
    independently_decodable_flag: int = 1
    partial_data_counter_present_flag: int = 0
    partial_data_counter: int | None = None

    @property
    def size_field_bytes(self) -> int:
        return 4 if self.nnr_unit_size_flag else 2


def peek_unit_size(data: bytes, pos: int, end: int, unit_index: int) -> int:
    """Total size of the unit starting at ``pos`` (validated against the data available)."""
    if pos + 2 > end:
        raise TruncatedStreamError(f"{end - pos} byte(s) left, too few for an nnr_unit_size",
                                   unit_index=unit_index, element="nnr_unit_size", bit_offset=8 * pos,
                                   context_bytes=data[pos:end])
    long_form = data[pos] >> 7
    nbytes = 4 if long_form else 2
    if pos + nbytes > end:
        raise TruncatedStreamError("stream ends inside nnr_unit_size", unit_index=unit_index,
                                   element="nnr_unit_size", bit_offset=8 * pos, context_bytes=data[pos:end])
    size = int.from_bytes(data[pos : pos + nbytes], "big") & ((1 << (8 * nbytes - 1)) - 1)
    if size < nbytes + 1:
        raise MalformedStreamError(f"nnr_unit_size {size} is smaller than the size field and unit header",
                                   unit_index=unit_index, element="nnr_unit_size", bit_offset=8 * pos + 1,
                                   context_bytes=data[pos : pos + 8])
    if pos + size > end:
        raise TruncatedStreamError(f"nnr_unit_size {size} runs past the end of the data ({end - pos} byte(s) left)",
                                   unit_index=unit_index, element="nnr_unit_size", bit_offset=8 * pos + 1,
                                   context_bytes=data[pos : pos + 8])
    return size


def read_unit_header(r: BitReader) -> NNRUnitHeader:
    """``nnr_unit_size()`` and the first byte of ``nnr_unit_header()``."""
    h = NNRUnitHeader()
    with r.structure("nnr_unit_size"):
        h.nnr_unit_size_flag = r.u(1, "nnr_unit_size_flag")
        h.nnr_unit_size = r.u(15 + 16 * h.nnr_unit_size_flag, "nnr_unit_size")
    with r.structure("nnr_unit_header"):
        h.nnr_unit_type = r.u(6, "nnr_unit_type")
        if h.nnr_unit_type > 6:
            raise r.error(ReservedValueError, f"nnr_unit_type {h.nnr_unit_type} is reserved", "nnr_unit_type", r.pos - 6)
        r.unit_type = _name(h.nnr_unit_type)
        h.independently_decodable_flag = r.u(1, "independently_decodable_flag")
        h.partial_data_counter_present_flag = r.u(1, "partial_data_counter_present_flag")
        if h.partial_data_counter_present_flag:
            h.partial_data_counter = r.u(8, "partial_data_counter")
    return h


def write_unit(unit_type: int, header_and_payload: bytes, *, independently_decodable_flag: int = 1,
               partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
    """Wrap the type-specific header + payload bytes into a complete ``nnr_unit()``.

    Chooses the short size form when it fits (as NNCodec does) unless ``long_size`` says otherwise.
    """
    w = BitWriter()
    write_unit_header(w, unit_type, independently_decodable_flag, partial_data_counter)
    body = w.getvalue() + header_and_payload
    sw = BitWriter()
    write_unit_size(sw, len(body), long_size)
    return sw.getvalue() + body


def write_unit_header(w: BitWriter, unit_type: int, independently_decodable_flag: int = 1,
                      partial_data_counter: int | None = None) -> None:
    """The common part of ``nnr_unit_header()`` (what :func:`read_unit_header` reads after the size)."""
    with w.structure("nnr_unit_header"):
        w.u(6, unit_type, "nnr_unit_type")
        w.u(1, independently_decodable_flag, "independently_decodable_flag")
        w.u(1, 0 if partial_data_counter is None else 1, "partial_data_counter_present_flag")
        if partial_data_counter is not None:
            w.u(8, partial_data_counter, "partial_data_counter")


def write_unit_size(w: BitWriter, body_bytes: int, long_size: bool | None = None) -> None:
    """``nnr_unit_size()`` of a unit whose header and payload take ``body_bytes``; the short
    form when it fits (as NNCodec does) unless ``long_size`` says otherwise."""
    if long_size is None:
        long_size = body_bytes + 2 >= 1 << 15
    size = body_bytes + (4 if long_size else 2)
    with w.structure("nnr_unit_size"):
        w.u(1, 1 if long_size else 0, "nnr_unit_size_flag")
        w.u(31 if long_size else 15, size, "nnr_unit_size")


def _name(t: int) -> str:
    from nnr.units.types import unit_type_name

    return unit_type_name(t)


@dataclass
class AggregateUnitHeader:
    """``nnr_aggregate_unit_header()`` ([U] layout, see module docstring); the payload is the units it carries."""

    unit_type: ClassVar[NNRUnitType] = NNRUnitType.NNR_AGG

    nnr_aggregate_unit_type: int = 0
    entry_points_present_flag: int = 0
    num_of_nnr_units_minus2: int = 0
    nnr_unit_type: list[int] = field(default_factory=list)
    nnr_unit_entry_point: list[int] = field(default_factory=list)

    @classmethod
    def read(cls, r: BitReader, ctx: UnitContext) -> AggregateUnitHeader:
        a = cls()
        with r.structure("nnr_aggregate_unit_header"):
            a.nnr_aggregate_unit_type = r.u(8, "nnr_aggregate_unit_type")
            a.entry_points_present_flag = r.u(1, "entry_points_present_flag")
            a.num_of_nnr_units_minus2 = r.u(16, "num_of_nnr_units_minus2")
            if a.entry_points_present_flag:
                for _ in range(a.num_of_nnr_units_minus2 + 2):
                    a.nnr_unit_type.append(r.u(6, "nnr_unit_type"))
                    a.nnr_unit_entry_point.append(r.u(32, "nnr_unit_entry_point"))
            r.byte_alignment()
        return a

    def write(self, w: BitWriter, ctx: UnitContext) -> None:
        with w.structure("nnr_aggregate_unit_header"):
            w.u(8, self.nnr_aggregate_unit_type, "nnr_aggregate_unit_type")
            w.u(1, self.entry_points_present_flag, "entry_points_present_flag")
            w.u(16, self.num_of_nnr_units_minus2, "num_of_nnr_units_minus2")
            if self.entry_points_present_flag:
                for t, e in zip(self.nnr_unit_type, self.nnr_unit_entry_point):
                    w.u(6, t, "nnr_unit_type")
                    w.u(32, e, "nnr_unit_entry_point")
            w.byte_alignment()

    def apply(self, ctx: UnitContext) -> None:
        pass  # the units it carries update the context themselves
