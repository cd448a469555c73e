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

from nnr.cabac.engine import RENORM, RLPS, STEP, ArithmeticDecoder, ContextModel
from nnr.errors import LimitExceededError, MalformedStreamError, TruncatedStreamError

# 8-state dependent-quantization transition table: STT[2 * state + parity].
STT: Final = bytes([0, 2, 7, 5, 1, 3, 6, 4, 2, 0, 5, 7, 3, 1, 4, 6])

NUM_REM_CONTEXTS: Final = 31  # prefix bins of the remainder: REM[0..30]
INT32_MAX: Final = 2147483647
INT32_MIN: Final = -2147483648


def _level_overflow(level: i64) -> MalformedStreamError:
    return MalformedStreamError(f"decoded level {level} is outside the int32 range",
                                element="nnr_compressed_data_unit_payload")


@final
class ContextSet:
    """All context models of one tensor, grouped as in deepcabac.md §3.4."""

    sig: list[ContextModel]  # 3 per DQ state
    sig_tca: list[ContextModel]  # 2 per DQ state
    sig_hdsp: list[ContextModel]  # 1 per DQ state
    sign: list[ContextModel]
    sign_tca: list[ContextModel]
    gtx: list[ContextModel]  # 2 per greater-flag
    gtx_tca: list[ContextModel]
    rem: list[ContextModel]
    eco_flag: ContextModel  # flags of the parameter-set signalling
    row_skip: ContextModel
    every: list[ContextModel]

    def __init__(self, num_gtx: i64) -> None:
        self.sig = [ContextModel() for _ in range(24)]
        self.sig_tca = [ContextModel() for _ in range(16)]
        self.sig_hdsp = [ContextModel() for _ in range(8)]
        self.sign = [ContextModel() for _ in range(3)]
        self.sign_tca = [ContextModel() for _ in range(2)]
        self.gtx = [ContextModel() for _ in range(2 * num_gtx)]
        self.gtx_tca = [ContextModel() for _ in range(2 * num_gtx)]
        self.rem = [ContextModel() for _ in range(NUM_REM_CONTEXTS)]
        self.eco_flag = ContextModel()
        self.row_skip = ContextModel()
        every: list[ContextModel] = []
        every.extend(self.sig)
        every.extend(self.sig_tca)
        every.extend(self.sig_hdsp)
        every.extend(self.sign)
        every.extend(self.sign_tca)
        every.extend(self.gtx)
        every.extend(self.gtx_tca)
        every.extend(self.rem)
        every.append(self.eco_flag)
        every.append(self.row_skip)
        self.every = every

    def reset(self) -> None:
        for c in self.every:
            c.reset()


@final
class TensorSideInfo:
    """Elements decoded from the arithmetic codeword besides the levels (for traces / info)."""

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


def _signal(dec: ArithmeticDecoder, ctxs: ContextSet, c: ContextModel, read: bool, ids: list[int]) -> None:
    idx: i64 = 0
    if read:
        if dec.decode_bin(ctxs.eco_flag):
            idx = 1 + dec.decode_bypass_bins(3)
        ids.append(idx)
    c.init(idx)


def decode_parameter_sets(
    dec: ArithmeticDecoder,
    ctxs: ContextSet,
    dq: bool,
    use_tca: bool,
    use_hdsp: bool,
    num_gtx: i64,
    cb_size: i64,
    cb_zero: i64,
    ids: list[int],
) -> None:
    """Probability-estimator parameter-set signalling (deepcabac.md §6.3)."""
    coded = cb_size != 1
    nstates: i64 = 1
    if dq:
        nstates = 8
    for i in range(3 * nstates):
        _signal(dec, ctxs, ctxs.sig[i], coded, ids)
    if use_tca:
        for i in range(2 * nstates):
            _signal(dec, ctxs, ctxs.sig_tca[i], coded, ids)
    if use_hdsp:
        for i in range(nstates):
            _signal(dec, ctxs, ctxs.sig_hdsp[i], coded, ids)
    sign_coded = coded and not (cb_size > 0 and (cb_zero == 0 or cb_zero == cb_size - 1))
    for i in range(3):
        _signal(dec, ctxs, ctxs.sign[i], sign_coded, ids)
    if use_tca:
        for i in range(2):
            _signal(dec, ctxs, ctxs.sign_tca[i], sign_coded, ids)
    max_abs: i64 = -1
    if cb_size > 0:
        max_abs = cb_zero if cb_zero > cb_size - 1 - cb_zero else cb_size - 1 - cb_zero
    for a in range(2 * num_gtx):
        _signal(dec, ctxs, ctxs.gtx[a], max_abs == -1 or a < 2 * max_abs, ids)
    if use_tca:
        for a in range(2 * num_gtx):
            _signal(dec, ctxs, ctxs.gtx_tca[a], max_abs == -1 or a < 2 * (max_abs - 1), ids)
    level: i64 = num_gtx - 1
    for a in range(NUM_REM_CONTEXTS):
        level += i64(1) << a
        _signal(dec, ctxs, ctxs.rem[a], max_abs == -1 or level < max_abs, ids)


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


