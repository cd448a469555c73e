"""examples/fl_llm's learning-rate schedule (the one docs/fl.rst's lr-decay figures use)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from extras import require

require("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "fl_llm"))

from llm_app import task  # noqa: E402


def test_cosine_schedule_runs_from_the_peak_to_a_tenth() -> None:
    assert task.round_lr(1e-3, "constant", 17, 20) == 1e-3
    assert task.round_lr(1e-3, "cosine", 1, 20) == pytest.approx(1e-3, rel=1e-12)
    assert task.round_lr(1e-3, "cosine", 20, 20) == pytest.approx(1e-4, rel=1e-12)
    # halfway (t = 1/2): 0.1 + 0.9 * 0.5 = 0.55 of the peak
    assert task.round_lr(1e-3, "cosine", 3, 5) == pytest.approx(5.5e-4, rel=1e-12)
    # round 16 of 20: 0.1 + 0.45 * (1 + cos(15 pi / 19))
    expected = 1e-3 * (0.1 + 0.45 * (1 + math.cos(15 * math.pi / 19)))
    assert task.round_lr(1e-3, "cosine", 16, 20) == pytest.approx(expected)


def test_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="schedule must be one of"):
        task.round_lr(1e-3, "linear", 1, 20)
