"""Arithmetic encoding engine of DeepCABAC: the inverse of :mod:`nnr.cabac.arith_decoder`.

The encoder keeps the lower end ``L`` of the coding interval.  Measured in units of the
decoder's 9-bit offset register at the current position, ``L`` is an integer of ``T + 9``
bits, where ``T`` is the number of renormalisation shifts so far (the decoder's bit counter,
``ArithmeticDecoder.bit_position()``).  Its leading bits are already in ``out`` (complete bytes,
which a later carry may still increment); the remaining ``window`` bits are in ``low``::

    L = int(out) * 2**window + low          T = 8 * len(out) + window - 9

The decoder's offset register at position ``T`` equals ``C_T - L``, where ``C_T`` is the
integer formed by the first ``T + 9`` bits of the final codeword.  Entry points
(deepcabac.md §7) therefore only need ``T`` and ``L mod 2**16`` at the block-row start, plus
the finished codeword: see :meth:`ArithmeticEncoder.mark` and :func:`offset_register_at`.

Termination (deepcabac.md §2.5): the terminating bin 1 moves ``L`` to ``L + range - 2``; the
codeword is then the ``T + 9`` bits of ``L`` with the last bit set to 1 (the stop bit), padded
with zero bits to a byte boundary.  A decoder that reads the terminating bin has consumed
exactly these bytes.

Hot path: compiled with mypyc (same conventions as the decoder engine).
"""

from __future__ import annotations

from typing import Final, final

from mypy_extensions import i64

from nnr.bitstream.bintrace import BinTracer
from nnr.cabac.estimator import RENORM, RLPS, ContextModel, range_lps, update

# The bytes of ``low`` are moved to ``out`` once the window reaches EMIT_AT bits; afterwards it
# holds at least KEEP bits, so ``low`` always carries L mod 2**16 (needed for entry points).
EMIT_AT: Final = 32
KEEP: Final = 16