def _rest_of_level(dec: ArithmeticDecoder, ctxs: ContextSet, negative: i64, bv: i64, num_gtx: i64) -> i64:
    """|level| after sig_flag = 1: greater flags then Exp-Golomb remainder (no codebook)."""
    a: i64 = 1
    j: i64 = 0
    g: i64 = 1
    if bv != 0:
        abv = bv if bv > 0 else -bv
        gtx_tca = ctxs.gtx_tca
        while j < num_gtx:
            g = dec.decode_bin(gtx_tca[2 * j if abv >= j else 2 * j + 1])
            a += g
            if g == 0:
                return a
            j += 1
    else:
        gtx = ctxs.gtx
        while j < num_gtx:
            g = dec.decode_bin(gtx[2 * j + negative])
            a += g
            if g == 0:
                return a
            j += 1
    rem = ctxs.rem
    k: i64 = 0
    j = 0
    while True:
        g = dec.decode_bin(rem[j])
        if g == 0:
            break
        a += i64(1) << k
        k += 1
        if j >= NUM_REM_CONTEXTS - 1:
            break
        j += 1
    if k:
        a += dec.decode_bypass_bins(k)
    return a


def _level_with_codebook(
    dec: ArithmeticDecoder, ctxs: ContextSet, sig_ctx: ContextModel, bv: i64, prev: i64,
    num_gtx: i64, cb_size: i64, cb_zero: i64,
) -> i64:
    """One level with the codebook-aware binarization of edition 2 (deepcabac.md §6.1)."""
    if cb_size == 1:
        return 0
    if dec.decode_bin(sig_ctx) == 0:
        return 0
    neg: i64
    if cb_zero == 0 or cb_zero == cb_size - 1:
        neg = 1 if cb_zero != 0 else 0
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
        neg = dec.decode_bin(sc)
    max_abs: i64 = cb_zero if neg else cb_size - cb_zero - 1
    a: i64 = 1
    if max_abs > 1:
        abv = bv if bv > 0 else -bv
        j: i64 = -1
        g: i64 = 0
        while True:
            j += 1
            if bv != 0:
                c = ctxs.gtx_tca[2 * j if abv >= j else 2 * j + 1]
            else:
                c = ctxs.gtx[2 * j + neg]
            g = dec.decode_bin(c)
            a += g
            if not (g == 1 and j < num_gtx - 1 and max_abs > a):
                break
        if g == 1 and max_abs > a:
            k: i64 = 0
            j = -1
            while True:
                j += 1
                g = dec.decode_bin(ctxs.rem[j])
                if g and max_abs > a:
                    a += i64(1) << k
                    k += 1
                if not (g == 1 and j < NUM_REM_CONTEXTS - 1 and max_abs >= a + (i64(1) << k)):
                    break
            a += dec.decode_bypass_bins(k)
    return -a if neg else a


