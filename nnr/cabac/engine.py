"""Arithmetic decoding engine and context models of DeepCABAC (deepcabac.md §2, §3).

Hot path: compiled with mypyc.  State lives in ``i64`` attributes of final native classes.
The engine keeps the 9-bit ``offset`` register in the top bits of ``value`` with 7 look-ahead
bits below it and reads whole bytes (``bits_needed`` counts towards the next byte); this is the
usual byte-wise formulation and is equivalent to the bit-by-bit description.
"""

from __future__ import annotations

from typing import Final, final

from mypy_extensions import i64

from nnr.bitstream.bintrace import BinTracer

# RLPS[(range & 0xE0) + q]: LPS sub-range for range class (range >> 5) & 7 and probability
# class q = |P >> 7| (deepcabac.md §2.2).
RLPS: Final = bytes(
    [
        128, 112, 97, 84, 74, 65, 57, 50, 45, 39, 34, 30, 27, 23, 20, 18,
        15, 14, 12, 11, 10, 9, 7, 7, 5, 5, 4, 4, 3, 3, 2, 2,
        142, 125, 108, 93, 82, 72, 63, 56, 50, 43, 38, 33, 30, 26, 22, 20,
        17, 16, 13, 12, 11, 10, 8, 8, 6, 6, 5, 5, 3, 3, 2, 2,
        156, 137, 119, 103, 90, 79, 70, 61, 55, 48, 42, 37, 33, 28, 24, 22,
        19, 17, 15, 13, 12, 11, 9, 9, 6, 6, 5, 5, 4, 4, 2, 2,
        171, 150, 130, 112, 99, 87, 76, 67, 60, 52, 46, 40, 36, 31, 27, 24,
        21, 19, 16, 15, 13, 12, 10, 10, 7, 7, 6, 6, 4, 4, 3, 3,
        185, 162, 141, 121, 107, 94, 82, 73, 65, 56, 50, 43, 39, 34, 29, 26,
        22, 21, 17, 16, 14, 13, 11, 11, 8, 8, 6, 6, 4, 4, 3, 3,
        199, 175, 152, 131, 115, 101, 89, 78, 70, 61, 54, 47, 42, 36, 31, 28,
        24, 22, 19, 17, 15, 14, 12, 12, 8, 8, 7, 7, 5, 5, 3, 3,
        213, 187, 163, 140, 123, 108, 95, 84, 75, 65, 58, 50, 45, 39, 33, 30,
        26, 24, 20, 18, 16, 15, 13, 13, 9, 9, 7, 7, 5, 5, 3, 3,
        228, 200, 174, 150, 132, 116, 102, 90, 80, 70, 62, 54, 48, 42, 36, 32,
        28, 26, 22, 20, 18, 16, 14, 14, 10, 10, 8, 8, 6, 6, 4, 4,
    ]
)

# Adaptation curve of the two-rate estimator (deepcabac.md §3.3).
CURVE: Final = (
    2512, 2288, 2064, 1840, 1616, 1392, 1168, 944, 720, 560, 464, 368, 272, 208, 144, 80,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 0,
)


def _step_table() -> bytes:
    # STEP[(sh - 4) * 32 + i] = CURVE[i] >> sh for the shifts 4..7 that parameter sets use;
    # every entry fits a byte, so the hot loop indexes a bytes object.
    out = bytearray()
    for sh in range(4, 8):
        out += bytes(c >> sh for c in CURVE)
    return bytes(out)


STEP: Final = _step_table()

# Probability-estimator parameter sets (deepcabac.md §3.2): (sh0, sh1, initial P, initial S0).
PARAMETER_SETS: Final = (
    (5, 4, 0, 0),
    (5, 4, -1310, -41),
    (5, 4, 3039, 95),
    (4, 5, 0, 0),
    (6, 6, 962, 30),
    (6, 6, 3039, 95),
    (6, 6, -673, -21),
    (7, 5, 0, 0),
    (7, 5, 962, 30),
)
NUM_PARAMETER_SETS: Final = 9

# Left shifts that bring a sub-range r (2..255) back to >= 256.
RENORM: Final = bytes([0, 8] + [9 - r.bit_length() for r in range(2, 256)])


