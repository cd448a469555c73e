"""Context models and their probability estimator (deepcabac.md §2.2, §3): what the arithmetic
decoder (:mod:`nnr.cabac.arith_decoder`) and encoder (:mod:`nnr.cabac.arith_encoder`) share.

The LPS sub-range table, the two-rate estimator with its parameter sets, the context model.

Hot path: compiled with mypyc.  State lives in ``i64`` attributes of final native classes.
"""

from __future__ import annotations

from typing import Final, final

from mypy_extensions import i64

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
        self.p = self.s0 = self.t0 = self.t1 = self.a0 = self.a1 = self.idx = 0
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
    level decoder's fast loop and the nine chains of the trial model: tools/gen_hot_loops.py
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


def range_lps(p: i64, rng: i64, rlps: bytes) -> i64:
    """LPS sub-range for combined state ``p`` and the current range (deepcabac.md §2.2), from
    the table :data:`RLPS` (``rlps``: passed in, so that a hot loop reads it from a local, not
    from a module global each bin)."""
    # BEGIN GENERATED range-lps by tools/gen_hot_loops.py (edit the generator, then run it)
    q = p >> 7
    if q < 0:
        q = -q
    return i64(rlps[(rng & 0xE0) + q])
    # END GENERATED range-lps
