"""Trial coding with zero greater-than flags, as NNCodec's encoder does it.

NNCodec sizes some alternatives by coding a layer with ``initCtxModels(cabac_unary_length_minus1,
...)`` — the *minus1* value as the number of greater-than flags (the codebook zero offset, and
mode 2's codebook-versus-uniform comparison).  With ``cabac_unary_length_minus1 = 0`` its level
binarization still codes the first greater-than flag, and that flag's context index (53 + sign)
falls on the first remainder contexts (53 + 4·0 + j): the flag and the remainder prefix share
context models.  No decoder ever reads such a codeword (real payloads use
``cabac_unary_length_minus1 + 1 >= 1`` flags); only its length matters, and this module
reproduces it: level coding without codebook, TCA, HDSP or row skipping (what the trials use).
Also, NNCodec then signals no parameter set for the remainder contexts (an unsigned wrap-around
in its signalling loop), so they keep the default set.
"""

from __future__ import annotations

from typing import Final

from mypy_extensions import i64

from nnr.cabac.contexts import gtx_context, rem_context, sig_context, sign_context, signalled_contexts
from nnr.cabac.dq import dq_level, dq_next_state
from nnr.cabac.enc_levels import encode_codeword_end
from nnr.cabac.scan import BlockScan
from nnr.cabac.trial_model import TrialModel
from nnr.cabac.arith_encoder import ArithmeticEncoder
from nnr.cabac.estimator import ContextModel

NUM_GTX: Final = 0  # the context numbering of zero greater-than flags: flag 0 aliases remainder model sign


def _segments(h: i64, w: i64, scan_order: i64) -> tuple[list[int], list[bool]]:
    """Row segments as flat (y, p0, p1) triples in coding order, and per segment whether it starts a block
    row after the first."""
    scan = BlockScan(h, w, scan_order)
    segs: list[int] = []
    starts: list[bool] = []
    for br in range(scan.block_rows):
        flat = scan.segments(br)
        for i in range(0, len(flat), 3):
            starts.append(scan.multi and br > 0 and i == 0)
        segs.extend(flat)
    return segs, starts


def _rem_prefix_length(r: i64) -> tuple[i64, i64]:
    """Exp-Golomb order-0 code of r >= 0 as NNCodec's trial codes it: the number k of prefix bins
    1 (context offsets 0..k-1, then a 0 at offset k) and the first value of its k-bit suffix."""
    k: i64 = 0
    base: i64 = 0
    while r > base + (i64(1) << k) - 1:
        base += i64(1) << k
        k += 1
    return k, base


def _trial_ids(levels: list[int], segs: list[int], starts: list[bool], dq: bool, order: list[int]) -> list[int]:
    """NNCodec's parameter-set choice for the trial codeword (one :class:`TrialModel` per model)."""
    models = [TrialModel() for _ in range(rem_context(32, NUM_GTX))]
    state: i64 = 0
    prev: i64 = 0
    for i in range(0, len(segs), 3):
        if starts[i // 3]:
            for m in models:
                m.reset()
        for p in range(segs[i + 1], segs[i + 2]):
            v = i64(levels[p])
            sc = sig_context(state, prev, 0, 0, NUM_GTX)
            if v == 0:
                models[sc].code(0)
            else:
                models[sc].code(1)
                neg: i64 = 1 if v < 0 else 0
                models[sign_context(prev, 0, NUM_GTX)].code(neg)
                a = -v if neg else v
                models[gtx_context(0, neg, 0, NUM_GTX)].code(1 if a > 1 else 0)
                if a > 1:
                    k, _base = _rem_prefix_length(a - 2)  # a named target stays an i64
                    for j in range(k):
                        models[rem_context(j, NUM_GTX)].code(1)
                    models[rem_context(k, NUM_GTX)].code(0)
            prev = v
            if dq:
                state = dq_next_state(state, dq_level(v, state))
    return [int(models[c].best()) for c in order]


def coded_size_gtx0(levels: list[int], h: i64, w: i64, *, dq: bool, scan_order: i64, gpi: i64,
                    parent_node_id_present: bool, param_opt: bool) -> i64:
    """Bytes of NNCodec's trial codeword of one layer coded with zero greater-than flags."""
    segs, starts = _segments(h, w, scan_order)
    multi = any(starts)
    enc = ArithmeticEncoder()
    if gpi == 1 and w > 1 and h * w > w:
        if parent_node_id_present:
            enc.encode_bypass(0)  # hist_dep_sig_prob_enabled_flag
        enc.encode_bypass(0)  # row_skip_enabled_flag
    # NNCodec's remainder signalling loop starts from (number of flags - 1) in uint32 arithmetic:
    # with zero flags that is 2**32 - 1 and no remainder context's parameter set is signalled
    order = [c for c in signalled_contexts(dq, False, False, NUM_GTX, 0, 0) if c < rem_context(0, NUM_GTX)]
    ids = _trial_ids(levels, segs, starts, dq, order) if param_opt else [0] * len(order)
    ctx = [ContextModel() for _ in range(rem_context(32, NUM_GTX))]
    eco = ContextModel()
    for i in range(len(order)):
        idx = i64(ids[i])
        if idx:
            enc.encode_bin(eco, 1)
            enc.encode_bypass_bins(idx - 1, 3)
        else:
            enc.encode_bin(eco, 0)
        ctx[order[i]].init(idx)
    state: i64 = 0
    prev: i64 = 0
    if multi:
        enc.reset_range()
    for i in range(0, len(segs), 3):
        if starts[i // 3]:
            for cm in ctx:
                cm.reset()
            prev = 0
            enc.reset_range()
        for p in range(segs[i + 1], segs[i + 2]):
            raw = i64(levels[p])
            k = dq_level(raw, state) if dq else raw
            sc = sig_context(state, prev, 0, 0, NUM_GTX)
            if k == 0:
                enc.encode_bin(ctx[sc], 0)
            else:
                enc.encode_bin(ctx[sc], 1)
                neg: i64 = 1 if k < 0 else 0
                enc.encode_bin(ctx[sign_context(prev, 0, NUM_GTX)], neg)
                a = -k if neg else k
                enc.encode_bin(ctx[gtx_context(0, neg, 0, NUM_GTX)], 1 if a > 1 else 0)
                if a > 1:
                    nsuf, base = _rem_prefix_length(a - 2)
                    for j in range(nsuf):
                        enc.encode_bin(ctx[rem_context(j, NUM_GTX)], 1)
                    enc.encode_bin(ctx[rem_context(nsuf, NUM_GTX)], 0)
                    if nsuf:
                        enc.encode_bypass_bins(a - 2 - base, nsuf)
            prev = k
            if dq:
                state = dq_next_state(state, k)
    return i64(len(encode_codeword_end(enc)))
