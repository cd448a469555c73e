"""CABAC rate estimates used by NNCodec's rate-distortion quantizers (quantization.md §8).

NNCodec's quantizers estimate the cost of a level with the same binarization and context
selection as the level coder (deepcabac.md §5), in 15-bit fixed point (1 bit = 32768), with
every context model in parameter set 0 and never reset:

* a context-coded bin costs ``EST_BITS[2 * (512 + (P >> 3)) + bin]`` (the estimated-bits table
  of :mod:`nnr.cabac.enc_levels`) and does not change the model while *estimating*;
* a bypass bin costs exactly one bit;
* after a level has been chosen, the models are *updated* with the bins of that level (the
  two-rate estimator update of deepcabac.md §3.3; bypass bins change nothing).

Context models live in one flat ``list[int]`` per estimator, one entry per model holding
``P << 8 | (S0 + 128)``.  Only the models a level can touch are kept, in NNCodec's order:
significance ``3 * state + n`` (n = 0 for a zero neighbour, 1 for a negative one, 2 for a
positive one; 24 models), sign ``24 + n``, greater-than flags ``27 + 2 * k + (0 if level > 0
else 1)`` (k < num_gtx), remainder prefix ``27 + 2 * num_gtx + j`` (j < 32).  With ``num_gtx``
= 0 the first greater-than flag and the remainder prefix share models, as they do in NNCodec's
store (there: 48 + n, 53 + 2k + …, 53 + 4 * num_gtx + j).

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from typing import Final

from mypy_extensions import i64

from nnr.cabac.enc_levels import EST_BITS
from nnr.cabac.engine import STEP

SIGN_CTX: Final = 24
GTX_CTX: Final = 27
NUM_REM_CTX: Final = 32  # a remainder below 2^32 needs at most 32 prefix models
ONE_BIT: Final = 32768
FRESH: Final = 128  # P = 0, S0 = 0: parameter set 0


def num_contexts(num_gtx: i64) -> i64:
    """Number of models kept for ``num_gtx`` greater-than flags."""
    return GTX_CTX + 2 * num_gtx + NUM_REM_CTX


def new_store(num_gtx: i64) -> list[int]:
    """A fresh store: every model in parameter set 0 (P = 0, S0 = 0)."""
    return [FRESH] * int(num_contexts(num_gtx))


def _bits(st: list[int], c: i64, b: i64) -> i64:
    p = i64(st[c]) >> 8
    return i64(EST_BITS[2 * (512 + (p >> 3)) + b])


def _update(st: list[int], c: i64, b: i64) -> None:
    # parameter set 0: shift 5 for S0, shift 4 for S1 (STEP rows 1 and 0)
    v = i64(st[c])
    p = v >> 8
    s0 = (v & 255) - 128
    s1 = p - 16 * s0
    if b:
        s0 += i64(STEP[32 + 16 + (s0 >> 3)])
        s1 += i64(STEP[16 + (s1 >> 7)])
    else:
        s0 -= i64(STEP[32 + 16 + ((-s0) >> 3)])
        s1 -= i64(STEP[16 + ((-s1) >> 7)])
    st[c] = ((s1 + 16 * s0) << 8) | (s0 + 128)


def _nb_class(nb: i64) -> i64:
    if nb == 0:
        return 0
    if nb < 0:
        return 1
    return 2


def level_bits(st: list[int], nb: i64, state: i64, value: i64, num_gtx: i64) -> i64:
    """Estimated bits (x 32768) of coding ``value`` in DQ state ``state`` after neighbour ``nb``."""
    n = _nb_class(nb)
    if value == 0:
        return _bits(st, 3 * state + n, 0)
    bits = _bits(st, 3 * state + n, 1)
    a = value
    neg: i64 = 0
    if value < 0:
        a = -value
        neg = 1
    bits += _bits(st, SIGN_CTX + n, neg)
    rem = a - 1
    gr: i64 = 1 if rem != 0 else 0
    bits += _bits(st, GTX_CTX + neg, gr)
    k: i64 = 1
    while gr != 0 and k < num_gtx:
        rem -= 1
        gr = 1 if rem != 0 else 0
        bits += _bits(st, GTX_CTX + 2 * k + neg, gr)
        k += 1
    if gr != 0:
        rem -= 1
        c = GTX_CTX + 2 * num_gtx
        if rem <= 0:
            return bits + _bits(st, c, 0)
        bits += _bits(st, c, 1)
        base: i64 = 1
        c += 1
        lg: i64 = 1
        while rem > base + (i64(1) << lg) - 1:
            bits += _bits(st, c, 1)
            base += i64(1) << lg
            c += 1
            lg += 1
        bits += _bits(st, c, 0)
        bits += lg * ONE_BIT
    return bits


def update_level(st: list[int], nb: i64, state: i64, value: i64, num_gtx: i64) -> None:
    """Update the models with the context-coded bins of ``value`` (same bins as level_bits)."""
    n = _nb_class(nb)
    if value == 0:
        _update(st, 3 * state + n, 0)
        return
    _update(st, 3 * state + n, 1)
    a = value
    neg: i64 = 0
    if value < 0:
        a = -value
        neg = 1
    _update(st, SIGN_CTX + n, neg)
    rem = a - 1
    gr: i64 = 1 if rem != 0 else 0
    _update(st, GTX_CTX + neg, gr)
    k: i64 = 1
    while gr != 0 and k < num_gtx:
        rem -= 1
        gr = 1 if rem != 0 else 0
        _update(st, GTX_CTX + 2 * k + neg, gr)
        k += 1
    if gr != 0:
        rem -= 1
        c = GTX_CTX + 2 * num_gtx
        if rem <= 0:
            _update(st, c, 0)
            return
        _update(st, c, 1)
        base: i64 = 1
        c += 1
        lg: i64 = 1
        while rem > base + (i64(1) << lg) - 1:
            _update(st, c, 1)
            base += i64(1) << lg
            c += 1
            lg += 1
        _update(st, c, 0)
