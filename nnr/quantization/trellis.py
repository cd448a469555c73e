"""Dependent quantization as NNCodec 2.1.3 does it: an 8-state Viterbi search (quantization.md §8).

The weights come in scan order, as Python floats (float32 values widened to double); all
arithmetic is in double, in NNCodec's operation order, so that every cost, every comparison and
therefore every decision is the same.

Per weight ``v`` (``s`` = -1 if v < 0 else 1, ``u = |v / Δ|`` computed as ``(1/Δ) · v · s``):

* candidates: reconstruction indices ``q = m … m + 3`` with ``m = max(1, trunc(u) − 1)``, kept
  in slot ``q mod 4``, with distortion ``D_q = ds · (u − q)²``, and the zero index with
  ``D_z = ds · u²``; ``ds`` is 1 without rate, else ``2^15 / λ'`` with
  ``λ' = λ · 4 · (ln 2 / 6) · 0.7``;
* a state with quantizer 0 (even state) reaches its parity-0 successor with the slot-0 index or
  zero, its parity-1 successor with the slot-2 index; a state with quantizer 1 (odd) uses slot 3
  or zero, resp. slot 1 (the DQ state table of quantization.md §2);
* every state keeps the cheapest incoming branch (cost = previous cost + D + rate, the first of
  equal costs in NNCodec's branch order wins); at the start only state 0 has cost 0, the others
  ``0.5 · DBL_MAX``;
* at the end the first state of least cost is traced back; the output is the signed
  reconstruction index ``s · q`` (0 for the zero branch).  The search returns the chosen slot
  per weight; the indices follow from the weights (:func:`slots_to_indices`).

With rate, each of the 8 states owns a CABAC rate estimator (:mod:`nnr.quantization.rate`) that
rates the coded level ``s · ((q + 1) >> 1)`` in that state.  NNCodec keeps two estimator objects
per state that alternate between steps; a state's new estimator receives the context models of
the chosen predecessor and is then updated with the chosen level, but with the *new* state's
significance models and with the neighbour level that this object itself last saw (two steps
earlier), and it remembers the chosen level as the neighbour for rating the next weight.
This is reproduced exactly.

Decisions are kept as two small integers per weight (which of its three incoming branches each
state took, 2 bits per state): values below 256 are shared objects, so storing them is cheap.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

import math
from typing import Final, final

from mypy_extensions import i64

from nnr.cabac.dq import NUM_DQ_STATES, dq_index, dq_next_state
from nnr.quantization.rate import level_bits, new_store, update_level

DBL_MAX: Final = 1.7976931348623157e308
HALF_DBL_MAX: Final = 0.5 * 1.7976931348623157e308

# Candidate slots per weight: the index q is kept in slot q mod 4; slot 4 is the zero index.
NUM_SLOTS: Final = 4


def _branches() -> tuple[tuple[int, ...], ...]:
    """(predecessor, slot) of the three incoming branches of every state, in NNCodec's order:
    predecessors ascending, a predecessor's non-zero index before its zero.

    From the DQ state machine: in state ``p`` the coded level ``l`` is the reconstruction index
    ``dq_index(l, p)`` (kept in slot index mod 4) and leads to ``dq_next_state(p, l)``; levels 2
    and 1 stand for the two non-zero slots (of even and odd level), 0 for the zero index.
    """
    incoming: list[list[int]] = [[] for _ in range(NUM_DQ_STATES)]
    for p in range(NUM_DQ_STATES):
        for level in (2, 0, 1):
            slot = dq_index(level, p) % NUM_SLOTS if level else NUM_SLOTS
            incoming[dq_next_state(p, level)] += [p, slot]
    return tuple(tuple(br) for br in incoming)


BRANCHES: Final = _branches()


def _min_qidx(u: float) -> i64:
    t = i64(int(u)) - 1
    if t < 1:  # (not a conditional expression: mixing an i64 and a literal would box)
        t = 1
    return t


def _branch_table() -> bytes:
    out = bytearray()
    for br in BRANCHES:
        for j in range(3):
            out.append(br[2 * j] | (br[2 * j + 1] << 3))
    return bytes(out)


# BRANCH_TABLE[3 * state + j] = predecessor | slot << 3 of the j-th incoming branch
BRANCH_TABLE: Final = _branch_table()


def _trace_back(n: i64, dec: list[int], best: i64) -> bytes:
    """Follow the decisions back from state ``best``; ``dec[2k]`` holds the branch numbers
    (2 bits each) of states 0-3 at weight k, ``dec[2k + 1]`` those of states 4-7.  Returns
    the chosen slot per weight (4 = zero)."""
    out = [0] * n
    state = best
    k = n - 1
    while k >= 0:
        j = (i64(dec[2 * k + (state >> 2)]) >> (2 * (state & 3))) & 3
        b = i64(BRANCH_TABLE[3 * state + j])
        out[k] = b >> 3
        state = b & 7
        k -= 1
    return bytes(out)


def slots_to_indices(w: list[float], qscale: float, slots: bytes) -> list[int]:
    """Signed reconstruction indices from the chosen slots (reference for the vectorised
    version in :func:`nnr.quantization._slots_to_levels`)."""
    n: i64 = len(w)
    out = [0] * n
    for k in range(n):
        slot = i64(slots[k])
        if slot != 4:
            v = w[k]
            u = qscale * v
            if v < 0.0:
                u = -u
            m = _min_qidx(u)
            q = m + ((slot - m) & 3)
            out[k] = -q if v < 0.0 else q
    return out


def dq_no_rate(w: list[float], qstep: float, end_state: i64 = -1) -> bytes:
    """NNCodec's DQ with ``lambda_scale`` <= 0 (distortion only); ``w`` in scan order.

    ``end_state`` >= 0: the path must end in that state (the cheapest such path; nnr's block
    rows coded apart, :mod:`nnr.encoding.split`, each start and end in state 0).

    Returns the chosen slot per weight (0-3: the index ≡ slot mod 4 among the candidates,
    4: zero); :func:`slots_to_indices` turns them into reconstruction indices."""
    n: i64 = len(w)
    qscale = 1.0 / qstep
    dec: list[int] = [0] * (2 * n)
    # BEGIN GENERATED dq-butterflies by tools/gen_hot_loops.py (edit the generator, then run it)
    c0 = 0.0
    c1 = HALF_DBL_MAX
    c2 = HALF_DBL_MAX
    c3 = HALF_DBL_MAX
    c4 = HALF_DBL_MAX
    c5 = HALF_DBL_MAX
    c6 = HALF_DBL_MAX
    c7 = HALF_DBL_MAX
    for i in range(n):
        v = w[i]
        u = qscale * v
        if v < 0.0:
            u = -u
        m = _min_qidx(u)
        dz = u * u
        fm = float(m)
        t = u - fm
        e0 = t * t
        t = u - (fm + 1.0)
        e1 = t * t
        t = u - (fm + 2.0)
        e2 = t * t
        t = u - (fm + 3.0)
        e3 = t * t
        r = m & 3
        if r == 0:
            d0 = e0
            d1 = e1
            d2 = e2
            d3 = e3
        elif r == 1:
            d1 = e0
            d2 = e1
            d3 = e2
            d0 = e3
        elif r == 2:
            d2 = e0
            d3 = e1
            d0 = e2
            d1 = e3
        else:
            d3 = e0
            d0 = e1
            d1 = e2
            d2 = e3
        # state 0: (0, slot 0), (0, zero), (4, slot 2)
        n0 = c0 + d0
        b0: i64 = 0
        x = c0 + dz
        if x < n0:
            n0 = x
            b0 = 1
        x = c4 + d2
        if x < n0:
            n0 = x
            b0 = 2
        # state 1: (2, slot 0), (2, zero), (6, slot 2)
        n1 = c2 + d0
        b1: i64 = 0
        x = c2 + dz
        if x < n1:
            n1 = x
            b1 = 1
        x = c6 + d2
        if x < n1:
            n1 = x
            b1 = 2
        # state 2: (0, slot 2), (4, slot 0), (4, zero)
        n2 = c0 + d2
        b2: i64 = 0
        x = c4 + d0
        if x < n2:
            n2 = x
            b2 = 1
        x = c4 + dz
        if x < n2:
            n2 = x
            b2 = 2
        # state 3: (2, slot 2), (6, slot 0), (6, zero)
        n3 = c2 + d2
        b3: i64 = 0
        x = c6 + d0
        if x < n3:
            n3 = x
            b3 = 1
        x = c6 + dz
        if x < n3:
            n3 = x
            b3 = 2
        # state 4: (3, slot 1), (7, slot 3), (7, zero)
        n4 = c3 + d1
        b4: i64 = 0
        x = c7 + d3
        if x < n4:
            n4 = x
            b4 = 1
        x = c7 + dz
        if x < n4:
            n4 = x
            b4 = 2
        # state 5: (1, slot 1), (5, slot 3), (5, zero)
        n5 = c1 + d1
        b5: i64 = 0
        x = c5 + d3
        if x < n5:
            n5 = x
            b5 = 1
        x = c5 + dz
        if x < n5:
            n5 = x
            b5 = 2
        # state 6: (3, slot 3), (3, zero), (7, slot 1)
        n6 = c3 + d3
        b6: i64 = 0
        x = c3 + dz
        if x < n6:
            n6 = x
            b6 = 1
        x = c7 + d1
        if x < n6:
            n6 = x
            b6 = 2
        # state 7: (1, slot 3), (1, zero), (5, slot 1)
        n7 = c1 + d3
        b7: i64 = 0
        x = c1 + dz
        if x < n7:
            n7 = x
            b7 = 1
        x = c5 + d1
        if x < n7:
            n7 = x
            b7 = 2
        dec[2 * i] = b0 | (b1 << 2) | (b2 << 4) | (b3 << 6)
        dec[2 * i + 1] = b4 | (b5 << 2) | (b6 << 4) | (b7 << 6)
        c0 = n0
        c1 = n1
        c2 = n2
        c3 = n3
        c4 = n4
        c5 = n5
        c6 = n6
        c7 = n7
    best: i64 = 0
    mc = c0
    if c1 < mc:
        mc = c1
        best = 1
    if c2 < mc:
        mc = c2
        best = 2
    if c3 < mc:
        mc = c3
        best = 3
    if c4 < mc:
        mc = c4
        best = 4
    if c5 < mc:
        mc = c5
        best = 5
    if c6 < mc:
        mc = c6
        best = 6
    if c7 < mc:
        mc = c7
        best = 7
    # END GENERATED dq-butterflies
    if end_state >= 0:
        best = end_state
    return _trace_back(n, dec, best)


def dq_lambda_factor(lambda_scale: float) -> float:
    """NNCodec's λ' for DQ (``lambda_scale`` is the float32 value widened to double)."""
    return lambda_scale * 4.0 * (math.log(2.0) / 6.0) * 0.7


@final
class _RateState:
    """One trellis state with rate: its estimator objects and this step's branch costs."""

    cost: float
    store: list[int]  # estimator object in use as "previous" this step
    nb: i64  # its neighbour level
    other: list[int]  # the state's second estimator object (becomes "current")
    other_nb: i64
    ca: float  # cost via the parity-0 non-zero index
    cz: float  # cost via zero
    cb: float  # cost via the parity-1 index

    def __init__(self, num_gtx: i64) -> None:
        self.cost = HALF_DBL_MAX
        self.store = new_store(num_gtx)
        self.nb = 0
        self.other = new_store(num_gtx)
        self.other_nb = 0
        self.ca = 0.0
        self.cz = 0.0
        self.cb = 0.0


