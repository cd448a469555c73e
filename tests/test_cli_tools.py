"""``nnr info`` totals and sequences, ``nnr diff``, ``nnr trace`` details, ``--version`` and
usage errors (issue 10)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nnr
from nnr.cli import main

W = (np.arange(64, dtype=np.float32).reshape(8, 8) - 32) / 256
B = np.linspace(-0.1, 0.1, 8, dtype=np.float32)


@pytest.fixture
def files(tmp_path):
    np.savez(tmp_path / "m.npz", **{"fc.weight": W, "fc.bias": B})
    data = nnr.encode({"fc.weight": W.astype(np.float16), "fc.bias": B}, record_dtypes=True)
    (tmp_path / "m.nnc").write_bytes(data)
    return tmp_path, data


def test_info_totals_and_json(files, capsys):
    tmp, data = files
    assert main(["info", str(tmp / "m.nnc")]) == 0
    out = capsys.readouterr().out
    raw = 64 * 2 + 8 * 4  # fp16 weight, float32 bias
    ratio = raw / len(data)
    bpp = 8 * len(data) / 72
    assert (f"total: 2 tensors, 72 parameters, {raw} raw bytes, {len(data)} coded bytes, ratio {ratio:.2f}, "
            f"{bpp:.3f} bits/parameter") in out
    assert "fc.weight: float32 (originally float16) (8, 8)" in out
    assert main(["info", str(tmp / "m.nnc"), "--json", "-k", "bias"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["file"] == str(tmp / "m.nnc")
    assert [o["name"] for o in d["outputs"]] == ["fc.bias"]
    assert d["totals"]["coded_bytes"] == len(data)


def test_info_and_trace_take_a_sequence(tmp_path, capsys):
    enc = nnr.Encoder()
    base = enc.encode({"w": W})
    upd = enc.encode({"w": W / 4})
    (tmp_path / "b.nnc").write_bytes(base)
    (tmp_path / "u.nnc").write_bytes(upd)
    # the update alone needs its base (TCA): one session over both decodes it
    assert main(["info", str(tmp_path / "u.nnc")]) == 1
    capsys.readouterr()
    assert main(["info", str(tmp_path / "b.nnc"), str(tmp_path / "u.nnc"), "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in reports] == [str(tmp_path / "b.nnc"), str(tmp_path / "u.nnc")]
    assert "TCA" in [u for u in reports[1]["units"] if "tools" in u][0]["tools"]
    assert main(["trace", str(tmp_path / "b.nnc"), str(tmp_path / "u.nnc")]) == 0
    out = capsys.readouterr().out
    assert out.count("# ") == 2 and "temporal_context_modeling_flag" in out
    # byte_alignment() shown as its bits
    line = next(ln for ln in out.splitlines() if "byte_alignment()" in ln)
    assert line.split()[-1] in {"1" + "0" * k for k in range(8)}


def test_diff_any_mix(files, capsys):
    tmp, data = files
    assert main(["diff", str(tmp / "m.npz"), str(tmp / "m.nnc"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    dec = nnr.decode(data)
    w_err = dec["fc.weight"].astype(np.float64) - W.astype(np.float16).astype(np.float64)
    row = {r["name"]: r for r in d["tensors"]}
    # reference A is the float32 npz; B the decoded stream
    e = dec["fc.weight"].astype(np.float64) - W.astype(np.float64)
    assert row["fc.weight"]["max_abs_error"] == pytest.approx(float(np.abs(e).max()))
    assert row["fc.weight"]["rel_error"] == pytest.approx(float(np.linalg.norm(e) / np.linalg.norm(W.astype(np.float64))))
    assert row["fc.bias"]["parameters"] == 8
    assert d["only_in_a"] == [] and d["only_in_b"] == []
    assert np.abs(w_err).max() <= 2 ** (-38 / 4) / 2 + 1e-3


def test_version_and_usage_errors(files, capsys):
    tmp, _ = files
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"nnr {nnr.__version__}"
    with pytest.raises(SystemExit) as e:
        main(["decode", str(tmp / "m.nnc"), "-o", str(tmp / "x.npz"), "--bogus"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("usage: nnr decode") and "--bogus" in err
    assert main(["encode", str(tmp / "m.npz"), "-o", str(tmp / "y.nnc"), "--bnf"]) == 2
    assert "--bnf needs --blocks" in capsys.readouterr().err
    assert main(["encode", str(tmp / "m.npz"), "-o", str(tmp / "y.nnc"), "--qp-per-tensor", "nope=-30"]) == 2
    assert "'nope'" in capsys.readouterr().err


def test_every_positional_has_help():
    from nnr.cli import _parser

    p = _parser()
    for name, sub in p._defaults["_subparsers"].items():
        for a in sub._actions:
            if not a.option_strings and a.dest != "help":
                assert a.help, f"nnr {name}: positional {a.dest!r} has no help"
