"""DeepCABAC context models of one tensor: the one home of their numbering and choice
(deepcabac.md §3.4, §6).

Used alike by the level decoder (:mod:`nnr.cabac.dec_levels`), the level encoder
(:mod:`nnr.cabac.enc_levels`), the rate estimators (:mod:`nnr.quantization.rate`,
:mod:`nnr.encoding.gtx0`) and the bin trace (:func:`context_name`):

* the context models of a tensor (:class:`ContextSet`) and their flat numbering (the order of
  ``ContextSet.every``, which is also NNCodec's context store order);
* the context choice of ``sig_flag`` (:func:`sig_context`), ``sign_flag`` (:func:`sign_context`),
  ``abs_level_greater_x[j]`` (:func:`gtx_context`) and the remainder prefix (:func:`rem_context`);
* which context models get a signalled probability-estimator parameter set, in signalling order
  (:func:`signalled_contexts`, deepcabac.md §6.3).

The DQ state machine is :mod:`nnr.cabac.dq`, the scan geometry :mod:`nnr.cabac.scan`.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from typing import Final, final

from mypy_extensions import i64

from nnr.cabac.dq import NUM_DQ_STATES
from nnr.cabac.estimator import ContextModel

# -- context numbering (the order of ContextSet.every) ----------------------------------------
#
# The models a tensor without TCA and HDSP uses come first, so that a rate estimator keeps only
# a prefix of the numbering: sig_flag (3 per DQ state: neighbour zero / negative / positive),
# sign_flag (3), abs_level_greater_x (2 per flag: positive / negative), the remainder prefix;
# then the TCA / HDSP models: sig_flag with TCA (2 per DQ state), with HDSP (1 per DQ state),
# sign_flag with TCA (2: base negative / positive), abs_level_greater_x with TCA (2 per flag);
# then the parameter-set flag and row_skip_flag.  With zero greater-than flags the first
# flag's models fall on the first remainder models, as in NNCodec's store (nnr.encoding.gtx0).

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
