"""Generate the NNCodec reference vectors for tests/test_cabac_encoder.py.

Run with the NNCodec 2.1.3 venv (deterministic; rewrites vectors.json next to this file):

    ~/.cache/nnr-peer/nnc-venv/bin/python tests/data/cabac_encoder/generate.py

With ``--oracle`` it instead reads cases (JSON on stdin: a list of {"param_opt", "tensors"} with
the tensor fields of vectors.json, arrays as plain lists) and writes NNCodec's payloads and
entry points as JSON to stdout (used by the live differential test).

Every case is one arithmetic codeword (the payload of one NDU) written by NNCodec's deepCABAC
encoder binding (``deepCABAC.Encoder``: ``iae_v`` for a qp offset, ``initCtxModels``,
``encodeLayer`` / ``encodeLayer2`` (TCA), ``finish``), for integer levels that come either from
NNCodec's own quantizer (``quantLayer``, URQ or the DQ trellis) or from a seeded random
generator.  Stored per case: the settings and levels of each tensor, the payload bytes, the
entry points NNCodec derives (``Decoder.decodeLayerAndCreateEPs``) and the levels NNCodec's
decoder gets back.  NNCodec is only called here, none of its code is used.
"""

from __future__ import annotations

import base64
import json
import os
import zlib

import numpy as np
from nncodec.extensions import deepCABAC

HERE = os.path.dirname(os.path.abspath(__file__))
STT = [0, 2, 7, 5, 1, 3, 6, 4, 2, 0, 5, 7, 3, 1, 4, 6]  # DQ state transitions [2 * s + parity]


def pack(a: np.ndarray | None) -> str | None:
    if a is None:
        return None
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a, dtype="<i4").tobytes(), 9)).decode()


def scan_segments(h: int, w: int, scan: int):
    """(row, x0, x1) segments in coding order (deepcabac.md §8)."""
    if w == 1 or h == 1:
        scan = 0
    bh = h if scan == 0 else 4 << scan
    bw = w if scan == 0 else bh
    for by in range(0, h, bh):
        for bx in range(0, w, bw):
            for y in range(by, min(by + bh, h)):
                yield y, bx, min(bx + bw, w)


def dq_indices(k: np.ndarray, scan: int, skip: list[int] | None) -> np.ndarray:
    """Coded levels k (row-major) -> DQ reconstruction indices, following the decoder's state."""
    h = k.shape[0]
    w = k.size // h
    flat = k.reshape(-1)
    out = np.zeros(flat.size, dtype=np.int64)
    s = 0
    for y, x0, x1 in scan_segments(h, w, scan):
        if skip is not None and skip[y]:
            for _ in range(w):
                s = STT[2 * s]
            continue
        for p in range(y * w + x0, y * w + x1):
            v = int(flat[p])
            out[p] = 2 * v - (s & 1) if v > 0 else (2 * v + (s & 1) if v < 0 else 0)
            s = STT[2 * s + (v & 1)]
    return out.reshape(k.shape)


def quantized(rs: np.random.RandomState, shape, dq: int, scan: int, gpi: int, qp: int,
              zero_rows: float = 0.0, sparsity: float = 0.0) -> np.ndarray:
    """Levels from NNCodec's quantizer for Gaussian weights (some rows / entries zeroed)."""
    w = rs.normal(0.0, 0.05, size=shape).astype(np.float32)
    if sparsity:
        w[rs.random_sample(shape) < sparsity] = 0.0
    if zero_rows:
        for r in range(shape[0]):
            if rs.random_sample() < zero_rows:
                w[r] = 0.0
    q = np.zeros(shape, dtype=np.int32)
    enc = deepCABAC.Encoder()
    enc.initCtxModels(10, 0)
    got = enc.quantLayer(w, q, dq, 2, qp, 0.0, 10, scan, gpi)
    assert got == qp
    return q


def synthetic(rs: np.random.RandomState, shape, kind: str, zero_rows: float = 0.0) -> np.ndarray:
    n = int(np.prod(shape))
    if kind == "zero":
        k = np.zeros(n, dtype=np.int64)
    elif kind == "sparse":
        k = np.where(rs.random_sample(n) < 0.9, 0, rs.randint(-3, 4, size=n))
    elif kind == "dense":
        k = rs.randint(-40, 41, size=n)
    elif kind == "huge":
        big = rs.randint(-(1 << 24), (1 << 24) + 1, size=n)
        k = np.where(rs.random_sample(n) < 0.3, big, rs.randint(-2, 3, size=n))
    else:
        raise ValueError(kind)
    k = k.reshape(shape)
    if zero_rows:
        for r in range(shape[0]):
            if rs.random_sample() < zero_rows:
                k[r] = 0
    return k


