"""``nnr diff`` with update sequences (``base.nnc+upd1.nnc+...``) on either side.

The expected model is rebuilt here as docs/encoding.rst tells a receiver to (one decoder session,
each decoded update added, absent tensors unchanged); the expected errors are computed here with
numpy from that model and the reference.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import nnr
from nnr.cli import main


def models() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    m0 = {"fc.weight": rng.normal(0, 0.1, (12, 16)).astype(np.float32),
          "fc.bias": rng.normal(0, 0.1, 12).astype(np.float32)}
    m1 = {k: v + rng.normal(0, 0.01, v.shape).astype(np.float32) for k, v in m0.items()}
    m2 = {"fc.weight": m1["fc.weight"] + rng.normal(0, 0.01, (12, 16)).astype(np.float32),
          "fc.bias": m1["fc.bias"]}  # a zero update: left out of the stream
    return [m0, m1, m2]


@pytest.fixture
def session(tmp_path: Path) -> tuple[Path, list[Path], dict[str, np.ndarray]]:
    ms = models()
    enc = nnr.Encoder(qp=-40)
    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the omitted all-zero update
        for i, m in enumerate(ms):
            prev = ms[i - 1] if i else None
            data = enc.encode(m if prev is None else {k: m[k] - prev[k] for k in m})
            paths.append(tmp_path / f"s{i}.nnc")
            paths[-1].write_bytes(data)
    np.savez(tmp_path / "final.npz", **ms[-1])
    dec = nnr.Decoder()
    rebuilt = dec.decode(paths[0].read_bytes())
    for p in paths[1:]:
        for name, delta in dec.decode(p.read_bytes()).items():
            rebuilt[name] = rebuilt[name] + delta
    return tmp_path, paths, rebuilt


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    assert main(["diff", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_sequence_against_reference(session, capsys) -> None:  # type: ignore[no-untyped-def]
    tmp, paths, rebuilt = session
    ref = dict(np.load(tmp / "final.npz"))
    seq = "+".join(str(p) for p in paths)
    for args in ((str(tmp / "final.npz"), seq), (seq, str(tmp / "final.npz"))):
        rep = run_json(capsys, *args)
        rows = {r["name"]: r for r in rep["tensors"]}
        assert set(rows) == set(ref) and rep["only_in_a"] == rep["only_in_b"] == []
        a, b = (ref, rebuilt) if args[0].endswith(".npz") else (rebuilt, ref)
        for n in ref:
            x, y = a[n].astype(np.float64), b[n].astype(np.float64)
            assert rows[n]["max_abs_error"] == float(np.max(np.abs(y - x)))
            assert rows[n]["rel_error"] == math.sqrt(float(np.dot((y - x).ravel(), (y - x).ravel())) /
                                                     float(np.dot(x.ravel(), x.ravel())))
    # the rebuilt model is not the base alone; the last update alone cannot be decoded (TCA)
    base = run_json(capsys, str(paths[0]), seq)
    assert base["total"]["max_abs_error"] > 0
    assert main(["diff", str(tmp / "final.npz"), str(paths[-1])]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"nnr: error: {paths[-1]}: unit 3 (NNR_NDU)") and len(err.splitlines()) == 1


def test_sequences_on_both_sides(session, capsys) -> None:  # type: ignore[no-untyped-def]
    tmp, paths, rebuilt = session
    seq = "+".join(str(p) for p in paths)
    rep = run_json(capsys, seq, seq)
    assert rep["total"]["max_abs_error"] == 0.0 and rep["total"]["snr_db"] == "inf"  # strict JSON: no Infinity
    np.savez(tmp / "rebuilt.npz", **rebuilt)
    assert run_json(capsys, str(tmp / "rebuilt.npz"), seq)["total"]["max_abs_error"] == 0.0
    # --updates replace: the last stream's tensors replace the model's
    dec = nnr.Decoder()
    replaced: dict[str, np.ndarray] = {}
    for p in paths:
        replaced.update(dec.decode(p.read_bytes()))
    np.savez(tmp / "replaced.npz", **replaced)
    rep = run_json(capsys, str(tmp / "replaced.npz"), seq, "--updates", "replace")
    assert rep["total"]["max_abs_error"] == 0.0


def test_sequence_errors(session, capsys) -> None:  # type: ignore[no-untyped-def]
    tmp, paths, _ = session
    cases = [
        (f"{paths[0]}+{tmp / 'final.npz'}", f"'{tmp / 'final.npz'}' (in "),
        (f"{paths[0]}+{tmp / 'nope.nnc'}", "does not exist"),
        (f"{paths[0]}+", "an empty name in the '+' sequence"),
        (f"{paths[1]}+{paths[2]}", f"nnr: error: {paths[1]}: "),  # an update without its base
    ]
    for spec, msg in cases:
        code = main(["diff", str(tmp / "final.npz"), spec])
        err = capsys.readouterr().err
        assert code in (1, 2) and msg in err and len(err.splitlines()) == 1, (spec, err)
    # a path with a '+' in its name that exists is one stream
    plus = tmp / "a+b.nnc"
    plus.write_bytes(paths[0].read_bytes())
    assert run_json(capsys, str(plus), str(paths[0]))["total"]["max_abs_error"] == 0.0
