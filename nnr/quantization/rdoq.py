"""Rate-distortion optimised uniform quantization as NNCodec 2.1.3 does it (quantization.md §8).

Used for dq_flag = 0 with ``lambda_scale`` > 0.  The weights come in scan order as Python floats
(float32 widened to double); arithmetic is double, in NNCodec's order.

One CABAC rate estimator (DQ state 0, :mod:`nnr.quantization.rate`) runs along the scan.  Per
weight ``v`` (``s`` = -1 if v < 0 else 1, ``u = (s · v) · (1/Δ)``, ``r = round(u)`` half away
from zero), the level is the first of least cost among 0, ``max(1, r − 1)`` … ``r`` (zero first,
then increasing), cost = ``ds · (u − q)² + bits(q)`` with ``ds = 2^15 / λ'``,
``λ' = λ · ln 2 / 6``.  NNCodec rates the candidates with their *positive* value (so the sign
and greater-than models of a positive level), then updates the models with the signed level
(and remembers it as the neighbour).

Hot path: compiled with mypyc.
"""

from __future__ import annotations

import math

from mypy_extensions import i64

from nnr.limits import INT32_MAX
from nnr.quantization.rate import level_bits, new_store, update_level


def urq_lambda_factor(lambda_scale: float) -> float:
    """NNCodec's λ' for URQ (``lambda_scale`` is the float32 value widened to double)."""
    return lambda_scale * (math.log(2.0) / 6.0)


def round_half_away(u: float) -> i64:
    """C ``round`` of a non-negative double below 2^62, as an integer."""
    f: i64 = math.floor(u)
    r = f
    if u - float(f) >= 0.5:
        r += 1
    return r


def urq_with_rate(w: list[float], qstep: float, lambda_factor: float, num_gtx: i64) -> list[int]:
    """NNCodec's URQ with CABAC rate estimates (``lambda_factor`` = λ' > 0); ``w`` in scan order."""
    n: i64 = len(w)
    qscale = 1.0 / qstep
    ds = 32768.0 / lambda_factor
    st = new_store(num_gtx)
    nb: i64 = 0
    out = [0] * n
    for i in range(n):
        v = w[i]
        neg = v < 0.0
        u = (-v if neg else v) * qscale
        best: i64 = 0
        if u != u:
            # NaN (w NaN, or 0 · ∞ when Δ underflowed): NNCodec's (int32_t) round(NaN) leaves
            # no candidate but 0
            out[i] = 0
            update_level(st, nb, 0, 0, num_gtx)
            nb = 0
            continue
        min_cost = ds * (u * u) + float(level_bits(st, nb, 0, 0, num_gtx))
        top = round_half_away(u)
        q = top - 1
        if q < 1:
            q = 1
        if top > INT32_MAX:
            q = top + 1  # NNCodec's (int32_t) of an out-of-range round(): no candidate but 0
        while q <= top:
            t = u - float(q)
            cost = ds * (t * t) + float(level_bits(st, nb, 0, q, num_gtx))
            if cost < min_cost:
                best = q
                min_cost = cost
            q += 1
        if neg:
            best = -best
        out[i] = best
        update_level(st, nb, 0, best, num_gtx)
        nb = best
    return out
