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

from nnr.cabac.encoder import ArithmeticEncoder, offset_register_at
from nnr.cabac.engine import NUM_PARAMETER_SETS, PARAMETER_SETS, STEP, ContextModel
from nnr.cabac.levels import INT32_MAX, INT32_MIN, NUM_REM_CONTEXTS, STT, ContextSet, skip_permutation
from nnr.errors import NNRUsageError

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


# The same as 3-byte little-endian entries (indexing bytes is the fastest lookup mypyc offers).
EST_BITS3: Final = _pack3(EST_BITS)

PARAMETER_SET_PENALTY: Final = 3 * EST_ONE_BIT  # NNCodec's cost of signalling a set other than 0

# Flat context numbering used by the parameter-set choice (the order of ContextSet.every):
SIG0: Final = 0  # 24: 3 per DQ state
SIG_TCA0: Final = 24  # 16: 2 per DQ state
SIG_HDSP0: Final = 40  # 8: 1 per DQ state
SIGN0: Final = 48  # 3
SIGN_TCA0: Final = 51  # 2
GTX0: Final = 53  # 2N, then 2N GTX_TCA, then 31 REM

RESET_MARK: Final = 2  # in a recorded bin sequence: all trial models back to their initial state


@final
class TensorEncodeInfo:
    """What :func:`encode_tensor_levels` wrote besides the levels, and the entry-point marks."""

    hist_dep_sig_prob_enabled_flag: i64
    row_skip_enabled_flag: i64
    hdsp_flag_coded: bool
    row_skip_enabled_flag_coded: bool
    row_skip_flag: list[int]
    parameter_set_ids: list[int]  # one per signalled context model, in signalling order
    scan_order_used: i64
    block_rows: i64
    bit_start: i64  # codeword bit position (decoder's T) where the tensor's bins start
    bit_levels: i64  # ... where its levels start
    marks: list[int]  # (T, L mod 2^16, DQ state) at the start of every block row, flat
    # DQ reconstruction indices of the wrong parity for their state, coded as NNCodec codes
    # them (the decoder then outputs a neighbouring index).  NNCodec's trellis produces such
    # indices with row skipping + block scan when W mod 4 != 0, or when indices are clipped
    # after quantization.  Non-zero means the tensor does not round-trip.
    dq_index_mismatches: i64

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
        self.bit_levels = 0
        self.marks = []
        self.dq_index_mismatches = 0


# ---------------------------------------------------------------------------------------------
# helpers shared by the real and the trial pass


def _preamble_coded(height: i64, width: i64, gpi: i64, cb_size: i64) -> bool:
    """Whether the edition-2 preamble (HDSP flag, row skipping) is present (deepcabac.md §5)."""
    return gpi == 1 and width > 1 and height * width > width and cb_size != 1


def _scan_geometry(height: i64, width: i64, scan_order: i64) -> tuple[i64, i64, i64]:
    """(scan order in force, block height/width B, number of block rows)."""
    if width == 1 or height * width == width:
        scan_order = 0
    if scan_order == 0:
        return 0, 0, 1 if height > 0 else 0
    b = i64(4) << scan_order
    nbr: i64 = (height + b - 1) // b if height > 0 else 0
    return scan_order, b, nbr


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


def signalled_contexts(
    dq: bool, use_tca: bool, use_hdsp: bool, num_gtx: i64, cb_size: i64, cb_zero: i64
) -> list[int]:
    """Flat indices (ContextSet.every order) of the models whose parameter set is signalled,
    in signalling order (deepcabac.md §6.3)."""
    ids: list[int] = []
    coded = cb_size != 1
    nstates: i64 = 1
    if dq:
        nstates = 8
    if coded:
        for i in range(3 * nstates):
            ids.append(int(SIG0 + i))
        if use_tca:
            for i in range(2 * nstates):
                ids.append(int(SIG_TCA0 + i))
        if use_hdsp:
            for i in range(nstates):
                ids.append(int(SIG_HDSP0 + i))
    sign_coded = coded and not (cb_size > 0 and (cb_zero == 0 or cb_zero == cb_size - 1))
    if sign_coded:
        for i in range(3):
            ids.append(int(SIGN0 + i))
        if use_tca:
            for i in range(2):
                ids.append(int(SIGN_TCA0 + i))
    max_abs: i64 = -1
    if cb_size > 0:
        max_abs = cb_zero if cb_zero > cb_size - 1 - cb_zero else cb_size - 1 - cb_zero
    for a in range(2 * num_gtx):
        if max_abs == -1 or a < 2 * max_abs:
            ids.append(int(GTX0 + a))
    if use_tca:
        for a in range(2 * num_gtx):
            if max_abs == -1 or a < 2 * (max_abs - 1):
                ids.append(int(GTX0 + 2 * num_gtx + a))
    level: i64 = num_gtx - 1
    for a in range(NUM_REM_CONTEXTS):
        level += i64(1) << a
        if max_abs == -1 or level < max_abs:
            ids.append(int(GTX0 + 4 * num_gtx + a))
    return ids


