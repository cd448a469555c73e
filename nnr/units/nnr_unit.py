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

from nnr.bitstream import BitReader, BitWriter, Tracer
from nnr.bitstream.bintrace import BinTracer
from nnr.errors import LimitExceededError, MalformedStreamError, ReservedValueError, TruncatedStreamError
from nnr.limits import MAX_UNITS
from nnr.units.context import UnitContext
from nnr.units.types import NNRUnitType, unit_type_name


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


@dataclass(frozen=True)
class Framing:
    """How a stream's units are framed: what their readers report to, and the unit budget."""

    tracer: Tracer | None = None
    bins: BinTracer | None = None  # the bin trace of the stream's arithmetic-coded payloads
    max_units: int = MAX_UNITS
    raises_limit: str = "Decoder(max_units=...)"  # the option that raises max_units, for its error


@dataclass
class Frame:
    """One ``nnr_unit()`` located in a stream: where it is, its ``nnr_unit_size()`` and the
    common part of its ``nnr_unit_header()``, read once (:func:`read_frame`)."""

    index: int  # the unit's number in the stream (the units an aggregate carries count too)
    offset: int  # byte offset of the unit in the data
    header: NNRUnitHeader
    body_bit: int  # absolute bit offset after the common unit header (the type-specific header)
    data: bytes
    framing: Framing

    @property
    def size(self) -> int:
        return self.header.nnr_unit_size

    @property
    def end(self) -> int:
        return self.offset + self.header.nnr_unit_size

    @property
    def nnr_unit_type(self) -> int:
        return self.header.nnr_unit_type

    @property
    def type_bit(self) -> int:
        """Bit offset of ``nnr_unit_type`` (errors about the unit's type point there)."""
        return 8 * (self.offset + self.header.size_field_bytes)

    def reader(self, limit: int | None = None) -> BitReader:
        """A reader over exactly the unit's bytes (or its first ``limit``), after the common header."""
        end = self.end if limit is None else self.offset + min(limit, self.header.nnr_unit_size)
        r = BitReader(self.data, self.offset, end, tracer=self.framing.tracer, unit_index=self.index,
                      unit_type=unit_type_name(self.header.nnr_unit_type), bin_tracer=self.framing.bins)
        r.pos = self.body_bit
        return r


class Frames:
    """``nnr_unit()`` after ``nnr_unit()`` over ``data[start:end]``: the one framing of a stream,
    used by the decoder, :func:`nnr.open`, ``nnr info`` and the writer's aggregates.

    The unit numbers continue across an aggregate's units: who descends into one advances
    :attr:`index` past them (:meth:`skip`).
    """

    def __init__(self, data: bytes, start: int = 0, end: int | None = None, first_index: int = 0,
                 framing: Framing = Framing()) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end
        self.index = first_index
        self.framing = framing

    def __iter__(self) -> Frames:
        return self

    def __next__(self) -> Frame:
        if self.pos >= self.end:
            raise StopIteration
        f = self.framing
        if self.index >= f.max_units:
            raise LimitExceededError(f"more than {f.max_units} NNR units in one stream "
                                     f"({f.raises_limit} raises the limit)", unit_index=self.index,
                                     element="nnr_unit", bit_offset=8 * self.pos)
        frame = read_frame(self.data, self.pos, self.end, self.index, f)
        self.pos = frame.end
        self.index += 1
        return frame

    def skip(self, units: int) -> None:
        """The frame just returned carried ``units`` units (an aggregate): number on after them."""
        self.index += units


def read_frame(data: bytes, pos: int, end: int, unit_index: int, framing: Framing = Framing()) -> Frame:
    """``nnr_unit_size()`` and the common part of ``nnr_unit_header()`` of the unit at ``pos``,
    the size validated against the data available before anything else of the unit is read."""
    if pos + 2 > end:
        raise TruncatedStreamError(f"{end - pos} byte(s) left, too few for an nnr_unit_size",
                                   unit_index=unit_index, element="nnr_unit_size", bit_offset=8 * pos,
                                   context_bytes=bytes(data[pos:end]))
    nbytes = 4 if data[pos] >> 7 else 2  # nnr_unit_size_flag: the size field's length
    if pos + nbytes > end:
        raise TruncatedStreamError("stream ends inside nnr_unit_size", unit_index=unit_index,
                                   element="nnr_unit_size", bit_offset=8 * pos, context_bytes=bytes(data[pos:end]))
    # the size field and the common header (at most two bytes after it)
    r = BitReader(data, pos, min(end, pos + nbytes + 2), tracer=framing.tracer, unit_index=unit_index)
    h = NNRUnitHeader()
    with r.structure("nnr_unit"):
        with r.structure("nnr_unit_size"):
            h.nnr_unit_size_flag = r.u(1, "nnr_unit_size_flag")
            h.nnr_unit_size = size = r.u(15 + 16 * h.nnr_unit_size_flag, "nnr_unit_size")
        if size < nbytes + 1:
            raise MalformedStreamError(f"nnr_unit_size {size} is smaller than the size field and unit header",
                                       unit_index=unit_index, element="nnr_unit_size", bit_offset=8 * pos + 1,
                                       context_bytes=bytes(data[pos : pos + 8]))
        if pos + size > end:
            raise TruncatedStreamError(f"nnr_unit_size {size} runs past the end of the data ({end - pos} byte(s) left)",
                                       unit_index=unit_index, element="nnr_unit_size", bit_offset=8 * pos + 1,
                                       context_bytes=bytes(data[pos : pos + 8]))
        r.end_bit = min(r.end_bit, 8 * (pos + size))  # the header lies inside the unit
        read_unit_header(r, h)
    return Frame(unit_index, pos, h, r.pos, data, framing)


def read_unit_header(r: BitReader, h: NNRUnitHeader) -> None:
    """The common part of ``nnr_unit_header()`` (after ``nnr_unit_size()``, :func:`read_frame`)."""
    with r.structure("nnr_unit_header"):
        h.nnr_unit_type = r.u(6, "nnr_unit_type")
        if h.nnr_unit_type not in _UNIT_TYPES:
            raise r.error(ReservedValueError, f"nnr_unit_type {h.nnr_unit_type} is reserved", "nnr_unit_type", r.pos - 6)
        r.unit_type = unit_type_name(h.nnr_unit_type)
        h.independently_decodable_flag = r.u(1, "independently_decodable_flag")
        h.partial_data_counter_present_flag = r.u(1, "partial_data_counter_present_flag")
        if h.partial_data_counter_present_flag:
            h.partial_data_counter = r.u(8, "partial_data_counter")


_UNIT_TYPES = frozenset(int(t) for t in NNRUnitType)


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
    """The common part of ``nnr_unit_header()`` (what :func:`read_unit_header` reads)."""
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
