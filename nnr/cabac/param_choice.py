"""NNCodec's choice of the probability-estimator parameter sets to signal (deepcabac.md §11).

NNCodec's encoder (param_opt_flag on) makes a trial ("pseudo") pass over a tensor's levels in
which every context model is scored under all nine parameter sets (:class:`TrialModel`), then
signals for each model the set of fewest estimated bits.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from mypy_extensions import i64

from nnr.cabac.coding import TensorCoding
from nnr.cabac.contexts import GTX0, NUM_REM_CONTEXTS, SIG0, SIGN0, gtx_context, num_level_contexts, rem0
from nnr.cabac.contexts import rem_context, sig_context, sign_context, signalled_contexts
from nnr.cabac.dq import dq_level, dq_next_state, skip_permutation, skipped_row_state
from nnr.cabac.trial_model import TrialModel
from nnr.errors import NNRUsageError


def _trial_level(models: list[TrialModel], v: i64, bv: i64, prev: i64, num_gtx: i64) -> None:
    """Trial binarization of a level ``v`` != 0 after sig_flag (no codebook limits)."""
    neg: i64 = 1 if v < 0 else 0
    a = -v if neg else v
    models[sign_context(prev, bv, num_gtx)].code(neg)
    j: i64 = 0
    while j < num_gtx:
        g: i64 = 1 if a > j + 1 else 0
        models[gtx_context(j, neg, bv, num_gtx)].code(g)
        if g == 0:
            return
        j += 1
    r = a - num_gtx - 1
    k: i64 = 0
    while (r + 1) >> (k + 1):
        k += 1
    for j in range(k):
        if j < NUM_REM_CONTEXTS:
            models[rem_context(j, num_gtx)].code(1)
    if k < NUM_REM_CONTEXTS:
        models[rem_context(k, num_gtx)].code(0)


def trial_run_fast(
    models: list[TrialModel], levels: list[int], p0: i64, p1: i64, state: i64, prev: i64, tc: TensorCoding,
) -> tuple[i64, i64]:
    """The trial pass over positions p0..p1-1 without TCA or HDSP: :func:`trial_pass`'s general
    loop with the context choice of deepcabac.md §6.2 read from the model groups directly (the
    numbering of :class:`~nnr.cabac.contexts.ContextSet`); returns (DQ state, previous level)."""
    dq = tc.dq
    num_gtx = tc.num_gtx
    sig = models[SIG0:SIGN0]
    sign = models[SIGN0:GTX0]
    gtx = models[GTX0 : rem0(num_gtx)]
    rem = models[rem0(num_gtx) : rem0(num_gtx) + NUM_REM_CONTEXTS]
    for p in range(p0, p1):
        v = i64(levels[p])
        nb: i64 = 0 if prev == 0 else (1 if prev < 0 else 2)  # neighbour_class(prev)
        if v == 0:
            sig[3 * state + nb].code(0)
        else:
            sig[3 * state + nb].code(1)
            neg: i64 = 1 if v < 0 else 0
            a = -v if neg else v
            sign[nb].code(neg)
            j: i64 = 0
            while j < num_gtx:
                if a <= j + 1:
                    gtx[2 * j + neg].code(0)
                    break
                gtx[2 * j + neg].code(1)
                j += 1
            if j == num_gtx:
                r = a - num_gtx - 1
                k: i64 = 0
                while (r + 1) >> (k + 1):
                    k += 1
                n1: i64 = NUM_REM_CONTEXTS
                if k < n1:
                    n1 = k
                for i in range(n1):
                    rem[i].code(1)
                if k < NUM_REM_CONTEXTS:
                    rem[k].code(0)
        if dq:
            state = dq_next_state(state, dq_level(v, state))
        prev = v
    return state, prev


def trial_pass(levels: list[int], tc: TensorCoding, hdsp: i64, row_skip_flags: list[int] | None,
               general: bool = False) -> list[TrialModel]:
    """NNCodec's trial ("pseudo") encoding pass: every context model's bins, scored under all
    nine parameter sets (one :class:`TrialModel` per level context).

    Differences from the real pass, all as in NNCodec 2.1.3: the binarized value is the input
    value itself (the DQ reconstruction index, not the coded level; the DQ state still follows
    the coded level), codebook limits are ignored (sign always coded, full Exp-Golomb prefix
    with its terminating 0), and at block-row starts only the trial models are reset, not the
    previous-level neighbour.  ``row_skip_flags`` and ``hdsp`` are the values in force (None / 0
    when the preamble does not code them).  ``general`` = True never takes the fast loop (tests
    hold the two to each other).
    """
    n = tc.height * tc.width
    models = [TrialModel() for _ in range(num_level_contexts(tc.num_gtx))]
    use_tca = tc.base is not None
    basel: list[int] = tc.base if tc.base is not None else []
    hist_on = hdsp == 1 and tc.history is not None
    hist: list[int] = tc.history if tc.history is not None else []
    if hist_on and len(hist) != n:
        raise NNRUsageError("the HDSP history does not match the tensor size")
    skipping = row_skip_flags is not None
    skip: list[int] = row_skip_flags if row_skip_flags is not None else []
    skip_perm = skip_permutation(tc.width) if (skipping and tc.dq) else b""
    fast = not general and not use_tca and not hist_on
    state: i64 = 0
    prev: i64 = 0
    for br in range(tc.scan.block_rows):
        if tc.scan.multi and br > 0:
            for m in models:
                m.reset()
        segs = tc.scan.coded_segments(br, skip)
        for i in range(0, len(segs), 3):
            state = skipped_row_state(state, skip_perm, segs[i])
            if fast:
                state, prev = trial_run_fast(models, levels, segs[i + 1], segs[i + 2], state, prev, tc)
                continue
            for p in range(segs[i + 1], segs[i + 2]):
                v = i64(levels[p])
                bv: i64 = 0  # (an i64 and a literal in one conditional expression would box)
                if use_tca:
                    bv = i64(basel[p])
                hb: i64 = 1 if (hist_on and hist[p]) else 0
                ci = sig_context(state, prev, bv, hb, tc.num_gtx)
                if v == 0:
                    models[ci].code(0)
                else:
                    models[ci].code(1)
                    _trial_level(models, v, bv, prev, tc.num_gtx)
                prev = v
                if tc.dq:
                    state = dq_next_state(state, dq_level(v, state))
    return models


def choose_parameter_sets(levels: list[int], tc: TensorCoding, hdsp_flag: i64,
                          row_skip_flags: list[int] | None) -> list[int]:
    """The parameter-set ids NNCodec's encoder signals (param_opt_flag on), in signalling order;
    the arguments are those of :func:`nnr.cabac.enc_levels.encode_tensor_levels`.  REM[31]
    (edition-1 rules) codes no bin: set 0, as every set scores zero bits for it."""
    hdsp: i64 = 0
    skip_flags: list[int] | None = None
    if tc.preamble:
        if tc.parent_node_id_present and hdsp_flag:
            hdsp = 1
        skip_flags = row_skip_flags
    order = signalled_contexts(tc.dq, tc.base is not None, hdsp == 1, tc.num_gtx, tc.cb_size, tc.cb_zero, tc.ed1)
    if not order:
        return []
    models = trial_pass(levels, tc, hdsp, skip_flags)
    return [int(models[ci].best()) if ci < len(models) else 0 for ci in order]