def _dq_level(raw: i64, state: i64) -> i64:
    """The coded level k of DQ reconstruction index ``raw`` in ``state``.

    For a valid index this inverts the decoder's mapping exactly.  An index of the wrong parity
    for the state (NNCodec's trellis can produce them, see TensorEncodeInfo.dq_index_mismatches)
    is mapped as NNCodec's encoder maps it: ``(raw + (state & 1)) >> 1`` for raw > 0,
    ``(raw - (state & 1)) >> 1`` for raw < 0; the decoder then reconstructs a neighbouring index.
    """
    if raw > 0:
        return (raw + (state & 1)) >> 1
    if raw < 0:
        return (raw - (state & 1)) >> 1
    return 0


def _dq_index(level: i64, state: i64) -> i64:
    """The reconstruction index the decoder outputs for coded level ``level`` in ``state``."""
    if level > 0:
        return 2 * level - (state & 1)
    if level < 0:
        return 2 * level + (state & 1)
    return 0


# ---------------------------------------------------------------------------------------------
# binarization (real pass)


def _encode_rest(enc: ArithmeticEncoder, ctxs: ContextSet, a: i64, neg: i64, bv: i64, num_gtx: i64) -> None:
    """|level| = a >= 1 after sig_flag and sign_flag: greater flags, Exp-Golomb remainder."""
    j: i64 = 0
    if bv != 0:
        abv = bv if bv > 0 else -bv
        gtx_tca = ctxs.gtx_tca
        while j < num_gtx:
            if a > j + 1:
                enc.encode_bin(gtx_tca[2 * j if abv >= j else 2 * j + 1], 1)
            else:
                enc.encode_bin(gtx_tca[2 * j if abv >= j else 2 * j + 1], 0)
                return
            j += 1
    else:
        gtx = ctxs.gtx
        while j < num_gtx:
            if a > j + 1:
                enc.encode_bin(gtx[2 * j + neg], 1)
            else:
                enc.encode_bin(gtx[2 * j + neg], 0)
                return
            j += 1
    r = a - num_gtx - 1  # remainder, Exp-Golomb order 0
    k: i64 = 0
    while (r + 1) >> (k + 1):
        k += 1
    if k > NUM_REM_CONTEXTS:
        raise NNRUsageError(f"level magnitude {a} is too large to be coded")
    rem = ctxs.rem
    for j in range(k):
        enc.encode_bin(rem[j], 1)
    if k < NUM_REM_CONTEXTS:
        enc.encode_bin(rem[k], 0)
    if k:
        enc.encode_bypass_bins(r - ((i64(1) << k) - 1), k)


