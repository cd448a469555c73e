"""Random encoder cases (parameter dicts + NNCodec ``compress`` settings) for the encoder tests.

Deterministic for a given (n, seed): inputs come from ``numpy.random.RandomState`` and settings
from ``random.Random``, both stable across library versions, so stored expectations
(``live_vectors.json``) stay valid.  Used by tests/test_encoder_live.py (against NNCodec) and
tests/test_encoder.py (against the stored NNCodec results).
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np


def _tensor(rng: np.random.RandomState, shape: tuple[int, ...], kind: str) -> np.ndarray:
    scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))
    w = rng.randn(*shape).astype(np.float32) * np.float32(scale)
    if kind == "sparse":
        w[rng.random_sample(shape) < 0.7] = 0
    elif kind == "rows" and len(shape) > 1:
        for r in range(shape[0]):
            if rng.random_sample() < 0.4:
                w[r] = 0
    elif kind == "few":
        vals = (rng.randn(5) * scale).astype(np.float32)
        w = vals[rng.randint(0, 5, size=shape)]
    elif kind == "zero":
        w = np.zeros(shape, np.float32)
    elif kind == "int":
        return rng.randint(-300, 300, size=shape).astype(np.int32)
    return np.ascontiguousarray(w, dtype=np.float32)


SHAPES = [(37,), (6,), (1,), (8, 8), (20, 12), (33, 17), (1, 40), (40, 1), (12, 3, 3, 3), (70, 9), (5, 4, 6)]


def _dict(rng: np.random.RandomState, blocks: bool) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    if blocks:
        oc, ic = int(rng.randint(4, 20)), int(rng.randint(2, 6))
        d = {"conv.weight": _tensor(rng, (oc, ic, 3, 3), "normal"), "conv.bias": _tensor(rng, (oc,), "normal"),
             "bn.weight": (1 + rng.randn(oc) * 0.1).astype(np.float32), "bn.bias": _tensor(rng, (oc,), "normal"),
             "bn.running_mean": _tensor(rng, (oc,), "normal"),
             "bn.running_var": (1 + abs(rng.randn(oc)) * 0.2).astype(np.float32),
             "fc.weight": _tensor(rng, (10, oc), "normal"), "fc.bias": _tensor(rng, (10,), "normal")}
        spec = {"block_identifier": {"conv.weight": "c", "conv.bias": "c", "bn.weight": "c", "bn.bias": "c",
                                     "bn.running_mean": "c", "bn.running_var": "c", "fc.weight": "f", "fc.bias": "f"},
                "parameter_type": {"conv.weight": "weight", "conv.bias": "bias", "bn.weight": "bn.gamma",
                                   "bn.bias": "bn.beta", "bn.running_mean": "bn.mean", "bn.running_var": "bn.var",
                                   "fc.weight": "weight", "fc.bias": "bias"}}
        return d, spec
    d = {}
    for i in range(int(rng.randint(1, 4))):
        shape = SHAPES[rng.randint(len(SHAPES))]
        kind = ["normal", "sparse", "rows", "few", "zero", "int"][rng.choice(6, p=[.35, .15, .2, .15, .05, .1])]
        d[f"t{i}"] = _tensor(rng, shape, kind)
    return d, None


def _settings(rng: random.Random, blocks: bool) -> dict[str, Any]:
    qpd = rng.choice([0, 1, 2, 2, 2, 3, 5])
    k = 1 << qpd
    kw: dict[str, Any] = {"qp_density": qpd, "qp": int(round(rng.uniform(-11, -4) * k)),
                          "use_dq": rng.random() < 0.6, "scan_order": rng.choice([0, 0, 1, 2, 3, 4]),
                          "cabac_unary_length_minus1": rng.choice([10, 10, 0, 1, 3, 20]),
                          "row_skipping": rng.random() < 0.4, "param_opt": rng.random() < 0.8}
    kw["nonweight_qp"] = rng.choice([None, kw["qp"] - 2 * k, int(round(rng.uniform(-14, -6) * k))])
    r = rng.random()
    if r < 0.15:
        kw["codebook_mode"] = rng.choice([1, 2])
    elif r < 0.25:
        kw["int_quant_bw"] = rng.choice([4, 6, 8, 12, 16])
    elif r < 0.32:
        kw["opt_qp"] = True
    elif r < 0.40:
        kw["lambda_scale"] = rng.choice([0.5, 1.0, 2.0])
    if blocks and rng.random() < 0.5:
        kw["bnf"] = True
    return kw


def make_cases(n: int, seed: int, tmp: str) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    cases = []
    for i in range(n):
        rng = np.random.RandomState(rnd.randrange(2**31))
        seq = rnd.random() < 0.3
        blocks = (not seq) and rnd.random() < 0.2
        kw = _settings(rnd, blocks)
        nsteps = rnd.randint(2, 4) if seq else 1
        d0, spec = _dict(rng, blocks)
        if spec is not None:
            kw["block_id_and_param_type"] = spec
        paths, kws = [], []
        for j in range(nsteps):
            d = d0 if j == 0 else {k: (_tensor(rng, v.shape, "rows") if v.dtype == np.float32 else v)
                                   for k, v in d0.items()}
            p = os.path.join(tmp, f"c{i}_{j}.npz")
            np.savez(p, **d)
            paths.append(p)
            step = dict(kw)
            if seq:
                step.update(compress_differences=True, tca=rnd.random() < 0.7)
            kws.append(step)
        cases.append({"npz": paths, "kwargs": kws, "api": "compress", "sequence": seq,
                      "hdsp": seq and rnd.random() < 0.6, "device_id": 0, "tmp": tmp})
    return cases




def load(path: str) -> dict[str, np.ndarray]:
    z = np.load(path)
    return {k: z[k] for k in z.files}


def ours(c: dict[str, Any]) -> list[bytes]:
    """nnr's streams for a case (through the NNCodec drop-in, state carried like the oracle)."""
    from nnr.nncodec import HdspTool, new_approx_param_base, nnc

    base = new_approx_param_base() if c["sequence"] else None
    tool = HdspTool(True) if c["hdsp"] else None
    out = []
    for path, kw in zip(c["npz"], c["kwargs"]):
        extra: dict[str, Any] = {}
        if base is not None:
            extra = dict(approx_param_base=base, update_base_param=True, hdsp_tool=tool)
        out.append(bytes(nnc.compress(load(path), return_bitstream=True, **kw, **extra)))
    return out


