"""Parallel decoding and encoding (``workers=N``): results identical to ``workers=1``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnr
from nnr import parallel
from nnr.conformance import runner

ROOT = Path(__file__).resolve().parent.parent
CASES = runner.load_cases(str(ROOT / "bitstreams"))

needs_fork = pytest.mark.skipif(not parallel.can_fork(), reason="no os.fork: workers run in-process")


def _outcomes(case: runner.Case, workers: int) -> list[Any]:
    session = nnr.Decoder(**runner.decoder_options(case), workers=workers)
    out: list[Any] = []
    for s in case.streams:
        data = Path(case.stream_path(s)).read_bytes()
        try:
            arrays = session.decode(data)
        except nnr.NNRError as e:
            out.append(("error", type(e).__name__, str(e)))
            break
        out.append(("ok", [(k, str(v.dtype), v.shape, hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest())
                           for k, v in arrays.items()]))
    return out


@pytest.fixture
def job_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records how many jobs each parallel run had."""
    seen: list[int] = []
    real = parallel.run

    def counting(fn: Any, costs: Any, workers: int) -> Any:
        seen.append(len(costs))
        return real(fn, costs, workers)

    monkeypatch.setattr(parallel, "run", counting)
    return seen


@needs_fork
def test_conformance_suite_identical_across_workers(job_counter: list[int]) -> None:
    """Every golden case (sequences with TCA / HDSP, entry points, negative cases) decodes to the
    same tensors — and fails with the same error — with 2 workers (sequences also with one per
    core) as with 1, which the conformance tests hold to the golden hashes."""
    multi = 0
    for case in CASES:
        one = _outcomes(case, 1)
        before = sum(1 for n in job_counter if n > 1)
        assert _outcomes(case, 2) == one, case.name
        multi += sum(1 for n in job_counter if n > 1) > before
        if case.mode == "sequence":
            assert _outcomes(case, 0) == one, case.name
    assert multi >= 20  # the suite really exercised multi-NDU parallel decoding


def _model(seed: int, scale: float = 0.05) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    return {"enc.w": (rng.randn(40, 36) * scale).astype(np.float32),
            "enc.b": (rng.randn(40) * scale).astype(np.float32),
            "conv": (rng.randn(8, 4, 3, 3) * scale).astype(np.float32),
            "dec.w": (rng.randn(36, 40) * scale).astype(np.float32),
            "idx": rng.randint(-50, 50, (12, 10)).astype(np.int32)}


@needs_fork
@pytest.mark.parametrize("settings", [
    {"tca": True},
    {"tca": True, "hdsp": True, "row_skipping": True},
    {"tca": True, "scan_order": 1},
    {"tca": False, "use_dq": False, "scan_order": 2, "hdsp": True},
])
def test_update_sequence_identical_across_workers(settings: dict[str, Any], job_counter: list[int]) -> None:
    """An encoder session's update streams (TCA base and HDSP history carried) decode alike."""
    enc = nnr.Encoder(**settings)
    streams = [enc.encode(_model(k, 0.05 / (k + 1))) for k in range(4)]
    ref = nnr.Decoder()
    expected = [ref.decode(s) for s in streams]
    for workers in (2, 0):
        d = nnr.Decoder(workers=workers)
        for s, exp in zip(streams, expected):
            got = d.decode(s)
            assert list(got) == list(exp)
            for k in exp:
                assert got[k].dtype == exp[k].dtype and np.array_equal(got[k], exp[k])
    assert max(job_counter) == 5


@needs_fork
def test_decode_function_workers() -> None:
    rng = np.random.RandomState(3)
    t = {f"l{i}": (rng.randn(64, 48) * 0.05).astype(np.float32) for i in range(5)}
    data = nnr.encode(t, scan_order=1)
    ref = nnr.decode(data)
    for w in (2, 3, 0):
        got = nnr.decode(data, workers=w)
        assert {k: v.tobytes() for k, v in got.items()} == {k: v.tobytes() for k, v in ref.items()}


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True, None, [2]])
def test_bad_workers_is_usage_error(bad: Any) -> None:
    data = nnr.encode({"w": np.ones((4, 4), np.float32)})
    with pytest.raises(nnr.NNRUsageError, match="workers"):
        nnr.decode(data, workers=bad)
    with pytest.raises(nnr.NNRUsageError, match="workers"):
        nnr.Decoder(workers=bad)


