"""Generate the test vectors of tests/test_nncodec_dropin.py with NNCodec 2.1.3.

Run with the Python that has NNCodec installed (not nnr's)::

    /path/to/nnc-venv/bin/python tests/data_gen/gen_nncodec_dropin.py

Writes into tests/data/nncodec_dropin/:

* ``<case>.nnc``                 the bitstreams (NNCodec's encoder, fixed random seeds)
* ``expected.npz``               every expected array once (the manifest names its key)
* ``expected.json``              per case and call: the output key order, dtypes and shapes, the
                                 HLS / model-information dicts (arrays tagged), state dicts and
                                 HDSP histories (arrays stored in expected.npz)

Everything is deterministic: same NNCodec, same files.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tempfile

import numpy as np

from nncodec import nn, nnc, tensor
from nncodec.nnc_core.hdsp.hdsp_tool import HdspTool

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "nncodec_dropin")
TMP = tempfile.mkdtemp(prefix="nncgen_")

arrays: dict[str, np.ndarray] = {}
manifest: dict[str, dict] = {}
_seen: dict[tuple, str] = {}


def store(key: str, v: np.ndarray) -> str:
    """Put an array into expected.npz once; identical arrays share one entry."""
    ident = (v.dtype.str, v.shape, v.tobytes())
    if ident not in _seen:
        _seen[ident] = key
        arrays[key] = v.copy()  # a snapshot: NNCodec updates histories in place
    return _seen[ident]


def tag(x):
    """JSON form of NNCodec's dict values: arrays and numpy scalars are tagged with their dtype."""
    if isinstance(x, np.ndarray):
        return {"__ndarray__": x.dtype.str, "shape": list(x.shape), "data": x.reshape(-1).tolist()}
    if isinstance(x, np.generic):
        return {"__npscalar__": x.dtype.str, "data": x.item()}
    if isinstance(x, dict):
        return {"__dict__": [[k, tag(v)] for k, v in x.items()]}
    if isinstance(x, (list, tuple)):
        return [tag(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, (int, float, str)):
        return x
    if hasattr(x, "value") and isinstance(getattr(x, "value"), int):  # enums
        return int(x.value)
    raise TypeError(f"cannot tag {type(x)}")


def put_params(prefix: str, params: dict) -> dict:
    """Store an output dict: arrays in the npz, (name, dtype, shape) list in the manifest."""
    desc = []
    for k, v in params.items():
        assert isinstance(v, np.ndarray), (k, type(v))
        desc.append([k, v.dtype.str, list(v.shape), store(f"{prefix}/{k}", v)])
    return {"outputs": desc}


def put_state(prefix: str, state: dict) -> dict:
    d = {"device_id": state["device_id"], "put_node_depth": [[k, v, type(v).__name__] for k, v in state["put_node_depth"].items()],
         "parameter_id": [[k, v, type(v).__name__] for k, v in state["parameter_id"].items()],
         "parameters": [], "keys": list(state.keys()), "device_id_type": type(state["device_id"]).__name__}
    for k, v in state["parameters"].items():
        d["parameters"].append([k, v.dtype.str, list(v.shape), store(f"{prefix}/state/{k}", v)])
    return d


def put_hist(prefix: str, tool: HdspTool) -> list:
    out = []
    for k, v in tool.data_hist.items():
        out.append([k, v.dtype.str, list(v.shape), store(f"{prefix}/hist/{k}", v)])
    return out


def write_stream(case: str, bs: bytearray) -> None:
    with open(os.path.join(OUT, case + ".nnc"), "wb") as f:
        f.write(bytes(bs))


def new_state() -> dict:
    return {"parameters": {}, "put_node_depth": {}, "device_id": 0, "parameter_id": {}}


# ---------------------------------------------------------------------------------------------
rng = np.random.default_rng(20240517)


def f32(*shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def quiet(fn, *a, **k):
    """NNCodec prints progress; keep the generator's output readable."""
    import io
    import contextlib
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **k)


# 1. tensor.encode / tensor.decode ------------------------------------------------------------
tensor_cases = {
    "tensor_float": (f32(8, 12), {"results": TMP}, "0"),
    "tensor_float_id": (f32(6, 5, 3), {"results": TMP, "tensor_id": "layer.w", "qp": -40, "use_dq": False}, "layer.w"),
    "tensor_vector": (f32(17), {"results": TMP, "qp": -36}, "0"),
    "tensor_int": (rng.integers(-300, 300, size=(7, 9)).astype(np.int32), {"results": TMP}, "0"),
    # few distinct values: NNCodec's codebook mode 2 (best of codebook / uniform) picks the codebook
    "tensor_codebook": (rng.choice(np.array([-1.5, -0.3, 0.2, 0.9, 2.7], dtype=np.float32), size=(16, 12)),
                        {"results": TMP, "approx_method": "codebook", "qp": -30}, "0"),
}
for case, (t, args, tid) in tensor_cases.items():
    bs = quiet(tensor.encode, t, args=args)
    write_stream(case, bs)
    calls = {}
    out = tensor.decode(bytearray(bs), tensor_id=tid)
    calls["decode"] = put_params(f"{case}/decode", {tid: out})
    out2, hls = tensor.decode(bytearray(bs), tensor_id=tid, return_hls=True)
    calls["decode_hls"] = put_params(f"{case}/decode_hls", {tid: out2})
    calls["decode_hls"]["hls"] = tag(hls)
    manifest[case] = {"kind": "tensor", "tensor_id": tid, "calls": calls}

# 2. nn.encode with a dict of layers; nn.decode with bnf / lsa on and off --------------------
layers = {
    "features.0.weight": f32(6, 3, 3, 3, scale=0.3),
    "features.0.bias": f32(6, scale=0.1),
    "features.1.weight": f32(12, 6, 3, 3, scale=0.2),
    "classifier.weight": f32(10, 48, scale=0.1),
    "classifier.bias": f32(10, scale=0.05),
    "step": np.array([3, 1, 4, 1, 5], dtype=np.int32),
}
bs = quiet(nn.encode, copy.deepcopy(layers), args={"results": TMP, "verbose": False, "qp": -38})
write_stream("nn_dict", bs)
calls = {}
for name, args in [("none", None), ("empty", {}), ("bnf", {"bnf": True}), ("lsa", {"lsa": True}),
                   ("bnf_lsa", {"bnf": True, "lsa": True})]:
    out = quiet(nn.decode, bytearray(bs), args)
    calls[name] = put_params(f"nn_dict/{name}", out)
    calls[name]["args"] = args
manifest["nn_dict"] = {"kind": "nn", "calls": calls}

# 3. nnc.compress / decompress with PT_BLOCK --------------------------------------------------
bparams = {
    "conv.weight": f32(8, 3, 3, 3, scale=0.3),
    "conv.bias": f32(8, scale=0.1),
    "bn.weight": (1.0 + f32(8, scale=0.1)).astype(np.float32),
    "bn.bias": f32(8, scale=0.1),
    "bn.running_mean": f32(8, scale=0.1),
    "bn.running_var": (np.abs(f32(8)) + 0.5).astype(np.float32),
    "conv2.weight": f32(20, 8, 3, 3, scale=0.2),
    "conv2.weight_scaling": (1.0 + f32(20, scale=0.05)).astype(np.float32),
    "fc.weight": f32(5, 40, scale=0.1),
    "fc.bias": f32(5, scale=0.05),
    "head.weight": f32(3, 5, scale=0.1),
}
bip = {
    "block_identifier": {"conv.weight": "b0", "conv.bias": "b0", "bn.weight": "b0", "bn.bias": "b0",
                         "bn.running_mean": "b0", "bn.running_var": "b0",
                         "conv2.weight": "b1", "conv2.weight_scaling": "b1",
                         "fc.weight": "b2", "fc.bias": "b2", "head.weight": None},
    "parameter_type": {"conv.weight": "weight", "conv.bias": "bias", "bn.weight": "bn.gamma", "bn.bias": "bn.beta",
                       "bn.running_mean": "bn.mean", "bn.running_var": "bn.var",
                       "conv2.weight": "weight", "conv2.weight_scaling": "weight.ls",
                       "fc.weight": "weight", "fc.bias": "bias", "head.weight": "weight"},
}
block_variants = {
    "block_bn": dict(),
    "block_bnf": dict(bnf=True),
    "block_scan": dict(scan_order=1, qp=-34),
    "block_codebook": dict(codebook_mode=1, qp=-30),
    "block_nodq": dict(use_dq=False, qp_density=3, qp=-60, nonweight_qp=-90),
}
for case, kw in block_variants.items():
    bs = quiet(nnc.compress, copy.deepcopy(bparams), bitstream_path=None, block_id_and_param_type=copy.deepcopy(bip),
               return_bitstream=True, **kw)
    write_stream(case, bs)
    calls = {}
    for lsa in (False, True):
        for bnf in (False, True):
            nm = f"lsa{int(lsa)}_bnf{int(bnf)}"
            out = nnc.decompress(bytearray(bs), reconstruct_lsa=lsa, reconstruct_bnf=bnf)
            calls[nm] = put_params(f"{case}/{nm}", out)
            calls[nm]["kw"] = {"reconstruct_lsa": lsa, "reconstruct_bnf": bnf}
    out = nnc.decompress(bytearray(bs), block_id_and_param_type=copy.deepcopy(bip), reconstruct_lsa=True)
    calls["bip_lsa"] = put_params(f"{case}/bip_lsa", out)
    calls["bip_lsa"]["kw"] = {"reconstruct_lsa": True, "block_id_and_param_type": bip}
    out, mi = nnc.decompress(bytearray(bs), return_model_information=True)
    calls["model_info"] = put_params(f"{case}/model_info", out)
    calls["model_info"]["kw"] = {"return_model_information": True}
    calls["model_info"]["model_information"] = tag(mi)
    out, hls = nnc.decompress(bytearray(bs), return_hls=True, reconstruct_lsa=True)
    calls["hls"] = put_params(f"{case}/hls", out)
    calls["hls"]["kw"] = {"return_hls": True, "reconstruct_lsa": True}
    calls["hls"]["hls"] = tag(hls)
    for nm, args in [("nn_bnf", {"bnf": True}), ("nn_lsa", {"lsa": True})]:
        out = nn.decode(bytearray(bs), args)
        calls[nm] = put_params(f"{case}/{nm}", out)
        calls[nm]["args"] = args
    manifest[case] = {"kind": "nnc", "calls": calls}


# 4. incremental sequences: TCA, HDSP (HdspTool), row skipping, skipped NDUs ------------------
def sparse_update(shape, density, scale, zero_rows=()):
    u = f32(*shape, scale=scale)
    u[rng.random(shape) > density] = 0
    for r in zero_rows:
        u[r] = 0
    return u.astype(np.float32)


def incremental_nnc(case: str, steps: int = 5) -> None:
    """A base model (no HDSP, not a difference) then sparse updates that touch the same positions.

    Updates alternate TCA (odd steps) and no TCA (even steps, where NNCodec's encoder picks HDSP).
    """
    shapes = {"enc.0.weight": (16, 8), "enc.0.bias": (16,), "enc.1.weight": (12, 4, 3), "dec.weight": (9, 16)}
    zero_rows = {"enc.0.weight": (1, 5, 6, 11), "enc.0.bias": (), "enc.1.weight": (0, 2, 3), "dec.weight": (4,)}
    masks = {k: rng.random(v) < 0.35 for k, v in shapes.items()}
    base = {k: f32(*v, scale=0.2) for k, v in shapes.items()}
    updates = [copy.deepcopy(base)]
    for s in range(1, steps):
        upd = {}
        for k, shape in shapes.items():
            u = f32(*shape, scale=0.02)
            u[~masks[k]] = 0
            for r in zero_rows[k]:
                u[r] = 0
            if k == "dec.weight" and s == 3:
                u[:] = 0  # an all-zero update: NNCodec leaves its NDU out of the stream
            upd[k] = u.astype(np.float32)
        updates.append(upd)
    enc_state, dec_state = new_state(), new_state()
    enc_tool, dec_tool = HdspTool(True), HdspTool(True)
    calls = {}
    for s, upd in enumerate(updates):
        diff = s > 0
        bs = quiet(nnc.compress, copy.deepcopy(upd), bitstream_path=None, return_bitstream=True, qp=-40,
                   tca=(s % 2 == 1), row_skipping=True, hdsp_tool=enc_tool if diff else None,
                   compress_differences=diff,
                   approx_param_base=enc_state, update_base_param=True, device_id=0)
        write_stream(f"{case}_{s}", bs)
        out, hls = nnc.decompress(bytearray(bs), approx_param_base=dec_state, update_base_param=True,
                                  hdsp_tool=dec_tool, return_hls=True)
        c = put_params(f"{case}/{s}", out)
        c["hls"] = tag(hls)
        c["state"] = put_state(f"{case}/{s}", dec_state)
        c["hist"] = put_hist(f"{case}/{s}", dec_tool)
        calls[str(s)] = c
    manifest[case] = {"kind": "incremental_nnc", "steps": len(updates), "calls": calls}


def incremental_tensor(case: str, steps: int = 4) -> None:
    tid = "blk.weight"
    w0 = f32(24, 10, scale=0.2)
    seq = [w0] + [sparse_update((24, 10), 0.5, 0.02, zero_rows=(0, 7, 8, 20)) for _ in range(steps - 1)]
    enc_state, dec_state = new_state(), new_state()
    enc_tool, dec_tool = HdspTool(True), HdspTool(True)
    args = {"results": TMP, "tca": True, "row_skipping": True, "compress_differences": True,
            "tensor_id": tid, "qp": -38}
    calls = {}
    for s, w in enumerate(seq):
        bs = quiet(tensor.encode, w, args=args, approx_param_base=enc_state, hdsp_tool=enc_tool)
        write_stream(f"{case}_{s}", bs)
        out, hls = tensor.decode(bytearray(bs), tensor_id=tid, approx_param_base=dec_state, hdsp_tool=dec_tool,
                                 return_hls=True)
        c = put_params(f"{case}/{s}", {tid: out})
        c["hls"] = tag(hls)
        c["state"] = put_state(f"{case}/{s}", dec_state)
        c["hist"] = put_hist(f"{case}/{s}", dec_tool)
        calls[str(s)] = c
    manifest[case] = {"kind": "incremental_tensor", "tensor_id": tid, "steps": len(seq), "calls": calls}


incremental_nnc("inc_nnc")
incremental_tensor("inc_tensor")

# ---------------------------------------------------------------------------------------------
np.savez_compressed(os.path.join(OUT, "expected.npz"), **arrays)
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(manifest, f, separators=(",", ":"))
shutil.rmtree(TMP, ignore_errors=True)
total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, into {os.path.normpath(OUT)}", file=sys.stderr)