@final
class ContextModel:
    """One adaptive binary probability model: two estimators ``s0`` (fast) and ``s1`` (slow).

    ``p = s1 + 16 * s0`` is the combined state; its sign is the MPS, ``|p >> 7|`` the LPS class.
    """

    p: i64
    s0: i64
    t0: i64  # offset of the sh0 row in STEP
    t1: i64  # offset of the sh1 row in STEP
    a0: i64  # CURVE[16..30] >> sh0: the step while the estimator agrees with the bin
    a1: i64  # CURVE[16..30] >> sh1
    idx: i64  # parameter set in force (restored by reset)
    ctx_id: i64  # flat index in its ContextSet (-1 outside one): names the model in a bin trace
    nxt: ContextModel | None  # the model of the binarization's next bin after a 1 (ContextSet.__init__)

    def __init__(self) -> None:
        # every field assigned here first: mypyc then knows them always defined and drops its
        # per-access "undefined attribute" checks from the hot loops; init sets the real values
        self.p = 0
        self.s0 = 0
        self.t0 = 0
        self.t1 = 0
        self.a0 = 0
        self.a1 = 0
        self.idx = 0
        self.ctx_id = -1
        self.nxt = None
        self.init(0)

    def init(self, idx: i64) -> None:
        """Initialise from parameter set ``idx`` (0..8)."""
        sh0, sh1, p, s0 = PARAMETER_SETS[idx]
        self.idx = idx
        self.t0 = (sh0 - 4) * 32
        self.t1 = (sh1 - 4) * 32
        self.a0 = 64 >> sh0
        self.a1 = 64 >> sh1
        self.p = p
        self.s0 = s0

    def reset(self) -> None:
        """Restore the initial state of the parameter set in force (block-row start)."""
        _, _, p, s0 = PARAMETER_SETS[self.idx]
        self.p = p
        self.s0 = s0


def next_state(p: i64, s0: i64, b: i64, t0: i64, t1: i64) -> tuple[i64, i64]:
    """Two-rate estimator update after bin ``b`` (deepcabac.md §3.3): (P, S0) after it.

    ``p`` is P = S1 + 16 * S0 before the bin, ``t0`` / ``t1`` the STEP rows of the set's shifts.
    Every model (decoder, encoder, rate estimators) goes through it, save the inlined copy in the
    decoder's fast loop and the nine chains of the encoder's trial model: tools/gen_hot_loops.py
    writes this body and those copies from one statement (tests hold them to this function).
    """
    # CURVE[16 + k] is 64 for k = 0..14 and 0 for k = 15: an estimator that agrees with the bin
    # (k >= 0) steps by 64 >> sh = 4 >> (t >> 5) without a table look-up.
    # BEGIN GENERATED estimator-update by tools/gen_hot_loops.py (edit the generator, then run it)
    s1 = p - 16 * s0
    if b:
        k = s0 >> 3
        if k < 0:
            s0 += i64(STEP[t0 + 16 + k])
        elif k < 15:
            s0 += 4 >> (t0 >> 5)
        k = s1 >> 7
        if k < 0:
            s1 += i64(STEP[t1 + 16 + k])
        elif k < 15:
            s1 += 4 >> (t1 >> 5)
    else:
        k = (-s0) >> 3
        if k < 0:
            s0 -= i64(STEP[t0 + 16 + k])
        elif k < 15:
            s0 -= 4 >> (t0 >> 5)
        k = (-s1) >> 7
        if k < 0:
            s1 -= i64(STEP[t1 + 16 + k])
        elif k < 15:
            s1 -= 4 >> (t1 >> 5)
    # END GENERATED estimator-update
    return s1 + 16 * s0, s0


def update(c: ContextModel, p: i64, b: i64) -> None:
    """The estimator update of model ``c`` after bin ``b``; ``p`` is c.p before it."""
    c.p, c.s0 = next_state(p, c.s0, b, c.t0, c.t1)


def lps_range(p: i64, rng: i64) -> i64:
    """LPS sub-range for combined state ``p`` and the current range (deepcabac.md §2.2)."""
    # BEGIN GENERATED lps-range by tools/gen_hot_loops.py (edit the generator, then run it)
    q = p >> 7
    if q < 0:
        q = -q
    return i64(RLPS[(rng & 0xE0) + q])
    # END GENERATED lps-range


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
        rng = self.range
        rlps = lps_range(p, rng)
        rmps = rng - rlps
        scaled = rmps << 7
        value = self.value
        # BEGIN GENERATED decode-decision by tools/gen_hot_loops.py (edit the generator, then run it)
        b: i64 = 0
        n: i64 = 0
        if value < scaled:
            if p >= 0:
                b = 1
            if rmps < 256:
                n = 1
            self.range = rmps << n
            value <<= n
        else:
            if p < 0:
                b = 1
            n = i64(RENORM[rlps])
            self.range = rlps << n
            value = (value - scaled) << n
        # END GENERATED decode-decision
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