def codebook_levels(rs: np.random.RandomState, shape, size: int, zero: int) -> np.ndarray:
    k = rs.randint(-zero, size - zero, size=int(np.prod(shape)))
    k[rs.random_sample(k.size) < 0.4] = 0
    return k.reshape(shape)


def tensor(levels, *, dq=0, scan=0, gpi=0, N=11, pnp=0, row_skip=0, hdsp="off", hist=None, base=None,
           cb_size=0, cb_zero=0, qp_bits=None, qp_offset=0):
    return dict(levels=np.asarray(levels, dtype=np.int64), dq=dq, scan=scan, gpi=gpi, N=N, pnp=pnp,
                row_skip=row_skip, hdsp=hdsp, hist=hist, base=base, cb_size=cb_size, cb_zero=cb_zero,
                qp_bits=qp_bits, qp_offset=qp_offset)


HDSP_MODES = {"off": deepCABAC.HdspMode.AlwaysOff, "toff": deepCABAC.HdspMode.TensorOff,
              "ton": deepCABAC.HdspMode.TensorOn}


def chan_zero_list(t) -> np.ndarray:
    lv = t["levels"]
    if t["gpi"] != 1 or lv.ndim < 2:
        return np.zeros(lv.shape[0], dtype=np.int32)
    return np.array([0 if np.any(lv[r]) else 1 for r in range(lv.shape[0])], dtype=np.int32)


def hist_array(t) -> np.ndarray:
    if t["hist"] is None:
        return np.zeros(2, dtype=np.int8)
    return np.ascontiguousarray(t["hist"], dtype=np.int8)


def nncodec_encode(tensors, param_opt: int) -> bytes:
    enc = deepCABAC.Encoder()
    for t in tensors:
        if t["qp_bits"] is not None:
            enc.iae_v(t["qp_bits"], t["qp_offset"])
        enc.initCtxModels(t["N"], param_opt)
        q = np.ascontiguousarray(t["levels"], dtype=np.int32)
        args = (t["dq"], t["scan"], t["gpi"], t["pnp"], t["row_skip"], chan_zero_list(t),
                HDSP_MODES[t["hdsp"]], hist_array(t), t["cb_size"], t["cb_zero"])
        if t["base"] is not None:
            enc.encodeLayer2(q, np.ascontiguousarray(t["base"], dtype=np.int32), *args)
        else:
            enc.encodeLayer(q, *args)
    return bytes(enc.finish().tobytes())


def nncodec_reparse(payload: bytes, tensors):
    """NNCodec's entry points (value, dq_state, bit_offset per block row 1..), and the levels its
    decoder gets back when it uses them (as it does for a stream with these entry points)."""
    def hdsp_args(t):
        mode = deepCABAC.HdspMode.TensorOn if t["hist"] is not None else deepCABAC.HdspMode.AlwaysOff
        return (t["dq"], t["scan"], t["gpi"], t["pnp"], mode, hist_array(t), t["cb_size"], t["cb_zero"])

    dec = deepCABAC.Decoder()
    dec.setStream(np.frombuffer(payload, dtype=np.uint8).copy())
    packed, eps = [], []
    for t in tensors:
        if t["qp_bits"] is not None:
            assert dec.iae_v(t["qp_bits"]) == t["qp_offset"]
        dec.initCtxModels(t["N"])
        out = np.zeros(t["levels"].shape, dtype=np.int32)
        if t["base"] is not None:
            arr = dec.decodeLayerAndCreateEPs2(out, np.ascontiguousarray(t["base"], dtype=np.int32), *hdsp_args(t))
        else:
            arr = dec.decodeLayerAndCreateEPs(out, *hdsp_args(t))
        arr = np.array(arr, dtype=np.uint64)
        packed.append(arr)
        flat = []
        for e in arr.tolist():
            flat += [(e >> 3) & 255, e & 7, e >> 11]
        eps.append(flat)

    dec = deepCABAC.Decoder()
    dec.setStream(np.frombuffer(payload, dtype=np.uint8).copy())
    decoded = []
    for t, arr in zip(tensors, packed):
        if t["qp_bits"] is not None:
            dec.iae_v(t["qp_bits"])
        dec.initCtxModels(t["N"])
        dec.setEntryPoints(arr)
        out = np.zeros(t["levels"].shape, dtype=np.int32)
        if t["base"] is not None:
            dec.decodeLayer2(out, np.ascontiguousarray(t["base"], dtype=np.int32), *hdsp_args(t))
        else:
            dec.decodeLayer(out, *hdsp_args(t))
        decoded.append(out.astype(np.int64))
    return eps, decoded


