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

from nnr.cabac.enc_levels import RESET_MARK, best_parameter_set, finish_codeword
from nnr.cabac.encoder import ArithmeticEncoder
from nnr.cabac.engine import ContextModel
from nnr.cabac.levels import STT

NUM_REM = 31
SIG0 = 0
SIGN0 = 48
REM0 = 53  # remainder contexts; greater-than flag j = 0 aliases REM0 + sign


def _dq_level(raw: int, state: int) -> int:
    if raw > 0:
        return (raw + (state & 1)) >> 1
    if raw < 0:
        return (raw - (state & 1)) >> 1
    return 0


def _scan(h: int, w: int, scan_order: int) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Row segments (y, x0, x1) in coding order, and the indices of segments starting a block row."""
    if w == 1 or h * w == w or scan_order == 0:
        return [(y, 0, w) for y in range(h)], []
    b = 4 << scan_order
    segs: list[tuple[int, int, int]] = []
    starts: list[int] = []
    for by in range(0, h, b):
        if by > 0:
            starts.append(len(segs))
        for bx in range(0, w, b):
            for y in range(by, min(by + b, h)):
                segs.append((y, bx, min(bx + b, w)))
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
    nctx = REM0 + 32
    enc = ArithmeticEncoder()
    if gpi == 1 and w > 1 and h * w > w:
        if parent_node_id_present:
            enc.encode_bypass(0)  # hist_dep_sig_prob_enabled_flag
        enc.encode_bypass(0)  # row_skip_enabled_flag
    # NNCodec's remainder signalling loop starts from (number of flags - 1) in uint32 arithmetic:
    # with zero flags that is 2**32 - 1 and no remainder context's parameter set is signalled
    order = list(range(SIG0, SIG0 + (24 if dq else 3))) + [SIGN0, SIGN0 + 1, SIGN0 + 2]
    ids = [0] * len(order)
    if param_opt:
        seqs = [bytearray() for _ in range(nctx)]
        state = 0
        prev = 0
        for si, (y, x0, x1) in enumerate(segs):
            if multi and si in start_set:
                for s in seqs:
                    if len(s) and s[-1] != RESET_MARK:
                        s.append(RESET_MARK)
            for p in range(y * w + x0, y * w + x1):
                v = levels[p]
                nb = 0 if prev == 0 else (1 if prev < 0 else 2)
                if v == 0:
                    seqs[SIG0 + 3 * state + nb].append(0)
                else:
                    seqs[SIG0 + 3 * state + nb].append(1)
                    neg = 1 if v < 0 else 0
                    seqs[SIGN0 + nb].append(neg)
                    a = -v if neg else v
                    seqs[REM0 + neg].append(1 if a > 1 else 0)
                    if a > 1:
                        bins, _, _ = _rem_bins(a - 2)
                        for j, b in enumerate(bins):
                            seqs[REM0 + j].append(b)
                prev = v
                if dq:
                    state = STT[2 * state + (_dq_level(v, state) & 1)]
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
    for si, (y, x0, x1) in enumerate(segs):
        if multi and si in start_set:
            for cm in ctx:
                cm.reset()
            prev = 0
            enc.reset_range()
        for p in range(y * w + x0, y * w + x1):
            raw = levels[p]
            k = _dq_level(raw, state) if dq else raw
            nb = 0 if prev == 0 else (1 if prev < 0 else 2)
            if k == 0:
                enc.encode_bin(ctx[SIG0 + 3 * state + nb], 0)
            else:
                enc.encode_bin(ctx[SIG0 + 3 * state + nb], 1)
                neg = 1 if k < 0 else 0
                enc.encode_bin(ctx[SIGN0 + nb], neg)
                a = -k if neg else k
                enc.encode_bin(ctx[REM0 + neg], 1 if a > 1 else 0)
                if a > 1:
                    bins, suffix, nsuf = _rem_bins(a - 2)
                    for j, b in enumerate(bins):
                        enc.encode_bin(ctx[REM0 + j], b)
                    if nsuf:
                        enc.encode_bypass_bins(suffix, nsuf)
            prev = k
            if dq:
                state = STT[2 * state + (k & 1)]
    return len(finish_codeword(enc))
