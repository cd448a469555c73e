"""Rate control (issue 10): QPs from a target, QPs relative to each tensor's spread, the sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nnr
from nnr.cli import main
from nnr.encoding.approx import stepsize_from_qp
from nnr.rate_control import relative_qps, search_qp, sweep


def tensors():
    rng = np.random.default_rng(4)
    return {"a.weight": (rng.standard_normal((48, 32)) * 0.02).astype(np.float32),
            "b.weight": (rng.standard_normal((32, 32)) * 1.0).astype(np.float32),
            "b.bias": (rng.standard_normal(32) * 0.1).astype(np.float32)}


def test_relative_qps_follow_the_spread():
    t = tensors()
    q = relative_qps(t, -16, 2)
    assert set(q) == {"a.weight", "b.weight"}  # weights only
    for name, qp in q.items():
        ratio = stepsize_from_qp(qp, 2) / float(t[name].astype(np.float64).std())
        assert 2 ** -4.25 < ratio < 2 ** -3.75  # step ~ std / 16, to the nearest QP


def test_search_meets_the_targets_and_is_tight():
    t = tensors()
    p = search_qp(t, target_bits_per_param=5.0)
    data = nnr.encode(t, qp=p.qp)
    assert 8 * len(data) / 2592 == pytest.approx(p.bits_per_param) and p.bits_per_param <= 5.0
    assert 8 * len(nnr.encode(t, qp=p.qp - 1)) / 2592 > 5.0  # one QP finer misses the target
    e = search_qp(t, max_rel_error=0.01)
    assert e.rel_error <= 0.01

    def rel(qp):
        d = nnr.decode(nnr.encode(t, qp=qp))
        num = sum(float(np.sum((d[k].astype(np.float64) - v) ** 2)) for k, v in t.items())
        den = sum(float(np.sum(v.astype(np.float64) ** 2)) for v in t.values())
        return (num / den) ** 0.5

    assert rel(e.qp) == pytest.approx(e.rel_error)
    assert rel(e.qp + 1) > 0.01  # one QP coarser misses it
    with pytest.raises(nnr.NNRUsageError, match="exactly one"):
        search_qp(t)


def test_sweep_table_and_cli(tmp_path, capsys):
    t = tensors()
    pts = sweep(t, [-40, -36, -32])
    assert [p.qp for p in pts] == [-40, -36, -32]
    assert [p.bytes for p in pts] == [len(nnr.encode(t, qp=q)) for q in (-40, -36, -32)]
    assert pts[0].rel_error < pts[1].rel_error < pts[2].rel_error
    np.savez(tmp_path / "m.npz", **t)
    assert main(["sweep", str(tmp_path / "m.npz"), "--qp", "-40..-32", "--step", "4",
                 "--json", str(tmp_path / "rd.json")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["qp", "bytes", "bits/param", "rel", "error", "SNR", "dB"]
    rd = json.loads((tmp_path / "rd.json").read_text())
    assert [p["bytes"] for p in rd["points"]] == [p.bytes for p in pts]
    assert set(rd["points"][0]["per_tensor"]) == set(t)


def test_encode_cli_targets(tmp_path, capsys):
    t = tensors()
    np.savez(tmp_path / "m.npz", **t)
    assert main(["encode", str(tmp_path / "m.npz"), "-o", str(tmp_path / "m.nnc"), "--max-rel-error", "0.01"]) == 0
    qp = search_qp(t, max_rel_error=0.01).qp
    assert f"chose QP {qp}:" in capsys.readouterr().out
    assert (tmp_path / "m.nnc").read_bytes() == nnr.encode(t, qp=qp)
    assert main(["encode", str(tmp_path / "m.npz"), "-o", str(tmp_path / "r.nnc"), "--qp-rel", "-16", "-q"]) == 0
    assert (tmp_path / "r.nnc").read_bytes() == nnr.encode(t, qp_per_tensor=relative_qps(t, -16, 2))
