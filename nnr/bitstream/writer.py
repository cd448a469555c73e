"""Bit-level writer, symmetric to :class:`nnr.bitstream.reader.BitReader`."""

from __future__ import annotations

import struct

from nnr.errors import NNRUsageError


class BitWriter:
    """Accumulates syntax elements MSB-first; :meth:`getvalue` returns the bytes."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._acc = 0  # pending bits, MSB first
        self._nacc = 0

    @property
    def bit_length(self) -> int:
        return 8 * len(self._buf) + self._nacc

    @property
    def byte_aligned(self) -> bool:
        return self._nacc == 0

    def u(self, n: int, value: int, name: str = "") -> None:
        """``u(n)``."""
        if value < 0 or value >> n:
            raise NNRUsageError(f"{name or 'value'}={value} does not fit u({n})")
        self._acc = (self._acc << n) | value
        self._nacc += n
        while self._nacc >= 8:
            self._nacc -= 8
            self._buf.append((self._acc >> self._nacc) & 0xFF)
        self._acc &= (1 << self._nacc) - 1

    def flag(self, value: bool | int, name: str = "") -> None:
        self.u(1, 1 if value else 0, name)

    def i(self, n: int, value: int, name: str = "") -> None:
        """``i(n)``."""
        if not -(1 << (n - 1)) <= value < (1 << (n - 1)):
            raise NNRUsageError(f"{name or 'value'}={value} does not fit i({n})")
        self.u(n, value & ((1 << n) - 1), name)

    def ue(self, k: int, value: int, name: str = "") -> None:
        """``ue(k)``."""
        if value < 0:
            raise NNRUsageError(f"{name or 'value'}={value} is negative; ue(k) is unsigned")
        while value >= 1 << k:
            self.u(1, 0)
            value -= 1 << k
            k += 1
        self.u(1, 1)
        self.u(k, value, name)

    def ie(self, k: int, value: int, name: str = "") -> None:
        """``ie(k)``: v > 0 -> ue(2v-1), v <= 0 -> ue(-2v)."""
        self.ue(k, 2 * value - 1 if value > 0 else -2 * value, name)

    def flt(self, value: float, name: str = "") -> None:
        """``flt(32)``: the little-endian bytes of the binary32 value."""
        for b in struct.pack("<f", value):
            self.u(8, b, name)

    def st(self, value: str, name: str = "") -> None:
        """``st(v)``: UTF-8 plus a 0x00 terminator, byte-aligned."""
        raw = value.encode("utf-8")
        if b"\x00" in raw:
            raise NNRUsageError(f"{name or 'string'} contains a NUL character")
        self.raw_bytes(raw + b"\x00", name)

    def raw_bytes(self, data: bytes, name: str = "") -> None:
        if not self.byte_aligned:
            raise NNRUsageError(f"{name or 'byte run'} must start byte-aligned")
        self._buf += data

    def byte_alignment(self) -> None:
        """``byte_alignment()``: a 1 bit, then 0 bits to the byte boundary."""
        self.u(1, 1)
        if self._nacc:
            self.u(8 - self._nacc, 0)

    def getvalue(self) -> bytes:
        if not self.byte_aligned:
            raise NNRUsageError("writer is not byte-aligned")
        return bytes(self._buf)
