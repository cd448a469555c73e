"""Dependent quantization's state machine (deepcabac.md §8): the one home of the state
transition, the mapping between coded level and reconstruction index, and the state after a
skipped row.  Used by the level coders, the trellis (:mod:`nnr.quantization.trellis`) and the
rate estimators.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from typing import Final

from mypy_extensions import i64

NUM_DQ_STATES: Final = 8

# 8-state transition table: STT[2 * state + parity of the coded level].
STT: Final = bytes([0, 2, 7, 5, 1, 3, 6, 4, 2, 0, 5, 7, 3, 1, 4, 6])


def dq_next_state(state: i64, level: i64) -> i64:
    """DQ state after coded level ``level``."""
    return i64(STT[2 * state + (level & 1)])


def dq_index(level: i64, state: i64) -> i64:
    """The reconstruction index of coded level ``level`` in ``state`` (what the decoder outputs)."""
    if level > 0:
        return 2 * level - (state & 1)
    if level < 0:
        return 2 * level + (state & 1)
    return 0


def dq_level(index: i64, state: i64) -> i64:
    """The coded level of reconstruction index ``index`` in ``state``.

    For a valid index this inverts :func:`dq_index` exactly.  An index of the wrong parity for
    the state (NNCodec's trellis can produce them) is mapped as NNCodec's encoder maps it; the
    decoder then reconstructs a neighbouring index.
    """
    if index > 0:
        return (index + (state & 1)) >> 1
    if index < 0:
        return (index - (state & 1)) >> 1
    return 0


def skip_permutation(width: i64) -> bytes:
    """DQ state after ``width`` parity-0 transitions, for each start state (row skipping)."""
    perm = [0, 1, 2, 3, 4, 5, 6, 7]
    step = [int(STT[2 * s]) for s in range(8)]
    n = width
    while n > 0:  # binary exponentiation of the parity-0 permutation
        if n & 1:
            perm = [step[p] for p in perm]
        step = [step[s] for s in step]
        n >>= 1
    return bytes(perm)


def skipped_row_state(state: i64, skip_perm: bytes, rows: i64 = 1) -> i64:
    """DQ state after ``rows`` skipped rows; ``skip_perm`` from :func:`skip_permutation`, or
    empty without DQ (the state then stays)."""
    if len(skip_perm) == 0:
        return state
    for _i in range(rows):
        state = i64(skip_perm[state])
    return state