def test_workers_zero_is_one_per_core() -> None:
    assert parallel.resolve_workers(0) == parallel.cpu_count()
    assert parallel.resolve_workers(np.int64(3)) == 3


def test_assign_balances_largest_first() -> None:
    # 5 -> A, 4 -> B, 3 -> B (7), 2 -> A (7), 1 -> A (8): loads 8 and 7
    assert parallel.assign([5, 1, 4, 2, 3], 2) == [[0, 1, 3], [2, 4]]
    assert parallel.assign([1, 1], 4) == [[0], [1]]


@needs_fork
def test_run_reports_failures_and_lost_workers() -> None:
    parent = os.getpid()

    def fn(i: int) -> parallel.Job[int]:
        if i == 1 and os.getpid() != parent:
            raise ValueError("boom")
        if i == 2 and os.getpid() != parent:
            os._exit(3)  # a worker that dies without reporting
        return parallel.Job(i * 10, [np.arange(i, dtype=np.int32)])

    out = parallel.run(fn, [1, 1, 1, 1], 4)
    assert out[1] is parallel.FAILED and out[2] is parallel.FAILED
    for i in (0, 3):
        job = out[i]
        assert isinstance(job, parallel.Job) and job.value == i * 10
        assert job.arrays[0].tolist() == list(range(i))


@needs_fork
@pytest.mark.parametrize("settings", [
    {},
    {"use_dq": False, "scan_order": 2},
    {"codebook_mode": 2, "qp": -34},
    {"scan_order": 1, "row_skipping": True},
])
def test_encode_bytes_identical_across_workers(settings: dict[str, Any], job_counter: list[int]) -> None:
    t = _model(7)
    ref = nnr.encode(t, **settings)
    for w in (2, 0):
        assert nnr.encode(t, workers=w, **settings) == ref
    assert max(job_counter) >= 4


@needs_fork
@pytest.mark.parametrize("settings", [{"tca": True, "hdsp": True}, {"tca": True, "scan_order": 1, "row_skipping": True}])
def test_encoder_session_bytes_identical_across_workers(settings: dict[str, Any]) -> None:
    """TCA bases and HDSP histories carried over a session: the same streams with workers."""
    sessions = [nnr.Encoder(**settings), nnr.Encoder(workers=2, **settings), nnr.Encoder(workers=0, **settings)]
    for k in range(4):
        update = _model(20 + k, 0.05 / (k + 1))
        streams = [e.encode(update) for e in sessions]
        assert streams[1] == streams[0] and streams[2] == streams[0]
    assert sessions[0].state_record().keys() == sessions[1].state_record().keys()
    for key, v in sessions[0].state_record().items():
        assert np.array_equal(sessions[1].state_record()[key], v)


@pytest.mark.parametrize("bad", [-2, 2.0, "0", False])
def test_encode_bad_workers_is_usage_error(bad: Any) -> None:
    with pytest.raises(nnr.NNRUsageError, match="workers"):
        nnr.encode({"w": np.ones((4, 4), np.float32)}, workers=bad)
    with pytest.raises(nnr.NNRUsageError, match="workers"):
        nnr.Encoder(workers=bad)


@needs_fork
def test_encode_error_same_with_workers() -> None:
    """A tensor that cannot be quantized fails with the same error on workers as in order."""
    t = _model(1)
    t["huge"] = np.full((8, 8), 3e38, np.float32)
    msgs = []
    for w in (1, 2):
        with pytest.raises(nnr.NNRUsageError) as e:
            nnr.encode(t, workers=w, qp=-60)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


