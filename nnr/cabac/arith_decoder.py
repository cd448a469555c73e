"""Arithmetic decoding engine of DeepCABAC (deepcabac.md §2): the inverse of
:mod:`nnr.cabac.arith_encoder`.

Hot path: compiled with mypyc.  State lives in ``i64`` attributes of final native classes.
The engine keeps the 9-bit ``offset`` register in the top bits of ``value`` with 7 look-ahead
bits below it and reads whole bytes (``bits_needed`` counts towards the next byte); this is the
usual byte-wise formulation and is equivalent to the bit-by-bit description.
"""

from __future__ import annotations

from typing import final

from mypy_extensions import i64

from nnr.bitstream.bintrace import BinTracer
from nnr.cabac.estimator import RENORM, RLPS, ContextModel, update


def decode_decision(p: i64, rng: i64, value: i64, rlps_table: bytes, renorm: bytes) -> tuple[i64, i64, i64, i64]:
    """A context-coded bin of a model in state P (deepcabac.md §2.2): the MPS (the sign of P)
    while the offset lies below the MPS sub-range, else the LPS; then the renormalization of the
    chosen sub-range.  Returns (bin, renormalization shift, range after it, ``value`` after it).
    :meth:`ArithmeticDecoder.decode_bin` calls it; the level decoder's fast loop has the same
    statements inlined (tools/gen_hot_loops.py writes both from one template; the C compiler
    does not inline this call, which would cost the loop about a sixth of its instructions).
    The tables :data:`~nnr.cabac.estimator.RLPS` and :data:`~nnr.cabac.estimator.RENORM` come
    in as arguments."""
    # BEGIN GENERATED decode-decision by tools/gen_hot_loops.py (edit the generator, then run it)
    q = p >> 7
    if q < 0:
        q = -q
    rlps = i64(rlps_table[(rng & 0xE0) + q])
    rmps = rng - rlps
    scaled = rmps << 7
    b: i64 = 0
    n: i64 = 0
    if value < scaled:
        if p >= 0:
            b = 1
        if rmps < 256:
            n = 1
        rng = rmps << n
        value <<= n
    else:
        if p < 0:
            b = 1
        n = i64(renorm[rlps])
        rng = rlps << n
        value = (value - scaled) << n
    # END GENERATED decode-decision
    return b, n, rng, value


