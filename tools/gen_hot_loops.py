"""Writes the hand-unrolled hot loops of nnr from one statement of each rule.

mypyc keeps native fields and locals apart only when they are spelled out one by one, and a call
per bin costs the decoder's fast loop measurably, so some hot code is unrolled or inlined in the
source:

* :class:`nnr.cabac.trial_model.TrialModel`: the nine parameter sets of the probability
  estimator side by side (one chain template, instantiated from ``PARAMETER_SETS``);
* the butterflies of :func:`nnr.quantization.trellis.dq_no_rate`: the eight DQ states (one
  butterfly template, instantiated from ``BRANCHES``, which the DQ state machine defines);
* the context-coded bin of the arithmetic decoder: the LPS sub-range, the bin decision with its
  renormalization and the two-rate estimator update, stated once here and written both into
  the engine (:func:`nnr.cabac.estimator.range_lps`,
  :func:`nnr.cabac.arith_decoder.decode_decision`, :func:`nnr.cabac.estimator.next_state`)
  and into the inlined copy of the level decoder's fast loop (engine state in locals there;
  the C compiler does not inline these calls by itself).

* the context-coded bin of the arithmetic encoder, likewise into
  ``ArithmeticEncoder.encode_bin`` and the level encoder's fast loop (which calls the
  estimator's ``range_lps`` and ``next_state``).

This script writes each between the ``# BEGIN GENERATED <name>`` / ``# END GENERATED <name>``
lines of its module.

    python tools/gen_hot_loops.py          # rewrite the generated regions
    python tools/gen_hot_loops.py --check  # exit 1 if a checked-in region differs

tests/test_generated_code.py holds the checked-in text to what this writes; the general paths
(``next_state``, ``dq_with_rate``) stay beside the unrolled code, held to it by the tests of
tests/test_cabac_encoder.py and tests/test_quantization.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # the rules of this checkout, not of an installed nnr
    sys.path.insert(0, str(ROOT))

from nnr.cabac.estimator import CURVE, PARAMETER_SETS  # noqa: E402
from nnr.quantization.trellis import BRANCHES, NUM_SLOTS  # noqa: E402

STEP_ROW = len(CURVE)  # STEP[(sh - 4) * 32 + 16 + k] = CURVE[16 + k] >> sh (engine._step_table)
NUM_DQ_STATES = len(BRANCHES)


def _step_row(sh: int) -> int:
    """Offset of the zero step of shift ``sh`` in STEP."""
    return (sh - 4) * STEP_ROW + 16


# ---------------------------------------------------------------------------------------------
# TrialModel: one estimator chain, instantiated per parameter set

_TRIAL_CHAIN = """\
        p = self.p{i}
        s = self.s{i}
        j = 6 * (p >> 3) + e
        k = i64(est[j]) | (i64(est[j + 1]) << 8) | (i64(est[j + 2]) << 16)
        self.k{i} = k
        self.c{i} += k
        t = sign * i64(step[{row1} + ((sign * (p - 16 * s)) >> 7)])  # S1's step
        k = sign * i64(step[{row0} + ((sign * s) >> 3)])  # S0's step
        moved |= t | k
        self.s{i} = s + k
        self.p{i} = p + t + 16 * k
"""

_TRIAL_INIT = """
    def __init__(self) -> None:
        # every field assigned here, one by one: mypyc then knows them always defined and
        # drops its per-access "undefined attribute" checks from the hot method
