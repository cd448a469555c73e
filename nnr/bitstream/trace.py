"""The syntax trace: one event per element read or written, and the structure bookkeeping the
reader and the writer share (so both report the same structure path for the same element)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class TraceEvent:
    """One syntax element as read or written: where, what and its value."""

    structure: str  # innermost syntax structure, e.g. "nnr_compressed_data_unit_header"
    path: tuple[str, ...]  # all enclosing structures, outermost first
    name: str
    descriptor: str
    bit_offset: int  # from the start of the whole stream
    bit_length: int
    value: object


Tracer = Callable[[TraceEvent], None]


class Traced:
    """The syntax structures entered so far and the tracer events go to."""

    def __init__(self, tracer: Tracer | None) -> None:
        self.tracer = tracer
        self._path: list[str] = []

    @contextmanager
    def structure(self, name: str) -> Iterator[None]:
        """Mark the syntax structure being read or written (for traces and error messages)."""
        self._path.append(name)
        try:
            yield
        finally:
            self._path.pop()

    @property
    def current_structure(self) -> str:
        return self._path[-1] if self._path else ""

    def trace_value(self, name: str, descriptor: str, start: int, value: object, bit_length: int) -> None:
        """Report an element coded elsewhere (e.g. by the arithmetic decoder or encoder): ``start``
        and ``bit_length`` are positions of the arithmetic codec's bit counter in the stream."""
        if self.tracer is not None:
            self.tracer(TraceEvent(self.current_structure, tuple(self._path), name, descriptor, start, bit_length,
                                   value))
