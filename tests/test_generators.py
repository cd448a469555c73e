"""The conformance generators reproduce bitstreams/ byte for byte."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.environ.get("NNCODEC_PYTHON", os.path.expanduser("~/.cache/nnr-peer/nnc-venv/bin/python"))


def run(cmd):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_handbuilt_cases_are_reproduced():
    r = run([sys.executable, "conformance/handbuilt/make_handbuilt.py", "--check"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_negative_cases_are_reproduced():
    r = run([sys.executable, "conformance/negative/make_negative.py", "--check"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.skipif(not os.path.exists(PEER), reason="NNCodec's virtualenv (conformance/generate/setup_peer.sh) is absent")
def test_nncodec_cases_are_reproduced_byte_for_byte():
    # a sample across the generator's kinds of call; `generate.py --check` does them all
    sample = ["SPEC_EXAMPLE_GPI1_A", "DQ_SCAN3_A", "BLOCK_LS_BN_BI_SCAN2_A", "GPI0_CODEBOOK_A", "SEQ_TCA_DQ_A",
              "TENSOR_INT8_A", "NN_DICT_A"]
    sample = [n for n in sample if os.path.isdir(os.path.join(ROOT, "bitstreams", n))]
    r = run([PEER, "conformance/generate/generate.py", "--check", "--quiet", "--only", *sample])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "CHECK OK" in r.stdout
