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

from nnr.cabac.contexts import (
    dq_level,
    dq_next_state,
    gtx_context,
        rem_context,
    BlockScan,
    sig_context,
    sign_context,
    signalled_contexts,
)
from nnr.cabac.enc_levels import RESET_MARK, best_parameter_set, encode_codeword_end
from nnr.cabac.encoder import ArithmeticEncoder
from nnr.cabac.engine import ContextModel

NUM_GTX = 0  # the context numbering of zero greater-than flags: flag 0 aliases remainder model sign


def _scan(h: int, w: int, scan_order: int) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Row segments (y, p0, p1) in coding order, and the indices of segments starting a block row."""
    scan = BlockScan(h, w, scan_order)
    segs: list[tuple[int, int, int]] = []
    starts: list[int] = []
    for br in range(scan.block_rows):
        if scan.multi and br > 0:
            starts.append(len(segs))
        flat = scan.segments(br)
        segs += [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]
    return segs, starts


def _rem_bins(r: int) -> tuple[list[int], int, int]:
    """Exp-Golomb order-0 prefix bins of r >= 0 (context offsets 0, 1, ...), suffix value, length."""
    if r == 0:
        return [0], 0, 0
    bins = [1]
    base = 1
    k = 1
    while r > base + (1 << k) - 1:
        bins.append(1)
        base += 1 << k
        k += 1
    bins.append(0)
    return bins, r - base, k


def coded_size_gtx0(levels: list[int], h: int, w: int, *, dq: bool, scan_order: int, gpi: int,
                    parent_node_id_present: bool, param_opt: bool) -> int:
    """Bytes of NNCodec's trial codeword of one layer coded with zero greater-than flags."""
    segs, starts = _scan(h, w, scan_order)
    multi = bool(starts)
    start_set = set(starts)
    nctx = rem_context(32, NUM_GTX)
    enc = ArithmeticEncoder()
    if gpi == 1 and w > 1 and h * w > w:
        if parent_node_id_present:
            enc.encode_bypass(0)  # hist_dep_sig_prob_enabled_flag
        enc.encode_bypass(0)  # row_skip_enabled_flag
    # NNCodec's remainder signalling loop starts from (number of flags - 1) in uint32 arithmetic:
    # with zero flags that is 2**32 - 1 and no remainder context's parameter set is signalled
    order = [c for c in signalled_contexts(dq, False, False, NUM_GTX, 0, 0) if c < rem_context(0, NUM_GTX)]
    ids = [0] * len(order)
    if param_opt:
        seqs = [bytearray() for _ in range(nctx)]
        state = 0
        prev = 0
        for si, (y, p0, p1) in enumerate(segs):
            if multi and si in start_set:
                for s in seqs:
                    if len(s) and s[-1] != RESET_MARK:
                        s.append(RESET_MARK)
            for p in range(p0, p1):
                v = levels[p]
                sc = sig_context(state, prev, 0, 0, NUM_GTX)
                if v == 0:
                    seqs[sc].append(0)
                else:
                    seqs[sc].append(1)
                    neg = 1 if v < 0 else 0
                    seqs[sign_context(prev, 0, NUM_GTX)].append(neg)
                    a = -v if neg else v
                    seqs[gtx_context(0, neg, 0, NUM_GTX)].append(1 if a > 1 else 0)
                    if a > 1:
                        bins, _, _ = _rem_bins(a - 2)
                        for j, b in enumerate(bins):
                            seqs[rem_context(j, NUM_GTX)].append(b)
                prev = v
                if dq:
                    state = dq_next_state(state, dq_level(v, state))
        ids = [int(best_parameter_set(seqs[c])) if len(seqs[c]) else 0 for c in order]
    ctx = [ContextModel() for _ in range(nctx)]
    eco = ContextModel()
    for c, idx in zip(order, ids):
        if idx:
            enc.encode_bin(eco, 1)
            enc.encode_bypass_bins(idx - 1, 3)
        else:
            enc.encode_bin(eco, 0)
        ctx[c].init(idx)
    state = 0
    prev = 0
    if multi:
        enc.reset_range()
    for si, (y, p0, p1) in enumerate(segs):
        if multi and si in start_set:
            for cm in ctx:
                cm.reset()
            prev = 0
            enc.reset_range()
        for p in range(p0, p1):
            raw = levels[p]
            k = dq_level(raw, state) if dq else raw
            sc = sig_context(state, prev, 0, 0, NUM_GTX)
            if k == 0:
                enc.encode_bin(ctx[sc], 0)
            else:
                enc.encode_bin(ctx[sc], 1)
                neg = 1 if k < 0 else 0
                enc.encode_bin(ctx[sign_context(prev, 0, NUM_GTX)], neg)
                a = -k if neg else k
                enc.encode_bin(ctx[gtx_context(0, neg, 0, NUM_GTX)], 1 if a > 1 else 0)
                if a > 1:
                    bins, suffix, nsuf = _rem_bins(a - 2)
                    for j, b in enumerate(bins):
                        enc.encode_bin(ctx[rem_context(j, NUM_GTX)], b)
                    if nsuf:
                        enc.encode_bypass_bins(suffix, nsuf)
            prev = k
            if dq:
                state = dq_next_state(state, k)
    return len(encode_codeword_end(enc))