def _decode_run_fast(
    dec: ArithmeticDecoder, ctxs: ContextSet, out: list[int], p0: i64, p1: i64, state: i64, prev: i64,
    dq: bool, num_gtx: i64,
) -> tuple[i64, i64]:
    """Levels at positions p0..p1-1 without TCA, HDSP or codebook: the hot loop.

    Every context-coded bin of a level (sig_flag, sign_flag, abs_level_greater_x[j], the
    remainder prefix) goes through ONE inlined copy of ArithmeticDecoder.decode_bin, driven by a
    small phase machine, with the engine state in locals; the remainder suffix is decoded inline
    as bypass bins.  Behaviour must stay identical to decode_bin / decode_bypass and to the
    general loop of decode_tensor_levels (the tests compare them on every golden stream).
    """
    sig = ctxs.sig
    sign = ctxs.sign
    gtx = ctxs.gtx
    rem = ctxs.rem
    data = dec.data
    end = dec.end
    rng = dec.range
    value = dec.value
    bn = dec.bits_needed
    ptr = dec.ptr
    overrun: i64 = 0
    for p in range(p0, p1):
        if prev == 0:
            c = sig[3 * state]
        elif prev < 0:
            c = sig[3 * state + 1]
        else:
            c = sig[3 * state + 2]
        phase: i64 = 0  # 0 sig_flag, 1 sign_flag, 2 greater flags, 3 remainder prefix, 4 done
        a: i64 = 0
        neg: i64 = 0
        j: i64 = 0
        k: i64 = 0
        while phase < 4:
            # -- inline decode_bin(c) --
            cp = c.p
            q = cp >> 7
            if q < 0:
                q = -q
            rlps = i64(RLPS[(rng & 0xE0) + q])
            rmps = rng - rlps
            scaled = rmps << 7
            b: i64 = 0
            if value < scaled:
                if cp >= 0:
                    b = 1
                if rmps < 256:
                    rng = rmps << 1
                    value <<= 1
                    bn += 1
                    if bn >= 0:
                        if ptr < end:
                            value += i64(data[ptr]) << bn
                        else:
                            overrun += 1
                        ptr += 1
                        bn -= 8
                else:
                    rng = rmps
            else:
                if cp < 0:
                    b = 1
                n = i64(RENORM[rlps])
                rng = rlps << n
                value = (value - scaled) << n
                bn += n
                if bn >= 0:
                    if ptr < end:
                        value += i64(data[ptr]) << bn
                    else:
                        overrun += 1
                    ptr += 1
                    bn -= 8
            # estimator update, as engine.update(c, cp, b) (inlined)
            s0 = c.s0
            s1 = cp - 16 * s0
            if b:
                t = s0 >> 3
                if t < 0:
                    s0 += i64(STEP[c.t0 + 16 + t])
                elif t < 15:
                    s0 += c.a0
                t = s1 >> 7
                if t < 0:
                    s1 += i64(STEP[c.t1 + 16 + t])
                elif t < 15:
                    s1 += c.a1
            else:
                t = (-s0) >> 3
                if t < 0:
                    s0 -= i64(STEP[c.t0 + 16 + t])
                elif t < 15:
                    s0 -= c.a0
                t = (-s1) >> 7
                if t < 0:
                    s1 -= i64(STEP[c.t1 + 16 + t])
                elif t < 15:
                    s1 -= c.a1
            c.s0 = s0
            c.p = s1 + 16 * s0
            # -- binarization (deepcabac.md §6.1) --
            if phase == 0:
                if b == 0:
                    break
                a = 1
                phase = 1
                if prev == 0:
                    c = sign[0]
                elif prev < 0:
                    c = sign[1]
                else:
                    c = sign[2]
            elif phase == 1:
                neg = b
                phase = 2
                c = gtx[neg]
            elif phase == 2:
                a += b
                if b == 0:
                    break
                j += 1
                if j < num_gtx:
                    c = gtx[2 * j + neg]
                else:
                    phase = 3
                    j = 0
                    c = rem[0]
            else:
                if b == 0:
                    break
                a += i64(1) << k
                k += 1
                if j >= NUM_REM_CONTEXTS - 1:
                    break
                j += 1
                c = rem[j]
        if k:
            # remainder suffix: k bypass bins, MSB first (inline decode_bypass)
            suffix: i64 = 0
            for _ in range(k):
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
        if dq:
            nxt = i64(STT[2 * state + (level & 1)])
            if level > 0:
                level = 2 * level - (state & 1)
            elif level < 0:
                level = 2 * level + (state & 1)
            state = nxt
        if level:
            if level > INT32_MAX or level < INT32_MIN:
                raise _level_overflow(level)
            out[p] = int(level)
    dec.range = rng
    dec.value = value
    dec.bits_needed = bn
    dec.ptr = ptr
    dec.overrun += overrun
    return state, prev