def build_cases():
    cases = []

    def add(name, tensors, param_opts=(1,)):
        cases.append((name, tensors, param_opts))

    rs = np.random.RandomState(20240917)
    # -- quantizer output, gpi 0 --------------------------------------------------------------
    for dq in (0, 1):
        for scan in (0, 1, 2, 3, 4):
            shape = [(65, 130), (40, 16, 3, 3), (130, 65), (17, 300), (130, 70)][scan]
            lv = quantized(rs, shape, dq, scan, 0, -22)
            add(f"quant_dq{dq}_scan{scan}", [tensor(lv, dq=dq, scan=scan, qp_bits=8, qp_offset=-22)], (0, 1))
    add("quant_dq1_scan2_N1", [tensor(quantized(rs, (48, 40), 1, 2, 0, -40), dq=1, scan=2, N=1)])
    add("quant_dq0_scan1_N16", [tensor(quantized(rs, (33, 47), 0, 1, 0, -44), scan=1, N=16)])
    add("quant_dq1_scan0_coarse", [tensor(quantized(rs, (20, 30), 1, 0, 0, -12), dq=1)])
    add("quant_1d_bias", [tensor(quantized(rs, (97,), 0, 0, 0, -40), qp_bits=11, qp_offset=-40)])
    add("quant_1xn", [tensor(quantized(rs, (1, 200), 1, 0, 0, -38), dq=1, scan=3)])
    add("quant_nx1", [tensor(quantized(rs, (150, 1), 1, 0, 0, -38), dq=1, scan=2)])
    # -- synthetic levels -------------------------------------------------------------------------
    for kind in ("sparse", "dense", "huge", "zero"):
        for dq in (0, 1):
            shape = (20, 33) if kind == "huge" else (37, 53)
            k = synthetic(rs, shape, kind)
            lv = dq_indices(k, 2, None) if dq else k
            add(f"synth_{kind}_dq{dq}", [tensor(lv, dq=dq, scan=2, N=[1, 4, 11, 16][len(kind) % 4])])
    add("synth_huge_N1_scan0", [tensor(synthetic(rs, (200,), "huge"), N=1)])
    # -- edition 2: row skipping, HDSP, TCA ------------------------------------------------------
    for dq in (0, 1):
        for scan in (0, 1, 3):
            shape = (70, 36)  # W % 4 == 0: NNCodec's trellis agrees with row skipping
            lv = quantized(rs, shape, dq, scan, 1, -38, zero_rows=0.3)
            add(f"rowskip_dq{dq}_scan{scan}", [tensor(lv, dq=dq, scan=scan, gpi=1, row_skip=1)])
    # W % 4 != 0 with a block scan and DQ: NNCodec codes some indices of the wrong parity
    lv = quantized(rs, (40, 30), 1, 1, 1, -38, zero_rows=0.3)
    add("rowskip_dq1_scan1_w30_parity", [tensor(lv, dq=1, scan=1, gpi=1, row_skip=1)])
    # synthetic valid DQ indices with row skipping and W % 4 != 0
    k = synthetic(rs, (45, 21), "sparse", zero_rows=0.3)
    skip = [0 if np.any(k[r]) else 1 for r in range(k.shape[0])]
    add("rowskip_synth_dq1_scan1_w21", [tensor(dq_indices(k, 1, skip), dq=1, scan=1, gpi=1, row_skip=1)])
    for dq in (0, 1):
        shape = (50, 24)
        lv = quantized(rs, shape, dq, 1, 1, -38, sparsity=0.3)
        hist = (rs.random_sample(shape) < 0.5).astype(np.int8)
        add(f"hdsp_on_dq{dq}", [tensor(lv, dq=dq, scan=1, gpi=1, pnp=1, hdsp="ton", hist=hist)])
        add(f"hdsp_toff_dq{dq}", [tensor(lv, dq=dq, scan=1, gpi=1, pnp=1, hdsp="toff", hist=hist)])
        base = rs.randint(-3, 4, size=shape)
        add(f"tca_dq{dq}", [tensor(lv, dq=dq, scan=1, gpi=1, pnp=1, base=base, row_skip=1)])
        lv2 = quantized(rs, shape, dq, 2, 1, -38, sparsity=0.3)
        add(f"tca_hdsp_dq{dq}", [tensor(lv2, dq=dq, scan=2, gpi=1, pnp=1, base=base, hdsp="ton", hist=hist, N=3)])
    add("gpi1_pnp0_plain", [tensor(quantized(rs, (30, 40), 1, 0, 1, -38), dq=1, gpi=1)])
    # -- codebooks (gpi 1) ----------------------------------------------------------------------
    for size, zero in ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (17, 0), (17, 8), (17, 16), (17, 3)):
        shape = (24, 20)
        lv = codebook_levels(rs, shape, size, zero)
        add(f"codebook_s{size}_z{zero}", [tensor(lv, gpi=1, cb_size=size, cb_zero=zero, scan=1, N=[1, 2, 11][zero % 3], row_skip=1)])
    lv = codebook_levels(rs, (30, 20), 17, 8)
    add("codebook_s17_z8_tca", [tensor(lv, gpi=1, pnp=1, cb_size=17, cb_zero=8, base=rs.randint(-2, 3, size=(30, 20)), N=4)])
    # -- several tensors in one codeword (like PT_BLOCK) -------------------------------------------
    add("multi_block", [
        tensor(quantized(rs, (64,), 1, 0, 0, -40), dq=1, qp_bits=8, qp_offset=-40),
        tensor(quantized(rs, (64,), 1, 0, 0, -42), dq=1, qp_bits=8, qp_offset=-42),
        tensor(quantized(rs, (64, 3, 3, 3), 1, 2, 0, -38), dq=1, scan=2, qp_bits=8, qp_offset=-38),
    ])
    add("multi_gpi1", [
        tensor(quantized(rs, (40,), 0, 0, 1, -40), gpi=1, qp_bits=8, qp_offset=-40),
        tensor(quantized(rs, (40, 50), 0, 1, 1, -38, zero_rows=0.2), gpi=1, scan=1, row_skip=1, qp_bits=8, qp_offset=-38),
    ], (0,))
    return cases


