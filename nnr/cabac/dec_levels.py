"""Per-tensor level decoding of DeepCABAC (deepcabac.md §5–§8).

Implements, for one tensor of an NNR compressed data unit payload:

* the edition-2 preamble: ``hist_dep_sig_prob_enabled_flag``, ``row_skip_enabled_flag`` and
  the ``row_skip_flag`` list;
* the signalling of probability-estimator parameter sets (deepcabac.md §6.3);
* the scan (row-major or block scan, scan_order 0–4), block-row range resets, entry-point checks;
* the binarization of one level (sig_flag, sign_flag, abs_level_greater_x[j], the Exp-Golomb
  remainder) with its context selection from the previous level, the dependent-quantization
  state, temporal context adaptation (TCA) and history-dependent significance probability
  (HDSP), including the codebook-aware binarization of edition 2;
* the dependent-quantization state machine and reconstruction-index mapping.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from typing import Final, final

from mypy_extensions import i64

from nnr.bitstream.bintrace import BinTracer
from nnr.cabac.arith_decoder import ArithmeticDecoder
from nnr.cabac.coding import TensorCoding
from nnr.cabac.contexts import NUM_REM_CONTEXTS, ContextSet, gtx_context, rem_context, rem_prefix_cut, sig_context
from nnr.cabac.contexts import sign_coded, sign_context, signalled_contexts
from nnr.cabac.dq import STT, dq_index, dq_next_state, skip_permutation, skipped_row_state
from nnr.cabac.estimator import RENORM, RLPS, STEP, ContextModel
from nnr.errors import LimitExceededError, MalformedStreamError, TruncatedStreamError
from nnr.limits import INT32_MAX, INT32_MIN


def _level_overflow(level: i64) -> MalformedStreamError:
    return MalformedStreamError(f"decoded level {level} is outside the int32 range",
                                element="nnr_compressed_data_unit_payload")


LEVEL_BIAS: Final = 128  # a byte-sized level l is kept as l + LEVEL_BIAS


@final
class LevelBuffer:
    """The decoded levels of one tensor, in position order, as the decoder writes them.

    A level in -128..127 is kept as ``level + LEVEL_BIAS`` in ``small`` (so ``bytes(small)`` is
    the whole tensor as biased bytes, built at C speed, with no per-element conversion); a
    larger one leaves ``LEVEL_BIAS`` there and is appended to ``large`` as (position, level).
    """

    small: list[int]
    large: list[int]

    def __init__(self) -> None:
        self.small = []
        self.large = []

    def put(self, p: i64, level: i64) -> None:
        """Store ``level`` at position ``p`` (int32 range checked)."""
        if -LEVEL_BIAS <= level < LEVEL_BIAS:
            self.small[p] = int(level + LEVEL_BIAS)
            return
        if level > INT32_MAX or level < INT32_MIN:
            raise _level_overflow(level)
        self.small[p] = LEVEL_BIAS
        self.large.append(int(p))
        self.large.append(int(level))

    def levels(self) -> list[int]:
        """The levels as a plain list."""
        out = [v - LEVEL_BIAS for v in self.small]
        large = self.large
        for i in range(0, len(large), 2):
            out[large[i]] = large[i + 1]
        return out


class TensorSideInfo:
    """Elements coded in the arithmetic codeword besides the levels, with their bit positions
    (for traces / info); the encoder's :class:`~nnr.cabac.enc_levels.TensorEncodeInfo` adds its
    entry-point marks."""

    hist_dep_sig_prob_enabled_flag: i64
    row_skip_enabled_flag: i64
    hdsp_flag_coded: bool
    row_skip_enabled_flag_coded: bool
    row_skip_flag: list[int]
    parameter_set_ids: list[int]  # one per signalled context model, in signalling order
    scan_order_used: i64
    block_rows: i64
    bit_start: i64  # codeword bit position (engine bit counter) where the tensor's bins start
    bit_row_skip: i64  # ... where the row_skip_flag list starts
    bit_params: i64  # ... where the parameter-set signalling starts
    bit_levels: i64  # ... where its levels start
    bit_end: i64  # ... after its last level

    def __init__(self) -> None:
        self.hist_dep_sig_prob_enabled_flag = 0
        self.row_skip_enabled_flag = 0
        self.hdsp_flag_coded = False
        self.row_skip_enabled_flag_coded = False
        self.row_skip_flag = []
        self.parameter_set_ids = []
        self.scan_order_used = 0
        self.block_rows = 1
        self.bit_start = 0
        self.bit_row_skip = 0
        self.bit_params = 0
        self.bit_levels = 0
        self.bit_end = 0


def decode_parameter_sets(dec: ArithmeticDecoder, ctxs: ContextSet, tc: TensorCoding, use_hdsp: bool,
                          ids: list[int]) -> None:
    """Probability-estimator parameter-set signalling (deepcabac.md §6.3): a flag, then 3 bypass
    bins for a set other than 0, for each signalled model; the others keep set 0."""
    every = ctxs.every
    m: i64 = 0  # index of the signalled model (names its bins in a bin trace)
    for ci in signalled_contexts(tc.dq, tc.use_tca, use_hdsp, tc.num_gtx, tc.cb_size, tc.cb_zero, tc.ed1):
        idx: i64 = 0
        if dec.decode_bin(ctxs.eco_flag):
            if dec.traced and dec.tracer is not None:
                dec.tracer.name_bypass(f"prob_est_param_idx_minus1[{m}]")
            idx = 1 + dec.decode_bypass_bins(3)
        m += 1
        ids.append(int(idx))
        every[ci].init(idx)


def _decode_level(
    dec: ArithmeticDecoder, every: list[ContextModel], sig_ctx: ContextModel, bv: i64, prev: i64, tc: TensorCoding,
) -> i64:
    """One level (deepcabac.md §6.1): sig_flag, sign_flag, abs_level_greater_x[j], remainder.

    With a codebook (``tc.cb_size`` > 0): the codebook-aware binarization of edition 2 (no sign
    when the codebook's zero is at an end, greater flags and remainder limited to the codebook's
    largest |level|).
    """
    num_gtx = tc.num_gtx
    cb_size = tc.cb_size
    cb_zero = tc.cb_zero
    if cb_size == 1 or dec.decode_bin(sig_ctx) == 0:
        return 0
    neg: i64
    if sign_coded(cb_size, cb_zero):
        neg = dec.decode_bin(every[sign_context(prev, bv, num_gtx)])
    else:
        neg = 1 if cb_zero != 0 else 0
    max_abs: i64 = -1  # no limit
    if cb_size > 0:
        max_abs = cb_zero if neg else cb_size - cb_zero - 1
        if max_abs <= 1:
            return -1 if neg else 1
    a: i64 = 1
    j: i64 = 0
    g: i64 = 1
    while j < num_gtx:
        g = dec.decode_bin(every[gtx_context(j, neg, bv, num_gtx)])
        a += g
        j += 1
        if g == 0 or a == max_abs:
            break
    if g == 1 and a != max_abs:
        # Exp-Golomb remainder: unary prefix (context-coded), then as many bypass bins
        k: i64 = 0
        while k < NUM_REM_CONTEXTS and not rem_prefix_cut(max_abs, a, k):
            if dec.decode_bin(every[rem_context(k, num_gtx)]) == 0:
                break
            a += i64(1) << k
            k += 1
        if k:
            if dec.traced and dec.tracer is not None:
                dec.tracer.name_bypass("abs_remainder")
            a += dec.decode_bypass_bins(k)
    return -a if neg else a


def trace_level(t: BinTracer, p: i64, level: i64, state: i64, dq: bool) -> None:
    """Report the level just coded at position ``p`` to a bin tracer: the coded level and the
    value the decoder outputs for it (its DQ reconstruction index in ``state`` when ``dq``)."""
    t.on_level(int(p), int(level), int(dq_index(level, state) if dq else level))


def _put_level(out: LevelBuffer, p: i64, level: i64, state: i64, dq: bool) -> i64:
    """Store decoded level ``level`` at ``p`` (its DQ reconstruction index when ``dq``); returns
    the DQ state that follows it."""
    nxt = state
    if dq:
        nxt = dq_next_state(state, level)
        level = dq_index(level, state)
    if level:
        out.put(p, level)
    return nxt


def _decode_run_fast(
    dec: ArithmeticDecoder, ctxs: ContextSet, out: LevelBuffer, p0: i64, p1: i64, state: i64, prev: i64,
    tc: TensorCoding,
) -> tuple[i64, i64]:
    """Levels at positions p0..p1-1 without TCA, HDSP or codebook: the hot loop.

    Every context-coded bin of a level (sig_flag, sign_flag, abs_level_greater_x[j], the
    remainder prefix) goes through ONE inlined copy of ArithmeticDecoder.decode_bin (the decision
    of :func:`~nnr.cabac.arith_decoder.decode_decision`, written here by tools/gen_hot_loops.py:
    a call per bin costs this loop about a sixth of its instructions), driven by a small phase
    machine, with the engine state in locals; the remainder suffix is decoded inline
    as bypass bins.  Behaviour must stay identical to decode_bin / decode_bypass and to the
    general path of decode_tensor_levels (tests/test_cabac_fast_loops.py holds them together).
    """
    dq = tc.dq
    num_gtx = tc.num_gtx
    sig, sign, gtx = ctxs.sig, ctxs.sign, ctxs.gtx
    small = out.small
    rlps_table, renorm, step = RLPS, RENORM, STEP  # as locals: no load of a module global per bin
    data, end, ptr = dec.data, dec.end, dec.ptr
    rng, value, bn = dec.range, dec.value, dec.bits_needed
    overrun: i64 = 0
    for p in range(p0, p1):
        nb: i64 = 0 if prev == 0 else (1 if prev < 0 else 2)  # neighbour_class(prev)
        c = sig[3 * state + nb]
        phase: i64 = 0  # 0 sig_flag, 1 sign_flag, 2 greater flags, 3 remainder prefix, 4 done
        a: i64 = 0
        neg: i64 = 0
        j: i64 = 0
        k: i64 = 0
        while phase < 4:
            # -- decode_bin(c), the engine state in locals --
            cp = c.p
            # BEGIN GENERATED decode-decision by tools/gen_hot_loops.py (edit the generator, then run it)
            q = cp >> 7
            if q < 0:
                q = -q
            rlps = i64(rlps_table[(rng & 0xE0) + q])
            rmps = rng - rlps
            scaled = rmps << 7
            b: i64 = 0
            n: i64 = 0
            if value < scaled:
                if cp >= 0:
                    b = 1
                if rmps < 256:
                    n = 1
                rng = rmps << n
                value <<= n
            else:
                if cp < 0:
                    b = 1
                n = i64(renorm[rlps])
                rng = rlps << n
                value = (value - scaled) << n
            # END GENERATED decode-decision
            bn += n
            if bn >= 0:
                if ptr < end:
                    value += i64(data[ptr]) << bn
                else:
                    overrun += 1
                ptr += 1
                bn -= 8
            # estimator update, as estimator.update(c, cp, b) (inlined)
            s0 = c.s0
            # BEGIN GENERATED estimator-update by tools/gen_hot_loops.py (edit the generator, then run it)
            s1 = cp - 16 * s0
            if b:
                t = s0 >> 3
                if t < 0:
                    s0 += i64(step[c.t0 + 16 + t])
                elif t < 15:
                    s0 += c.a0
                t = s1 >> 7
                if t < 0:
                    s1 += i64(step[c.t1 + 16 + t])
                elif t < 15:
                    s1 += c.a1
            else:
                t = (-s0) >> 3
                if t < 0:
                    s0 -= i64(step[c.t0 + 16 + t])
                elif t < 15:
                    s0 -= c.a0
                t = (-s1) >> 7
                if t < 0:
                    s1 -= i64(step[c.t1 + 16 + t])
                elif t < 15:
                    s1 -= c.a1
            # END GENERATED estimator-update
            c.s0 = s0
            c.p = s1 + 16 * s0
            # -- binarization (deepcabac.md §6.1) --
            if phase == 0:
                if b == 0:
                    break
                a = 1
                phase = 1
                c = sign[nb]
            elif phase == 1:
                neg = b
                phase = 2
                c = gtx[neg]
            elif phase == 2:
                a += b
                if b == 0:
                    break
                j += 1
                if j >= num_gtx:
                    phase = 3
                    j = 0
                nx = c.nxt  # gtx[2 * j + neg], or rem[0] after the last flag (ContextSet links)
                assert nx is not None
                c = nx
            else:
                if b == 0:
                    break
                a += i64(1) << k
                k += 1
                if j >= NUM_REM_CONTEXTS - 1:
                    break
                j += 1
                nx = c.nxt  # rem[j]
                assert nx is not None
                c = nx
        if k:
            # remainder suffix: k bypass bins, MSB first (inline decode_bypass)
            suffix: i64 = 0
            for _i in range(k):  # a named index stays an i64 (``_`` is boxed)
                value <<= 1
                bn += 1
                if bn >= 0:
                    if ptr < end:
                        value += i64(data[ptr])
                    else:
                        overrun += 1
                    ptr += 1
                    bn = -8
                sr = rng << 7
                suffix <<= 1
                if value >= sr:
                    value -= sr
                    suffix |= 1
            a += suffix
        level = -a if neg else a
        prev = level
        if dq:  # as _put_level (inlined)
            nxt = i64(STT[2 * state + (level & 1)])
            if level > 0:
                level = 2 * level - (state & 1)
            elif level < 0:
                level = 2 * level + (state & 1)
            state = nxt
        if level:  # as LevelBuffer.put (inlined for byte-sized levels)
            if -LEVEL_BIAS <= level < LEVEL_BIAS:
                small[p] = int(level + LEVEL_BIAS)
            else:
                out.put(p, level)
    dec.range = rng
    dec.value = value
    dec.bits_needed = bn
    dec.ptr = ptr
    dec.overrun += overrun
    return state, prev


def decode_preamble(dec: ArithmeticDecoder, ctxs: ContextSet, tc: TensorCoding, info: TensorSideInfo) -> i64:
    """The edition-2 preamble of a tensor's levels (deepcabac.md §5): hist_dep_sig_prob_enabled_flag,
    row_skip_enabled_flag and the row_skip_flag list (into ``info``); returns the HDSP flag.  The
    elements the codeword must then code may not exceed ``tc.max_coded`` (if >= 0)."""
    hdsp_flag: i64 = 0
    row_skip_enabled: i64 = 0
    skip: list[int] = info.row_skip_flag
    tracer = dec.tracer
    if tc.preamble:
        if tc.parent_node_id_present:
            if tracer is not None:
                tracer.name_bypass("hist_dep_sig_prob_enabled_flag")
            hdsp_flag = dec.decode_bypass()
            info.hdsp_flag_coded = True
        if tracer is not None:
            tracer.name_bypass("row_skip_enabled_flag")
        row_skip_enabled = dec.decode_bypass()
        info.row_skip_enabled_flag_coded = True
        info.bit_row_skip = dec.bit_position()
        if row_skip_enabled:
            rs = ctxs.row_skip
            for _y in range(tc.height):
                skip.append(int(dec.decode_bin(rs)))
    info.hist_dep_sig_prob_enabled_flag = hdsp_flag
    info.row_skip_enabled_flag = row_skip_enabled
    if tc.max_coded >= 0:
        coded = tc.height * tc.width
        if row_skip_enabled:
            coded = 0
            for y in range(tc.height):
                if not skip[y]:
                    coded += tc.width
        if coded > tc.max_coded:
            raise LimitExceededError(
                f"{coded} elements to code cannot fit a payload that holds at most {tc.max_coded} bins",
                element="tensor_dimensions",
            )
    return hdsp_flag


def decode_tensor_levels(dec: ArithmeticDecoder, out: LevelBuffer, tc: TensorCoding, info: TensorSideInfo,
                         general: bool = False) -> None:
    """Decode the levels of one tensor (deepcabac.md §5) into ``out`` (height*width levels), as
    its coding context ``tc`` says (:func:`nnr.cabac.coding.tensor_coding`).

    ``out`` is sized (all zero levels) only after the preamble has shown how many elements the
    codeword must code, which may not exceed ``tc.max_coded`` (if >= 0) — so a stream cannot
    make the decoder allocate what it could not have coded.

    Output values are the levels, DQ-mapped to reconstruction indices with DQ.
    ``general`` = True decodes everything on the general path, never the fast loop (tests hold
    the two to each other).
    """
    n = tc.height * tc.width
    ctxs = ContextSet(tc.num_gtx)
    info.bit_start = dec.bit_position()

    hdsp_flag = decode_preamble(dec, ctxs, tc, info)
    row_skip_enabled = info.row_skip_enabled_flag
    skip: list[int] = info.row_skip_flag
    small = out.small
    if len(small) < n:
        small.extend([LEVEL_BIAS] * (n - len(small)))

    use_tca = tc.base is not None
    use_hdsp = hdsp_flag == 1
    info.bit_params = dec.bit_position()
    decode_parameter_sets(dec, ctxs, tc, use_hdsp, info.parameter_set_ids)
    info.bit_levels = dec.bit_position()

    nbr = tc.scan.block_rows
    info.scan_order_used = tc.scan.scan_order
    multi = tc.scan.multi
    range_reset = tc.scan.range_reset
    info.block_rows = nbr
    if multi and tc.verify_entry_points and len(tc.entry_points) != 3 * (nbr - 1):
        raise MalformedStreamError(
            f"cabac_entry_point_list has {len(tc.entry_points) // 3} entries, the tensor has {nbr} block rows",
            element="cabac_entry_point_list",
        )

    hist_on = use_hdsp and tc.history is not None
    hist: list[int] = tc.history if tc.history is not None else []
    basel: list[int] = tc.base if tc.base is not None else []
    skip_perm = skip_permutation(tc.width) if (row_skip_enabled and tc.dq) else b""
    cb_mode = tc.cb_size > 0
    fast = not general and not use_tca and not hist_on and not cb_mode and not dec.traced
    every = ctxs.every

    state: i64 = 0
    prev: i64 = 0
    t_expected: i64 = 0
    for br in range(nbr):
        if range_reset:
            if br > 0:
                ctxs.reset()
                prev = 0
                if tc.verify_entry_points:
                    e = 3 * (br - 1)
                    t_expected += i64(tc.entry_points[e + 2])
                    if (
                        dec.bit_position() != t_expected
                        or dec.offset_register() != i64(tc.entry_points[e])
                        or (tc.dq and state != i64(tc.entry_points[e + 1]))
                    ):
                        raise MalformedStreamError(
                            f"entry point {br - 1} does not match the decoding state at block row {br} "
                            f"(signalled bit offset {t_expected}, value {tc.entry_points[e]}, dq state "
                            f"{tc.entry_points[e + 1]}; decoded {dec.bit_position()}, {dec.offset_register()}, {state})",
                            element="cabac_entry_point_list",
                        )
            else:
                t_expected = dec.bit_position()
            if not dec.reset_range():
                raise MalformedStreamError(
                    f"arithmetic decoder offset >= 256 at the range reset of block row {br}",
                    element="nnr_compressed_data_unit_payload",
                )
        segs = tc.scan.coded_segments(br, skip)
        for i in range(0, len(segs), 3):
            state = skipped_row_state(state, skip_perm, segs[i])
            p0: i64 = segs[i + 1]
            p1: i64 = segs[i + 2]
            if fast:
                state, prev = _decode_run_fast(dec, ctxs, out, p0, p1, state, prev, tc)
            else:
                for p in range(p0, p1):
                    bv: i64 = 0  # (an i64 and a literal in one conditional expression would box)
                    if use_tca:
                        bv = i64(basel[p])
                    hb: i64 = 1 if (hist_on and hist[p]) else 0
                    c = every[sig_context(state, prev, bv, hb, tc.num_gtx)]
                    level = _decode_level(dec, every, c, bv, prev, tc)
                    prev = level
                    if dec.traced:
                        t = dec.tracer
                        assert t is not None
                        trace_level(t, p, level, state, tc.dq)
                    state = _put_level(out, p, level, state, tc.dq)
            if dec.overrun > 0:  # once per row: bounds the work a truncated unit causes
                raise TruncatedStreamError(
                    "arithmetic codeword runs past the end of the NNR unit",
                    element="nnr_compressed_data_unit_payload",
                )
    info.bit_end = dec.bit_position()


def decode_codeword_end(dec: ArithmeticDecoder) -> None:
    """Terminating bin and stop pattern after the last tensor of an NDU (deepcabac.md §2.5)."""
    if dec.decode_terminate() != 1:
        raise MalformedStreamError(
            "terminating bin is 0 after the last tensor", element="nnr_compressed_data_unit_payload"
        )
    if dec.overrun > 0:
        raise TruncatedStreamError(
            "arithmetic codeword runs past the end of the NNR unit", element="nnr_compressed_data_unit_payload"
        )
    if not dec.stop_pattern_ok():
        raise MalformedStreamError(
            "no stop bit / zero padding at the end of the arithmetic codeword",
            element="nnr_compressed_data_unit_payload",
        )