@needs_fork
def test_cli_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``nnr encode -j`` writes the bytes of ``-j 1``; ``nnr decode -j`` golden TCA sequences alike."""
    from nnr.cli import main

    np.savez(tmp_path / "m.npz", **_model(5))
    for j in ("1", "2", "0"):
        assert main(["encode", str(tmp_path / "m.npz"), "-o", str(tmp_path / f"m{j}.nnc"), "-q", "-j", j]) == 0
    assert (tmp_path / "m2.nnc").read_bytes() == (tmp_path / "m1.nnc").read_bytes() == (tmp_path / "m0.nnc").read_bytes()
    case = next(c for c in CASES if c.name == "SEQ_TCA_DQ_A")
    streams = [case.stream_path(s) for s in case.streams]
    assert main(["decode", *streams, "-o", str(tmp_path / "seq"), "--format", "npz", "-j", "2"]) == 0
    for s in case.streams:
        z = np.load(tmp_path / "seq" / (os.path.splitext(s)[0] + ".npz"))
        assert runner.compare_stream(s, dict(z), case.expected[s]) is None
    assert main(["decode", streams[0], "-o", str(tmp_path / "x.npz"), "-j", "-1"]) == 2
    assert "workers" in capsys.readouterr().err


def test_returned_arrays_are_the_callers() -> None:
    """Decoded arrays are writable and not the session's TCA base: changing them changes nothing."""
    enc = nnr.Encoder(tca=True)
    streams = [enc.encode(_model(40 + k)) for k in range(2)]
    ref = nnr.Decoder()
    expected = [ref.decode(s) for s in streams]
    d = nnr.Decoder()
    first = d.decode(streams[0])
    for v in first.values():
        v[...] = 0
    second = d.decode(streams[1])
    assert all(np.array_equal(second[k], expected[1][k]) for k in expected[1])


def test_interrupt_stops_children_blocked_on_their_pipe():
    """Ctrl-C in the parent while a child is writing a large result nobody reads: run() returns
    (raising KeyboardInterrupt) at once instead of waiting for the child forever."""
    import subprocess
    import sys
    import time

    code = (
        "import numpy as np\n"
        "from nnr import parallel\n"
        "def fn(i):\n"
        "    if i == 0:\n"
        "        import time; time.sleep(0.5); raise KeyboardInterrupt\n"
        "    return parallel.Job(None, [np.ones(1 << 24)])\n"  # 128 MB: far more than a pipe holds
        "try:\n"
        "    parallel.run(fn, [10, 1], 2)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "interrupted", out.stderr
    assert time.monotonic() - t0 < 30


def test_no_fork_beside_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """With another Python thread alive the jobs run in this process (a warning says so) and
    ``os.fork`` is never called: forking then can hang that thread (the test below)."""
    import threading

    def no_fork() -> int:
        raise AssertionError("os.fork called while another thread runs")

    monkeypatch.setattr(os, "fork", no_fork)
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    try:
        with pytest.warns(RuntimeWarning, match="other thread"):
            out = parallel.run(lambda i: parallel.Job((i, os.getpid())), [3, 2, 1], 3)
    finally:
        release.set()
        other.join()
    assert [j.value for j in out if isinstance(j, parallel.Job)] == [(i, os.getpid()) for i in range(3)]


def test_decode_with_workers_does_not_hang_a_thread_in_numpy() -> None:
    """Reproducer: ``nnr.decode(workers=2)`` while another thread multiplies matrices.  nnr used
    to fork there, and the other thread, inside a matrix product, then waited for OpenBLAS's
    stopped thread pool forever (``blas_probe``).  The decoded tensors are those of ``workers=1``."""
    from blas_probe import survives

    setup = """
        import warnings
        import numpy as np, nnr
        warnings.simplefilter("ignore", RuntimeWarning)
        rng = np.random.default_rng(0)
        t = {f"l{i}.weight": rng.normal(0, 0.1, (64, 64)).astype(np.float32) for i in range(6)}
        data = nnr.encode(t, qp=-32)
        ref = nnr.decode(data)
    """
    action = """
        out = nnr.decode(data, workers=2)
        assert all(np.array_equal(out[k], ref[k]) for k in ref)
    """
    assert survives(setup, action) == "ok"
