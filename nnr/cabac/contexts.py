"""DeepCABAC context rules of one tensor: the one home of each rule (deepcabac.md §3.4, §5, §6).

Used alike by the level decoder (:mod:`nnr.cabac.levels`), the level encoder
(:mod:`nnr.cabac.enc_levels`), the rate estimators (:mod:`nnr.quantization.rate`,
:mod:`nnr.encoding.gtx0`) and the payload / unit code (scan geometry):

* the context models of a tensor (:class:`ContextSet`) and their flat numbering (the order of
  ``ContextSet.every``, which is also NNCodec's context store order);
* the context choice of ``sig_flag`` (:func:`sig_context`), ``sign_flag`` (:func:`sign_context`),
  ``abs_level_greater_x[j]`` (:func:`gtx_context`) and the remainder prefix (:func:`rem_context`);
* which context models get a signalled probability-estimator parameter set, in signalling order
  (:func:`signalled_contexts`, deepcabac.md §6.3);
* dependent quantization: the state transition (:data:`STT`, :func:`dq_next_state`), the mapping
  between coded level and reconstruction index (:func:`dq_index`, :func:`dq_level`) and the
  state permutation of a skipped row (:func:`skip_permutation`);
* the scan: which scan order is in force, block size, number of block rows, the matrix view of a
  tensor shape (:func:`matrix_shape`, :func:`scan_geometry`, :func:`num_block_rows`).

Scan-geometry functions take Python ``int`` (not ``i64``): they also see dimensions straight
from a stream header.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from typing import Final, final

from mypy_extensions import i64

from nnr.cabac.engine import ContextModel

# -- context numbering (the order of ContextSet.every) ----------------------------------------
#
# The models a tensor without TCA and HDSP uses come first, so that a rate estimator keeps only
# a prefix of the numbering: sig_flag (3 per DQ state: neighbour zero / negative / positive),
# sign_flag (3), abs_level_greater_x (2 per flag: positive / negative), the remainder prefix;
# then the TCA / HDSP models: sig_flag with TCA (2 per DQ state), with HDSP (1 per DQ state),
# sign_flag with TCA (2: base negative / positive), abs_level_greater_x with TCA (2 per flag);
# then the parameter-set flag and row_skip_flag.  With zero greater-than flags the first
# flag's models fall on the first remainder models, as in NNCodec's store (nnr.encoding.gtx0).

NUM_DQ_STATES: Final = 8
NUM_REM_CONTEXTS: Final = 31  # prefix bins of the remainder: REM[0..30]
SIG0: Final = 0
SIGN0: Final = 24
GTX0: Final = 27


def rem0(num_gtx: i64) -> i64:
    """First remainder-prefix model."""
    return GTX0 + 2 * num_gtx


def sig_tca0(num_gtx: i64) -> i64:
    """First sig_flag model with TCA (the first model after those of plain levels)."""
    return GTX0 + 2 * num_gtx + NUM_REM_CONTEXTS


def sig_hdsp0(num_gtx: i64) -> i64:
    return sig_tca0(num_gtx) + 2 * NUM_DQ_STATES


def sign_tca0(num_gtx: i64) -> i64:
    return sig_tca0(num_gtx) + 3 * NUM_DQ_STATES


def gtx_tca0(num_gtx: i64) -> i64:
    return sig_tca0(num_gtx) + 3 * NUM_DQ_STATES + 2


def num_level_contexts(num_gtx: i64) -> i64:
    """Models that code levels (all but the parameter-set flag and row_skip_flag)."""
    return gtx_tca0(num_gtx) + 2 * num_gtx


# -- the edition-1 reference software's rules (deepcabac.md §10) ------------------------------
#
# Profile-0 streams come in two dialects that differ in exactly two rules of a tensor's
# arithmetic-coded data; ``ed1`` = True selects those of NNCodec 0.3.1 (the edition-1 reference
# software), False those of NNCodec 2.1.3.  Both rules are decided here only, for decoder and
# encoder alike: :func:`signalled_contexts` (a 32nd remainder-prefix model's parameter set is
# signalled) and :class:`BlockScan` (``range_reset``: the range is also reset at the start of a
# block scan with one block row).


def rem_extra(num_gtx: i64) -> i64:
    """The 32nd remainder-prefix model REM[31], whose parameter set only the edition-1 rules
    signal; no level bin uses it (its prefix bin would need a level beyond int32)."""
    return num_level_contexts(num_gtx) + 2


@final
class ContextSet:
    """All context models of one tensor, grouped as in deepcabac.md §3.4.

    ``every`` lists them in the flat numbering above, then ``eco_flag`` and ``row_skip``.
    """

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
        n = num_level_contexts(num_gtx)
        every = [ContextModel() for _ in range(n + 3)]
        self.every = every
        self.sig = every[SIG0:SIGN0]
        self.sign = every[SIGN0:GTX0]
        self.gtx = every[GTX0 : rem0(num_gtx)]
        self.rem = every[rem0(num_gtx) : sig_tca0(num_gtx)]
        self.sig_tca = every[sig_tca0(num_gtx) : sig_hdsp0(num_gtx)]
        self.sig_hdsp = every[sig_hdsp0(num_gtx) : sign_tca0(num_gtx)]
        self.sign_tca = every[sign_tca0(num_gtx) : gtx_tca0(num_gtx)]
        self.gtx_tca = every[gtx_tca0(num_gtx) : n]
        self.eco_flag = every[n]
        self.row_skip = every[n + 1]
        for i in range(n + 3):  # (n + 2: REM[31], edition-1 rules only)
            every[i].ctx_id = i  # names the model in a bin trace (context_name)
        # the next bin's model after a 1 (deepcabac.md §6.1): abs_level_greater_x[j] -> [j + 1] of
        # the same sign, the last -> the first remainder prefix bin, prefix bin k -> k + 1 (the
        # decoder's fast loop follows these links instead of indexing the lists)
        gtx = self.gtx
        rem = self.rem
        for i in range(len(gtx)):
            gtx[i].nxt = gtx[i + 2] if i + 2 < len(gtx) else rem[0]
        for i in range(len(rem) - 1):
            rem[i].nxt = rem[i + 1]

    def reset(self) -> None:
        """Every model back to the initial state of its parameter set (block-row start)."""
        for c in self.every:
            c.reset()


def context_name(ci: i64, num_gtx: i64) -> tuple[str, str]:
    """(syntax element, model name) of flat context index ``ci``, e.g. ("sig_flag", "SIG[5]") or
    ("abs_level_greater_x[1]", "GTX[3]"): what a bin trace shows (nnr.bitstream.bintrace).
    Group names are those of deepcabac.md §3.4; indices count within the group."""
    n = num_level_contexts(num_gtx)
    if ci < 0 or ci > n + 2:
        return "?", f"#{ci}"
    if ci == n + 2:
        return "abs_level_greater_x2[31]", f"REM[{NUM_REM_CONTEXTS}]"
    if ci == n:
        return "prob_est_param_flag", "ECO_FLAG"
    if ci == n + 1:
        return "row_skip_flag", "ROW_SKIP"
    if ci >= gtx_tca0(num_gtx):
        k = ci - gtx_tca0(num_gtx)
        return f"abs_level_greater_x[{k // 2}]", f"GTX_TCA[{k}]"
    if ci >= sign_tca0(num_gtx):
        return "sign_flag", f"SIGN_TCA[{ci - sign_tca0(num_gtx)}]"
    if ci >= sig_hdsp0(num_gtx):
        return "sig_flag", f"SIG_HDSP[{ci - sig_hdsp0(num_gtx)}]"
    if ci >= sig_tca0(num_gtx):
        return "sig_flag", f"SIG_TCA[{ci - sig_tca0(num_gtx)}]"
    if ci >= rem0(num_gtx):
        k = ci - rem0(num_gtx)
        return f"abs_level_greater_x2[{k}]", f"REM[{k}]"
    if ci >= GTX0:
        k = ci - GTX0
        return f"abs_level_greater_x[{k // 2}]", f"GTX[{k}]"
    if ci >= SIGN0:
        return "sign_flag", f"SIGN[{ci - SIGN0}]"
    return "sig_flag", f"SIG[{ci}]"


# -- context choice (deepcabac.md §6.2) --------------------------------------------------------


def neighbour_class(prev: i64) -> i64:
    """0 for a zero previous level, 1 for a negative one, 2 for a positive one."""
    if prev == 0:
        return 0
    if prev < 0:
        return 1
    return 2


def sig_context(state: i64, prev: i64, bv: i64, hist: i64, num_gtx: i64) -> i64:
    """sig_flag context: HDSP history bit, else TCA base value ``bv``, else previous level."""
    if hist:
        return sig_hdsp0(num_gtx) + state
    if bv > 1 or bv < -1:
        return sig_tca0(num_gtx) + 2 * state + 1
    if bv != 0:
        return sig_tca0(num_gtx) + 2 * state
    return SIG0 + 3 * state + neighbour_class(prev)


def sign_context(prev: i64, bv: i64, num_gtx: i64) -> i64:
    """sign_flag context: TCA base value ``bv`` if non-zero, else the previous level."""
    if bv < 0:
        return sign_tca0(num_gtx)
    if bv > 0:
        return sign_tca0(num_gtx) + 1
    return SIGN0 + neighbour_class(prev)


def gtx_context(j: i64, neg: i64, bv: i64, num_gtx: i64) -> i64:
    """abs_level_greater_x[j] context: with TCA by |bv| >= j, else by the sign."""
    if bv != 0:
        abv = bv if bv > 0 else -bv
        return gtx_tca0(num_gtx) + (2 * j if abv >= j else 2 * j + 1)
    return GTX0 + 2 * j + neg


def rem_context(j: i64, num_gtx: i64) -> i64:
    """Context of remainder prefix bin ``j``."""
    return rem0(num_gtx) + j


def rem_prefix_cut(max_abs: i64, a: i64, k: i64) -> bool:
    """Whether a codebook's largest |level| ``max_abs`` ends the remainder prefix before its bin
    ``k`` (``a``: the |level| the bins so far give; ``max_abs`` -1: no codebook, no limit)."""
    return max_abs >= 0 and max_abs < a + (i64(1) << k)


# -- parameter-set signalling (deepcabac.md §6.3) ----------------------------------------------


def codebook_max_abs(cb_size: i64, cb_zero: i64) -> i64:
    """Largest |level| a codebook admits; -1 without codebook."""
    if cb_size <= 0:
        return -1
    return cb_zero if cb_zero > cb_size - 1 - cb_zero else cb_size - 1 - cb_zero


def sign_coded(cb_size: i64, cb_zero: i64) -> bool:
    """Whether sign_flag is coded: not with a size-1 codebook nor one whose zero is at an end."""
    return cb_size != 1 and not (cb_size > 0 and (cb_zero == 0 or cb_zero == cb_size - 1))


def signalled_contexts(
    dq: bool, use_tca: bool, use_hdsp: bool, num_gtx: i64, cb_size: i64, cb_zero: i64, ed1: bool = False
) -> list[int]:
    """Flat indices of the models whose parameter set is signalled, in signalling order
    (``ed1``: the edition-1 reference software's rules add REM[31] last)."""
    ids: list[int] = []
    nstates: i64 = NUM_DQ_STATES if dq else 1
    if cb_size != 1:
        for i in range(3 * nstates):
            ids.append(int(SIG0 + i))
        if use_tca:
            for i in range(2 * nstates):
                ids.append(int(sig_tca0(num_gtx) + i))
        if use_hdsp:
            for i in range(nstates):
                ids.append(int(sig_hdsp0(num_gtx) + i))
    if sign_coded(cb_size, cb_zero):
        for i in range(3):
            ids.append(int(SIGN0 + i))
        if use_tca:
            for i in range(2):
                ids.append(int(sign_tca0(num_gtx) + i))
    max_abs = codebook_max_abs(cb_size, cb_zero)
    for a in range(2 * num_gtx):
        if max_abs == -1 or a < 2 * max_abs:
            ids.append(int(GTX0 + a))
    if use_tca:
        for a in range(2 * num_gtx):
            if max_abs == -1 or a < 2 * (max_abs - 1):
                ids.append(int(gtx_tca0(num_gtx) + a))
    level: i64 = num_gtx - 1
    for a in range(NUM_REM_CONTEXTS):
        level += i64(1) << a
        if max_abs == -1 or level < max_abs:
            ids.append(int(rem0(num_gtx) + a))
    if ed1:
        ids.append(int(rem_extra(num_gtx)))
    return ids


# -- dependent quantization (deepcabac.md §8) --------------------------------------------------

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


def skipped_row_state(state: i64, skip_perm: bytes) -> i64:
    """DQ state after a skipped row; ``skip_perm`` from :func:`skip_permutation`, or empty
    without DQ (the state then stays)."""
    if len(skip_perm) == 0:
        return state
    return i64(skip_perm[state])


# -- scan (deepcabac.md §5) --------------------------------------------------------------------


def matrix_shape(shape: tuple[int, ...] | list[int]) -> tuple[int, int]:
    """(height, width) of the matrix view of a tensor: dims[0] rows of prod(dims[1:]) entries."""
    if len(shape) == 0:
        return 1, 1
    w = 1
    for d in shape[1:]:
        w *= int(d)
    return int(shape[0]), w


def preamble_coded(height: int, width: int, gpi: int, cb_size: int) -> bool:
    """Whether a tensor's edition-2 preamble (HDSP flag, row skipping) is present."""
    return gpi == 1 and width > 1 and height > 1 and cb_size != 1


def scan_order_in_force(height: int, width: int, scan_order: int) -> int:
    """A tensor with one column or one row is always scanned row-major."""
    if width == 1 or height * width == width:
        return 0
    return scan_order


# positions per segment of consecutive whole rows (BlockScan.segments): the decoder checks for a
# codeword overrun once per segment
SEGMENT_RUN: Final = 4096


def block_size(scan_order: int) -> int:
    """Side of the square blocks of block scan ``scan_order`` (1..4: 8, 16, 32, 64)."""
    return 4 << scan_order


def num_block_rows(height: int, scan_order: int) -> int:
    """Block rows of ``height`` rows in scan order ``scan_order`` (0: one, or none if empty)."""
    if height <= 0:
        return 0
    if scan_order <= 0:
        return 1
    b = block_size(scan_order)
    return (height + b - 1) // b


def scan_geometry(height: int, width: int, scan_order: int) -> tuple[int, int, int, int]:
    """(scan order in force, block height, block width, number of block rows) of the scan."""
    so = scan_order_in_force(height, width, scan_order)
    if so == 0:
        return 0, height, width, num_block_rows(height, 0)
    b = block_size(so)
    return so, b, b, num_block_rows(height, so)


@final
class BlockScan:
    """The scan of a ``height`` x ``width`` tensor: block rows of row segments in coding order.

    Row-major (one block row) or, with scan order 1..4 in force, square blocks block row by
    block row, each block row by row.  A new block row (``multi``) resets the context models and
    the range, and has an entry point; under the edition-1 rules (``ed1``) the range is reset at
    the start of a block scan with one block row too (``range_reset``).
    """

    scan_order: i64  # in force
    block_height: i64
    block_width: i64
    block_rows: i64
    multi: bool  # more than one block row of a block scan
    range_reset: bool  # the range is reset at the start of every block row (multi, or ed1 rules)
    width: i64
    height: i64

    def __init__(self, height: i64, width: i64, scan_order: i64, ed1: bool = False) -> None:
        so, bh, bw, nbr = scan_geometry(height, width, scan_order)
        self.scan_order = so
        self.block_height = bh
        self.block_width = bw
        self.block_rows = nbr
        self.multi = so > 0 and nbr > 1
        # edition-1 reference software: a block scan in force resets the range even with one block row
        self.range_reset = so > 0 and (nbr > 1 or ed1)
        self.height = height
        self.width = width

    def segments(self, br: i64, whole_rows: bool = False) -> list[int]:
        """Block row ``br`` as (row y, first position, end position) triples, flat, in order.

        ``whole_rows`` (no row skipping in force: the row of a position is not needed): where a
        block spans the full width its rows are consecutive positions, given as runs of at most
        SEGMENT_RUN positions, so a tall narrow tensor (1-D: width 1) costs no object per row.
        """
        out: list[int] = []
        width = self.width
        y0 = br * self.block_height
        y1 = y0 + self.block_height
        if y1 > self.height:
            y1 = self.height
        if whole_rows and self.block_width >= width:
            p: i64 = y0 * width
            end: i64 = y1 * width
            while p < end:
                q = p + SEGMENT_RUN
                if q > end:
                    q = end
                out.append(int(p // width))
                out.append(int(p))
                out.append(int(q))
                p = q
            return out
        bx0: i64 = 0
        while bx0 < width:
            bx1 = bx0 + self.block_width
            if bx1 > width:
                bx1 = width
            for y in range(y0, y1):
                out.append(int(y))
                out.append(int(y * width + bx0))
                out.append(int(y * width + bx1))
            bx0 = bx1
        return out
