"""The one reader through which every syntax element of an NNR bitstream passes.

Descriptors (syntax.md §1): ``u(n)``, ``i(n)``, ``ue(k)``, ``ie(k)``, ``flt(32)``, ``st(v)``,
``byte_alignment()``, and raw byte runs.  Each ``read_*`` call names the element it reads, so a
:class:`Tracer` sees every element with its bit offset, descriptor and value (like the
``READ_FLAG(x, "name")`` macros of a reference decoder), and every error names the element.
"""

from __future__ import annotations

import struct

from bitarray import bitarray
from bitarray.util import ba2int

from nnr.bitstream.bintrace import BinTracer
from nnr.bitstream.trace import Traced, TraceEvent, Tracer  # noqa: F401  (TraceEvent, Tracer: re-exported)
from nnr.errors import MalformedStreamError, NNRError, TruncatedStreamError

# Longest Exp-Golomb prefix accepted: a value needing more than 64 leading zeros cannot be
# meaningful in any NNR element and would only let a corrupt stream make huge integers.
MAX_EXP_GOLOMB_PREFIX = 64


class BitReader(Traced):
    """Reads syntax elements MSB-first from ``data[start_byte:end_byte]``.

    Offsets reported in traces and errors are absolute bit offsets in ``data``; reading past
    ``end_byte`` raises :class:`TruncatedStreamError` naming the element.
    """

    def __init__(
        self,
        data: bytes,
        start_byte: int = 0,
        end_byte: int | None = None,
        *,
        tracer: Tracer | None = None,
        unit_index: int | None = None,
        unit_type: str | None = None,
        bin_tracer: BinTracer | None = None,
    ) -> None:
        self.data = data
        self.end_bit = 8 * (len(data) if end_byte is None else end_byte)
        self.pos = 8 * start_byte
        self._bits = bitarray(endian="big")
        self._bits.frombytes(data[start_byte : self.end_bit // 8])
        self._base = 8 * start_byte
        super().__init__(tracer)
        self.unit_index = unit_index
        self.unit_type = unit_type
        self.bin_tracer = bin_tracer  # the bins of the unit's arithmetic codeword (nnr.bitstream.bintrace)

    # -- structure bookkeeping ------------------------------------------------------------------

    # -- structure bookkeeping: nnr.bitstream.trace.Traced ---------------------------------------

    @property
    def byte_aligned(self) -> bool:
        return self.pos % 8 == 0

    @property
    def bits_left(self) -> int:
        return self.end_bit - self.pos

    def error(self, cls: type[NNRError], reason: str, element: str, bit_offset: int | None = None) -> NNRError:
        off = self.pos if bit_offset is None else bit_offset
        b = off // 8
        ctx = self.data[max(0, b - 4) : b + 4]
        return cls(
            reason,
            unit_index=self.unit_index,
            unit_type=self.unit_type,
            element=element,
            bit_offset=off,
            context_bytes=ctx,
        )

    def _emit(self, name: str, descriptor: str, start: int, value: object) -> None:
        if self.tracer is not None:
            self.trace_value(name, descriptor, start, value, self.pos - start)

    # -- raw access -----------------------------------------------------------------------------

    def _take(self, n: int, name: str) -> int:
        if n == 0:
            return 0
        if self.pos + n > self.end_bit:
            raise self.error(
                TruncatedStreamError,
                f"needs {n} bit(s) but only {self.end_bit - self.pos} remain in the unit",
                name,
            )
        rel = self.pos - self._base
        v = ba2int(self._bits[rel : rel + n], signed=False)
        self.pos += n
        return v

    # -- descriptors ----------------------------------------------------------------------------

    def u(self, n: int, name: str) -> int:
        """``u(n)``: unsigned integer, MSB first."""
        start = self.pos
        v = self._take(n, name)
        self._emit(name, f"u({n})", start, v)
        return v

    def flag(self, name: str) -> bool:
        """``u(1)`` read as a flag."""
        return self.u(1, name) == 1

    def i(self, n: int, name: str) -> int:
        """``i(n)``: two's-complement signed integer."""
        start = self.pos
        v = self._take(n, name)
        if n and v >= 1 << (n - 1):
            v -= 1 << n
        self._emit(name, f"i({n})", start, v)
        return v

    def _exp_golomb(self, k: int, name: str) -> int:
        x = 0
        zeros = 0
        while self._take(1, name) == 0:
            x += 1 << k
            k += 1
            zeros += 1
            if zeros > MAX_EXP_GOLOMB_PREFIX:
                raise self.error(MalformedStreamError, "Exp-Golomb prefix longer than 64 bits", name)
        return x + self._take(k, name)

    def ue(self, k: int, name: str) -> int:
        """``ue(k)``: k-th order Exp-Golomb code (syntax.md §1.1)."""
        start = self.pos
        v = self._exp_golomb(k, name)
        self._emit(name, f"ue({k})", start, v)
        return v

    def ie(self, k: int, name: str) -> int:
        """``ie(k)``: signed k-th order Exp-Golomb code: 0, +1, -1, +2, -2, ..."""
        start = self.pos
        x = self._exp_golomb(k, name)
        v = (x + 1) >> 1 if x & 1 else -(x >> 1)
        self._emit(name, f"ie({k})", start, v)
        return v

    def flt(self, name: str) -> float:
        """``flt(32)``: IEEE-754 binary32, its little-endian bytes in stream order (as NNCodec)."""
        start = self.pos
        raw = bytes(self._take(8, name) for _ in range(4))
        v = struct.unpack("<f", raw)[0]
        self._emit(name, "flt(32)", start, v)
        return float(v)

    def st(self, name: str) -> str:
        """``st(v)``: byte-aligned UTF-8 string terminated by 0x00."""
        start = self.pos
        if not self.byte_aligned:
            raise self.error(MalformedStreamError, "st(v) does not start byte-aligned", name)
        b0 = self.pos // 8
        nul = self.data.find(b"\x00", b0, self.end_bit // 8)
        if nul < 0:
            raise self.error(TruncatedStreamError, "string has no 0x00 terminator inside the unit", name)
        raw = self.data[b0:nul]
        try:
            v = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.error(MalformedStreamError, f"string is not valid UTF-8 ({e.reason})", name) from None
        self.pos = 8 * (nul + 1)
        self._emit(name, "st(v)", start, v)
        return v

    def raw_bytes(self, n: int, name: str, descriptor: str = "bs(v)") -> bytes:
        """``n`` whole bytes starting byte-aligned."""
        start = self.pos
        if not self.byte_aligned:
            raise self.error(MalformedStreamError, "byte run does not start byte-aligned", name)
        if self.pos + 8 * n > self.end_bit:
            raise self.error(
                TruncatedStreamError,
                f"needs {n} byte(s) but only {(self.end_bit - self.pos) // 8} remain in the unit",
                name,
            )
        b0 = self.pos // 8
        v = self.data[b0 : b0 + n]
        self.pos += 8 * n
        self._emit(name, descriptor, start, v if n <= 64 else f"<{n} bytes>")
        return v

    def byte_alignment(self) -> None:
        """``byte_alignment()``: a 1 bit then 0 bits up to the byte boundary (always >= 1 bit).

        NNCodec's reader skips these bits unchecked; we check them, because a wrong pattern is
        the cheapest sign of a corrupt or misparsed header.
        """
        start = self.pos
        n = 8 - (self.pos % 8)
        v = self._take(n, "byte_alignment")
        if v != 1 << (n - 1):
            raise self.error(
                MalformedStreamError,
                f"alignment bits are {v:0{n}b}, expected 1 followed by {n - 1} zero bit(s)",
                "byte_alignment",
                start,
            )
        self._emit("byte_alignment", "byte_alignment()", start, v)

    def skip_to_end(self) -> None:
        self.pos = self.end_bit
