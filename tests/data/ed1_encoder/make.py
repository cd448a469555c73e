"""Build tests/data/ed1_encoder/ (golden vectors of test_ed1_encoder.py).

Stage 1 (nnr's python) draws tensors and settings, encodes them with nnr at general_profile_idc 0
and keeps the streams; stage 2 (NNCodec 0.3.1's python) decodes every stream with NNCodec 0.3.1
and records the sha256 of each tensor it returns (float32 / int32 bytes; its float64 codebook
tensors cast to float32, exactly).  Stage 3 (nnr's python) writes ``cases.json`` (settings, the
sha256 of nnr's stream, 0.3.1's tensor hashes) and ``inputs.npz`` for the cases both agree on::

    python tests/data/ed1_encoder/make.py encode WORK [COUNT] [SEED]   (60 11, then 20 12)
    /work/peers/nnc03-venv/bin/python tests/data/ed1_encoder/make.py decode WORK
    python tests/data/ed1_encoder/make.py write WORK
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _npz(path: str, d: dict) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for k, v in d.items():
            with z.open(f"{k}.npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(v), allow_pickle=False)


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def draw_block(rng: np.random.Generator) -> tuple[dict, dict]:
    """A PT_BLOCK (weight + bias, + local scaling or batch-norm) with a block scan, one or several
    block rows (NNCodec 0.3.1's own encoder writes wrong entry points for the latter; its decoder
    reads nnr's)."""
    scan = int(rng.choice([1, 2, 3, 4]))
    c, w = int(rng.integers(2, 3 * (4 << scan))), int(rng.integers(2, 60))
    inputs = {"c.weight": rng.normal(0, 0.05, (c, w)).astype(np.float32)}
    bid, pt = {"c.weight": "c"}, {"c.weight": "weight"}
    extra = {"ls": [("c.weight_scaling", "weight.ls")],
             "bn": [("bn.weight", "bn.gamma"), ("bn.bias", "bn.beta"), ("bn.running_mean", "bn.mean"),
                    ("bn.running_var", "bn.var")], "bias": []}[str(rng.choice(["bias", "bn", "ls"]))]
    for nm, t in extra + [("c.bias", "bias")]:
        inputs[nm] = (1 + np.abs(rng.normal(0, 0.1, c))).astype(np.float32)
        bid[nm], pt[nm] = "c", t
    kw = dict(general_profile_idc=0, scan_order=scan, use_dq=bool(rng.random() < 0.5),
              param_opt=bool(rng.random() < 0.5), block_id_and_param_type={"block_identifier": bid, "parameter_type": pt})
    return kw, inputs


def draw(seed: int, i: int) -> tuple[dict, dict]:
    """Settings and tensors of case ``i``: URQ / DQ, param_opt on / off, scan orders 0-4 with one
    and several block rows, codebooks, int tensors, unary lengths, QP densities, RDOQ; with seed
    12, blocks (:func:`draw_block`)."""
    rng = np.random.default_rng([seed, i])
    if seed == 12:
        return draw_block(rng)
    qpd = int(rng.choice([0, 1, 2, 2, 3, 5]))
    qp = int(rng.integers(-30, -4) * (1 << qpd) // 2)
    scan = int(rng.choice([0, 1, 2, 3, 4]))
    kw: dict = dict(qp=qp, qp_density=qpd, use_dq=bool(rng.random() < 0.5), scan_order=scan,
                    param_opt=bool(rng.random() < 0.5), cabac_unary_length_minus1=int(rng.choice([0, 1, 3, 10, 20])),
                    general_profile_idc=0,
                    nonweight_qp=None if rng.random() < 0.5 else int(qp - rng.integers(0, 8)))
    if rng.random() < 0.2:
        kw["codebook_mode"] = int(rng.choice([1, 2]))
    if rng.random() < 0.15:
        kw["lambda_scale"] = 0.5
    b = 4 << scan if scan else 16
    inputs: dict = {}
    for t in range(int(rng.integers(1, 4))):
        multi = rng.random() < 0.5
        h = int(rng.integers(b + 1, 3 * b)) if multi else int(rng.integers(2, b + 1))
        shape: tuple = (h, int(rng.integers(2, 70))) if rng.random() < 0.7 else (h, int(rng.integers(1, 6)), 3, 3)
        if rng.random() < 0.15:
            shape = (int(rng.integers(1, 200)),)
        if rng.random() < 0.15:
            inputs[f"i{t}"] = rng.integers(-1000, 1000, shape).astype(np.int32)
        else:
            inputs[f"t{t}.weight"] = rng.normal(0, float(rng.choice([0.02, 0.1, 1.0])), shape).astype(np.float32)
    if rng.random() < 0.3:
        inputs["t0.bias"] = rng.normal(0, 0.1, (int(rng.integers(2, 40)),)).astype(np.float32)
    return kw, inputs


def encode(work: str, count: int, seed: int) -> None:
    import nnr

    os.makedirs(work, exist_ok=True)
    cases = []
    if os.path.exists(os.path.join(work, "cases.json")):  # several seeds: appended
        with open(os.path.join(work, "cases.json")) as f:
            cases = json.load(f)
    for i in range(count):
        kw, inputs = draw(seed, i)
        name = f"ENC_{seed}_{i:03d}"
        data = nnr.encode(inputs, **kw)
        with open(os.path.join(work, name + ".nnc"), "wb") as f:
            f.write(data)
        _npz(os.path.join(work, name + ".input.npz"), inputs)
        cases.append({"name": name, "settings": kw, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    with open(os.path.join(work, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


def decode(work: str) -> None:
    from nnc import compression  # NNCodec 0.3.1

    with open(os.path.join(work, "cases.json")) as f:
        cases = json.load(f)
    for c in cases:
        with open(os.path.join(work, c["name"] + ".nnc"), "rb") as f:
            data = bytearray(f.read())
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                dec = compression.decompress(data, reconstruct_lsa=False, reconstruct_bnf=False, verbose=False)
        except BaseException as e:  # noqa: BLE001
            c["nncodec_0_3_1"] = {"error": f"{type(e).__name__}: {str(e).strip()[:200]}"}
            continue
        out = {}
        for k, v in dec.items():
            a = np.asarray(v)
            a = a.astype(np.float32) if a.dtype.kind == "f" else a.astype(np.int32)
            out[k] = {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": _sha(a)}
        c["nncodec_0_3_1"] = out
    with open(os.path.join(work, "decoded.json"), "w") as f:
        json.dump(cases, f, indent=1)


def write(work: str) -> None:
    with open(os.path.join(work, "decoded.json")) as f:
        cases = json.load(f)
    keep = [c for c in cases if "error" not in c["nncodec_0_3_1"]]
    inputs = {}
    for c in keep:
        with np.load(os.path.join(work, c["name"] + ".input.npz")) as z:
            for k in z.files:
                inputs[f"{c['name']}/{k}"] = z[k]
    _npz(os.path.join(HERE, "inputs.npz"), inputs)
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump({"writer": "nnr (general_profile_idc 0, edition-1 rules)",
                   "decoder": "NNCodec 0.3.1 nnc.decompress(reconstruct_lsa=False, reconstruct_bnf=False)",
                   "failed_in_0_3_1": [c["name"] for c in cases if "error" in c["nncodec_0_3_1"]],
                   "cases": keep}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    cmd, work = sys.argv[1], sys.argv[2]
    if cmd == "encode":
        encode(work, int(sys.argv[3]) if len(sys.argv) > 3 else 60, int(sys.argv[4]) if len(sys.argv) > 4 else 11)
    elif cmd == "decode":
        decode(work)
    else:
        write(work)