@final
class ArithmeticEncoder:
    """DeepCABAC arithmetic encoder producing one codeword (one NDU payload).

    ``tracer`` (None by default) receives every bin coded, as the decoder's tracer sees it (the
    bin trace, :mod:`nnr.bitstream.bintrace`; no offset register on this side); the level
    encoder's fast loop is never used while a tracer is set.
    """

    out: bytearray
    low: i64
    range: i64
    window: i64  # bits of L held in ``low``
    finished: bool
    tracer: BinTracer | None
    traced: bool  # tracer is not None (a native flag, cheap to test per bin)

    def __init__(self) -> None:
        self.tracer = None
        self.traced = False
        self.out = bytearray()
        self.low = 0
        self.range = 510
        self.window = 9
        self.finished = False

    # -- bins -------------------------------------------------------------------------------

    def encode_bin(self, c: ContextModel, b: i64) -> None:
        """Context-coded bin ``b`` (0/1) with model ``c`` (inverse of decode_bin), then update."""
        if self.traced:
            t = self.tracer
            assert t is not None
            t.on_bin(int(c.ctx_id), int(b), int(self.range), None, int(self.bit_position()))
        p = c.p
        rng = self.range
        rlps = range_lps(p, rng, RLPS)
        rmps = rng - rlps
        mps: i64 = 0
        if p >= 0:
            mps = 1
        # BEGIN GENERATED encode-decision by tools/gen_hot_loops.py (edit the generator, then run it)
        if b == mps:
            if rmps < 256:
                self.range = rmps << 1
                self.low <<= 1
                self.window += 1
            else:
                self.range = rmps
        else:
            n = i64(RENORM[rlps])
            self.range = rlps << n
            self.low = (self.low + rmps) << n
            self.window += n
        # END GENERATED encode-decision
        if self.window >= EMIT_AT:
            self.emit()
        update(c, p, b)  # the decoder's two-rate estimator update (deepcabac.md §3.3)

    def encode_bypass(self, b: i64) -> None:
        """One equiprobable bin."""
        if self.traced:
            t = self.tracer
            assert t is not None
            t.on_bypass(int(b), int(self.range), None, int(self.bit_position()))
        low = self.low << 1
        if b:
            low += self.range
        self.low = low
        self.window += 1
        if self.window >= EMIT_AT:
            self.emit()

    def encode_bypass_bins(self, value: i64, n: i64) -> None:
        """The ``n`` low bits of ``value`` as bypass bins, most significant first."""
        if self.traced:  # one by one, each traced (the same code: L * 2^n + range * value)
            for i in range(n - 1, -1, -1):
                self.encode_bypass((value >> i) & 1)
            return
        while n > 0:
            k = n if n < 8 else i64(8)
            n -= k
            chunk = (value >> n) & ((i64(1) << k) - 1)
            self.low = (self.low << k) + self.range * chunk
            self.window += k
            if self.window >= EMIT_AT:
                self.emit()

    def encode_terminate(self, b: i64) -> None:
        """Terminating bin (deepcabac.md §2.5); after a 1 only :meth:`finish` may follow."""
        if self.traced:
            t = self.tracer
            assert t is not None
            t.on_terminate(int(b), int(self.range), None, int(self.bit_position()))
        rng = self.range - 2
        if b:
            self.low += rng
            self.range = rng
            self.finished = True
            return
        if rng < 256:
            rng <<= 1
            self.low <<= 1
            self.window += 1
            if self.window >= EMIT_AT:
                self.emit()
        self.range = rng

    def set_tracer(self, t: BinTracer | None) -> None:
        """Attach a bin tracer (None: detach)."""
        self.tracer = t
        self.traced = t is not None

    def reset_range(self) -> None:
        """Range reset at a block-row start (deepcabac.md §2.4)."""
        self.range = 256

    # -- positions --------------------------------------------------------------------------

    def bit_position(self) -> i64:
        """Bits the decoder has consumed after its initialisation at this point (``T``)."""
        return 8 * i64(len(self.out)) + self.window - 9

    def mark(self) -> i64:
        """``L mod 2**16`` here; with :meth:`bit_position` and the finished codeword this gives
        the decoder's offset register at this point (:func:`offset_register_at`)."""
        return self.low & 0xFFFF

    # -- output -----------------------------------------------------------------------------

    def _carry(self) -> None:
        """Move carries that overflowed the window into the bytes already written."""
        w = self.window
        c = self.low >> w
        if c == 0:
            return
        self.low -= c << w
        out = self.out
        i = i64(len(out)) - 1
        while c:
            if i < 0:
                raise AssertionError("arithmetic encoder: carry beyond the start of the codeword")
            v = i64(out[i]) + c
            out[i] = v & 0xFF
            c = v >> 8
            i -= 1

    def emit(self) -> None:
        """Move the complete bytes of the window to ``out`` (once it holds EMIT_AT bits or more)."""
        self._carry()
        w = self.window
        low = self.low
        out = self.out
        while w >= KEEP + 8:
            w -= 8
            out.append((low >> w) & 0xFF)
        self.low = low & ((i64(1) << w) - 1)
        self.window = w

    def finish(self) -> bytes:
        """The codeword after a terminating bin 1: remaining bits, stop bit 1, zero padding."""
        if not self.finished:
            raise AssertionError("finish() needs encode_terminate(1) first")
        self.low |= 1
        self._carry()
        w = self.window
        pad = (8 - (w & 7)) & 7
        low = self.low << pad
        w += pad
        out = self.out
        while w > 0:
            w -= 8
            out.append((low >> w) & 0xFF)
        self.low = 0
        self.window = 0
        return bytes(out)


def offset_register_at(codeword: bytes, t: i64, low16: i64) -> i64:
    """The decoder's 9-bit offset register at bit position ``t`` (``C_t - L`` mod 2**16).

    ``low16`` is :meth:`ArithmeticEncoder.mark` taken at that position.  Bits before the start
    or after the end of the codeword count as 0.
    """
    end = t + 9  # C_t = the first t + 9 bits of the codeword
    c: i64 = 0
    n = i64(len(codeword))
    pos = end - 16
    for _i in range(16):
        bit: i64 = 0
        if pos >= 0 and (pos >> 3) < n:
            bit = (i64(codeword[pos >> 3]) >> (7 - (pos & 7))) & 1
        c = (c << 1) | bit
        pos += 1
    return (c - low16) & 0xFFFF
