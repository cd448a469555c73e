"""Writing NNR units: the symmetric counterpart of the unit readers (syntax.md §2–§8).

:class:`StreamWriter` assembles a bitstream from unit structures: :meth:`StreamWriter.unit`
writes any structure of :data:`nnr.units.dispatch.UNIT_STRUCTURES` under its unit type, with the
:class:`~nnr.units.context.UnitContext` the units before it left (``general_profile_idc``, the
MPS flags, the REFLIST) — the same context and the same ``apply`` rule the decoder uses.  The
arithmetic-coded NDU payload is passed in as bytes (produced by the DeepCABAC encoder, or taken
from another stream), optionally with its trace events.

With ``trace=True`` every element written is recorded; :meth:`StreamWriter.trace` returns the
events with absolute bit offsets, in stream order, as a decoder's tracer would see them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from nnr.bitstream import BitWriter, TraceEvent
from nnr.errors import NNRUsageError
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.context import UnitContext
from nnr.units.dispatch import UNIT_STRUCTURES, UnitStructure
from nnr.units.layer_parameter_set import LayerParameterSet, LayerParameterSetHeader, LayerParameterSetUnit
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import AggregateUnitHeader, read_frame, write_unit_header, write_unit_size
from nnr.units.start_unit import StartUnitHeader
from nnr.units.topology import QuantizationUnit, TopologyUnit

PAYLOAD_STRUCTURE = "nnr_compressed_data_unit_payload"


def _shift(events: Sequence[TraceEvent], bits: int, outer: tuple[str, ...] = ()) -> list[TraceEvent]:
    return [dataclasses.replace(e, bit_offset=e.bit_offset + bits, path=outer + e.path) for e in events]


class StreamWriter:
    """Builds a stream unit by unit; :meth:`getvalue` returns the bytes."""

    def __init__(self, *, trace: bool = False) -> None:
        self.units: list[bytes] = []
        self.ctx = UnitContext(general_profile_idc=0)
        self.tracing = trace
        self._events: list[list[TraceEvent]] = []  # per unit, offsets from the unit's first bit

    @property
    def general_profile_idc(self) -> int:
        return self.ctx.gpi

    @property
    def mps(self) -> ModelParameterSet:
        return self.ctx.mps if self.ctx.mps is not None else ModelParameterSet()

    def add(self, unit: bytes, events: Sequence[TraceEvent] = ()) -> bytes:
        """Append a complete unit (``events``: its trace, offsets from the unit's first bit)."""
        self.units.append(unit)
        self._events.append(list(events))
        return unit

    def unit(self, s: UnitStructure, payload: bytes = b"", *, payload_events: Sequence[TraceEvent] = (),
             children: Sequence[bytes] = (), partial_data_counter: int | None = None,
             long_size: bool | None = None, independently_decodable_flag: int = 1) -> bytes:
        """Write ``nnr_unit()`` carrying structure ``s`` (type from ``UNIT_STRUCTURES``), then
        ``payload`` bytes or the ``children`` units of an aggregate unit.  ``payload_events``: the
        payload's trace (offsets from the payload's first bit), placed in
        ``nnr_compressed_data_unit_payload`` (see :func:`nnr.encoding.stream.write_stream`)."""
        unit_type = s.unit_type
        if UNIT_STRUCTURES.get(unit_type) is not type(s):
            raise NNRUsageError(f"{type(s).__name__} is not the structure of {unit_type.name}")
        child_events = [self._take_events(c) for c in children]  # they move into this unit
        events: list[TraceEvent] = []
        w = BitWriter(tracer=events.append if self.tracing else None)
        with w.structure("nnr_unit"):
            write_unit_header(w, unit_type, independently_decodable_flag, partial_data_counter)
            s.write(w, self.ctx)
        s.apply(self.ctx)
        head = w.getvalue()
        tail = payload + b"".join(children)
        sw = BitWriter(tracer=None)
        size_events: list[TraceEvent] = []
        if self.tracing:
            sw.tracer = size_events.append
        with sw.structure("nnr_unit"):
            write_unit_size(sw, len(head) + len(tail), long_size)
        size_bits = sw.bit_length
        if self.tracing:
            events = size_events + _shift(events, size_bits)
            at = size_bits + 8 * len(head)
            events += [dataclasses.replace(e, bit_offset=e.bit_offset + at, structure=PAYLOAD_STRUCTURE,
                                           path=("nnr_unit", PAYLOAD_STRUCTURE)) for e in payload_events]
            at += 8 * len(payload)
            for c, ce in zip(children, child_events):
                events += _shift(ce, at)
                at += 8 * len(c)
        return self.add(sw.getvalue() + head + tail, events)

    def _take_events(self, unit: bytes) -> list[TraceEvent]:
        """Remove a unit added before (it goes into an aggregate unit); returns its events."""
        for k, u in enumerate(self.units):
            if u is unit or u == unit:
                del self.units[k]
                return self._events.pop(k)
        return []

    # -- one method per unit type (the structures' usual constructors) -------------------------

    def start_unit(self, general_profile_idc: int = 1, partial_data_counter: int | None = None,
                   long_size: bool | None = None) -> bytes:
        return self.unit(StartUnitHeader(general_profile_idc), partial_data_counter=partial_data_counter,
                         long_size=long_size)

    def model_parameter_set(self, mps: ModelParameterSet, partial_data_counter: int | None = None,
                            long_size: bool | None = None) -> bytes:
        return self.unit(mps, partial_data_counter=partial_data_counter, long_size=long_size)

    def layer_parameter_set(self, lps: LayerParameterSet, header: LayerParameterSetHeader | None = None,
                            partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        return self.unit(LayerParameterSetUnit(header or LayerParameterSetHeader(), lps),
                         partial_data_counter=partial_data_counter, long_size=long_size)

    def topology(self, tpl: TopologyUnit, partial_data_counter: int | None = None,
                 long_size: bool | None = None) -> bytes:
        return self.unit(tpl, partial_data_counter=partial_data_counter, long_size=long_size)

    def quantization(self, qnt: QuantizationUnit, partial_data_counter: int | None = None,
                     long_size: bool | None = None) -> bytes:
        return self.unit(qnt, partial_data_counter=partial_data_counter, long_size=long_size)

    def compressed_data_unit(self, header: CompressedDataUnitHeader, payload: bytes,
                             partial_data_counter: int | None = None, long_size: bool | None = None,
                             payload_events: Sequence[TraceEvent] = ()) -> bytes:
        return self.unit(header, payload, payload_events=payload_events, partial_data_counter=partial_data_counter,
                         long_size=long_size)

    def aggregate(self, units: list[bytes], aggregate_unit_type: int = 0, entry_points: bool = True,
                  partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        """An NNR_AGG unit carrying ``units`` (removed from the top level if added before)."""
        a = AggregateUnitHeader(aggregate_unit_type, int(entry_points), len(units) - 2)
        if entry_points:
            off = 0
            for k, u in enumerate(units):
                a.nnr_unit_type.append(read_frame(u, 0, len(u), k).nnr_unit_type)
                a.nnr_unit_entry_point.append(off)
                off += len(u)
        return self.unit(a, children=units, partial_data_counter=partial_data_counter, long_size=long_size)

    # -- results ----------------------------------------------------------------------------------

    def getvalue(self) -> bytes:
        return b"".join(self.units)

    def trace(self) -> list[TraceEvent]:
        """Every element written (``trace=True``), absolute bit offsets, in stream order."""
        out: list[TraceEvent] = []
        at = 0
        for u, ev in zip(self.units, self._events):
            out += _shift(ev, at)
            at += 8 * len(u)
        return out

