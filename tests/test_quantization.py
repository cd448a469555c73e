"""NNCodec 2.1.3's quantizers (nnr.quantization.quant_layer), bit-exact.

* vectors: tests/data/quantization/vectors.json, made by NNCodec's own
  ``deepCABAC.Encoder().quantLayer`` (generate.py there): URQ and DQ, lambda_scale 0 and > 0,
  qp_density 0..7, scan orders 0..4, gpi 0/1, 1-D / (1, n) / (n, 1) / 4-D / 65 x 130 /
  300 x 200 tensors, sparse tensors, exact ties, QP increase on int32 overflow, the int32
  bounds, zeros, NaN / inf; every level and the returned QP must be identical, and where NNCodec
  raises we must raise;
* live: when NNCodec's venv exists, ~100 freshly drawn random cases per run (seed printed);
* unit checks of the pieces (scan order, step size, QP increase, argument checks).
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import zlib
from typing import Any

import numpy as np
import pytest

from nnr.errors import NNRUsageError
from nnr.cabac.scan import matrix_shape
from nnr.quantization import overflow_qp, quant_layer, scan_permutation, step_size

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "quantization")
VECTORS = os.path.join(DATA, "vectors.json")
GENERATOR = os.path.join(DATA, "generate.py")
NNC_PY = os.environ.get("NNCODEC_PYTHON", os.path.expanduser("~/.cache/nnr-peer/nnc-venv/bin/python"))


# ---------------------------------------------------------------------------------------------
# vector format (see generate.py): byte planes, zigzag for levels, zlib, base64


def pack(a: np.ndarray, dtype: str) -> str:
    v = np.ascontiguousarray(a, dtype=dtype).reshape(-1)
    if dtype == "<i4":
        v = ((v.astype(np.int64) << 1) ^ (v.astype(np.int64) >> 63)).astype("<u4")
    raw = v.view(np.uint8).reshape(-1, 4)
    return base64.b64encode(zlib.compress(np.ascontiguousarray(raw.T).tobytes(), 9)).decode()


def unpack(s: str, dtype: str, shape: list[int]) -> np.ndarray:
    planes = np.frombuffer(zlib.decompress(base64.b64decode(s)), dtype=np.uint8).reshape(4, -1)
    v = np.ascontiguousarray(planes.T).view("<u4" if dtype == "<i4" else dtype).reshape(-1)
    if dtype == "<i4":
        u = v.astype(np.int64)
        v = ((u >> 1) ^ -(u & 1)).astype("<i4")
    return v.reshape(shape).copy()


def load_vectors() -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    with open(VECTORS) as f:
        doc = json.load(f)
    tensors = [unpack(t["data"], "<f4", t["shape"]).astype(np.float32) for t in doc["tensors"]]
    return tensors, doc["cases"]


def case_id(c: dict[str, Any]) -> str:
    return f"t{c['t']}-dq{c['dq']}-qpd{c['qpd']}-qp{c['qp']}-lam{c['lam']}-n{c['nrem']}-s{c['scan']}-g{c['gpi']}"


def check_case(w: np.ndarray, c: dict[str, Any]) -> None:
    args = (c["dq"], c["qpd"], c["qp"], c["lam"], c["nrem"], c["scan"], c["gpi"])
    if "error" in c:
        with pytest.raises(NNRUsageError):
            quant_layer(w, *args)
        return
    expected = unpack(c["levels"], "<i4", list(w.shape))
    levels, qp = quant_layer(w, *args)
    assert levels.dtype == np.int32
    assert levels.shape == w.shape
    if not np.array_equal(levels, expected):
        diff = np.flatnonzero(levels.reshape(-1) != expected.reshape(-1))
        pytest.fail(
            f"{case_id(c)}: {diff.size} of {w.size} levels differ, first at {diff[:5].tolist()}: "
            f"ours {levels.reshape(-1)[diff[:5]].tolist()}, NNCodec {expected.reshape(-1)[diff[:5]].tolist()}"
        )
    assert qp == c["qp_out"], case_id(c)


_TENSORS, _CASES = load_vectors()


# ---------------------------------------------------------------------------------------------
# stored NNCodec vectors


@pytest.mark.parametrize("idx", range(len(_CASES)), ids=[case_id(c) for c in _CASES])
def test_nncodec_vector(idx: int) -> None:
    c = _CASES[idx]
    check_case(_TENSORS[c["t"]], c)


def test_vectors_cover_what_they_claim() -> None:
    """The stored vectors exercise every path (so that test_nncodec_vector can fail)."""
    cases = [c for c in _CASES if "error" not in c]
    combos = {(c["dq"], c["lam"] > 0) for c in cases}
    assert combos == {(0, False), (0, True), (1, False), (1, True)}
    assert {c["scan"] for c in cases} == {0, 1, 2, 3, 4}
    assert {0, 2, 5, 7} <= {c["qpd"] for c in cases}
    assert {c["gpi"] for c in cases} == {0, 1}
    shapes = {tuple(_TENSORS[c["t"]].shape) for c in cases}
    assert {(65, 130), (300, 200), (1, 300), (300, 1), (257,)} <= shapes
    assert any(len(s) == 4 for s in shapes)
    assert sum(1 for c in cases if c["qp_out"] != c["qp"]) >= 10  # QP increases
    assert sum(1 for c in _CASES if "error" in c) >= 2
    # results are not trivial: most cases have non-zero levels, DQ indices of both parities,
    # and rate-distortion optimisation changes levels
    nonzero = sum(1 for c in cases if unpack(c["levels"], "<i4", [-1]).any())
    assert nonzero > 0.9 * len(cases)
    for c in cases:
        if c["dq"] == 1 and c["t"] == 16:
            lv = unpack(c["levels"], "<i4", [-1])
            assert (lv % 2 == 1).any() and (lv[lv != 0] % 2 == 0).any()
    grid = {(c["dq"], c["lam"], c["scan"]): unpack(c["levels"], "<i4", [-1]) for c in cases if c["t"] == 15}
    for dq in (0, 1):
        for scan in range(5):
            assert not np.array_equal(grid[(dq, 0.0, scan)], grid[(dq, 1.0, scan)])


def test_vectors_detect_a_wrong_quantizer() -> None:
    """A plausible but wrong quantizer (round half to even) disagrees with the vectors."""
    t = next(c for c in _CASES if c["dq"] == 0 and c["lam"] == 0 and "error" not in c and c["qp"] == -16)
    w = _TENSORS[t["t"]]
    step = float(step_size(t["qp"], t["qpd"]))
    wrong = np.rint(w / np.float32(step)).astype(np.int32)
    assert not np.array_equal(wrong, unpack(t["levels"], "<i4", list(w.shape)))


# ---------------------------------------------------------------------------------------------
# live differential test against NNCodec


def _random_case(rng: random.Random, nrng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    kind = rng.random()
    ndim = rng.choice([1, 2, 2, 2, 4])
    if ndim == 1:
        shape: tuple[int, ...] = (rng.randint(1, 400),)
    elif ndim == 2:
        shape = rng.choice([(1, rng.randint(1, 300)), (rng.randint(1, 300), 1), (rng.randint(2, 90), rng.randint(2, 150))])
    else:
        shape = (rng.randint(1, 12), rng.randint(1, 8), rng.choice([1, 3, 5]), rng.choice([1, 3, 5]))
    sigma = 10.0 ** rng.uniform(-4, 1)
    w = nrng.standard_normal(shape) * sigma
    if kind < 0.15:  # sparse
        w[nrng.random(shape) < 0.8] = 0.0
    qpd = rng.randint(0, 7)
    k = 1 << qpd
    qp = int(math.floor(math.log2(sigma / rng.uniform(1, 30)) * k))
    if kind > 0.9 and w.size:  # force the QP increase
        w.reshape(-1)[rng.randrange(w.size)] = sigma * 2.0**31 * rng.uniform(1, 100)
    elif 0.15 <= kind < 0.3:  # exact multiples of quarter steps
        step = float(step_size(qp, qpd))
        w = np.round(w / step * 4) * step / 4
    lam = rng.choice([0.0, 0.0, 0.0, 0.05, 0.5, 1.0, 3.0, 20.0])
    c = {
        "dq": rng.randint(0, 1),
        "qpd": qpd,
        "qp": qp,
        "lam": lam,
        "nrem": rng.choice([0, 1, 2, 5, 10, 10, 10, 15]),
        "scan": rng.randint(0, 4),
        "gpi": rng.randint(0, 1),
    }
    return w.astype(np.float32), c


@pytest.mark.skipif(not os.path.exists(NNC_PY), reason="NNCodec venv not available")
def test_live_against_nncodec() -> None:
    seed = int(os.environ.get("NNR_QUANT_SEED", random.randrange(1 << 30)))
    print(f"NNR_QUANT_SEED={seed}")
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    tensors = []
    cases = []
    for i in range(100):
        w, c = _random_case(rng, nrng)
        if c["dq"] == 1 and c["lam"] > 0 and w.size > 3000:
            c["lam"] = 0.0  # keep the pure-Python run short
        tensors.append({"shape": list(w.shape), "data": pack(w, "<f4")})
        c["t"] = i
        cases.append(c)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.json")
        dst = os.path.join(d, "out.json")
        with open(src, "w") as f:
            json.dump({"tensors": tensors, "cases": cases}, f)
        subprocess.run([NNC_PY, GENERATOR, "--oracle", src, dst], check=True, timeout=600)
        with open(dst) as f:
            res = json.load(f)
    for c in res["cases"]:
        w = unpack(tensors[c["t"]]["data"], "<f4", tensors[c["t"]]["shape"])
        check_case(w, c)


# ---------------------------------------------------------------------------------------------
# pieces


def test_step_size_matches_spec_examples() -> None:
    assert float(step_size(-38, 2)) == 0.00146484375
    assert float(step_size(-75, 2)) == 5 * 2.0**-21
    assert float(step_size(0, 0)) == 1.0
    assert float(step_size(-16, 2)) == 2.0**-4
    assert step_size(-200, 0) == 0.0  # underflows float32
    assert step_size(-130, 0) == np.float32(2.0**-130)


def _scan_reference(h: int, w: int, scan: int) -> list[int]:
    if scan == 0:
        return list(range(h * w))
    b = 4 << scan
    out = []
    for by in range(0, h, b):
        for bx in range(0, w, b):
            for y in range(by, min(by + b, h)):
                for x in range(bx, min(bx + b, w)):
                    out.append(y * w + x)
    return out


@pytest.mark.parametrize("h,w", [(1, 1), (3, 5), (8, 8), (9, 17), (70, 33), (64, 128), (5, 200), (200, 5)])
@pytest.mark.parametrize("scan", range(5))
def test_scan_permutation(h: int, w: int, scan: int) -> None:
    perm = scan_permutation(h, w, scan)
    got = list(range(h * w)) if perm is None else perm.tolist()
    assert got == _scan_reference(h, w, scan)


def test_matrix_shape() -> None:
    # (number of weights, layer width) as NNCodec computes them, from the (height, width) view
    def num_and_width(shape: tuple[int, ...]) -> tuple[int, int]:
        h, w = matrix_shape(shape)
        return h * w, w

    assert num_and_width((7,)) == (7, 1)
    assert num_and_width(()) == (1, 1)
    assert num_and_width((4, 3, 3, 2)) == (72, 18)
    assert num_and_width((1, 50)) == (50, 50)
    assert matrix_shape((4, 3, 3, 2)) == (4, 18)


def test_scan_order_forced_for_single_row_or_column() -> None:
    rng = np.random.default_rng(1)
    for shape in [(1, 300), (300, 1), (300,), (1, 3, 40)]:
        w = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        ref, _ = quant_layer(w, 1, 2, -30, 0.0, 10, 0, 0)
        for scan in (1, 4, 9):  # even an unsupported scan order is ignored there, as in NNCodec
            got, _ = quant_layer(w, 1, 2, -30, 0.0, 10, scan, 0)
            assert np.array_equal(got, ref)
    with pytest.raises(NNRUsageError):
        quant_layer(np.zeros((4, 4), np.float32), 1, 2, -30, 0.0, 10, 5, 0)


def test_urq_half_away_from_zero_in_float32() -> None:
    step = 2.0**-4
    w = (np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997]) * step).astype(np.float32)
    levels, qp = quant_layer(w, 0, 2, -16, 0.0, 10, 0, 0)
    assert levels.tolist() == [1, 2, 3, -1, -2, -3, 0]
    assert qp == -16


def test_dq_outputs_reconstruction_indices() -> None:
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((20, 30)) * 0.1).astype(np.float32)
    levels, _ = quant_layer(w, 1, 2, -30, 0.0, 10, 0, 0)
    step = float(step_size(-30, 2))
    # reconstruction is close to the weights (DQ indices are in units of the step)
    assert np.max(np.abs(levels * step - w)) <= 2 * step
    # replay the DQ state machine: Q0 states reconstruct even indices, Q1 states odd (or 0)
    stt = [0, 2, 7, 5, 1, 3, 6, 4, 2, 0, 5, 7, 3, 1, 4, 6]
    s = 0
    for v in levels.reshape(-1).tolist():
        if v != 0:
            assert (v & 1) == (s & 1)
        k = (abs(v) + (s & 1)) >> 1  # the coded level
        s = stt[2 * s + (k & 1)]


def test_slot_mapping_vectorised_matches_reference() -> None:
    from nnr.quantization import _slots_to_levels
    from nnr.quantization.trellis import dq_no_rate, slots_to_indices

    rng = np.random.default_rng(4)
    w = (rng.standard_normal(3000) * 0.2).astype(np.float32)
    w[:5] = [0.0, -0.0, 1e-9, -1e-9, 0.2]
    step = float(step_size(-30, 2))
    wl = w.astype(np.float64).tolist()
    slots = dq_no_rate(wl, step)
    assert set(slots) <= {0, 1, 2, 3, 4}
    ref = slots_to_indices(wl, 1.0 / step, slots)
    assert _slots_to_levels(w.astype(np.float64), step, slots).tolist() == ref


def test_overflow_qp() -> None:
    w = np.array([3.7e6, -1.0], dtype=np.float32)
    qp = overflow_qp(w, 2)
    step = float(step_size(qp, 2))
    assert 3.7e6 / step < 2**31 - 3
    assert 3.7e6 / float(step_size(qp - 1, 2)) >= 2**31 - 3
    with pytest.raises(NNRUsageError):
        overflow_qp(np.array([np.inf], np.float32), 2)


def test_argument_checks() -> None:
    w = np.zeros((3, 3), np.float32)
    for bad in [dict(dq_flag=2), dict(qp_density=8), dict(max_num_no_rem=-1), dict(general_profile_idc=2)]:
        args: dict[str, Any] = dict(dq_flag=0, qp_density=2, qp=-30, lambda_scale=0.0, max_num_no_rem=10,
                                    scan_order=0, general_profile_idc=0)
        args.update(bad)
        with pytest.raises(NNRUsageError):
            quant_layer(w, **args)
    levels, qp = quant_layer(np.zeros((0, 5), np.float32), 1, 2, -30, 0.0, 10, 0, 0)
    assert levels.shape == (0, 5) and qp == -30
    # float64 input is converted to float32 first, like NNCodec's binding does
    w64 = np.array([[0.123456789, -0.5]], dtype=np.float64)
    assert np.array_equal(quant_layer(w64, 0, 2, -30, 0.0, 10, 0, 0)[0],
                          quant_layer(w64.astype(np.float32), 0, 2, -30, 0.0, 10, 0, 0)[0])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