def decodes_as_encoded(c: dict[str, Any], streams: list[bytes]) -> bool:
    """nnr's decoder, carrying its state over ``streams``, ends each stream with the integer levels
    nnr's encoder kept for it (the encoder reports what the stream decodes to)."""
    import numpy as np

    from nnr.nncodec import HdspTool, new_approx_param_base, nnc

    enc = new_approx_param_base()
    dec = new_approx_param_base()
    tool = HdspTool(True) if c["hdsp"] else None
    dtool = HdspTool(True) if c["hdsp"] else None
    for path, kw, s in zip(c["npz"], c["kwargs"], streams):
        got = bytes(nnc.compress(load(path), return_bitstream=True, **kw, approx_param_base=enc,
                                 update_base_param=True, hdsp_tool=tool))
        if got != s:
            return False
        extra: dict[str, Any] = {"hdsp_tool": dtool, "return_hls": True} if dtool is not None else {}
        nnc.decompress(bytearray(s), approx_param_base=dec, update_base_param=True, **extra)
        for name, v in enc["parameters"].items():
            if name in dec["parameters"] and not np.array_equal(np.asarray(v).reshape(-1),
                                                                np.asarray(dec["parameters"][name]).reshape(-1)):
                return False
    return True


def nncodec_dq_clipping_case(c: dict[str, Any]) -> bool:
    """A sequence whose TCA base NNCodec 2.1.3 takes from clipped DQ indices (docs/deviations.rst):
    from its second stream on, nnr's bytes may differ (nnr keeps what the stream decodes to)."""
    kw = c["kwargs"][0]
    return bool(c["sequence"] and kw.get("int_quant_bw") and kw.get("use_dq", True) and kw.get("tca"))
