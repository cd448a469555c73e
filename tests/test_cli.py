"""The ``nnr`` command: decode, info, trace; errors are one line on stderr with exit 1."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nnr.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = bytes.fromhex(
    "00040201" "0008068100400080" "00060e000000"
    "002a16097700d041c120e102a080" "d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f"
    "001c16096200d0c1c3830a80" "b4d800073800965da803641000b59908")
B_VALUES = np.array([0.007610321044921875, 0.0012159347534179688, 0.004439353942871094], dtype=np.float32)


@pytest.fixture
def example(tmp_path):
    p = tmp_path / "example.nnc"
    p.write_bytes(EXAMPLE)
    return p


def test_decode_to_npz(example, tmp_path, capsys):
    out = tmp_path / "out.npz"
    assert main(["decode", str(example), "-o", str(out)]) == 0
    z = np.load(out)
    assert list(z.keys()) == ["w", "b"]
    assert z["b"].tobytes() == B_VALUES.tobytes()


def test_decode_sequence_to_directory(tmp_path):
    case = os.path.join(ROOT, "bitstreams", "SEQ_TCA_DQ_A")
    if not os.path.isdir(case):
        pytest.skip("golden case missing")
    meta = json.load(open(os.path.join(case, "case.json")))
    streams = [os.path.join(case, s) for s in meta["streams"]]
    out = tmp_path / "seq"
    assert main(["decode", *streams, "-o", str(out), "--format", "npz"]) == 0
    import hashlib

    for exp in meta["expected"]:
        z = np.load(out / (os.path.splitext(exp["stream"])[0] + ".npz"))
        assert list(z.keys()) == [t["name"] for t in exp["tensors"]]
        for t in exp["tensors"]:
            assert hashlib.sha256(np.ascontiguousarray(z[t["name"]]).tobytes()).hexdigest() == t["sha256"]


def test_info_json(example, capsys):
    assert main(["info", str(example), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [u["type"] for u in d["units"]] == ["NNR_STR", "NNR_MPS", "NNR_TPL", "NNR_NDU", "NNR_NDU"]
    assert d["units"][3]["tensors"][0] == {"name": "w", "role": "tensor", "shape": [3, 4], "qp": -38, "dq_flag": 1,
                                           "nonzero": 12}
    assert "dependent quantization" in d["units"][3]["tools"]


def test_trace_lists_elements_with_offsets(example, capsys):
    assert main(["trace", str(example)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [ln.split() for ln in lines[1:]]
    assert rows[0][:5] == ["0", "nnr_unit_size", "nnr_unit_size_flag", "u(1)", "0"]
    assert ["24", "nnr_start_unit_header", "general_profile_idc", "u(8)", "1"] in [r[:5] for r in rows]
    qp = [r for r in rows if r[2] == "qp_offset"]
    assert [r[4] for r in qp] == ["-38", "-75"]


def test_bad_stream_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "bad.nnc"
    bad.write_bytes(EXAMPLE[:40])
    r = subprocess.run([sys.executable, "-m", "nnr", "decode", str(bad), "-o", str(tmp_path / "x.npz")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("nnr: error:") and "unit 3" in r.stderr and "nnr_unit_size" in r.stderr


def test_missing_file_is_exit_2(tmp_path):
    assert main(["info", str(tmp_path / "none.nnc")]) == 2