def decode_tensor_levels(
    dec: ArithmeticDecoder,
    out: list[int],
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
    entry_points: list[int],
    verify_entry_points: bool,
    info: TensorSideInfo,
    max_coded: i64 = -1,
) -> None:
    """Decode the levels of one tensor (deepcabac.md §5) into ``out`` (length height*width).

    ``out`` may be passed empty: it is then filled with zeros only after the preamble has shown
    how many elements the codeword must code, which may not exceed ``max_coded`` (if >= 0) —
    so a stream cannot make the decoder allocate what it could not have coded.

    ``base`` (TCA) and ``history`` (HDSP) are position-aligned with ``out`` or None.
    ``entry_points`` holds (value, dq_state, bit_offset) triples for block rows 1.. (flat).
    ``cb_size`` > 0 selects the codebook-aware binarization (edition 2 with a codebook).
    Output values are the levels, DQ-mapped to reconstruction indices when ``dq``.
    """
    n = height * width
    ctxs = ContextSet(num_gtx)
    info.bit_start = dec.bit_position()

    hdsp_flag: i64 = 0
    row_skip_enabled: i64 = 0
    skip: list[int] = info.row_skip_flag
    if gpi == 1 and width > 1 and n > width and cb_size != 1:
        if parent_node_id_present:
            hdsp_flag = dec.decode_bypass()
            info.hdsp_flag_coded = True
        row_skip_enabled = dec.decode_bypass()
        info.row_skip_enabled_flag_coded = True
        info.bit_row_skip = dec.bit_position()
        if row_skip_enabled:
            rs = ctxs.row_skip
            for _ in range(height):
                skip.append(int(dec.decode_bin(rs)))
    info.hist_dep_sig_prob_enabled_flag = hdsp_flag
    info.row_skip_enabled_flag = row_skip_enabled

    if max_coded >= 0:
        coded = n
        if row_skip_enabled:
            coded = 0
            for y in range(height):
                if not skip[y]:
                    coded += width
        if coded > max_coded:
            raise LimitExceededError(
                f"{coded} elements to code cannot fit a payload that holds at most {max_coded} bins",
                element="tensor_dimensions",
            )
    if len(out) < n:
        out.extend([0] * (n - len(out)))

    use_tca = base is not None
    use_hdsp = hdsp_flag == 1
    info.bit_params = dec.bit_position()
    decode_parameter_sets(dec, ctxs, dq, use_tca, use_hdsp, num_gtx, cb_size, cb_zero, info.parameter_set_ids)
    info.bit_levels = dec.bit_position()

    if width == 1 or n == width:
        scan_order = 0
    info.scan_order_used = scan_order
    bh: i64
    bw: i64
    if scan_order == 0:
        bh = height
        bw = width
    else:
        bh = i64(4) << scan_order
        bw = bh
    nbr: i64 = (height + bh - 1) // bh if height > 0 else 0
    multi = scan_order > 0 and nbr > 1
    info.block_rows = nbr
    if multi and verify_entry_points and len(entry_points) != 3 * (nbr - 1):
        raise MalformedStreamError(
            f"cabac_entry_point_list has {len(entry_points) // 3} entries, the tensor has {nbr} block rows",
            element="cabac_entry_point_list",
        )

    hist_on = use_hdsp and history is not None
    hist: list[int] = history if history is not None else []
    basel: list[int] = base if base is not None else []
    skip_perm = skip_permutation(width) if (row_skip_enabled and dq) else b""
    cb_mode = cb_size > 0
    fast = not use_tca and not hist_on and not cb_mode
    sig = ctxs.sig
    sig_tca = ctxs.sig_tca
    sig_hdsp = ctxs.sig_hdsp
    sign = ctxs.sign
    sign_tca = ctxs.sign_tca

    state: i64 = 0
    prev: i64 = 0
    t_expected: i64 = 0
    for br in range(nbr):
        if multi:
            if br > 0:
                ctxs.reset()
                prev = 0
                if verify_entry_points:
                    e = 3 * (br - 1)
                    t_expected += i64(entry_points[e + 2])
                    if (
                        dec.bit_position() != t_expected
                        or dec.offset_register() != i64(entry_points[e])
                        or (dq and state != i64(entry_points[e + 1]))
                    ):
                        raise MalformedStreamError(
                            f"entry point {br - 1} does not match the decoding state at block row {br} "
                            f"(signalled bit offset {t_expected}, value {entry_points[e]}, dq state "
                            f"{entry_points[e + 1]}; decoded {dec.bit_position()}, {dec.offset_register()}, {state})",
                            element="cabac_entry_point_list",
                        )
            else:
                t_expected = dec.bit_position()
            if not dec.reset_range():
                raise MalformedStreamError(
                    f"arithmetic decoder offset >= 256 at the range reset of block row {br}",
                    element="nnr_compressed_data_unit_payload",
                )
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
                    state, prev = _decode_run_fast(dec, ctxs, out, row + bx0, row + bx1, state, prev, dq, num_gtx)
                else:
                    for p in range(row + bx0, row + bx1):
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
                        level = 0
                        if cb_mode:
                            level = _level_with_codebook(dec, ctxs, c, bv, prev, num_gtx, cb_size, cb_zero)
                        elif dec.decode_bin(c):
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
                            neg = dec.decode_bin(sc)
                            level = _rest_of_level(dec, ctxs, neg, bv, num_gtx)
                            if neg:
                                level = -level
                        prev = level
                        if dq:
                            nxt = i64(STT[2 * state + (level & 1)])
                            if level > 0:
                                level = 2 * level - (state & 1)
                            elif level < 0:
                                level = 2 * level + (state & 1)
                            state = nxt
                        if level:
                            if level > INT32_MAX or level < INT32_MIN:
                                raise _level_overflow(level)
                            out[p] = int(level)
                if dec.overrun > 0:  # once per row: bounds the work a truncated unit causes
                    raise TruncatedStreamError(
                        "arithmetic codeword runs past the end of the NNR unit",
                        element="nnr_compressed_data_unit_payload",
                    )
            bx0 = bx1
    info.bit_end = dec.bit_position()


def finish_codeword(dec: ArithmeticDecoder) -> None:
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
