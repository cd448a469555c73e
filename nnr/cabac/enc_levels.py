"""Per-tensor level encoding of DeepCABAC: the inverse of :mod:`nnr.cabac.levels`.

For one tensor of an NNR compressed data unit payload this writes, with an
:class:`~nnr.cabac.encoder.ArithmeticEncoder`:

* the edition-2 preamble (``hist_dep_sig_prob_enabled_flag``, ``row_skip_enabled_flag``,
  ``row_skip_flag`` list);
* the probability-estimator parameter-set signalling (deepcabac.md §6.3), with the ids given by
  the caller; :func:`choose_parameter_sets` computes the ids NNCodec's encoder chooses
  (deepcabac.md §11);
* the levels in scan order, with the same binarization, context selection, DQ state machine,
  TCA, HDSP, codebook-aware binarization, block-row range resets as the decoder; the state at
  each block-row start is recorded so that the entry points can be derived once the codeword
  is finished (:func:`entry_points`).

Input levels are what :func:`nnr.cabac.levels.decode_tensor_levels` outputs: plain levels, or
DQ reconstruction indices when ``dq``.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

import math
from typing import Final, final

from mypy_extensions import i64

from nnr.cabac.contexts import GTX0, NUM_REM_CONTEXTS, SIG0, SIGN0, BlockScan, ContextSet, rem0
from nnr.cabac.contexts import dq_index, dq_level, dq_next_state, gtx_context, neighbour_class, num_level_contexts
from nnr.cabac.contexts import preamble_coded, skipped_row_state
from nnr.cabac.contexts import rem_context, rem_prefix_cut, sig_context, sign_coded, sign_context, signalled_contexts, skip_permutation
from nnr.cabac.encoder import EMIT_AT, ArithmeticEncoder, offset_register_at
from nnr.cabac.engine import NUM_PARAMETER_SETS, RENORM, STEP, ContextModel, lps_range, next_state
from nnr.cabac.levels import TensorSideInfo, trace_level
from nnr.errors import NNRUsageError
from nnr.limits import INT32_MAX, INT32_MIN

# ---------------------------------------------------------------------------------------------
# Estimated bits of a context-coded bin, 15-bit fixed point (1 bit = 32768), as NNCodec's encoder
# uses them to choose parameter sets (its table "SBMPScaledEstBits" in ContextModel.cpp).
#
# The table is indexed by i = 512 + (P >> 3) and holds the cost of bin 0 and of bin 1.  Its
# values follow a formula (checked against all 1024 entries of NNCodec 2.1.3, see
# tests/test_cabac_encoder.py): with d = |i - 512| (clamped to 511) the LPS probability is
# 2^-(1 + K * (8 * d + 4)), i.e. a log-linear model evaluated near the middle of the 8-wide
# bucket of P; cost = round(-log2(probability) * 32768).  The LPS is bin 1 below the middle
# (P < 0) and bin 0 from the middle up.  K is fitted to the table (any value in about
# [1.52892663e-3, 1.52892666e-3] reproduces it exactly).
EST_BITS_K: Final = 0.00152892665
EST_ONE_BIT: Final = 32768


def _est_bits_table() -> list[int]:
    table: list[int] = []
    for i in range(1024):
        d = i - 512 if i >= 512 else 512 - i
        if d > 511:
            d = 511
        p_lps = 2.0 ** (-(1.0 + EST_BITS_K * (8 * d + 4)))
        lps = round(-math.log2(p_lps) * EST_ONE_BIT)
        mps = round(-math.log2(1.0 - p_lps) * EST_ONE_BIT)
        if i < 512:
            table.append(mps)  # bin 0 is the MPS for P < 0
            table.append(lps)
        else:
            table.append(lps)
            table.append(mps)
    return table


# EST_BITS[2 * (512 + (P >> 3)) + bin]
EST_BITS: Final = _est_bits_table()


def _pack3(values: list[int]) -> bytes:
    out = bytearray()
    for v in values:
        out += int(v).to_bytes(3, "little")
    return bytes(out)


# The same as 3-byte little-endian entries: indexing bytes is the cheapest lookup mypyc offers
# (measured: fewer instructions than ord() of a str's code points, which gcc does not always inline).
EST_BITS3: Final = _pack3(EST_BITS)

PARAMETER_SET_PENALTY: Final = 3 * EST_ONE_BIT  # NNCodec's cost of signalling a set other than 0

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

    def __init__(self) -> None:
        super().__init__()
        self.marks = []
        self.dq_index_mismatches = 0


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
    num_gtx: i64, cb_size: i64, cb_zero: i64,
) -> None:
    """One level (inverse of ``levels._decode_level``): sig_flag, sign_flag,
    abs_level_greater_x[j], remainder; with ``cb_size`` > 0 the codebook-aware binarization."""
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
        k: i64 = 0
        while k < NUM_REM_CONTEXTS and not rem_prefix_cut(max_abs, a, k):
            g = 1 if target >= a + (i64(1) << k) else 0
            enc.encode_bin(every[rem_context(k, num_gtx)], g)
            if g == 0:
                break
            a += i64(1) << k
            k += 1
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


def _encode_run_fast(
    enc: ArithmeticEncoder, ctxs: ContextSet, levels: list[int], p0: i64, p1: i64, state: i64, prev: i64,
    dq: bool, num_gtx: i64,
) -> tuple[i64, i64, i64]:
    """Levels at positions p0..p1-1 without TCA, HDSP or codebook: the encoder's hot loop.

    Every context-coded bin of a level goes through ONE inlined copy of
    ArithmeticEncoder.encode_bin (calling the engine's lps_range and next_state, the one
    statement of each rule), driven by a small phase machine, with the engine state in locals.
    Returns (DQ state, previous level, DQ index mismatches).  Behaviour must stay identical to
    the general path of encode_tensor_levels (tests/test_cabac_fast_loops.py holds them
    together).
    """
    renorm = RENORM  # as a local: no load of a module global per bin
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
            # -- inline encode_bin(c, b) --
            cp = c.p
            rlps = lps_range(cp, rng)
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
            c.p, c.s0 = next_state(cp, c.s0, b, c.t0, c.t1)  # the one estimator update (engine)
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
    :func:`nnr.cabac.levels.decode_parameter_sets`: per signalled context model (``order``) a
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
    enc: ArithmeticEncoder,
    levels: list[int],
    height: i64,
    width: i64,
    dq: bool,
    scan_order: i64,
    gpi: i64,
    num_gtx: i64,
    parent_node_id_present: bool,
    cb_size: i64,
    cb_zero: i64,
    base: list[int] | None,
    history: list[int] | None,
    hdsp_flag: i64,
    row_skip_flags: list[int] | None,
    parameter_set_ids: list[int] | None,
    info: TensorEncodeInfo,
    general: bool = False,
    ed1: bool = False,
) -> None:
    """Encode the levels of one tensor (inverse of ``decode_tensor_levels``; ``ed1``: the
    edition-1 reference software's rules, deepcabac.md §10).

    ``levels`` (length height*width, row-major) are plain levels, or DQ reconstruction indices
    when ``dq``.  ``base`` (TCA) and ``history`` (HDSP) are position-aligned or None, with the
    decoder's meaning.  ``hdsp_flag`` is the hist_dep_sig_prob_enabled_flag to write (only
    written when parent_node_id_present and the preamble is present).  ``row_skip_flags``:
    None writes row_skip_enabled_flag = 0, else one flag per row (1 = row skipped; those rows
    must be all zero; :func:`zero_row_flags` gives NNCodec's choice).  ``parameter_set_ids``:
    one id 0..8 per signalled context model in signalling order (:func:`choose_parameter_sets`
    gives NNCodec's choice), or None for all 0.  ``info`` receives the side information and the
    entry-point marks (:func:`entry_points` after the codeword is finished).

    ``general`` = True codes everything on the general path, never the fast loop (tests hold the
    two to each other).

    Inconsistent arguments raise NNRUsageError, before anything is written except for levels
    outside int32 or outside the codebook (found while coding: the encoder is then unusable).
    """
    n = height * width
    if len(levels) != n:
        raise NNRUsageError(f"{len(levels)} levels given for a {height}x{width} tensor")
    if base is not None and len(base) != n:
        raise NNRUsageError("the TCA base does not match the tensor size")

    # -- what the preamble and the parameter-set signalling will write (checked before writing)
    hdsp: i64 = 0
    row_skip_enabled: i64 = 0
    skip: list[int] = []
    coded_preamble = preamble_coded(height, width, gpi, cb_size)
    if coded_preamble:
        if parent_node_id_present:
            hdsp = 1 if hdsp_flag else 0
        elif hdsp_flag:
            raise NNRUsageError("hist_dep_sig_prob_enabled_flag needs parent_node_id_present_flag")
        if row_skip_flags is not None:
            row_skip_enabled = 1
            if len(row_skip_flags) != height:
                raise NNRUsageError(f"{len(row_skip_flags)} row_skip_flag values for {height} rows")
            for y in range(height):
                f: i64 = 1 if row_skip_flags[y] else 0
                if f:
                    for p in range(y * width, (y + 1) * width):
                        if levels[p] != 0:
                            raise NNRUsageError(f"row {y} is marked skipped but has non-zero levels")
                skip.append(int(f))
    use_tca = base is not None
    use_hdsp = hdsp == 1
    hist_on = use_hdsp and history is not None
    hist: list[int] = history if history is not None else []
    if hist_on and len(hist) != n:
        raise NNRUsageError("the HDSP history does not match the tensor size")
    order = signalled_contexts(dq, use_tca, use_hdsp, num_gtx, cb_size, cb_zero, ed1)
    if parameter_set_ids is None:
        ids = [0] * len(order)
    else:
        ids = parameter_set_ids
        if len(ids) != len(order):
            raise NNRUsageError(f"{len(ids)} parameter-set ids given, {len(order)} context models are signalled")
        for x in ids:
            if x < 0 or x >= NUM_PARAMETER_SETS:
                raise NNRUsageError(f"parameter-set id {x} out of range 0..8")

    ctxs = ContextSet(num_gtx)
    info.bit_start = enc.bit_position()

    # -- edition-2 preamble -------------------------------------------------------------------
    tracer = enc.tracer
    if coded_preamble:
        if parent_node_id_present:
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
    scan = BlockScan(height, width, scan_order, ed1)
    info.scan_order_used = scan.scan_order
    info.block_rows = scan.block_rows

    basel: list[int] = base if base is not None else []
    skip_perm = skip_permutation(width) if (row_skip_enabled and dq) else b""
    marks = info.marks
    fast = not general and not use_tca and not hist_on and cb_size <= 0 and not enc.traced

    state: i64 = 0
    prev: i64 = 0
    mismatches: i64 = 0
    for br in range(scan.block_rows):
        if scan.range_reset:
            if br > 0:
                ctxs.reset()
                prev = 0
            enc.reset_range()
            marks.append(int(enc.bit_position()))
            marks.append(int(enc.mark()))
            marks.append(int(state))
        segs = scan.segments(br)
        for i in range(0, len(segs), 3):
            if row_skip_enabled and skip[segs[i]]:
                state = skipped_row_state(state, skip_perm)
                continue
            if fast:
                state, prev, mm = _encode_run_fast(enc, ctxs, levels, segs[i + 1], segs[i + 2], state, prev, dq, num_gtx)
                mismatches += mm
                continue
            for p in range(segs[i + 1], segs[i + 2]):
                raw = i64(levels[p])
                level = _coded_level(raw, p, state, dq)
                if dq and dq_index(level, state) != raw:
                    mismatches += 1
                bv: i64 = 0  # (an i64 and a literal in one conditional expression would box)
                if use_tca:
                    bv = i64(basel[p])
                hb: i64 = 1 if (hist_on and hist[p]) else 0
                c = every[sig_context(state, prev, bv, hb, num_gtx)]
                _encode_level(enc, every, c, level, bv, prev, num_gtx, cb_size, cb_zero)
                if enc.traced:
                    t = enc.tracer
                    assert t is not None
                    trace_level(t, p, level, state, dq)
                prev = level
                if dq:
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


# ---------------------------------------------------------------------------------------------
# NNCodec's parameter-set choice (deepcabac.md §11)


@final
class TrialModel:
    """NNCodec's trial estimate for one context model: the model run with all nine parameter
    sets side by side over the bins it would see, each set's estimated bits summed (15-bit fixed
    point, :data:`EST_BITS`).  One pass scores every set; ``best()`` picks the one to signal.

    The sets' estimator updates are :func:`~nnr.cabac.engine.next_state` with the STEP rows of
    ``PARAMETER_SETS``, written out per set (tools/gen_hot_loops.py) so the nine estimators are
    plain native fields the C compiler can keep apart.
    """

    # BEGIN GENERATED trial-model by tools/gen_hot_loops.py (edit the generator, then run it)
    p0: i64
    p1: i64
    p2: i64
    p3: i64
    p4: i64
    p5: i64
    p6: i64
    p7: i64
    p8: i64
    s0: i64
    s1: i64
    s2: i64
    s3: i64
    s4: i64
    s5: i64
    s6: i64
    s7: i64
    s8: i64
    c0: i64
    c1: i64
    c2: i64
    c3: i64
    c4: i64
    c5: i64
    c6: i64
    c7: i64
    c8: i64
    k0: i64  # the costs of the last bin, per set
    k1: i64
    k2: i64
    k3: i64
    k4: i64
    k5: i64
    k6: i64
    k7: i64
    k8: i64
    fixed: i64  # a bin value that leaves every set's state unchanged, or -1
    bins: i64

    def __init__(self) -> None:
        # every field assigned here, one by one: mypyc then knows them always defined and
        # drops its per-access "undefined attribute" checks from the hot method
        self.p0 = 0
        self.s0 = 0
        self.p1 = -1310
        self.s1 = -41
        self.p2 = 3039
        self.s2 = 95
        self.p3 = 0
        self.s3 = 0
        self.p4 = 962
        self.s4 = 30
        self.p5 = 3039
        self.s5 = 95
        self.p6 = -673
        self.s6 = -21
        self.p7 = 0
        self.s7 = 0
        self.p8 = 962
        self.s8 = 30
        self.c0 = 0
        self.c1 = 0
        self.c2 = 0
        self.c3 = 0
        self.c4 = 0
        self.c5 = 0
        self.c6 = 0
        self.c7 = 0
        self.c8 = 0
        self.k0 = 0
        self.k1 = 0
        self.k2 = 0
        self.k3 = 0
        self.k4 = 0
        self.k5 = 0
        self.k6 = 0
        self.k7 = 0
        self.k8 = 0
        self.fixed = -1
        self.bins = 0

    def reset(self) -> None:
        """Every set back to its initial state (block-row start); the sums are kept."""
        self.fixed = -1
        self.p0, self.s0 = 0, 0
        self.p1, self.s1 = -1310, -41
        self.p2, self.s2 = 3039, 95
        self.p3, self.s3 = 0, 0
        self.p4, self.s4 = 962, 30
        self.p5, self.s5 = 3039, 95
        self.p6, self.s6 = -673, -21
        self.p7, self.s7 = 0, 0
        self.p8, self.s8 = 962, 30

    def code(self, b: i64) -> None:
        """One bin ``b`` under every set: add its estimated bits, then update the estimator.

        Each set is :func:`~nnr.cabac.engine.next_state` in its branch-free form
        (``s += sign * STEP[row + 16 + (sign * s >> k)]``, the estimator steps toward the bin),
        written out so that the nine run as independent chains without calls;
        tests/test_cabac_encoder.py holds every set to ``next_state`` and :data:`EST_BITS`.
        Once a bin leaves all nine states unchanged (saturated estimators), the same bin
        again only adds the same costs: long runs in skewed models cost one branch a bin.
        """
        self.bins += 1
        if b == self.fixed:
            self.c0 += self.k0
            self.c1 += self.k1
            self.c2 += self.k2
            self.c3 += self.k3
            self.c4 += self.k4
            self.c5 += self.k5
            self.c6 += self.k6
            self.c7 += self.k7
            self.c8 += self.k8
            return
        est = EST_BITS3
        step = STEP
        sign: i64 = 1 if b else -1
        e = 3 * b + 3072  # EST_BITS3 offset of bin b at P = 0
        j: i64
        moved: i64 = 0
        p: i64
        s: i64
        t: i64
        k: i64
        p = self.p0
        s = self.s0
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k0 = k
        self.c0 += k
        t = sign * i64(step[16 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[48 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s0 = s + k
        self.p0 = p + t + 16 * k
        p = self.p1
        s = self.s1
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k1 = k
        self.c1 += k
        t = sign * i64(step[16 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[48 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s1 = s + k
        self.p1 = p + t + 16 * k
        p = self.p2
        s = self.s2
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k2 = k
        self.c2 += k
        t = sign * i64(step[16 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[48 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s2 = s + k
        self.p2 = p + t + 16 * k
        p = self.p3
        s = self.s3
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k3 = k
        self.c3 += k
        t = sign * i64(step[48 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[16 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s3 = s + k
        self.p3 = p + t + 16 * k
        p = self.p4
        s = self.s4
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k4 = k
        self.c4 += k
        t = sign * i64(step[80 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[80 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s4 = s + k
        self.p4 = p + t + 16 * k
        p = self.p5
        s = self.s5
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k5 = k
        self.c5 += k
        t = sign * i64(step[80 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[80 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s5 = s + k
        self.p5 = p + t + 16 * k
        p = self.p6
        s = self.s6
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k6 = k
        self.c6 += k
        t = sign * i64(step[80 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[80 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s6 = s + k
        self.p6 = p + t + 16 * k
        p = self.p7
        s = self.s7
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k7 = k
        self.c7 += k
        t = sign * i64(step[48 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[112 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s7 = s + k
        self.p7 = p + t + 16 * k
        p = self.p8
        s = self.s8
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k8 = k
        self.c8 += k
        t = sign * i64(step[48 + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[112 + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s8 = s + k
        self.p8 = p + t + 16 * k
        fixed: i64 = -1  # (a conditional expression mixing a literal and an i64 would box)
        if moved == 0:
            fixed = b
        self.fixed = fixed

    def costs(self) -> list[int]:
        """Estimated bits per parameter set 0..8 (15-bit fixed point)."""
        return [int(self.c0), int(self.c1), int(self.c2), int(self.c3), int(self.c4), int(self.c5),
                int(self.c6), int(self.c7), int(self.c8)]
    # END GENERATED trial-model

    def best(self) -> i64:
        """NNCodec's choice: argmin over the sets of (estimated bits + 3 bits if not set 0), ties
        to the lowest id; set 0 for a model that saw no bin."""
        if self.bins == 0:
            return 0
        costs = self.costs()
        best: i64 = 0
        best_bits = costs[0]
        for idx in range(1, NUM_PARAMETER_SETS):
            bits = costs[idx] + PARAMETER_SET_PENALTY
            if bits < best_bits:
                best = idx
                best_bits = bits
        return best


def best_parameter_set(bins: bytes) -> i64:
    """The set NNCodec signals for a model that sees ``bins`` (one block row)."""
    t = TrialModel()
    for b in bins:
        t.code(b)
    return t.best()


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


def _trial_run_fast(
    models: list[TrialModel], levels: list[int], p0: i64, p1: i64, state: i64, prev: i64, dq: bool, num_gtx: i64,
) -> tuple[i64, i64]:
    """The trial pass over positions p0..p1-1 without TCA or HDSP: :func:`trial_pass`'s general
    loop with the context choice of deepcabac.md §6.2 read from the model groups directly (the
    numbering of :class:`~nnr.cabac.contexts.ContextSet`); returns (DQ state, previous level)."""
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


def trial_pass(
    levels: list[int], height: i64, width: i64, dq: bool, scan_order: i64, num_gtx: i64,
    base: list[int] | None, history: list[int] | None, hdsp: i64, row_skip_flags: list[int] | None,
    general: bool = False,
) -> list[TrialModel]:
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
    n = height * width
    models = [TrialModel() for _ in range(num_level_contexts(num_gtx))]
    scan = BlockScan(height, width, scan_order)
    use_tca = base is not None
    basel: list[int] = base if base is not None else []
    hist_on = hdsp == 1 and history is not None
    hist: list[int] = history if history is not None else []
    if hist_on and len(hist) != n:
        raise NNRUsageError("the HDSP history does not match the tensor size")
    skipping = row_skip_flags is not None
    skip: list[int] = row_skip_flags if row_skip_flags is not None else []
    skip_perm = skip_permutation(width) if (skipping and dq) else b""
    fast = not general and not use_tca and not hist_on
    state: i64 = 0
    prev: i64 = 0
    for br in range(scan.block_rows):
        if scan.multi and br > 0:
            for m in models:
                m.reset()
        segs = scan.segments(br)
        for i in range(0, len(segs), 3):
            if skipping and skip[segs[i]]:
                state = skipped_row_state(state, skip_perm)
                continue
            if fast:
                state, prev = _trial_run_fast(models, levels, segs[i + 1], segs[i + 2], state, prev, dq, num_gtx)
                continue
            for p in range(segs[i + 1], segs[i + 2]):
                v = i64(levels[p])
                bv: i64 = 0  # (an i64 and a literal in one conditional expression would box)
                if use_tca:
                    bv = i64(basel[p])
                hb: i64 = 1 if (hist_on and hist[p]) else 0
                ci = sig_context(state, prev, bv, hb, num_gtx)
                if v == 0:
                    models[ci].code(0)
                else:
                    models[ci].code(1)
                    _trial_level(models, v, bv, prev, num_gtx)
                prev = v
                if dq:
                    state = dq_next_state(state, dq_level(v, state))
    return models


def choose_parameter_sets(
    levels: list[int], height: i64, width: i64, dq: bool, scan_order: i64, gpi: i64, num_gtx: i64,
    parent_node_id_present: bool, cb_size: i64, cb_zero: i64, base: list[int] | None,
    history: list[int] | None, hdsp_flag: i64, row_skip_flags: list[int] | None, ed1: bool = False,
) -> list[int]:
    """The parameter-set ids NNCodec's encoder signals (param_opt_flag on), in signalling order;
    the arguments are those of :func:`encode_tensor_levels`.  REM[31] (``ed1``) codes no bin:
    set 0, as every set scores zero bits for it."""
    hdsp: i64 = 0
    skip_flags: list[int] | None = None
    if preamble_coded(height, width, gpi, cb_size):
        if parent_node_id_present and hdsp_flag:
            hdsp = 1
        skip_flags = row_skip_flags
    order = signalled_contexts(dq, base is not None, hdsp == 1, num_gtx, cb_size, cb_zero, ed1)
    if not order:
        return []
    models = trial_pass(levels, height, width, dq, scan_order, num_gtx, base, history, hdsp, skip_flags)
    return [int(models[ci].best()) if ci < len(models) else 0 for ci in order]