def _encode_with_codebook(
    enc: ArithmeticEncoder, ctxs: ContextSet, sig_ctx: ContextModel, level: i64, bv: i64, prev: i64,
    num_gtx: i64, cb_size: i64, cb_zero: i64,
) -> None:
    """One level with the codebook-aware binarization of edition 2 (deepcabac.md §6.1)."""
    if cb_size == 1:
        if level != 0:
            raise NNRUsageError("a size-1 codebook only admits level 0")
        return
    if level == 0:
        enc.encode_bin(sig_ctx, 0)
        return
    enc.encode_bin(sig_ctx, 1)
    neg: i64 = 1 if level < 0 else 0
    a_target = -level if neg else level
    if cb_zero == 0 or cb_zero == cb_size - 1:
        if neg != (1 if cb_zero != 0 else 0):
            raise NNRUsageError(f"level {level} is outside the codebook (size {cb_size}, zero offset {cb_zero})")
    else:
        if bv < 0:
            sc = ctxs.sign_tca[0]
        elif bv > 0:
            sc = ctxs.sign_tca[1]
        elif prev == 0:
            sc = ctxs.sign[0]
        elif prev < 0:
            sc = ctxs.sign[1]
        else:
            sc = ctxs.sign[2]
        enc.encode_bin(sc, neg)
    max_abs: i64 = cb_zero if neg else cb_size - cb_zero - 1
    if a_target > max_abs:
        raise NNRUsageError(f"level {level} is outside the codebook (size {cb_size}, zero offset {cb_zero})")
    if max_abs <= 1:
        return
    abv = bv if bv > 0 else -bv
    a: i64 = 1
    j: i64 = -1
    g: i64 = 0
    while True:
        j += 1
        if bv != 0:
            c = ctxs.gtx_tca[2 * j if abv >= j else 2 * j + 1]
        else:
            c = ctxs.gtx[2 * j + neg]
        g = 1 if a_target > a else 0
        enc.encode_bin(c, g)
        a += g
        if not (g == 1 and j < num_gtx - 1 and max_abs > a):
            break
    if g == 1 and max_abs > a:
        k: i64 = 0
        j = -1
        while True:
            j += 1
            g = 1 if a_target >= a + (i64(1) << k) else 0
            enc.encode_bin(ctxs.rem[j], g)
            if g:
                a += i64(1) << k
                k += 1
            if not (g == 1 and j < NUM_REM_CONTEXTS - 1 and max_abs >= a + (i64(1) << k)):
                break
        enc.encode_bypass_bins(a_target - a, k)


