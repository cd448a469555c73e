"""The unrolled hot loops are what tools/gen_hot_loops.py writes from one statement of each rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from nnr.cabac.estimator import PARAMETER_SETS
from nnr.quantization.trellis import BRANCHES

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_hot_loops", ROOT / "tools" / "gen_hot_loops.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()


@pytest.mark.parametrize("idx", range(len(GEN.REGIONS)), ids=[f"{r}:{n}" for r, n, _ in GEN.REGIONS])
def test_checked_in_region_is_generated(idx: int) -> None:
    # a stale region: run `python tools/gen_hot_loops.py`
    rel, name, make = GEN.REGIONS[idx]
    assert GEN.checked_in((ROOT / rel).read_text(), name) == make()


def test_trellis_branches_follow_nncodec_order() -> None:
    # BRANCHES is derived from the DQ state machine; NNCodec's branch order (golden, read from
    # its trellis): per state, (predecessor, slot) x 3, slot 4 = the zero index
    assert BRANCHES == (
        (0, 0, 0, 4, 4, 2),
        (2, 0, 2, 4, 6, 2),
        (0, 2, 4, 0, 4, 4),
        (2, 2, 6, 0, 6, 4),
        (3, 1, 7, 3, 7, 4),
        (1, 1, 5, 3, 5, 4),
        (3, 3, 3, 4, 7, 1),
        (1, 3, 1, 4, 5, 1),
    )


def test_trial_model_states_every_parameter_set() -> None:
    # each chain is instantiated from its set: the initial state and the two STEP rows
    text = GEN.trial_model()
    for i, (sh0, sh1, p, s0) in enumerate(PARAMETER_SETS):
        assert f"        self.p{i} = {p}\n        self.s{i} = {s0}\n" in text
        assert f"        self.p{i}, self.s{i} = {p}, {s0}\n" in text
        row1, row0 = (sh1 - 4) * 32 + 16, (sh0 - 4) * 32 + 16
        assert f"self.c{i} += k\n        t = sign * i64(step[{row1} + " in text
        assert f"(step[{row0} + ((sign * s) >> 3)])  # S0's step\n        moved |= t | k\n        self.s{i} =" in text


def test_splice_replaces_only_the_region() -> None:
    src = "a\n    # BEGIN GENERATED x by y\n    old\n    # END GENERATED x\nb\n"
    out = GEN.splice(src, "x", "    new\n    lines\n")
    assert out == "a\n    # BEGIN GENERATED x by y\n    new\n    lines\n    # END GENERATED x\nb\n"
    assert GEN.checked_in(out, "x") == "    new\n    lines\n"
    with pytest.raises(SystemExit):
        GEN.checked_in("a\n# END GENERATED x\n", "x")
