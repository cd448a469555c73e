"""Generate the NNCodec reference vectors for tests/test_quantization.py.

Run with the NNCodec 2.1.3 venv (deterministic; rewrites vectors.json next to this file):

    ~/.cache/nnr-peer/nnc-venv/bin/python tests/data/quantization/generate.py

With ``--oracle IN OUT`` it instead reads cases from the JSON file IN (the format of
vectors.json, without results) and writes NNCodec's results in the same format to OUT (used by
the live differential test).

Every case is one call of NNCodec's quantizer binding, as its approximator
(nnc_core/approximator/baseline.py) makes it::

    deepCABAC.Encoder().quantLayer(weights, levels_out, dq_flag, qp_density, qp, lambda_scale,
                                   cabac_unary_length_minus1, scan_order, general_profile_idc)

File format (JSON): ``tensors``: list of {"shape", "data"} (float32 little-endian, zlib,
base64); ``cases``: list of {"t" (tensor index), "dq", "qpd", "qp", "lam", "nrem", "scan",
"gpi"} plus the results "levels" (int32 LE, zlib, base64), "qp_out", or "error" when NNCodec
raised.  NNCodec is only called here, none of its code is used.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "vectors.json")


def pack(a: np.ndarray, dtype: str) -> str:
    """4-byte values -> byte planes (all first bytes, then all second bytes, ...) -> zlib -> base64.

    int32 levels are zigzag-mapped first (v >= 0 -> 2v, v < 0 -> -2v - 1)."""
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


def run_nncodec(tensors: list[dict], cases: list[dict]) -> None:
    from nncodec.extensions import deepCABAC

    arrays = [unpack(t["data"], "<f4", t["shape"]).astype(np.float32) for t in tensors]
    for c in cases:
        w = np.ascontiguousarray(arrays[c["t"]])
        q = np.zeros(w.shape, dtype=np.int32)
        try:
            qp = deepCABAC.Encoder().quantLayer(
                w, q, c["dq"], c["qpd"], c["qp"], c["lam"], c["nrem"], c["scan"], c["gpi"]
            )
        except Exception as e:  # NNCodec's CHECK (e.g. "Prevention of integer-overflow failed!")
            c["error"] = str(e).strip().splitlines()[-1]
            continue
        c["levels"] = pack(q, "<i4")
        c["qp_out"] = int(qp)


def qp_for(sigma: float, qpd: int, steps_per_sigma: float) -> int:
    """A QP whose step is about sigma / steps_per_sigma."""
    k = 1 << qpd
    return int(math.floor(math.log2(sigma / steps_per_sigma) * k))


def build() -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(20251128)
    tensors: list[dict] = []
    cases: list[dict] = []

    def add_tensor(a: np.ndarray) -> int:
        a = np.ascontiguousarray(a, dtype=np.float32)
        tensors.append({"shape": list(a.shape), "data": pack(a, "<f4")})
        return len(tensors) - 1

    def add(t: int, dq: int, qpd: int, qp: int, lam: float, nrem: int = 10, scan: int = 0, gpi: int = 0) -> None:
        cases.append({"t": t, "dq": dq, "qpd": qpd, "qp": qp, "lam": lam, "nrem": nrem, "scan": scan, "gpi": gpi})

    lams = [0.0, 0.1, 1.0, 2.5, 10.0]

    # 1. N(0, sigma) tensors of many shapes, random settings (each tensor several times)
    shapes = [(257,), (1000,), (37, 53), (6, 5, 3, 3), (8, 4, 3, 3), (1, 300), (300, 1), (1, 7, 9), (19, 1, 1),
              (45, 70), (20, 33), (64, 64), (17, 200), (9, 8), (70, 45)]
    for shape in shapes:
        sigma = float(10.0 ** rng.uniform(-3, 0.5))
        t = add_tensor(rng.standard_normal(shape) * sigma)
        for _ in range(8):
            qpd = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7]))
            add(t, int(rng.integers(0, 2)), qpd, qp_for(sigma, qpd, float(rng.uniform(2, 25))),
                float(rng.choice(lams)), int(rng.integers(0, 16)), int(rng.integers(0, 5)), int(rng.integers(0, 2)))

    # 2. a 65 x 130 tensor over the full grid dq x lambda x scan order (qp_density 2, 5, 0)
    sigma = 0.05
    t = add_tensor(rng.standard_normal((65, 130)) * sigma)
    for dq in (0, 1):
        for lam in (0.0, 1.0):
            for scan in range(5):
                qpd = (2, 5, 0, 2, 5)[scan]
                add(t, dq, qpd, qp_for(sigma, qpd, 6), lam, 10, scan, scan & 1)

    # 3. a 300 x 200 tensor (coarse precision so that it compresses), DQ and URQ
    sigma = 0.02
    big = (rng.standard_normal((300, 200)) * sigma).astype(np.float16).astype(np.float32)
    t = add_tensor(big)
    add(t, 1, 2, qp_for(sigma, 2, 4), 0.0, 10, 0, 0)
    add(t, 1, 2, qp_for(sigma, 2, 4), 0.0, 10, 3, 1)
    add(t, 0, 3, qp_for(sigma, 3, 3), 1.0, 10, 1, 0)

    # 4. sparse tensors (80 % zeros), a few outliers
    for shape in ((40, 70), (3, 8, 5, 5)):
        sigma = 0.05
        a = rng.standard_normal(shape) * sigma
        a[rng.random(shape) < 0.8] = 0
        a.reshape(-1)[rng.integers(0, a.size, 3)] *= 30
        t = add_tensor(a)
        for dq in (0, 1):
            for lam in (0.0, 2.0):
                add(t, dq, 2, qp_for(sigma, 2, 10), lam, 10, 1 + dq, dq)

    # 5. exact ties at half steps and quarter steps (step 2^-4 with qp -16, qp_density 2)
    ties = (np.arange(-40, 41) + 0.5) * 2.0**-4
    quarters = np.arange(-120, 121) * 0.25 * 2.0**-4
    for a in (ties, ties.reshape(9, 9), quarters, quarters[:240].reshape(12, 20)):
        t = add_tensor(a)
        for dq in (0, 1):
            for lam in (0.0, 1.0):
                add(t, dq, 2, -16, lam, 10, 1, 0)

    # random multiples of a quarter step: ties between candidates everywhere (e.g. |w| = 2 steps
    # costs the same as index 4 and as zero in the DQ search)
    for shape in ((2000,), (40, 50)):
        a = rng.integers(-12, 13, size=shape) * 0.25 * 2.0**-4
        t = add_tensor(a)
        for dq in (0, 1):
            for lam in (0.0, 1.0):
                add(t, dq, 2, -16, lam, 10, 2, 0)

    # 6. huge values forcing the QP increase (int32 overflow of |w| / step)
    for qpd in (0, 2, 5, 7):
        a = rng.standard_normal((30, 20)) * 1e3
        a[3, 4] = 3.7e6
        t = add_tensor(a)
        b = rng.standard_normal(50) * 0.5
        b[7] = -123456.789
        t2 = add_tensor(b)
        for dq in (0, 1):
            for lam in (0.0, 1.0):
                add(t, dq, qpd, -(40 << qpd) >> 2, lam, 10, 2, 0)
                add(t2, dq, qpd, -20 * (1 << qpd), lam, 10, 0, 0)

    # 7. the int32 bounds themselves (step 1): which side of 2^31 passes differs per quantizer
    for v in (2147483520.0, 2147483648.0, -2147483648.0, -2147483520.0, -2147483904.0, 1e9, -1e9, 5e9):
        t = add_tensor(np.array([v, 1.0, -3.0, 0.5, -0.0]))
        for dq in (0, 1):
            for lam in (0.0, 1.0):
                add(t, dq, 0, 0, lam)

    # 8. all zero, negative zero, a scalar, one element
    for a in (np.zeros((12, 12)), np.full((5, 7), -0.0), np.array(0.3), np.array([-0.7])):
        t = add_tensor(a)
        for dq in (0, 1):
            for lam in (0.0, 1.0):
                add(t, dq, 3, -30, lam, 10, 1, 0)

    # 9. large levels: the remainder binarization in the rate estimate, any number of gtx flags
    a = rng.standard_normal((16, 24)) * 50
    t = add_tensor(a)
    for nrem in (0, 1, 2, 31):
        for dq in (0, 1):
            for lam in (1e-6, 0.05, 1.0, 100.0, 1e6):
                add(t, dq, 1, -4, lam, nrem, 1, 0)

    # 10. NaN with URQ (C's conversion of NaN), infinity (NNCodec gives up), tiny steps
    a = rng.standard_normal(20) * 0.1
    a[[3, 11]] = np.nan
    t = add_tensor(a)
    add(t, 0, 2, -30, 0.0)
    add(t, 0, 2, -30, 1.0)
    t = add_tensor(np.array([1.0, np.inf, -2.0]))
    add(t, 0, 2, -30, 0.0)
    add(t, 1, 2, -30, 0.0)
    t = add_tensor(np.array([0.0, 1.0, -2.0]))
    add(t, 0, 0, -200, 0.0)  # step underflows to 0: the QP increase cannot help
    t = add_tensor(np.array([0.0, 0.0]))
    add(t, 0, 0, -200, 0.0)  # 0 * inf = NaN levels
    add(t, 0, 0, -200, 1.0)
    t = add_tensor(np.array([1e-30, -3e-38]))
    add(t, 0, 0, -130, 0.0)
    add(t, 0, 0, -130, 1.0)

    return tensors, cases


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--oracle":
        with open(sys.argv[2]) as f:
            doc = json.load(f)
        run_nncodec(doc["tensors"], doc["cases"])
        with open(sys.argv[3], "w") as f:
            json.dump(doc, f)
        return
    tensors, cases = build()
    run_nncodec(tensors, cases)
    with open(OUT, "w") as f:
        json.dump({"generator": "NNCodec 2.1.3 deepCABAC.Encoder.quantLayer", "tensors": tensors, "cases": cases},
                  f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"{len(cases)} cases, {len(tensors)} tensors -> {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