def dq_with_rate(w: list[float], qstep: float, lambda_factor: float, num_gtx: i64) -> bytes:
    """NNCodec's DQ with CABAC rate estimates (``lambda_factor`` = λ' > 0); ``w`` in scan order.

    Returns the chosen slot per weight, as :func:`dq_no_rate`."""
    n: i64 = len(w)
    qscale = 1.0 / qstep
    ds = 32768.0 / lambda_factor
    dec: list[int] = [0] * (2 * n)
    states = [_RateState(num_gtx) for _ in range(8)]
    states[0].cost = 0.0
    new_cost: list[float] = [0.0] * 8
    chosen: list[int] = [0] * 8
    dist: list[float] = [0.0] * 5
    lev: list[int] = [0] * 5
    for i in range(n):
        v = w[i]
        neg = v < 0.0
        u = qscale * v
        if neg:
            u = -u
        m = _min_qidx(u)
        dz = ds * (u * u)
        for j in range(4):
            q = m + j
            t = u - float(q)
            slot = q & 3
            dist[slot] = ds * (t * t)
            lv = (q + 1) >> 1
            lev[slot] = -lv if neg else lv
        for p in range(8):
            sp = states[p]
            st = sp.store
            nb = sp.nb
            a = 3 * (p & 1)  # parity-0 slot
            b = 2 - (p & 1)  # parity-1 slot
            c = sp.cost
            sp.ca = c + dist[a] + float(level_bits(st, nb, p, lev[a], num_gtx))
            sp.cz = c + dz + float(level_bits(st, nb, p, 0, num_gtx))
            sp.cb = c + dist[b] + float(level_bits(st, nb, p, lev[b], num_gtx))
        lo: i64 = 0
        hi: i64 = 0
        for c8 in range(8):
            best_cost = DBL_MAX
            best_j: i64 = 0
            for j in range(3):
                br = i64(BRANCH_TABLE[3 * c8 + j])
                sl = br >> 3
                sp = states[br & 7]
                if sl == 4:
                    x = sp.cz
                elif sl == 0 or sl == 3:
                    x = sp.ca
                else:
                    x = sp.cb
                if x < best_cost:
                    best_cost = x
                    best_j = j
            new_cost[c8] = best_cost
            chosen[c8] = i64(BRANCH_TABLE[3 * c8 + best_j])
            if c8 < 4:
                lo |= best_j << (2 * c8)
            else:
                hi |= best_j << (2 * (c8 - 4))
        dec[2 * i] = lo
        dec[2 * i + 1] = hi
        # the "current" objects: copy the chosen predecessor's models, update them with the
        # chosen level in the new state's significance models and the object's own (stale)
        # neighbour, and remember the level as the neighbour
        for c8 in range(8):
            br = i64(chosen[c8])
            sl = br >> 3
            level: i64 = 0 if sl == 4 else lev[sl]
            sc = states[c8]
            st = states[br & 7].store.copy()
            update_level(st, sc.other_nb, c8, level, num_gtx)
            sc.other = st
            sc.other_nb = level
        for c8 in range(8):
            sc = states[c8]
            st = sc.store
            sc.store = sc.other
            sc.other = st
            nb = sc.nb
            sc.nb = sc.other_nb
            sc.other_nb = nb
            sc.cost = new_cost[c8]
    best: i64 = 0
    mc = states[0].cost
    for c8 in range(1, 8):
        if states[c8].cost < mc:
            mc = states[c8].cost
            best = c8
    return _trace_back(n, dec, best)