"""

_TRIAL_RESET = '''
    def reset(self) -> None:
        """Every set back to its initial state (block-row start); the sums are kept."""
        self.fixed = -1
'''

_TRIAL_CODE = '''
    def code(self, b: i64) -> None:
        """One bin ``b`` under every set: add its estimated bits, then update the estimator.

        Each set is :func:`~nnr.cabac.estimator.next_state` in its branch-free form
        (``s += sign * STEP[row + 16 + (sign * s >> k)]``, the estimator steps toward the bin),
        written out so that the nine run as independent chains without calls;
        tests/test_cabac_encoder.py holds every set to ``next_state`` and :data:`EST_BITS`.
        Once a bin leaves all nine states unchanged (saturated estimators), the same bin
        again only adds the same costs: long runs in skewed models cost one branch a bin.
        """
        self.bins += 1
        if b == self.fixed:
{fixed}            return
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
{chains}\
        fixed: i64 = -1  # (a conditional expression mixing a literal and an i64 would box)
        if moved == 0:
            fixed = b
        self.fixed = fixed
'''

_TRIAL_TAIL = '''
    def costs(self) -> list[int]:
        """Estimated bits per parameter set 0..8 (15-bit fixed point)."""
        return [{costs}]
'''


def trial_model() -> str:
    """The fields and the unrolled methods of nnr/cabac/trial_model.py's TrialModel."""
    sets = range(len(PARAMETER_SETS))
    out = []
    for f in "psck":
        for i in sets:
            note = "  # the costs of the last bin, per set" if f == "k" and i == 0 else ""
            out.append(f"    {f}{i}: i64{note}\n")
    out.append("    fixed: i64  # a bin value that leaves every set's state unchanged, or -1\n")
    out.append("    bins: i64\n")
    out.append(_TRIAL_INIT)
    for i in sets:
        _, _, p, s0 = PARAMETER_SETS[i]
        out.append(f"        self.p{i} = {p}\n        self.s{i} = {s0}\n")
    for f in "ck":
        out.extend(f"        self.{f}{i} = 0\n" for i in sets)
    out.append("        self.fixed = -1\n        self.bins = 0\n")
    out.append(_TRIAL_RESET)
    for i in sets:
        _, _, p, s0 = PARAMETER_SETS[i]
        out.append(f"        self.p{i}, self.s{i} = {p}, {s0}\n")
    fixed = "".join(f"            self.c{i} += self.k{i}\n" for i in sets)
    chains = "".join(
        _TRIAL_CHAIN.format(i=i, row0=_step_row(sh0), row1=_step_row(sh1))
        for i, (sh0, sh1, _, _) in enumerate(PARAMETER_SETS)
    )
    out.append(_TRIAL_CODE.format(fixed=fixed, chains=chains))
    costs = ", ".join(f"int(self.c{i})" for i in sets)
    # the line as black would wrap it at 120 columns
    cut = costs.index("int(self.c6)")
    out.append(_TRIAL_TAIL.format(costs=costs[:cut].rstrip() + "\n                " + costs[cut:]))
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# dq_no_rate: one butterfly, instantiated per DQ state


def _slot(slot: int) -> str:
    return "zero" if slot == NUM_SLOTS else f"slot {slot}"


def _dist(slot: int) -> str:
    return "dz" if slot == NUM_SLOTS else f"d{slot}"


