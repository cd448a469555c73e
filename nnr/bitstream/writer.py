"""Bit-level writer, symmetric to :class:`nnr.bitstream.reader.BitReader`.

Every element is written through one descriptor method that names it, inside the
:meth:`BitWriter.structure` it belongs to, so a :data:`~nnr.bitstream.trace.Tracer` sees what
the writer writes exactly as a reader's tracer sees what is read (same structure path, element
name, descriptor, value and absolute bit offset).
"""

from __future__ import annotations

import struct

from nnr.bitstream.trace import Traced, Tracer
from nnr.errors import NNRUsageError


class BitWriter(Traced):
    """Accumulates syntax elements MSB-first; :meth:`getvalue` returns the bytes.

    ``tracer`` receives a :class:`TraceEvent` per element; ``bit_offset`` is where the first
    written bit will sit in the whole stream (for the events' offsets).
    """

    def __init__(self, *, tracer: Tracer | None = None, bit_offset: int = 0) -> None:
        self._buf = bytearray()
        self._acc = 0  # pending bits, MSB first
        self._nacc = 0
        super().__init__(tracer)
        self.bit_offset = bit_offset

    @property
    def bit_length(self) -> int:
        return 8 * len(self._buf) + self._nacc

    @property
    def pos(self) -> int:
        """Absolute bit offset of the next bit (as :attr:`BitReader.pos`)."""
        return self.bit_offset + self.bit_length

    @property
    def byte_aligned(self) -> bool:
        return self._nacc == 0

    def _emit(self, name: str, descriptor: str, start: int, value: object) -> None:
        if self.tracer is not None:
            self.trace_value(name, descriptor, start, value, self.pos - start)

    # -- raw access -----------------------------------------------------------------------------

    def _put(self, n: int, value: int, name: str) -> None:
        if value < 0 or value >> n:
            raise NNRUsageError(f"{name or 'value'}={value} does not fit u({n})")
        self._acc = (self._acc << n) | value
        self._nacc += n
        while self._nacc >= 8:
            self._nacc -= 8
            self._buf.append((self._acc >> self._nacc) & 0xFF)
        self._acc &= (1 << self._nacc) - 1

    # -- descriptors ----------------------------------------------------------------------------

    def u(self, n: int, value: int, name: str = "") -> None:
        """``u(n)``."""
        start = self.pos
        self._put(n, value, name)
        self._emit(name, f"u({n})", start, value)

    def flag(self, value: bool | int, name: str = "") -> None:
        """``u(1)`` written from a flag."""
        self.u(1, 1 if value else 0, name)

    def i(self, n: int, value: int, name: str = "") -> None:
        """``i(n)``."""
        if not -(1 << (n - 1)) <= value < (1 << (n - 1)):
            raise NNRUsageError(f"{name or 'value'}={value} does not fit i({n})")
        start = self.pos
        self._put(n, value & ((1 << n) - 1), name)
        self._emit(name, f"i({n})", start, value)

    def _exp_golomb(self, k: int, value: int, name: str) -> None:
        while value >= 1 << k:
            self._put(1, 0, name)
            value -= 1 << k
            k += 1
        self._put(1, 1, name)
        self._put(k, value, name)

    def ue(self, k: int, value: int, name: str = "") -> None:
        """``ue(k)``."""
        if value < 0:
            raise NNRUsageError(f"{name or 'value'}={value} is negative; ue(k) is unsigned")
        start = self.pos
        self._exp_golomb(k, value, name)
        self._emit(name, f"ue({k})", start, value)

    def ie(self, k: int, value: int, name: str = "") -> None:
        """``ie(k)``: v > 0 -> ue(2v-1), v <= 0 -> ue(-2v)."""
        start = self.pos
        self._exp_golomb(k, 2 * value - 1 if value > 0 else -2 * value, name)
        self._emit(name, f"ie({k})", start, value)

    def flt(self, value: float, name: str = "") -> None:
        """``flt(32)``: the little-endian bytes of the binary32 value."""
        start = self.pos
        raw = struct.pack("<f", value)
        for b in raw:
            self._put(8, b, name)
        self._emit(name, "flt(32)", start, struct.unpack("<f", raw)[0])

    def st(self, value: str, name: str = "") -> None:
        """``st(v)``: UTF-8 plus a 0x00 terminator, byte-aligned."""
        raw = value.encode("utf-8")
        if b"\x00" in raw:
            raise NNRUsageError(f"{name or 'string'} contains a NUL character")
        if not self.byte_aligned:
            raise NNRUsageError(f"{name or 'string'} must start byte-aligned")
        start = self.pos
        self._buf += raw + b"\x00"
        self._emit(name, "st(v)", start, value)

    def raw_bytes(self, data: bytes, name: str = "", descriptor: str = "bs(v)") -> None:
        """Whole bytes, starting byte-aligned."""
        if not self.byte_aligned:
            raise NNRUsageError(f"{name or 'byte run'} must start byte-aligned")
        start = self.pos
        self._buf += data
        self._emit(name, descriptor, start, bytes(data) if len(data) <= 64 else f"<{len(data)} bytes>")

    def byte_alignment(self) -> None:
        """``byte_alignment()``: a 1 bit, then 0 bits to the byte boundary."""
        start = self.pos
        n = 8 - self._nacc
        self._put(n, 1 << (n - 1), "byte_alignment")
        self._emit("byte_alignment", "byte_alignment()", start, 1 << (n - 1))

    def getvalue(self) -> bytes:
        if not self.byte_aligned:
            raise NNRUsageError("writer is not byte-aligned")
        return bytes(self._buf)