@final
class ArithmeticDecoder:
    """DeepCABAC arithmetic decoding engine over ``data[start:end]``.

    Reading beyond ``end`` supplies zero bytes and counts them in ``overrun``; the caller turns a
    non-zero overrun into an error (so the hot loop needs no bounds check per bin).

    ``tracer`` (None by default) receives every bin decoded through :meth:`decode_bin`,
    :meth:`decode_bypass` and :meth:`decode_terminate` with the engine state before it (the bin
    trace, :mod:`nnr.bitstream.bintrace`); the level decoder's fast loop bypasses these methods
    and is never used while a tracer is set.
    """

    data: bytes
    start: i64
    end: i64
    ptr: i64  # next byte to read
    range: i64
    value: i64
    bits_needed: i64
    overrun: i64
    tracer: BinTracer | None
    traced: bool  # tracer is not None (a native flag: the check per bin costs no reference count)

    def __init__(self, data: bytes, start: i64, end: i64) -> None:
        self.tracer = None
        self.traced = False
        self.data = data
        self.start = start
        self.end = end
        self.ptr = start
        self.overrun = 0
        self.range = 510
        self.bits_needed = -8
        self.value = 0
        hi = self.read_byte()
        lo = self.read_byte()
        self.value = (hi << 8) | lo

    def state_valid(self) -> bool:
        """The engine invariant offset < range (a corrupt codeword or entry point breaks it)."""
        return (self.value >> 7) < self.range

    def read_byte(self) -> i64:
        ptr = self.ptr
        self.ptr = ptr + 1
        if ptr < self.end:
            return i64(self.data[ptr])
        self.overrun += 1
        return 0

    # -- bins -------------------------------------------------------------------------------

    def decode_bin(self, c: ContextModel) -> i64:
        """Context-coded bin with model ``c`` (deepcabac.md §2.2), then the model update."""
        if self.traced:
            return self._traced_bin(c, 0)
        p = c.p
        b, n, rng, value = decode_decision(p, self.range, self.value, RLPS, RENORM)
        self.range = rng
        bn = self.bits_needed + n
        if bn >= 0:
            value += self.read_byte() << bn
            bn -= 8
        self.bits_needed = bn
        self.value = value
        update(c, p, b)
        return b

    def decode_bypass(self) -> i64:
        """One equiprobable bin (deepcabac.md §2.3)."""
        if self.traced:
            return self._traced_bin(None, 1)
        value = self.value << 1
        bn = self.bits_needed + 1
        if bn >= 0:
            value += self.read_byte()
            bn = -8
        self.bits_needed = bn
        scaled = self.range << 7
        if value >= scaled:
            self.value = value - scaled
            return 1
        self.value = value
        return 0

    def decode_bypass_bins(self, n: i64) -> i64:
        """``n`` bypass bins, the first one the most significant bit of the result."""
        v: i64 = 0
        for _i in range(n):  # a named index stays an i64 (``_`` is boxed)
            v = (v << 1) | self.decode_bypass()
        return v

    def decode_terminate(self) -> i64:
        """Terminating bin (deepcabac.md §2.5)."""
        if self.traced:
            return self._traced_bin(None, 2)
        rng = self.range - 2
        scaled = rng << 7
        if self.value >= scaled:
            self.range = rng
            return 1
        if rng < 256:
            rng <<= 1
            self.value <<= 1
            self.bits_needed += 1
            if self.bits_needed == 0:
                self.value += self.read_byte()
                self.bits_needed = -8
        self.range = rng
        return 0

    def set_tracer(self, t: BinTracer | None) -> None:
        """Attach a bin tracer (None: detach)."""
        self.tracer = t
        self.traced = t is not None

    def _traced_bin(self, c: ContextModel | None, kind: i64) -> i64:
        """A bin of ``kind`` 0 (context-coded with ``c``), 1 (bypass) or 2 (terminating), decoded
        untraced, then reported to the tracer with the engine state before it."""
        t = self.tracer
        assert t is not None
        rng = self.range
        off = self.value >> 7
        pos = self.bit_position()
        self.traced = False
        if c is not None:
            b = self.decode_bin(c)
        elif kind == 1:
            b = self.decode_bypass()
        else:
            b = self.decode_terminate()
        self.traced = True  # before the report: the tracer may detach itself
        if c is not None:
            t.on_bin(int(c.ctx_id), int(b), int(rng), int(off), int(pos))
        elif kind == 1:
            t.on_bypass(int(b), int(rng), int(off), int(pos))
        else:
            t.on_terminate(int(b), int(rng), int(off), int(pos))
        return b

    # -- positions (entry points, end of codeword) ---------------------------------------------

    def bit_position(self) -> i64:
        """Bits consumed since initialisation (``T`` of deepcabac.md §2)."""
        return 8 * (self.ptr - self.start) - 8 + self.bits_needed

    def offset_register(self) -> i64:
        """The 9-bit offset register (what an entry point's value field stores)."""
        return self.value >> 7

    def reset_range(self) -> bool:
        """Range reset at a block-row start (deepcabac.md §2.4); False if offset >= 256."""
        self.range = 256
        return (self.value >> 7) < 256

    def bytes_consumed(self) -> i64:
        """Bytes of the codeword read so far."""
        return self.ptr - self.start

    def stop_pattern_ok(self) -> bool:
        """After the terminating bin: the stop bit 1 followed by zeros ends the last byte read."""
        last = self.ptr - 1
        b: i64 = 0
        if last < self.end:
            b = i64(self.data[last])
        return ((b << (8 + self.bits_needed)) & 0xFF) == 0x80
