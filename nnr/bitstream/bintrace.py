"""The bin trace: every bin of the arithmetic-coded payload, a sibling of the syntax trace.

The syntax trace (:mod:`nnr.bitstream.trace`) shows the arithmetic-coded payload as one summary
per tensor.  The bin trace shows what a reference decoder's CABAC trace shows: for each bin the
syntax element it belongs to, the context model that coded it (named by
:func:`nnr.cabac.contexts.context_name`, the one home of the context numbering), the bin, the
engine state before it, the tensor element whose level it codes and that level.

How bins get here: :class:`~nnr.cabac.arith_decoder.ArithmeticDecoder` and
:class:`~nnr.cabac.arith_encoder.ArithmeticEncoder` have a ``tracer`` attribute (None by default).
When it holds a :class:`BinTracer` (``set_tracer``), every bin the engine codes is reported to it
(:meth:`BinTracer.on_bin`, :meth:`~BinTracer.on_bypass`, :meth:`~BinTracer.on_terminate`), the
level coders take their general path (the compiled fast loops never trace), report each level
(:meth:`~BinTracer.on_level`) and name the bypass bins they are about to code
(:meth:`~BinTracer.name_bypass`).  The payload coders attach the tracer per tensor
(:meth:`~BinTracer.begin_tensor`, :meth:`~BinTracer.begin_end`), which is where the unit and
tensor filters and the bound apply: a tensor not selected is not traced (nor slowed down).

``Decoder.decode_stream(data, bins=BinTracer(...))`` traces what the decoder reads,
``write_stream(..., bins=BinTracer(...))`` (:mod:`nnr.encoding.stream`) what the encoder writes;
the two agree event for event, except that the encoder has no offset register (``offset`` None).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from nnr.cabac.contexts import context_name, num_level_contexts

BYPASS = -1  # BinEvent.context of a bypass bin
TERMINATE = -2  # ... of the terminating bin

# Elements whose bins code a level: their events carry the level's position and value.
LEVEL_ELEMENTS = ("sig_flag", "sign_flag", "abs_level_greater_x", "abs_remainder")


class BinEvent(NamedTuple):
    """One bin as decoded or encoded (a named tuple: cheap to make, one per bin)."""

    unit: int | None  # index of the NNR unit (as the syntax trace and errors number units)
    tensor: str  # "" for the terminating bin (it ends the unit's codeword)
    element: str  # syntax element, with its index: "sig_flag", "abs_level_greater_x[1]", ...
    context: int  # flat context index (nnr.cabac.contexts numbering), BYPASS or TERMINATE
    model: str  # the context model's name ("SIG[5]", "ECO_FLAG"), "bypass" or "terminate"
    bin: int
    range: int  # engine range before the bin
    offset: int | None  # decoder's 9-bit offset register before the bin (None: encoder)
    bit_offset: int  # stream bit offset of the engine's bit counter before the bin
    position: int | None = None  # row-major element index of the level the bin codes
    level: int | None = None  # that level as coded
    value: int | None = None  # ... and as output (its DQ reconstruction index with DQ)


class _Engine(Protocol):
    def set_tracer(self, t: BinTracer | None) -> None: ...


class BinTracer:
    """Collects :class:`BinEvent` s (in ``events``, or passed to ``sink`` as they come).

    ``units`` / ``tensors``: trace only these unit indices / tensor names (None: all; the
    terminating bin belongs to its unit and is traced only without a tensor filter).
    ``max_bins``: stop after that many bins (None: no bound); ``truncated`` then says whether
    bins were left out.  Events of a level are delivered once the level is complete.
    """

    def __init__(self, sink: Callable[[BinEvent], None] | None = None, *, units: Iterable[int] | None = None,
                 tensors: Iterable[str] | None = None, max_bins: int | None = None) -> None:
        self.events: list[BinEvent] = []
        self.sink = sink
        self.units = None if units is None else set(units)
        self.tensors = None if tensors is None else set(tensors)
        self.max_bins = max_bins
        self.count = 0  # bins delivered or pending
        self.truncated = False
        self.units_offered: set[int | None] = set()  # units whose codewords the coders offered
        self.tensors_offered: set[str] = set()  # ... and tensors (to check the filters against)
        self._engine: _Engine | None = None
        self._unit: int | None = None
        self._tensor = ""
        self._names: list[tuple[str, str]] = []
        self._base = 0
        self._bypass = "bypass"
        self._pending: list[tuple[str, int, str, int, int, int | None, int]] = []
        self._flags = 0  # prob_est_param_flag bins so far in the tensor (their index m)
        self._rows = 0  # row_skip_flag bins so far (their row r)

    # -- attaching (by the payload coders) -----------------------------------------------------

    @property
    def full(self) -> bool:
        return self.max_bins is not None and self.count >= self.max_bins

    def begin_tensor(self, unit: int | None, tensor: str, num_gtx: int, base_bit: int,
                     engine: _Engine) -> BinTracer | None:
        """The tracer to attach to ``engine`` for this tensor (self), or None if not traced.
        ``base_bit``: stream bit offset of the codeword's bit counter 0."""
        self.units_offered.add(unit)
        self.tensors_offered.add(tensor)
        if (self.units is not None and unit not in self.units) or (self.tensors is not None and tensor not in self.tensors):
            return None
        if self.full:
            self.truncated = True
            return None
        self._begin(unit, tensor, base_bit, engine)
        self._names = [context_name(ci, num_gtx) for ci in range(num_level_contexts(num_gtx) + 3)]
        return self

    def begin_end(self, unit: int | None, base_bit: int, engine: _Engine) -> BinTracer | None:
        """The tracer to attach for the terminating bin of the unit's codeword, or None."""
        if (self.units is not None and unit not in self.units) or self.tensors is not None:
            return None
        if self.full:
            self.truncated = True
            return None
        self._begin(unit, "", base_bit, engine)
        return self

    def _begin(self, unit: int | None, tensor: str, base_bit: int, engine: _Engine) -> None:
        self._flush()
        self._engine = engine
        self._unit = unit
        self._tensor = tensor
        self._base = base_bit
        self._bypass = "bypass"
        self._flags = 0
        self._rows = 0

    def place(self, first: int, base_bit: int) -> None:
        """Move ``events[first:]`` by ``base_bit`` bits (the encoder learns where a payload
        starts in the stream only once the unit's header is written)."""
        self._flush()
        self.events[first:] = [e._replace(bit_offset=e.bit_offset + base_bit) for e in self.events[first:]]

    # -- reports (by the engines and the level coders) ----------------------------------------

    def name_bypass(self, element: str) -> None:
        """The element the next bypass bins belong to."""
        self._bypass = element

    def on_bin(self, ctx_id: int, b: int, rng: int, offset: int | None, pos: int) -> None:
        if 0 <= ctx_id < len(self._names):
            element, model = self._names[ctx_id]
        else:
            element, model = "?", f"#{ctx_id}"
        if element == "prob_est_param_flag":
            element = f"prob_est_param_flag[{self._flags}]"
            self._flags += 1
        elif element == "row_skip_flag":
            element = f"row_skip_flag[{self._rows}]"
            self._rows += 1
        self._add(element, ctx_id, model, b, rng, offset, pos)

    def on_bypass(self, b: int, rng: int, offset: int | None, pos: int) -> None:
        self._add(self._bypass, BYPASS, "bypass", b, rng, offset, pos)

    def on_terminate(self, b: int, rng: int, offset: int | None, pos: int) -> None:
        self._add("terminate_bin", TERMINATE, "terminate", b, rng, offset, pos)

    def on_level(self, position: int, level: int, value: int) -> None:
        """The level at ``position`` is complete: its bins get its position and value."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        unit, tensor, base = self._unit, self._tensor, self._base
        for element, ctx, model, b, rng, offset, pos in pending:
            self._deliver(BinEvent(unit, tensor, element, ctx, model, b, rng, offset, base + pos, position, level, value))

    # -- delivery ----------------------------------------------------------------------------

    def _add(self, element: str, ctx: int, model: str, b: int, rng: int, offset: int | None, pos: int) -> None:
        if self.full:
            self.truncated = True
            if not self._pending and self._engine is not None:
                self._engine.set_tracer(None)  # detach: the rest is decoded untraced
            return
        self.count += 1
        if element.startswith(LEVEL_ELEMENTS):
            self._pending.append((element, ctx, model, b, rng, offset, pos))
        else:
            self._flush()
            self._deliver(BinEvent(self._unit, self._tensor, element, ctx, model, b, rng, offset, self._base + pos))

    def _flush(self) -> None:
        pending = self._pending
        self._pending = []
        for element, ctx, model, b, rng, offset, pos in pending:
            self._deliver(BinEvent(self._unit, self._tensor, element, ctx, model, b, rng, offset, self._base + pos))

    def _deliver(self, e: BinEvent) -> None:
        if self.sink is not None:
            self.sink(e)
        else:
            self.events.append(e)

    def finish(self) -> None:
        """Deliver what is still pending (a level cut short by an error)."""
        self._flush()