# ---------------------------------------------------------------------------------------------
# the tensor


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
) -> None:
    """Encode the levels of one tensor (inverse of ``decode_tensor_levels``).

    ``levels`` (length height*width, row-major) are plain levels, or DQ reconstruction indices
    when ``dq``.  ``base`` (TCA) and ``history`` (HDSP) are position-aligned or None, with the
    decoder's meaning.  ``hdsp_flag`` is the hist_dep_sig_prob_enabled_flag to write (only
    written when parent_node_id_present and the preamble is present).  ``row_skip_flags``:
    None writes row_skip_enabled_flag = 0, else one flag per row (1 = row skipped; those rows
    must be all zero; :func:`zero_row_flags` gives NNCodec's choice).  ``parameter_set_ids``:
    one id 0..8 per signalled context model in signalling order (:func:`choose_parameter_sets`
    gives NNCodec's choice), or None for all 0.  ``info`` receives the side information and the
    entry-point marks (:func:`entry_points` after the codeword is finished).

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
    coded_preamble = _preamble_coded(height, width, gpi, cb_size)
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
    order = signalled_contexts(dq, use_tca, use_hdsp, num_gtx, cb_size, cb_zero)
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
    if coded_preamble:
        if parent_node_id_present:
            enc.encode_bypass(hdsp)
            info.hdsp_flag_coded = True
        enc.encode_bypass(row_skip_enabled)
        info.row_skip_enabled_flag_coded = True
        rs = ctxs.row_skip
        for y in range(len(skip)):
            enc.encode_bin(rs, i64(skip[y]))
    info.hist_dep_sig_prob_enabled_flag = hdsp
    info.row_skip_enabled_flag = row_skip_enabled
    info.row_skip_flag = skip

    # -- parameter sets -----------------------------------------------------------------------
    every = ctxs.every
    eco = ctxs.eco_flag
    for i in range(len(order)):
        idx = i64(ids[i])
        if idx:
            enc.encode_bin(eco, 1)
            enc.encode_bypass_bins(idx - 1, 3)
        else:
            enc.encode_bin(eco, 0)
        every[order[i]].init(idx)
    info.parameter_set_ids = list(ids)
    info.bit_levels = enc.bit_position()

    # -- levels -------------------------------------------------------------------------------
    scan_order, bsize, nbr = _scan_geometry(height, width, scan_order)
    info.scan_order_used = scan_order
    info.block_rows = nbr
    multi = scan_order > 0 and nbr > 1
    bh: i64 = height
    bw: i64 = width
    if scan_order > 0:
        bh = bsize
        bw = bsize

    basel: list[int] = base if base is not None else []
    skip_perm = skip_permutation(width) if (row_skip_enabled and dq) else b""
    cb_mode = cb_size > 0
    fast = not use_tca and not hist_on and not cb_mode
    sig = ctxs.sig
    sig_tca = ctxs.sig_tca
    sig_hdsp = ctxs.sig_hdsp
    sign = ctxs.sign
    sign_tca = ctxs.sign_tca
    marks = info.marks

    state: i64 = 0
    prev: i64 = 0
    mismatches: i64 = 0
    for br in range(nbr):
        if multi:
            if br > 0:
                ctxs.reset()
                prev = 0
            enc.reset_range()
            marks.append(int(enc.bit_position()))
            marks.append(int(enc.mark()))
            marks.append(int(state))
        y0 = br * bh
        y1 = y0 + bh
        if y1 > height:
            y1 = height
        bx0: i64 = 0
        while bx0 < width:
            bx1 = bx0 + bw
            if bx1 > width:
                bx1 = width
            for y in range(y0, y1):
                if row_skip_enabled and skip[y]:
                    if dq:
                        state = i64(skip_perm[state])
                    continue
                row = y * width
                if fast:
                    for p in range(row + bx0, row + bx1):
                        level = i64(levels[p])
                        if level > INT32_MAX or level < INT32_MIN:
                            raise NNRUsageError(f"level {level} at position {p} is outside the int32 range")
                        if dq:
                            raw = level
                            level = _dq_level(raw, state)
                            if _dq_index(level, state) != raw:
                                mismatches += 1
                        if prev == 0:
                            c = sig[3 * state]
                        elif prev < 0:
                            c = sig[3 * state + 1]
                        else:
                            c = sig[3 * state + 2]
                        if level == 0:
                            enc.encode_bin(c, 0)
                        else:
                            enc.encode_bin(c, 1)
                            if prev == 0:
                                sc = sign[0]
                            elif prev < 0:
                                sc = sign[1]
                            else:
                                sc = sign[2]
                            if level < 0:
                                enc.encode_bin(sc, 1)
                                _encode_rest(enc, ctxs, -level, 1, 0, num_gtx)
                            else:
                                enc.encode_bin(sc, 0)
                                _encode_rest(enc, ctxs, level, 0, 0, num_gtx)
                        prev = level
                        if dq:
                            state = i64(STT[2 * state + (level & 1)])
                else:
                    for p in range(row + bx0, row + bx1):
                        level = i64(levels[p])
                        if level > INT32_MAX or level < INT32_MIN:
                            raise NNRUsageError(f"level {level} at position {p} is outside the int32 range")
                        if dq:
                            raw = level
                            level = _dq_level(raw, state)
                            if _dq_index(level, state) != raw:
                                mismatches += 1
                        bv: i64 = 0
                        if use_tca:
                            bv = i64(basel[p])
                        if hist_on and hist[p]:
                            c = sig_hdsp[state]
                        elif bv > 1 or bv < -1:
                            c = sig_tca[2 * state + 1]
                        elif bv != 0:
                            c = sig_tca[2 * state]
                        elif prev == 0:
                            c = sig[3 * state]
                        elif prev < 0:
                            c = sig[3 * state + 1]
                        else:
                            c = sig[3 * state + 2]
                        if cb_mode:
                            _encode_with_codebook(enc, ctxs, c, level, bv, prev, num_gtx, cb_size, cb_zero)
                        elif level == 0:
                            enc.encode_bin(c, 0)
                        else:
                            enc.encode_bin(c, 1)
                            if bv < 0:
                                sc = sign_tca[0]
                            elif bv > 0:
                                sc = sign_tca[1]
                            elif prev == 0:
                                sc = sign[0]
                            elif prev < 0:
                                sc = sign[1]
                            else:
                                sc = sign[2]
                            if level < 0:
                                enc.encode_bin(sc, 1)
                                _encode_rest(enc, ctxs, -level, 1, bv, num_gtx)
                            else:
                                enc.encode_bin(sc, 0)
                                _encode_rest(enc, ctxs, level, 0, bv, num_gtx)
                        prev = level
                        if dq:
                            state = i64(STT[2 * state + (level & 1)])
            bx0 = bx1
    info.dq_index_mismatches = mismatches


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


def finish_codeword(enc: ArithmeticEncoder) -> bytes:
    """Terminating bin 1 after the last tensor of an NDU, then the flush; returns the payload."""
    enc.encode_terminate(1)
    return enc.finish()


# ---------------------------------------------------------------------------------------------
# NNCodec's parameter-set choice (deepcabac.md §11)


def _record_rest(seqs: list[bytearray], a: i64, neg: i64, bv: i64, num_gtx: i64) -> None:
    """Trial binarization of |value| = a >= 1 after sig/sign (no codebook limits)."""
    j: i64 = 0
    if bv != 0:
        abv = bv if bv > 0 else -bv
        off = GTX0 + 2 * num_gtx
        while j < num_gtx:
            g: i64 = 1 if a > j + 1 else 0
            seqs[off + (2 * j if abv >= j else 2 * j + 1)].append(g)
            if g == 0:
                return
            j += 1
    else:
        while j < num_gtx:
            g = 1 if a > j + 1 else 0
            seqs[GTX0 + 2 * j + neg].append(g)
            if g == 0:
                return
            j += 1
    r = a - num_gtx - 1
    k: i64 = 0
    while (r + 1) >> (k + 1):
        k += 1
    rem0 = GTX0 + 4 * num_gtx
    for j in range(k):
        if j < NUM_REM_CONTEXTS:
            seqs[rem0 + j].append(1)
    if k < NUM_REM_CONTEXTS:
        seqs[rem0 + k].append(0)


def _trial_cost(seq: bytes, idx: i64) -> i64:
    """Estimated bits (15-bit fixed point) of a recorded bin sequence with parameter set idx."""
    sh0, sh1, p_init, s0_init = PARAMETER_SETS[idx]
    t0 = i64(sh0 - 4) * 32
    t1 = i64(sh1 - 4) * 32
    p0 = i64(p_init)
    s00 = i64(s0_init)
    p = p0
    s0 = s00
    acc: i64 = 0
    est = EST_BITS3
    n = i64(len(seq))
    i: i64 = 0
    while i < n:
        b = i64(seq[i])
        i += 1
        if b == RESET_MARK:
            p = p0
            s0 = s00
            continue
        j = 6 * (512 + (p >> 3)) + 3 * b
        acc += i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        s1 = p - 16 * s0
        if b:
            s0 += i64(STEP[t0 + 16 + (s0 >> 3)])
            s1 += i64(STEP[t1 + 16 + (s1 >> 7)])
        else:
            s0 -= i64(STEP[t0 + 16 + ((-s0) >> 3)])
            s1 -= i64(STEP[t1 + 16 + ((-s1) >> 7)])
        p = s1 + 16 * s0
    return acc


def best_parameter_set(seq: bytearray) -> i64:
    """argmin over the 9 sets of (estimated bits + 3 bits if idx > 0), ties to the lowest idx."""
    data = bytes(seq)
    best: i64 = 0
    best_bits = _trial_cost(data, 0)
    for idx in range(1, NUM_PARAMETER_SETS):
        bits = _trial_cost(data, idx) + PARAMETER_SET_PENALTY
        if bits < best_bits:
            best = idx
            best_bits = bits
    return best


def record_trial_bins(
    levels: list[int],
    height: i64,
    width: i64,
    dq: bool,
    scan_order: i64,
    num_gtx: i64,
    base: list[int] | None,
    history: list[int] | None,
    hdsp: i64,
    row_skip_flags: list[int] | None,
) -> list[bytearray]:
    """NNCodec's trial ("pseudo") encoding pass: the bins every context model would see.

    Differences from the real pass, all as in NNCodec 2.1.3: the binarized value is the input
    value itself (the DQ reconstruction index, not the coded level; the DQ state still follows
    the coded level), codebook limits are ignored (sign always coded, full Exp-Golomb prefix
    with its terminating 0), and at block-row starts only the trial models are reset, not the
    previous-level neighbour.  ``row_skip_flags`` and ``hdsp`` are the values in force (None / 0
    when the preamble does not code them).
    """
    n = height * width
    ncontexts = GTX0 + 4 * num_gtx + NUM_REM_CONTEXTS
    seqs = [bytearray() for _ in range(ncontexts)]
    scan_order, bsize, nbr = _scan_geometry(height, width, scan_order)
    multi = scan_order > 0 and nbr > 1
    bh: i64 = height
    bw: i64 = width
    if scan_order > 0:
        bh = bsize
        bw = bsize
    use_tca = base is not None
    basel: list[int] = base if base is not None else []
    hist_on = hdsp == 1 and history is not None
    hist: list[int] = history if history is not None else []
    if hist_on and len(hist) != n:
        raise NNRUsageError("the HDSP history does not match the tensor size")
    skipping = row_skip_flags is not None
    skip: list[int] = row_skip_flags if row_skip_flags is not None else []
    skip_perm = skip_permutation(width) if (skipping and dq) else b""
    state: i64 = 0
    prev: i64 = 0
    for br in range(nbr):
        if multi and br > 0:
            for s in seqs:
                if len(s) and s[len(s) - 1] != RESET_MARK:
                    s.append(RESET_MARK)
        y0 = br * bh
        y1 = y0 + bh
        if y1 > height:
            y1 = height
        bx0: i64 = 0
        while bx0 < width:
            bx1 = bx0 + bw
            if bx1 > width:
                bx1 = width
            for y in range(y0, y1):
                if skipping and skip[y]:
                    if dq:
                        state = i64(skip_perm[state])
                    continue
                for p in range(y * width + bx0, y * width + bx1):
                    v = i64(levels[p])
                    bv: i64 = 0
                    if use_tca:
                        bv = i64(basel[p])
                    if hist_on and hist[p]:
                        ci = SIG_HDSP0 + state
                    elif bv > 1 or bv < -1:
                        ci = SIG_TCA0 + 2 * state + 1
                    elif bv != 0:
                        ci = SIG_TCA0 + 2 * state
                    elif prev == 0:
                        ci = SIG0 + 3 * state
                    elif prev < 0:
                        ci = SIG0 + 3 * state + 1
                    else:
                        ci = SIG0 + 3 * state + 2
                    if v == 0:
                        seqs[ci].append(0)
                    else:
                        seqs[ci].append(1)
                        if bv < 0:
                            si = SIGN_TCA0
                        elif bv > 0:
                            si = SIGN_TCA0 + 1
                        elif prev == 0:
                            si = SIGN0
                        elif prev < 0:
                            si = SIGN0 + 1
                        else:
                            si = SIGN0 + 2
                        if v < 0:
                            seqs[si].append(1)
                            _record_rest(seqs, -v, 1, bv, num_gtx)
                        else:
                            seqs[si].append(0)
                            _record_rest(seqs, v, 0, bv, num_gtx)
                    prev = v
                    if dq:
                        k = _dq_level(v, state)
                        state = i64(STT[2 * state + (k & 1)])
            bx0 = bx1
    return seqs


def choose_parameter_sets(
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
) -> list[int]:
    """The parameter-set ids NNCodec's encoder signals (param_opt_flag on), in signalling order;
    the arguments are those of :func:`encode_tensor_levels`."""
    hdsp: i64 = 0
    skip_flags: list[int] | None = None
    if _preamble_coded(height, width, gpi, cb_size):
        if parent_node_id_present and hdsp_flag:
            hdsp = 1
        skip_flags = row_skip_flags
    order = signalled_contexts(dq, base is not None, hdsp == 1, num_gtx, cb_size, cb_zero)
    if not order:
        return []
    seqs = record_trial_bins(levels, height, width, dq, scan_order, num_gtx, base, history, hdsp, skip_flags)
    ids: list[int] = []
    for ci in order:
        s = seqs[ci]
        ids.append(int(best_parameter_set(s)) if len(s) else 0)
    return ids
