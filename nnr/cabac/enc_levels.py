"""Per-tensor level encoding of DeepCABAC: the inverse of :mod:`nnr.cabac.dec_levels`.

For one tensor of an NNR compressed data unit payload this writes, with an
:class:`~nnr.cabac.arith_encoder.ArithmeticEncoder`:

* the edition-2 preamble (``hist_dep_sig_prob_enabled_flag``, ``row_skip_enabled_flag``,
  ``row_skip_flag`` list);
* the probability-estimator parameter-set signalling (deepcabac.md §6.3), with the ids given by
  the caller; :func:`nnr.cabac.param_choice.choose_parameter_sets` computes the ids NNCodec's
  encoder chooses (deepcabac.md §11);
* the levels in scan order, with the same binarization, context selection, DQ state machine,
  TCA, HDSP, codebook-aware binarization, block-row range resets as the decoder; the state at
  each block-row start is recorded so that the entry points can be derived once the codeword
  is finished (:func:`entry_points`).

Input levels are what :func:`nnr.cabac.dec_levels.decode_tensor_levels` outputs: plain levels,
or DQ reconstruction indices with DQ.  Where an index has the wrong parity for its DQ state,
the encoder codes it as NNCodec does and records the index the decoder will output instead
(``TensorEncodeInfo.dq_decoded``): the caller learns what the stream decodes to without
decoding it.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from typing import Final, final

from mypy_extensions import i64

from nnr.cabac.arith_encoder import EMIT_AT, ArithmeticEncoder, offset_register_at
from nnr.cabac.coding import TensorCoding
from nnr.cabac.contexts import NUM_REM_CONTEXTS, ContextSet, gtx_context, neighbour_class, rem_context, rem_prefix_cut
from nnr.cabac.contexts import sig_context, sign_coded, sign_context, signalled_contexts
from nnr.cabac.dec_levels import TensorSideInfo, trace_level
from nnr.cabac.dq import dq_index, dq_level, dq_next_state, skip_permutation, skipped_row_state
from nnr.cabac.estimator import NUM_PARAMETER_SETS, RENORM, RLPS, ContextModel, next_state, range_lps
from nnr.errors import NNRUsageError
from nnr.limits import INT32_MAX, INT32_MIN

# Largest remainder the prefix models can code: 31 prefix bins 1 and a 31-bit suffix.
MAX_REMAINDER: Final = 4294967294  # 2 * (2**31 - 1)


@final
class TensorEncodeInfo(TensorSideInfo):
    """What :func:`encode_tensor_levels` wrote besides the levels, and the entry-point marks."""

    marks: list[int]  # (T, L mod 2^16, DQ state) at the start of every block row, flat
    # DQ reconstruction indices of the wrong parity for their state, coded as NNCodec codes
    # them (the decoder then outputs a neighbouring index).  NNCodec's trellis produces such
    # indices with row skipping + block scan when W mod 4 != 0, or when indices are clipped
    # after quantization.  Non-zero means the tensor does not round-trip.
    dq_index_mismatches: i64
    # ... and for each of them (position, the index the decoder outputs there), flat
    dq_decoded: list[int]

    def __init__(self) -> None:
        super().__init__()
        self.marks = []
        self.dq_index_mismatches = 0
        self.dq_decoded = []


# ---------------------------------------------------------------------------------------------
# helpers shared by the real and the trial pass


def zero_row_flags(levels: list[int], height: i64, width: i64) -> list[int]:
    """``row_skip_flag`` as NNCodec sets it: 1 for every row whose levels are all zero."""
    flags: list[int] = []
    for y in range(height):
        f = 1
        for p in range(y * width, (y + 1) * width):
            if levels[p] != 0:
                f = 0
                break
        flags.append(f)
    return flags


# ---------------------------------------------------------------------------------------------
# binarization (real pass)


def _outside_codebook(level: i64, cb_size: i64, cb_zero: i64) -> NNRUsageError:
    return NNRUsageError(f"level {level} is outside the codebook (size {cb_size}, zero offset {cb_zero})")


def _encode_level(
    enc: ArithmeticEncoder, every: list[ContextModel], sig_ctx: ContextModel, level: i64, bv: i64, prev: i64,
    tc: TensorCoding,
) -> None:
    """One level (inverse of ``dec_levels._decode_level``): sig_flag, sign_flag,
    abs_level_greater_x[j], remainder; with ``cb_size`` > 0 the codebook-aware binarization."""
    num_gtx = tc.num_gtx
    cb_size = tc.cb_size
    cb_zero = tc.cb_zero
    if cb_size == 1:
        if level != 0:
            raise NNRUsageError("a size-1 codebook only admits level 0")
        return
    if level == 0:
        enc.encode_bin(sig_ctx, 0)
        return
    enc.encode_bin(sig_ctx, 1)
    neg: i64 = 1 if level < 0 else 0
    target = -level if neg else level
    if sign_coded(cb_size, cb_zero):
        enc.encode_bin(every[sign_context(prev, bv, num_gtx)], neg)
    elif neg != (1 if cb_zero != 0 else 0):
        raise _outside_codebook(level, cb_size, cb_zero)
    max_abs: i64 = -1  # no limit
    if cb_size > 0:
        max_abs = cb_zero if neg else cb_size - cb_zero - 1
        if target > max_abs:
            raise _outside_codebook(level, cb_size, cb_zero)
        if max_abs <= 1:
            return
    a: i64 = 1
    j: i64 = 0
    g: i64 = 1
    while j < num_gtx:
        g = 1 if target > a else 0
        enc.encode_bin(every[gtx_context(j, neg, bv, num_gtx)], g)
        a += g
        j += 1
        if g == 0 or a == max_abs:
            break
    if g == 1 and a != max_abs:
        # Exp-Golomb remainder: unary prefix (context-coded), then as many bypass bins
        if max_abs < 0 and target - a > MAX_REMAINDER:
            raise NNRUsageError(f"level magnitude {target} is too large to be coded")
        # the encoder knows the value: the prefix's ones first, then its terminating 0 where the
        # prefix can go on (not after the last model, nor where a codebook ends it)
        k: i64 = 0
        while k < NUM_REM_CONTEXTS and not rem_prefix_cut(max_abs, a, k) and target >= a + (i64(1) << k):
            a += i64(1) << k
            k += 1
        for j in range(k):
            enc.encode_bin(every[rem_context(j, num_gtx)], 1)
        if k < NUM_REM_CONTEXTS and not rem_prefix_cut(max_abs, a, k):
            enc.encode_bin(every[rem_context(k, num_gtx)], 0)
        if k:
            if enc.traced and enc.tracer is not None:
                enc.tracer.name_bypass("abs_remainder")
            enc.encode_bypass_bins(target - a, k)


def _coded_level(raw: i64, p: i64, state: i64, dq: bool) -> i64:
    """The level to code for input value ``raw`` at position ``p``: ``raw`` itself, or with DQ
    the coded level of reconstruction index ``raw`` in ``state``."""
    if raw > INT32_MAX or raw < INT32_MIN:
        raise NNRUsageError(f"level {raw} at position {p} is outside the int32 range")
    return dq_level(raw, state) if dq else raw


def dq_outputs(levels: list[int], p0: i64, p1: i64, state: i64, off: i64, out: list[int]) -> None:
    """Positions p0..p1-1 of ``levels`` (DQ reconstruction indices) coded from DQ state ``state``:
    append (``off`` + position, the index the decoder outputs) for each index of the wrong
    parity for its state (what the fast loop counted as a mismatch)."""
    for p in range(p0, p1):
        raw = i64(levels[p])
        level = dq_level(raw, state)
        got = dq_index(level, state)
        if got != raw:
            out.append(int(off + p))
            out.append(int(got))
        state = dq_next_state(state, level)


def _encode_run_fast(
    enc: ArithmeticEncoder, ctxs: ContextSet, levels: list[int], p0: i64, p1: i64, state: i64, prev: i64,
    tc: TensorCoding,
) -> tuple[i64, i64, i64]:
    """Levels at positions p0..p1-1 without TCA, HDSP or codebook: the encoder's hot loop.

    Every context-coded bin of a level goes through ONE copy of ArithmeticEncoder.encode_bin
    (calling the estimator's range_lps and next_state, the one statement of
    each rule), driven by a small phase machine, with the engine state in locals.
    Returns (DQ state, previous level, DQ index mismatches: :func:`dq_outputs` names them).  Behaviour must stay identical to
    the general path of encode_tensor_levels (tests/test_cabac_fast_loops.py holds them
    together).
    """
    dq = tc.dq
    num_gtx = tc.num_gtx
    rlps_table, renorm = RLPS, RENORM  # as locals: no load of a module global per bin
    rng = enc.range
    low = enc.low
    window = enc.window
    mismatches: i64 = 0
    for p in range(p0, p1):
        raw = i64(levels[p])
        level = _coded_level(raw, p, state, dq)
        if dq and dq_index(level, state) != raw:
            mismatches += 1
        neg: i64 = 1 if level < 0 else 0
        target = -level if neg else level
        if target - num_gtx - 1 > MAX_REMAINDER:
            raise NNRUsageError(f"level magnitude {target} is too large to be coded")
        c = ctxs.sig[3 * state + neighbour_class(prev)]
        b: i64 = 1 if level != 0 else 0
        phase: i64 = 0  # 0 sig_flag, 1 sign_flag, 2 greater flags, 3 remainder prefix
        a: i64 = 1
        j: i64 = 0
        k: i64 = 0
        while True:
            # -- encode_bin(c, b), the engine state in locals --
            cp = c.p
            rlps = range_lps(cp, rng, rlps_table)
            rmps = rng - rlps
            # BEGIN GENERATED encode-decision by tools/gen_hot_loops.py (edit the generator, then run it)
            if b == (1 if cp >= 0 else 0):
                if rmps < 256:
                    rng = rmps << 1
                    low <<= 1
                    window += 1
                else:
                    rng = rmps
            else:
                n = i64(renorm[rlps])
                rng = rlps << n
                low = (low + rmps) << n
                window += n
            # END GENERATED encode-decision
            if window >= EMIT_AT:
                enc.low = low
                enc.window = window
                enc.emit()
                low = enc.low
                window = enc.window
            c.p, c.s0 = next_state(cp, c.s0, b, c.t0, c.t1)  # the one estimator update (estimator)
            # -- binarization (deepcabac.md §6.1): the next bin --
            if phase == 0:
                if b == 0:
                    break
                phase = 1
                c = ctxs.sign[neighbour_class(prev)]
                b = neg
                continue
            if phase == 2:
                if b == 0:
                    break
                a += 1
                j += 1
            elif phase == 3:
                if b == 0:
                    break
                a += i64(1) << k
                k += 1
                if k >= NUM_REM_CONTEXTS:
                    break
            if phase < 3 and j < num_gtx:
                phase = 2
                c = ctxs.gtx[2 * j + neg]
                b = 1 if target > a else 0
            else:
                phase = 3
                c = ctxs.rem[k]
                b = 1 if target >= a + (i64(1) << k) else 0
        if k:
            enc.range = rng
            enc.low = low
            enc.window = window
            enc.encode_bypass_bins(target - a, k)
            low = enc.low
            window = enc.window
        prev = level
        if dq:
            state = dq_next_state(state, level)
    enc.range = rng
    enc.low = low
    enc.window = window
    return state, prev, mismatches


# ---------------------------------------------------------------------------------------------
# the tensor


def encode_parameter_sets(enc: ArithmeticEncoder, ctxs: ContextSet, order: list[int], ids: list[int]) -> None:
    """Probability-estimator parameter-set signalling (deepcabac.md §6.3), the mirror of
    :func:`nnr.cabac.dec_levels.decode_parameter_sets`: per signalled context model (``order``) a
    flag, then 3 bypass bins of the set id - 1; each model is initialised with its set."""
    every = ctxs.every
    eco = ctxs.eco_flag
    for i in range(len(order)):
        idx = i64(ids[i])
        if idx:
            enc.encode_bin(eco, 1)
            if enc.traced and enc.tracer is not None:
                enc.tracer.name_bypass(f"prob_est_param_idx_minus1[{i}]")
            enc.encode_bypass_bins(idx - 1, 3)
        else:
            enc.encode_bin(eco, 0)
        every[order[i]].init(idx)


def encode_tensor_levels(
    enc: ArithmeticEncoder, levels: list[int], tc: TensorCoding, hdsp_flag: i64, row_skip_flags: list[int] | None,
    parameter_set_ids: list[int] | None, info: TensorEncodeInfo, general: bool = False,
) -> None:
    """Encode the levels of one tensor (inverse of ``decode_tensor_levels``) as its coding
    context ``tc`` says (:func:`nnr.cabac.coding.tensor_coding`).

    ``levels`` (length height*width, row-major) are plain levels, or DQ reconstruction indices
    with DQ.  ``hdsp_flag`` is the hist_dep_sig_prob_enabled_flag to write (only written when
    parent_node_id_present and the preamble is present).  ``row_skip_flags``: None writes
    row_skip_enabled_flag = 0, else one flag per row (1 = row skipped; those rows must be all
    zero; :func:`zero_row_flags` gives NNCodec's choice).  ``parameter_set_ids``: one id 0..8
    per signalled context model in signalling order
    (:func:`nnr.cabac.param_choice.choose_parameter_sets` gives NNCodec's choice), or None for
    all 0.  ``info`` receives the side information, the entry-point marks (:func:`entry_points`
    after the codeword is finished) and what the decoder will output where it differs from
    ``levels`` (``dq_decoded``).

    ``general`` = True codes everything on the general path, never the fast loop (tests hold the
    two to each other).

    Inconsistent arguments raise NNRUsageError, before anything is written except for levels
    outside int32 or outside the codebook (found while coding: the encoder is then unusable).
    """
    n = tc.height * tc.width
    if len(levels) != n:
        raise NNRUsageError(f"{len(levels)} levels given for a {tc.height}x{tc.width} tensor")
    if tc.base is not None and len(tc.base) != n:
        raise NNRUsageError("the TCA base does not match the tensor size")

    # -- what the preamble and the parameter-set signalling will write (checked before writing)
    hdsp: i64 = 0
    row_skip_enabled: i64 = 0
    skip: list[int] = []
    coded_preamble = tc.preamble
    if coded_preamble:
        if tc.parent_node_id_present:
            hdsp = 1 if hdsp_flag else 0
        elif hdsp_flag:
            raise NNRUsageError("hist_dep_sig_prob_enabled_flag needs parent_node_id_present_flag")
        if row_skip_flags is not None:
            row_skip_enabled = 1
            if len(row_skip_flags) != tc.height:
                raise NNRUsageError(f"{len(row_skip_flags)} row_skip_flag values for {tc.height} rows")
            for y in range(tc.height):
                f: i64 = 1 if row_skip_flags[y] else 0
                if f:
                    for p in range(y * tc.width, (y + 1) * tc.width):
                        if levels[p] != 0:
                            raise NNRUsageError(f"row {y} is marked skipped but has non-zero levels")
                skip.append(int(f))
    use_tca = tc.base is not None
    use_hdsp = hdsp == 1
    hist_on = use_hdsp and tc.history is not None
    hist: list[int] = tc.history if tc.history is not None else []
    if hist_on and len(hist) != n:
        raise NNRUsageError("the HDSP history does not match the tensor size")
    order = signalled_contexts(tc.dq, use_tca, use_hdsp, tc.num_gtx, tc.cb_size, tc.cb_zero, tc.ed1)
    if parameter_set_ids is None:
        ids = [0] * len(order)
    else:
        ids = parameter_set_ids
        if len(ids) != len(order):
            raise NNRUsageError(f"{len(ids)} parameter-set ids given, {len(order)} context models are signalled")
        for x in ids:
            if x < 0 or x >= NUM_PARAMETER_SETS:
                raise NNRUsageError(f"parameter-set id {x} out of range 0..8")

    ctxs = ContextSet(tc.num_gtx)
    info.bit_start = enc.bit_position()

    # -- edition-2 preamble -------------------------------------------------------------------
    tracer = enc.tracer
    if coded_preamble:
        if tc.parent_node_id_present:
            if tracer is not None:
                tracer.name_bypass("hist_dep_sig_prob_enabled_flag")
            enc.encode_bypass(hdsp)
            info.hdsp_flag_coded = True
        if tracer is not None:
            tracer.name_bypass("row_skip_enabled_flag")
        enc.encode_bypass(row_skip_enabled)
        info.row_skip_enabled_flag_coded = True
        info.bit_row_skip = enc.bit_position()
        rs = ctxs.row_skip
        for y in range(len(skip)):
            enc.encode_bin(rs, i64(skip[y]))
    info.hist_dep_sig_prob_enabled_flag = hdsp
    info.row_skip_enabled_flag = row_skip_enabled
    info.row_skip_flag = skip

    # -- parameter sets -----------------------------------------------------------------------
    info.bit_params = enc.bit_position()
    encode_parameter_sets(enc, ctxs, order, ids)
    info.parameter_set_ids = list(ids)
    every = ctxs.every
    info.bit_levels = enc.bit_position()

    # -- levels -------------------------------------------------------------------------------
    info.scan_order_used = tc.scan.scan_order
    info.block_rows = tc.scan.block_rows

    basel: list[int] = tc.base if tc.base is not None else []
    skip_perm = skip_permutation(tc.width) if (row_skip_enabled and tc.dq) else b""
    marks = info.marks
    fast = not general and not use_tca and not hist_on and tc.cb_size <= 0 and not enc.traced

    state: i64 = 0
    prev: i64 = 0
    mismatches: i64 = 0
    decoded = info.dq_decoded
    for br in range(tc.scan.block_rows):
        if tc.scan.range_reset:
            if br > 0:
                ctxs.reset()
                prev = 0
            enc.reset_range()
            marks.append(int(enc.bit_position()))
            marks.append(int(enc.mark()))
            marks.append(int(state))
        segs = tc.scan.coded_segments(br, skip)
        for i in range(0, len(segs), 3):
            state = skipped_row_state(state, skip_perm, segs[i])
            if fast:
                s0 = state
                state, prev, mm = _encode_run_fast(enc, ctxs, levels, segs[i + 1], segs[i + 2], state, prev, tc)
                if mm:
                    mismatches += mm
                    dq_outputs(levels, segs[i + 1], segs[i + 2], s0, 0, decoded)
                continue
            for p in range(segs[i + 1], segs[i + 2]):
                raw = i64(levels[p])
                level = _coded_level(raw, p, state, tc.dq)
                if tc.dq and dq_index(level, state) != raw:
                    mismatches += 1
                    decoded.append(int(p))
                    decoded.append(int(dq_index(level, state)))
                bv: i64 = 0  # (an i64 and a literal in one conditional expression would box)
                if use_tca:
                    bv = i64(basel[p])
                hb: i64 = 1 if (hist_on and hist[p]) else 0
                c = every[sig_context(state, prev, bv, hb, tc.num_gtx)]
                _encode_level(enc, every, c, level, bv, prev, tc)
                if enc.traced:
                    t = enc.tracer
                    assert t is not None
                    trace_level(t, p, level, state, tc.dq)
                prev = level
                if tc.dq:
                    state = dq_next_state(state, level)
    info.dq_index_mismatches = mismatches
    info.bit_end = enc.bit_position()


def entry_points(codeword: bytes, info: TensorEncodeInfo) -> list[int]:
    """cabac_entry_point_list entries of a tensor, flat (value, dq_state, bit_offset) for block
    rows 1.. (the layout ``decode_tensor_levels`` takes), once ``codeword`` is finished."""
    marks = info.marks
    out: list[int] = []
    nb = len(marks) // 3
    for j in range(1, nb):
        t = i64(marks[3 * j])
        value = offset_register_at(codeword, t, i64(marks[3 * j + 1]))
        out.append(int(value))
        out.append(int(marks[3 * j + 2]))
        out.append(int(t - i64(marks[3 * (j - 1)])))
    return out


def encode_iae(enc: ArithmeticEncoder, nbits: i64, value: i64) -> None:
    """iae(n): ``value`` as an n-bit two's-complement number in bypass bins (e.g. qp_offset)."""
    lo = -(i64(1) << (nbits - 1))
    if value < lo or value >= -lo:
        raise NNRUsageError(f"{value} does not fit iae({nbits})")
    enc.encode_bypass_bins(value & ((i64(1) << nbits) - 1), nbits)


def encode_codeword_end(enc: ArithmeticEncoder) -> bytes:
    """Terminating bin 1 after the last tensor of an NDU, then the flush; returns the payload."""
    enc.encode_terminate(1)
    return enc.finish()
