"""NNCodec's trial estimate of a context model's bits under every parameter set (deepcabac.md §11).

:class:`TrialModel` runs one context model with all nine probability-estimator parameter sets
side by side; its fields and unrolled methods are written by tools/gen_hot_loops.py (the region
between the GENERATED markers) from :data:`~nnr.cabac.estimator.PARAMETER_SETS`, one chain
template per set.  The parameter-set choice that drives it is :mod:`nnr.cabac.param_choice`.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

import math
from typing import Final, final

from mypy_extensions import i64

from nnr.cabac.estimator import NUM_PARAMETER_SETS, STEP

# ---------------------------------------------------------------------------------------------
# Estimated bits of a context-coded bin, 15-bit fixed point (1 bit = 32768), as NNCodec's encoder
# uses them to choose parameter sets (its table "SBMPScaledEstBits" in ContextModel.cpp).
#
# The table is indexed by i = 512 + (P >> 3) and holds the cost of bin 0 and of bin 1.  Its
# values follow a formula (checked against all 1024 entries of NNCodec 2.1.3, see
# tests/test_cabac_encoder.py): with d = |i - 512| (clamped to 511) the LPS probability is
# 2^-(1 + K * (8 * d + 4)), i.e. a log-linear model evaluated near the middle of the 8-wide
# bucket of P; cost = round(-log2(probability) * 32768).  The LPS is bin 1 below the middle
# (P < 0) and bin 0 from the middle up.  K is fitted to the table (any value in about
# [1.52892663e-3, 1.52892666e-3] reproduces it exactly).
EST_BITS_K: Final = 0.00152892665
EST_ONE_BIT: Final = 32768


def _est_bits_table() -> list[int]:
    table: list[int] = []
    for i in range(1024):
        d = i - 512 if i >= 512 else 512 - i
        if d > 511:
            d = 511
        p_lps = 2.0 ** (-(1.0 + EST_BITS_K * (8 * d + 4)))
        bits_lps = round(-math.log2(p_lps) * EST_ONE_BIT)
        bits_mps = round(-math.log2(1.0 - p_lps) * EST_ONE_BIT)
        if i < 512:
            table.append(bits_mps)  # bin 0 is the MPS for P < 0
            table.append(bits_lps)
        else:
            table.append(bits_lps)
            table.append(bits_mps)
    return table


# EST_BITS[2 * (512 + (P >> 3)) + bin]
EST_BITS: Final = _est_bits_table()


def _pack3(values: list[int]) -> bytes:
    out = bytearray()
    for v in values:
        out += int(v).to_bytes(3, "little")
    return bytes(out)


# The same as 3-byte little-endian entries: indexing bytes is the cheapest lookup mypyc offers
# (measured: fewer instructions than ord() of a str's code points, which gcc does not always inline).
EST_BITS3: Final = _pack3(EST_BITS)

PARAMETER_SET_PENALTY: Final = 3 * EST_ONE_BIT  # NNCodec's cost of signalling a set other than 0


# ---------------------------------------------------------------------------------------------
# NNCodec's parameter-set choice (deepcabac.md §11)


@final
class TrialModel:
    """NNCodec's trial estimate for one context model: the model run with all nine parameter
    sets side by side over the bins it would see, each set's estimated bits summed (15-bit fixed
    point, :data:`EST_BITS`).  One pass scores every set; ``best()`` picks the one to signal.

    The sets' estimator updates are :func:`~nnr.cabac.estimator.next_state` with the STEP rows of
    ``PARAMETER_SETS``, written out per set (tools/gen_hot_loops.py) so the nine estimators are
    plain native fields the C compiler can keep apart.
    """

    # BEGIN GENERATED trial-model by tools/gen_hot_loops.py (edit the generator, then run it)
    p0: i64
    p1: i64
    p2: i64
    p3: i64
    p4: i64
    p5: i64
    p6: i64
    p7: i64
    p8: i64
    s0: i64
    s1: i64
    s2: i64
    s3: i64
    s4: i64
    s5: i64
    s6: i64
    s7: i64
    s8: i64
    c0: i64
    c1: i64
    c2: i64
    c3: i64
    c4: i64
    c5: i64
    c6: i64
    c7: i64
    c8: i64
    k0: i64  # the costs of the last bin, per set
    k1: i64
    k2: i64
    k3: i64
    k4: i64
    k5: i64
    k6: i64
    k7: i64
    k8: i64
    fixed: i64  # a bin value that leaves every set's state unchanged, or -1
    bins: i64

    def __init__(self) -> None:
        # every field assigned here, one by one: mypyc then knows them always defined and
        # drops its per-access "undefined attribute" checks from the hot method
        self.p0 = 0
        self.s0 = 0
        self.p1 = -1310
        self.s1 = -41
        self.p2 = 3039
        self.s2 = 95
        self.p3 = 0
        self.s3 = 0
        self.p4 = 962
        self.s4 = 30
        self.p5 = 3039
        self.s5 = 95
        self.p6 = -673
        self.s6 = -21
        self.p7 = 0
        self.s7 = 0
        self.p8 = 962
        self.s8 = 30
        self.c0 = 0
        self.c1 = 0
        self.c2 = 0
        self.c3 = 0
        self.c4 = 0
        self.c5 = 0
        self.c6 = 0
        self.c7 = 0
        self.c8 = 0
        self.k0 = 0
        self.k1 = 0
        self.k2 = 0
        self.k3 = 0
        self.k4 = 0
        self.k5 = 0
        self.k6 = 0
        self.k7 = 0
        self.k8 = 0
        self.fixed = -1
        self.bins = 0

    def reset(self) -> None:
        """Every set back to its initial state (block-row start); the sums are kept."""
        self.fixed = -1
        self.p0, self.s0 = 0, 0
        self.p1, self.s1 = -1310, -41
        self.p2, self.s2 = 3039, 95
        self.p3, self.s3 = 0, 0
        self.p4, self.s4 = 962, 30
        self.p5, self.s5 = 3039, 95
        self.p6, self.s6 = -673, -21
        self.p7, self.s7 = 0, 0
        self.p8, self.s8 = 962, 30

    def code(self, b: i64) -> None:
        """One bin ``b`` under every set: add its estimated bits, then update the estimator.

        Each set is :func:`~nnr.cabac.estimator.next_state` in its branch-free form
        (``s += sign * STEP[row + 16 + (sign * s >> k)]``, the estimator steps toward the bin),
        written out so that the nine run as independent chains without calls;
        tests/test_cabac_encoder.py holds every set to ``next_state`` and :data:`EST_BITS`.
        Once a bin leaves all nine states unchanged (saturated estimators), the same bin
        again only adds the same costs: long runs in skewed models cost one branch a bin.
        """
        self.bins += 1
        if b == self.fixed:
            self.c0 += self.k0
            self.c1 += self.k1
            self.c2 += self.k2
            self.c3 += self.k3
            self.c4 += self.k4
            self.c5 += self.k5
            self.c6 += self.k6
            self.c7 += self.k7
            self.c8 += self.k8
            return
        est = EST_BITS3
        step = STEP
        sign: i64 = 1 if b else -1
        e = 3 * b + 3072  # EST_BITS3 offset of bin b at P = 0
        j: i64
        moved: i64 = 0
        p: i64
        s: i64
        t: i64
        k: i64
        p = self.p0
        s = self.s0
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k0 = k
        self.c0 += k
        t = sign * i64(step[16 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[48 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s0 = s + k
        self.p0 = p + t + 16 * k
        p = self.p1
        s = self.s1
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k1 = k
        self.c1 += k
        t = sign * i64(step[16 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[48 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s1 = s + k
        self.p1 = p + t + 16 * k
        p = self.p2
        s = self.s2
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k2 = k
        self.c2 += k
        t = sign * i64(step[16 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[48 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s2 = s + k
        self.p2 = p + t + 16 * k
        p = self.p3
        s = self.s3
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k3 = k
        self.c3 += k
        t = sign * i64(step[48 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[16 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s3 = s + k
        self.p3 = p + t + 16 * k
        p = self.p4
        s = self.s4
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k4 = k
        self.c4 += k
        t = sign * i64(step[80 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[80 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s4 = s + k
        self.p4 = p + t + 16 * k
        p = self.p5
        s = self.s5
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k5 = k
        self.c5 += k
        t = sign * i64(step[80 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[80 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s5 = s + k
        self.p5 = p + t + 16 * k
        p = self.p6
        s = self.s6
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k6 = k
        self.c6 += k
        t = sign * i64(step[80 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[80 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s6 = s + k
        self.p6 = p + t + 16 * k
        p = self.p7
        s = self.s7
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k7 = k
        self.c7 += k
        t = sign * i64(step[48 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[112 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s7 = s + k
        self.p7 = p + t + 16 * k
        p = self.p8
        s = self.s8
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k8 = k
        self.c8 += k
        t = sign * i64(step[48 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[112 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s8 = s + k
        self.p8 = p + t + 16 * k
        fixed: i64 = -1  # (a conditional expression mixing a literal and an i64 would box)
        if moved == 0:
            fixed = b
        self.fixed = fixed

    def costs(self) -> list[int]:
        """Estimated bits per parameter set 0..8 (15-bit fixed point)."""
        return [int(self.c0), int(self.c1), int(self.c2), int(self.c3), int(self.c4), int(self.c5),
                int(self.c6), int(self.c7), int(self.c8)]
    # END GENERATED trial-model

    def best(self) -> i64:
        """NNCodec's choice: argmin over the sets of (estimated bits + 3 bits if not set 0), ties
        to the lowest id; set 0 for a model that saw no bin."""
        if self.bins == 0:
            return 0
        costs = self.costs()
        best: i64 = 0
        best_bits = costs[0]
        for idx in range(1, NUM_PARAMETER_SETS):
            bits = costs[idx] + PARAMETER_SET_PENALTY
            if bits < best_bits:
                best = idx
                best_bits = bits
        return best


def best_parameter_set(bins: bytes) -> i64:
    """The set NNCodec signals for a model that sees ``bins`` (one block row)."""
    t = TrialModel()
    for b in bins:
        t.code(b)
    return t.best()
