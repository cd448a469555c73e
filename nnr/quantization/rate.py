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
``P << 8 | (S0 + 128)``, numbered as in :mod:`nnr.cabac.contexts`; only the models a level can
touch are kept (the prefix of that numbering that plain levels use, with one more remainder
model: a remainder below 2^32 needs at most 32 prefix models).  With ``num_gtx`` = 0 the first
greater-than flag and the remainder prefix share models, as they do in NNCodec's store.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from typing import Final

from mypy_extensions import i64

from nnr.cabac.contexts import gtx_context, rem_context, sig_context, sign_context
from nnr.cabac.estimator import PARAMETER_SETS, next_state
from nnr.cabac.trial_model import EST_BITS

ONE_BIT: Final = 32768
FRESH: Final = 128  # P = 0, S0 = 0: parameter set 0
NUM_REM_CTX: Final = 32
_SH0, _SH1, _, _ = PARAMETER_SETS[0]
T0: Final = (_SH0 - 4) * 32  # STEP rows of parameter set 0
T1: Final = (_SH1 - 4) * 32


def num_contexts(num_gtx: i64) -> i64:
    """Number of models kept for ``num_gtx`` greater-than flags."""
    return rem_context(NUM_REM_CTX, num_gtx)


def new_store(num_gtx: i64) -> list[int]:
    """A fresh store: every model in parameter set 0 (P = 0, S0 = 0)."""
    return [FRESH] * int(num_contexts(num_gtx))


def _bits(st: list[int], c: i64, b: i64) -> i64:
    p = i64(st[c]) >> 8
    return i64(EST_BITS[2 * (512 + (p >> 3)) + b])


def _update(st: list[int], c: i64, b: i64) -> None:
    v = i64(st[c])
    p, s0 = next_state(v >> 8, (v & 255) - 128, b, T0, T1)
    st[c] = (p << 8) | (s0 + 128)


def level_bits(st: list[int], nb: i64, state: i64, value: i64, num_gtx: i64) -> i64:
    """Estimated bits (x 32768) of coding ``value`` in DQ state ``state`` after neighbour ``nb``."""
    sc = sig_context(state, nb, 0, 0, num_gtx)
    if value == 0:
        return _bits(st, sc, 0)
    bits = _bits(st, sc, 1)
    a = value
    neg: i64 = 0
    if value < 0:
        a = -value
        neg = 1
    bits += _bits(st, sign_context(nb, 0, num_gtx), neg)
    rem = a - 1
    gr: i64 = 1 if rem != 0 else 0
    bits += _bits(st, gtx_context(0, neg, 0, num_gtx), gr)
    k: i64 = 1
    while gr != 0 and k < num_gtx:
        rem -= 1
        gr = 1 if rem != 0 else 0
        bits += _bits(st, gtx_context(k, neg, 0, num_gtx), gr)
        k += 1
    if gr != 0:
        rem -= 1
        c = rem_context(0, num_gtx)
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
    sc = sig_context(state, nb, 0, 0, num_gtx)
    if value == 0:
        _update(st, sc, 0)
        return
    _update(st, sc, 1)
    a = value
    neg: i64 = 0
    if value < 0:
        a = -value
        neg = 1
    _update(st, sign_context(nb, 0, num_gtx), neg)
    rem = a - 1
    gr: i64 = 1 if rem != 0 else 0
    _update(st, gtx_context(0, neg, 0, num_gtx), gr)
    k: i64 = 1
    while gr != 0 and k < num_gtx:
        rem -= 1
        gr = 1 if rem != 0 else 0
        _update(st, gtx_context(k, neg, 0, num_gtx), gr)
        k += 1
    if gr != 0:
        rem -= 1
        c = rem_context(0, num_gtx)
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
