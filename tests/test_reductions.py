"""The encoder's float32 reductions equal numpy 1.26's (NNCodec's) whatever numpy runs the test.

Golden values: tests/data_gen/gen_reductions.py, run by NNCodec 2.1.3 under numpy 1.26.4, on the
transformer-like heavy-tailed tensors of tests/realistic.py (which every numpy generates
bit-identically).  Run this file under numpy 2.x (the normal venv) and 1.26 (see
docs/deviations.rst, "numpy versions") to check both.
"""

import hashlib
import json
import os
import sys

import numpy as np
import pytest

from nnr.encoding import reductions, sparsify

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import realistic  # noqa: E402

with open(os.path.join(HERE, "data", "reductions", "golden.json")) as f:
    GOLDEN = json.load(f)
CKPT = realistic.checkpoint()


def bits(x):
    return int(np.asarray(x, dtype=np.float32).view(np.uint32))


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def test_data_is_the_generated_data():
    # the generator is numpy-version independent; guard it against drift
    assert sha(b"".join(v.tobytes() for v in CKPT.values())) == \
        hashlib.sha256(b"".join(v.tobytes() for v in realistic.checkpoint().values())).hexdigest()
    assert hashlib.sha256(b"".join(v.tobytes() for v in CKPT.values())).hexdigest().startswith("e65dba9a9e509b2f")


@pytest.mark.parametrize("name", list(realistic.SHAPES))
def test_statistics_equal_numpy_1_26(name):
    w = CKPT[name]
    g = GOLDEN["stats"][name]
    assert bits(reductions.sum_f32(w)) == g["sum"]
    assert bits(reductions.mean_f32(w)) == g["mean"]
    assert bits(reductions.std_f32(w)) == g["std"]
    if w.ndim > 1:
        means = reductions.row_means_f32(abs(w))
        assert sha(means) == g["row_means"]
        assert bits(reductions.mean_f32(means)) == g["mean_of_row_means"]


@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 1000, 8191, 8192, 8193, 20000])
def test_sum_small_cases_by_hand(n):
    # exact integers: every summation order gives the same float32 result, so numpy's own sum
    # (any version) is a valid reference here
    x = (np.arange(n) % 97).astype(np.float32)
    assert reductions.sum_f32(x) == np.float32(int(x.astype(np.int64).sum()))


@pytest.mark.parametrize("key", list(GOLDEN["sparsify"]))
def test_sparsification_equals_nncodec(key):
    qp, target = key.split("/")
    g = GOLDEN["sparsify"][key]
    u = sparsify.unstructured(int(qp), CKPT, target_sparsity=float(target), qp_density=2)
    assert {k: sha(v) for k, v in u.items()} == g["unstructured"]
    s = sparsify.structured(u, gain=0.9)
    assert {k: sha(v) for k, v in s.items()} == g["structured"]


def test_dropin_nn_encode_with_sparsity_is_nncodecs_stream():
    from nnr.nncodec import nn

    bs = nn.encode(dict(CKPT), args={"sparsity": 0.5, "qp": -32, "verbose": False}, epoch=1)
    g = GOLDEN["nn_encode_sparsity_0.5_qp_-32"]
    assert len(bs) == g["bytes"]
    assert hashlib.sha256(bytes(bs)).hexdigest() == g["sha256"]
