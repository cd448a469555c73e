"""examples/fl_llm's learning-rate schedule and float32 twin (the ones docs/fl.rst's figures use), and the
simulation scripts' one BLAS thread."""

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


def test_twin_initial_model_is_a_few_ulps_off() -> None:
    import numpy as np

    def flat(jitter: float | None) -> np.ndarray:
        m = task.init_model(3) if jitter is None else task.init_model(3, jitter)
        return np.concatenate([v.numpy().ravel() for v in m.state_dict().values()])

    plain = flat(None)
    np.testing.assert_array_equal(flat(0.0), plain)
    twin = flat(task.JITTER)
    assert twin.dtype == np.float32 and np.all(np.sign(twin) == np.sign(plain))
    # distance in float32 steps (same signs, so the bit patterns' difference): 1e-7 relative is
    # under one step of 2**-23 on average, a few at most
    ulps = np.abs(twin.view(np.int32).astype(np.int64) - plain.view(np.int32).astype(np.int64))
    assert 0.5 < np.count_nonzero(ulps) / ulps.size < 0.8
    assert int(ulps.max()) <= 10 and float(ulps.mean()) < 1.5


def test_benchmark_offers_the_task_schedules() -> None:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_fl.py"
    spec = importlib.util.spec_from_file_location("bench_fl", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.LLM_SCHEDULES == task.SCHEDULES
    run = {"accuracy": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "perplexity": [9.0, 8.0, 7.0, 6.0, 5.0, 4.0]}
    f32 = {"accuracy": [0.1, 0.2, 0.3, 0.4, 0.5, 0.5], "perplexity": [9.0, 8.0, 7.0, 6.0, 5.0, 5.0]}
    # last five: accuracy 0.4 against 0.38, perplexity 6.0 against 6.2; final 0.6 / 0.5, 4 / 5
    assert bench.versus_float32(run, f32, "twin_") == pytest.approx(
        {"twin_accuracy_delta_points": 10.0, "twin_last5_accuracy_delta_points": 2.0,
         "twin_perplexity_ratio": 0.8, "twin_last5_perplexity_ratio": 6.0 / 6.2})


@pytest.mark.parametrize("script, then", [("benchmarks/bench_fl.py", ""), ("examples/fl_llm/run.py", ""),
                                          ("examples/fl_digits/run.py", "import bench_fl")])  # its main's first import
def test_simulation_scripts_survive_a_fork_beside_numpy(script: str, then: str) -> None:
    """Reproducer: two Flower simulations in one process (float32, then nnr) hung on a busy machine.
    The simulation engine starts Ray's processes with fork() from the main thread while the
    ServerApp thread evaluates the model, and that thread, inside a matrix product, waited for
    OpenBLAS's stopped thread pool forever (``blas_probe``).  Here the script's module runs first
    (as when it is started), then the main thread forks beside a thread multiplying matrices."""
    from blas_probe import survives

    path = Path(__file__).resolve().parent.parent / script
    setup = f"import runpy\nrunpy.run_path({str(path)!r}, run_name='not_main')\n{then}\n"
    action = """
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    """
    assert survives(setup, action) == "ok"