def dq_butterflies() -> str:
    """The loop of nnr/quantization/trellis.py's dq_no_rate, without rate, and the choice of the
    end state."""
    out = [
        "    c0 = 0.0\n",
        *(f"    c{s} = HALF_DBL_MAX\n" for s in range(1, NUM_DQ_STATES)),
        "    for i in range(n):\n",
        "        v = w[i]\n",
        "        u = qscale * v\n",
        "        if v < 0.0:\n",
        "            u = -u\n",
        "        m = _min_qidx(u)\n",
        "        dz = u * u\n",
        "        fm = float(m)\n",
        "        t = u - fm\n",
        "        e0 = t * t\n",
    ]
    for q in range(1, NUM_SLOTS):
        out.append(f"        t = u - (fm + {q}.0)\n        e{q} = t * t\n")
    # candidate m + q lies in slot (m + q) mod 4
    out.append("        r = m & 3\n")
    for r in range(NUM_SLOTS):
        head = "if r == 0" if r == 0 else "else" if r == NUM_SLOTS - 1 else f"elif r == {r}"
        out.append(f"        {head}:\n")
        out.extend(f"            d{(r + q) % NUM_SLOTS} = e{q}\n" for q in range(NUM_SLOTS))
    for c, br in enumerate(BRANCHES):
        ins = [(br[2 * j], br[2 * j + 1]) for j in range(3)]
        out.append(f"        # state {c}: " + ", ".join(f"({p}, {_slot(sl)})" for p, sl in ins) + "\n")
        p, sl = ins[0]
        out.append(f"        n{c} = c{p} + {_dist(sl)}\n        b{c}: i64 = 0\n")
        for j, (p, sl) in enumerate(ins[1:], 1):
            out.append(f"        x = c{p} + {_dist(sl)}\n        if x < n{c}:\n            n{c} = x\n            b{c} = {j}\n")
    for half in range(2):
        terms = [f"b{4 * half + s}" if s == 0 else f"(b{4 * half + s} << {2 * s})" for s in range(4)]
        out.append(f"        dec[2 * i{' + 1' if half else ''}] = " + " | ".join(terms) + "\n")
    out.extend(f"        c{s} = n{s}\n" for s in range(NUM_DQ_STATES))
    # the first state of least cost
    out.append("    best: i64 = 0\n    mc = c0\n")
    for s in range(1, NUM_DQ_STATES):
        out.append(f"    if c{s} < mc:\n        mc = c{s}\n        best = {s}\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# the estimator update: next_state and the inlined copy in the level decoder's fast loop

_ESTIMATOR = """\
{k} = {x} >> {shift}
if {k} < 0:
    {s} {op}= i64({step}[{row} + 16 + {k}])
elif {k} < 15:
    {s} {op}= {agree}
"""


def estimator_update(indent: int, p: str, k: str, step: str, t: tuple[str, str], agree: tuple[str, str]) -> str:
    """The two-rate estimator update after bin ``b`` (deepcabac.md §3.3): S0 (shift 3) and S1
    (shift 7) each step toward the bin, by the STEP row of its set while it disagrees (k < 0),
    by CURVE[16..30] >> sh = ``agree`` while it agrees, not at all once saturated (k = 15)."""
    out = [f"s1 = {p} - 16 * s0\n"]
    for head, op in (("if b:", "+"), ("else:", "-")):  # toward 1, toward 0
        out.append(head + "\n")
        for s, shift, row, a in (("s0", 3, t[0], agree[0]), ("s1", 7, t[1], agree[1])):
            x = s if op == "+" else f"(-{s})"
            block = _ESTIMATOR.format(k=k, x=x, s=s, shift=shift, row=row, step=step, agree=a, op=op)
            out.extend("    " + ln for ln in block.splitlines(keepends=True))
    return "".join(" " * indent + ln for ln in out)


# ---------------------------------------------------------------------------------------------
# the arithmetic decoder's bin decision: decode_decision and its inlined copy in the level
# decoder's fast loop (engine state in locals there)

_RANGE_LPS = """\
q = {p} >> 7
if q < 0:
    q = -q
{to}i64({rlps}[(rng & 0xE0) + q])
"""


def range_lps(indent: int, p: str, to: str, rlps: str) -> str:
    """The LPS sub-range for state P and the range: RLPS[(range & 0xE0) + |P >> 7|]
    (deepcabac.md §2.2); ``to`` is where it goes (an assignment or a return)."""
    text = _RANGE_LPS.format(p=p, to=to, rlps=rlps)
    return "".join(" " * indent + ln for ln in text.splitlines(keepends=True))


_DECISION = """\
rmps = rng - rlps
scaled = rmps << 7
b: i64 = 0
n: i64 = 0
if value < scaled:
    if {p} >= 0:
        b = 1
    if rmps < 256:
        n = 1
    rng = rmps << n
    value <<= n
else:
    if {p} < 0:
        b = 1
    n = i64({renorm}[rlps])
    rng = rlps << n
    value = (value - scaled) << n
"""


def decode_decision(indent: int, p: str, rlps: str, renorm: str) -> str:
    """A context-coded bin from the offset: MPS (sign of P) while value < (range - rLPS) << 7,
    then the renormalization of the chosen sub-range (deepcabac.md §2.2)."""
    text = _DECISION.format(p=p, renorm=renorm)
    return range_lps(indent, p, "rlps = ", rlps) + "".join(" " * indent + ln for ln in text.splitlines(keepends=True))


_ENCODE = """\
if b == {mps}:
    if rmps < 256:
        {rng} = rmps << 1
        {low} <<= 1
        {window} += 1
    else:
        {rng} = rmps
else:
    n = i64({renorm}[rlps])
    {rng} = rlps << n
    {low} = ({low} + rmps) << n
    {window} += n
"""


def encode_decision(indent: int, mps: str, rng: str, low: str, window: str, renorm: str) -> str:
    """A context-coded bin ``b`` into the engine (the inverse of :func:`decode_decision`): the
    MPS keeps the lower sub-range, the LPS adds it to ``low``; each renormalizes, ``window``
    counting the bits shifted into ``low``."""
    text = _ENCODE.format(mps=mps, rng=rng, low=low, window=window, renorm=renorm)
    return "".join(" " * indent + ln for ln in text.splitlines(keepends=True))


# ---------------------------------------------------------------------------------------------
# the regions and their splicing

REGIONS = (
    ("nnr/cabac/trial_model.py", "trial-model", trial_model),
    ("nnr/quantization/trellis.py", "dq-butterflies", dq_butterflies),
    ("nnr/cabac/estimator.py", "estimator-update",
     lambda: estimator_update(4, "p", "k", "STEP", ("t0", "t1"), ("4 >> (t0 >> 5)", "4 >> (t1 >> 5)"))),
    ("nnr/cabac/dec_levels.py", "estimator-update",
     lambda: estimator_update(12, "cp", "t", "step", ("c.t0", "c.t1"), ("c.a0", "c.a1"))),
    ("nnr/cabac/estimator.py", "range-lps", lambda: range_lps(4, "p", "return ", "rlps")),
    ("nnr/cabac/arith_decoder.py", "decode-decision", lambda: decode_decision(4, "p", "rlps_table", "renorm")),
    ("nnr/cabac/dec_levels.py", "decode-decision", lambda: decode_decision(12, "cp", "rlps_table", "renorm")),
    ("nnr/cabac/arith_encoder.py", "encode-decision",
     lambda: encode_decision(8, "mps", "self.range", "self.low", "self.window", "RENORM")),
    ("nnr/cabac/enc_levels.py", "encode-decision",
     lambda: encode_decision(12, "(1 if cp >= 0 else 0)", "rng", "low", "window", "renorm")),
)


def _bounds(lines: list[str], name: str) -> tuple[int, int]:
    """Indices of the BEGIN and END lines of region ``name``."""
    begin = [i for i, ln in enumerate(lines) if ln.strip().startswith(f"# BEGIN GENERATED {name} ")]
    end = [i for i, ln in enumerate(lines) if ln.strip() == f"# END GENERATED {name}"]
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise SystemExit(f"region {name}: expected one BEGIN GENERATED line followed by one END GENERATED line")
    return begin[0], end[0]


def checked_in(source: str, name: str) -> str:
    """The text of region ``name`` in ``source`` (between its marker lines)."""
    lines = source.splitlines(keepends=True)
    b, e = _bounds(lines, name)
    return "".join(lines[b + 1 : e])


def splice(source: str, name: str, text: str) -> str:
    """``source`` with region ``name`` replaced by ``text``."""
    lines = source.splitlines(keepends=True)
    b, e = _bounds(lines, name)
    return "".join(lines[: b + 1]) + text + "".join(lines[e:])


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for rel, name, make in REGIONS:
        path = ROOT / rel
        source = path.read_text()
        text = make()
        if checked_in(source, name) != text:
            stale.append(f"{rel}: {name}")
            if not check:
                path.write_text(splice(source, name, text))
    for s in stale:
        print(("stale " if check else "rewrote ") + s)
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