def main() -> None:
    out = []
    total = 0
    for name, tensors, param_opts in build_cases():
        rec = {"name": name, "runs": [], "tensors": []}
        for t in tensors:
            rec["tensors"].append({
                "shape": list(t["levels"].shape), "dq": t["dq"], "scan": t["scan"], "gpi": t["gpi"], "N": t["N"],
                "pnp": t["pnp"], "row_skip": t["row_skip"], "hdsp": t["hdsp"], "cb_size": t["cb_size"],
                "cb_zero": t["cb_zero"], "qp_bits": t["qp_bits"], "qp_offset": t["qp_offset"],
                "levels": pack(t["levels"]), "hist": pack(t["hist"]), "base": pack(t["base"]),
            })
        for param_opt in param_opts:
            payload = nncodec_encode(tensors, param_opt)
            eps, decoded = nncodec_reparse(payload, tensors)
            rec["runs"].append({
                "param_opt": param_opt,
                "payload": base64.b64encode(payload).decode(),
                "nncodec_entry_points": [[int(x) for x in ep] for ep in eps],
                "nncodec_decoded_equal": [bool(np.array_equal(d, t["levels"])) for t, d in zip(tensors, decoded)],
            })
            total += len(payload)
        out.append(rec)
    path = os.path.join(HERE, "vectors.json")
    with open(path, "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(r, sort_keys=True) for r in out) + "\n]\n")
    print(f"{len(out)} cases, {total} payload bytes, {os.path.getsize(path)} bytes in {path}")


def oracle() -> None:
    import sys

    def arr(x, dtype):
        return None if x is None else np.asarray(x, dtype=dtype)

    results = []
    for case in json.load(sys.stdin):
        tensors = [
            tensor(np.asarray(t["levels"], dtype=np.int64).reshape(t["shape"]), dq=t["dq"], scan=t["scan"],
                   gpi=t["gpi"], N=t["N"], pnp=t["pnp"], row_skip=t["row_skip"], hdsp=t["hdsp"],
                   hist=arr(t["hist"], np.int8), base=arr(t["base"], np.int64), cb_size=t["cb_size"],
                   cb_zero=t["cb_zero"], qp_bits=t["qp_bits"], qp_offset=t["qp_offset"])
            for t in case["tensors"]
        ]
        payload = nncodec_encode(tensors, case["param_opt"])
        eps, decoded = nncodec_reparse(payload, tensors)
        results.append({"payload": payload.hex(), "entry_points": eps,
                        "decoded_equal": [bool(np.array_equal(d, t["levels"])) for t, d in zip(tensors, decoded)]})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    import sys

    if "--oracle" in sys.argv:
        oracle()
    else:
        main()
