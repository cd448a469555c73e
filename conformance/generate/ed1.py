#!/usr/bin/env python
"""Edition-1 conformance cases written by NNCodec 0.3.1 (the edition-1 reference software).

Run with the python of a virtualenv that has NNCodec 0.3.1 (modules ``nnc``, ``nnc_core``;
``../shared/peer/install_nncodec03.sh`` builds one)::

    python conformance/generate/ed1.py OUT_DIR [--count N] [--seed S] [--only NAME ...]

For each case it draws tensors and settings from the case's seed (a wide mix: DQ, QPs and
densities, scan orders 1-4 with one and several block rows, unary lengths, codebooks, blocks with
bias / batch-norm / local scaling, int tensors, RDOQ, opt_qp, param_opt on and off), encodes them
with ``nnc.compress`` and decodes the stream with 0.3.1's ``nnc.decompress(reconstruct_lsa=False,
reconstruct_bnf=False)`` (the tensors as coded).  It writes ``OUT_DIR/<NAME>/`` in the format of
``bitstreams/`` (docs/conformance.md): ``stream_0.nnc``, ``expected_0.npz``, ``input.npz``,
``case.json``.  A case 0.3.1 cannot decode itself (a block with scan_order > 0 and several block
rows: wrong entry points) is written to ``OUT_DIR/undecodable/<NAME>/`` with its stream and input
only.  Nothing of NNCodec is copied here; it is only run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import zipfile

import numpy as np


def _npz(path: str, tensors: dict) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, value in tensors.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(value), allow_pickle=False)


def _values(rng: np.random.Generator, shape: tuple, kind: str) -> np.ndarray:
    n = int(np.prod(shape))
    scale = float(rng.choice([0.01, 0.05, 0.1, 0.5, 2.0]))
    if kind == "laplace":
        v = rng.laplace(0, scale, n)
    elif kind == "sparse":
        v = rng.normal(0, scale, n) * (rng.random(n) < 0.2)
    elif kind == "zeros":
        v = np.zeros(n)
    elif kind == "positive":
        v = 1.0 + np.abs(rng.normal(0, 0.1, n))
    else:
        v = rng.normal(0, scale, n)
    return v.astype(np.float32).reshape(shape)


def _matrix_shape(rng: np.random.Generator, scan: int, multi: bool) -> tuple:
    """A 2-D or 4-D shape with one block row (height <= block size) or several."""
    b = 4 << scan if scan else 16
    h = int(rng.integers(b + 1, 3 * b + 2)) if multi else int(rng.integers(2, b + 1))
    if rng.random() < 0.3:
        return (h, int(rng.integers(1, 9)), 3, 3)
    return (h, int(rng.integers(2, 90)))


def draw_case(idx: int, seed: int) -> tuple[str, dict, dict, str]:
    """(name, inputs, compress keyword arguments, note) of case ``idx``."""
    rng = np.random.default_rng([seed, idx])
    qp_density = int(rng.choice([0, 1, 2, 2, 2, 3, 4, 5]))
    qp = int(rng.integers(-30, -4) * (1 << qp_density) // 2)
    kw: dict = dict(qp=qp, qp_density=qp_density, use_dq=bool(rng.random() < 0.6),
                    scan_order=int(rng.choice([0, 0, 1, 2, 3, 4])),
                    param_opt=bool(rng.random() < 0.7),
                    cabac_unary_length_minus1=int(rng.choice([0, 1, 2, 3, 5, 10, 10, 10, 15, 20])))
    if rng.random() < 0.3:
        kw["nonweight_qp"] = None if rng.random() < 0.5 else int(qp - rng.integers(0, 40))
    if rng.random() < 0.2:
        kw["lambda_scale"] = float(rng.choice([0.5, 1.0]))
    if rng.random() < 0.1:
        kw["opt_qp"] = True
    if rng.random() < 0.2:
        kw["codebook_mode"] = int(rng.choice([1, 2]))
    scan = kw["scan_order"]
    kind = str(rng.choice(["normal", "normal", "laplace", "sparse"]))
    layout = str(rng.choice(["plain", "plain", "plain", "int", "block_bias", "block_bn", "block_ls", "block_bnf"]))
    inputs: dict = {}
    note = layout
    if layout in ("plain", "int"):
        for t in range(int(rng.integers(1, 4))):
            multi = bool(rng.random() < 0.5)
            shape = _matrix_shape(rng, scan, multi) if rng.random() < 0.8 else (int(rng.integers(1, 300)),)
            if layout == "int" and t == 0:
                hi = int(rng.choice([3, 100, 1 << 20]))
                inputs[f"i{t}"] = rng.integers(-hi, hi + 1, shape).astype(np.int32)
            else:
                inputs[f"t{t}.weight"] = _values(rng, shape, kind)
        if layout == "plain" and rng.random() < 0.4:
            inputs["t0.bias"] = _values(rng, (int(rng.integers(2, 64)),), "normal")
    else:
        # blocks: one block row only when a block scan is in force (0.3.1 writes wrong entry
        # points for a block with several block rows); a few with several, to record that
        multi = scan == 0 or rng.random() < 0.1
        shape = _matrix_shape(rng, scan, multi and scan == 0)
        if multi and scan > 0:
            shape = _matrix_shape(rng, scan, True)
        c = shape[0]
        inputs["c.weight"] = _values(rng, shape, kind)
        bid = {"c.weight": "c"}
        ptype = {"c.weight": "weight"}
        if layout == "block_ls":
            inputs["c.weight_scaling"] = _values(rng, (c,), "positive")
            bid["c.weight_scaling"], ptype["c.weight_scaling"] = "c", "weight.ls"
        if layout in ("block_bias", "block_ls") or rng.random() < 0.5:
            inputs["c.bias"] = _values(rng, (c,), "normal")
            bid["c.bias"], ptype["c.bias"] = "c", "bias"
        if layout in ("block_bn", "block_bnf"):
            for nm, pt, k in (("bn.weight", "bn.gamma", "positive"), ("bn.bias", "bn.beta", "normal"),
                              ("bn.running_mean", "bn.mean", "normal"), ("bn.running_var", "bn.var", "positive")):
                inputs[nm] = _values(rng, (c,), k)
                bid[nm], ptype[nm] = "c", pt
            kw["bnf"] = layout == "block_bnf"
        kw["block_id_and_param_type"] = {"block_identifier": bid, "parameter_type": ptype}
        if rng.random() < 0.5:
            inputs["fc.weight"] = _values(rng, _matrix_shape(rng, scan, bool(rng.random() < 0.5)), kind)
    name = f"ED1_{seed}_{idx:03d}"
    return name, inputs, kw, note


def _block(prefix: str, c: int, kinds: tuple[str, ...]) -> tuple[dict, dict]:
    """block_identifier / parameter_type of a block: weight plus ``kinds`` (bias, ls, bn)."""
    bid = {f"{prefix}.weight": prefix}
    pt = {f"{prefix}.weight": "weight"}
    names = {"bias": [(f"{prefix}.bias", "bias")], "ls": [(f"{prefix}.weight_scaling", "weight.ls")],
             "bn": [("bn.weight", "bn.gamma"), ("bn.bias", "bn.beta"), ("bn.running_mean", "bn.mean"),
                    ("bn.running_var", "bn.var")]}
    for k in kinds:
        for nm, t in names[k]:
            bid[nm], pt[nm] = prefix, t
    return bid, pt


# Named cases of bitstreams/: (tensors as name -> (shape, kind), compress settings, decode args)
NAMED: dict[str, tuple[dict, dict, dict]] = {
    "ED1_DQ_FC_A": ({"fc.weight": ((64, 48), "normal"), "fc.bias": ((64,), "normal")}, {}, {}),
    "ED1_NODQ_CONV_A": ({"conv.weight": ((32, 16, 3, 3), "laplace")}, dict(qp=-32, use_dq=False), {}),
    "ED1_SCAN1_SINGLE_ROW_A": ({"w": ((8, 30), "normal")}, dict(scan_order=1), {}),
    "ED1_SCAN2_MULTI_ROW_NODQ_A": ({"w": ((50, 40), "normal")}, dict(scan_order=2, use_dq=False), {}),
    "ED1_SCAN3_SINGLE_ROW_NODQ_A": ({"w": ((20, 70), "sparse")}, dict(scan_order=3, use_dq=False), {}),
    "ED1_SCAN4_MULTI_ROW_DQ_A": ({"w": ((130, 20), "normal"), "v": ((40, 80), "normal")}, dict(scan_order=4), {}),
    "ED1_SCAN2_CONV_MIXED_ROWS_A": ({"a.weight": ((10, 4, 3, 3), "normal"), "b.weight": ((40, 4, 3, 3), "normal"),
                                     "b.bias": ((40,), "normal")}, dict(scan_order=2), {}),
    "ED1_QPD0_DQ_A": ({"w": ((30, 30), "normal")}, dict(qp=-10, qp_density=0, nonweight_qp=-20), {}),
    "ED1_QPD5_NODQ_A": ({"w": ((24, 40), "normal")}, dict(qp=-300, qp_density=5, use_dq=False, nonweight_qp=None), {}),
    "ED1_CUL0_DQ_A": ({"w": ((30, 30), "laplace")}, dict(cabac_unary_length_minus1=0), {}),
    "ED1_CUL20_NODQ_A": ({"w": ((30, 30), "laplace")}, dict(cabac_unary_length_minus1=20, use_dq=False, qp=-50), {}),
    "ED1_PARAM_OPT_OFF_SCAN1_A": ({"w": ((20, 40), "normal"), "b": ((20,), "normal")},
                                  dict(param_opt=False, scan_order=1), {}),
    "ED1_INT_MIXED_A": ({"idx": ((30, 20), "int"), "w": ((24, 16), "normal"), "cnt": ((7,), "int")},
                        dict(scan_order=1), {}),
    "ED1_CODEBOOK1_A": ({"w": ((24, 24), "normal")}, dict(qp=-20, codebook_mode=1, use_dq=False), {}),
    "ED1_CODEBOOK2_BLOCK_A": ({"p.weight": ((12, 20), "normal"), "p.bias": ((12,), "normal")},
                              dict(qp=-20, codebook_mode=2, use_dq=False,
                                   block_id_and_param_type=dict(zip(("block_identifier", "parameter_type"),
                                                                    _block("p", 12, ("bias",))))), {}),
    "ED1_BLOCK_BN_A": ({"c.weight": ((16, 8, 3, 3), "normal"), "bn.weight": ((16,), "positive"),
                        "bn.bias": ((16,), "normal"), "bn.running_mean": ((16,), "normal"),
                        "bn.running_var": ((16,), "positive")},
                       dict(block_id_and_param_type=dict(zip(("block_identifier", "parameter_type"),
                                                             _block("c", 16, ("bn",))))), {}),
    "ED1_BLOCK_LS_BIAS_SCAN2_A": ({"c.weight": ((16, 40), "normal"), "c.weight_scaling": ((16,), "positive"),
                                   "c.bias": ((16,), "normal")},
                                  dict(scan_order=2, block_id_and_param_type=dict(zip(
                                      ("block_identifier", "parameter_type"), _block("c", 16, ("ls", "bias"))))), {}),
    "ED1_BLOCK_LS_RECONSTRUCTED_A": ({"c.weight": ((16, 40), "normal"), "c.weight_scaling": ((16,), "positive"),
                                      "c.bias": ((16,), "normal")},
                                     dict(block_id_and_param_type=dict(zip(
                                         ("block_identifier", "parameter_type"), _block("c", 16, ("ls", "bias"))))),
                                     {"reconstruct_lsa": True, "reconstruct_bnf": True}),
    "ED1_BLOCK_BNF_RECONSTRUCTED_A": ({"c.weight": ((16, 8, 3, 3), "normal"), "bn.weight": ((16,), "positive"),
                                       "bn.bias": ((16,), "normal"), "bn.running_mean": ((16,), "normal"),
                                       "bn.running_var": ((16,), "positive")},
                                      dict(bnf=True, block_id_and_param_type=dict(zip(
                                          ("block_identifier", "parameter_type"), _block("c", 16, ("bn",))))),
                                      {"reconstruct_lsa": True, "reconstruct_bnf": True}),
    "ED1_RDOQ_A": ({"fc.weight": ((64, 48), "normal"), "fc.bias": ((64,), "normal")}, dict(lambda_scale=1.0), {}),
    "ED1_OPT_QP_A": ({"l0.weight": ((64, 48), "normal"), "l1.weight": ((32, 64), "normal")}, dict(opt_qp=True), {}),
    "ED1_MULTI_NDU_A": ({"fc0.weight": ((128, 64), "normal"), "fc0.bias": ((128,), "normal"),
                         "fc1.weight": ((64, 128), "laplace"), "fc1.bias": ((64,), "normal"),
                         "emb": ((100, 16), "normal")}, dict(scan_order=3), {}),
    "NEG_ED1_BLOCK_ENTRY_POINTS_A": ({"c.weight": ((20, 30), "normal"), "c.bias": ((20,), "normal")},
                                     dict(scan_order=1, block_id_and_param_type=dict(zip(
                                         ("block_identifier", "parameter_type"), _block("c", 20, ("bias",))))), {}),
}


def named_inputs(name: str) -> dict:
    rng = np.random.default_rng(list(name.encode()))
    out = {}
    for k, (shape, kind) in NAMED[name][0].items():
        out[k] = rng.integers(-500, 500, shape).astype(np.int32) if kind == "int" else _values(rng, shape, kind)
    return out


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def make(out: str, name: str, inputs: dict, kw: dict, note: str, seed: object, idx: int,
         decode_args: dict | None = None) -> str:
    import copy

    import nnc_core  # NNCodec 0.3.1
    from nnc import compression

    coded: list = []  # what the encoder codes (quantized), kept to reconstruct what it meant
    real_encode = nnc_core.coder.encode

    def keep(enc_info, model_info, approx_data):  # type: ignore[no-untyped-def]
        coded.append(copy.deepcopy(approx_data))
        return real_encode(enc_info, model_info, approx_data)

    log = io.StringIO()
    nnc_core.coder.encode = keep
    try:
        with contextlib.redirect_stdout(log):
            stream = bytes(compression.compress(dict(inputs), bitstream_path=None, return_bitstream=True,
                                                verbose=False, **kw))
    finally:
        nnc_core.coder.encode = real_encode
    msgs = [ln for ln in log.getvalue().splitlines() if ln.startswith("INFO")]
    dargs = {"reconstruct_lsa": False, "reconstruct_bnf": False, **(decode_args or {})}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            dec = compression.decompress(bytearray(stream), verbose=False, **dargs)
        err = None
    except BaseException as e:  # noqa: BLE001  (0.3.1 asserts / exits on its own bad streams)
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        dec, err = None, f"{type(e).__name__}: {msg[:200]}"
    folder = os.path.join(out, name) if err is None or name.startswith("NEG_ED1") else \
        os.path.join(out, "undecodable", name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "stream_0.nnc"), "wb") as f:
        f.write(stream)
    _npz(os.path.join(folder, "input.npz"), inputs)
    settings = {k: v for k, v in kw.items()}
    meta: dict = {
        "name": name,
        "kind": "positive",
        "mode": "single",
        "description": f"NNCodec 0.3.1 (edition-1 reference software) stream, general_profile_idc 0: {note}; "
                       f"settings {json.dumps({k: v for k, v in settings.items() if k != 'block_id_and_param_type'})}"
                       + (f"; encoder: {' / '.join(msgs)}" if msgs else ""),
        "generator": {"tool": "nncodec-0.3.1", "version": "0.3.1", "script": "conformance/generate/ed1.py",
                      "call": "nnc.compression.compress", "args": settings, "seed": [seed, idx] if seed != "name" else "bytes of the case name",
                      "input": "input.npz"},
        "decode_call": {"call": "nnc.compression.decompress (NNCodec 0.3.1)", "args": dargs},
        "streams": ["stream_0.nnc"],
        "features": [4],
        "cross_checked": False,
    }
    if err is not None:
        # NNCodec 0.3.1 cannot decode its own stream: a negative case for a decoder that checks
        # entry points; expected_0.npz holds what the encoder coded (its reconstruction of the
        # quantized tensors), which decoding sequentially without the entry points returns
        meta["kind"] = "negative"
        meta["nncodec_decode_error"] = err
        meta["expected_error"] = {"class": "MalformedStreamError", "stream": "stream_0.nnc", "unit_index": None,
                                  "element": "cabac_entry_point_list"}
        rec = coded[0]
        with contextlib.redirect_stdout(io.StringIO()):
            nnc_core.approximator.rec(rec)
        meant = {k: np.asarray(v) for k, v in rec["parameters"].items()}
        _npz(os.path.join(folder, "expected_0.npz"),
             {k: v.astype(np.int32) if v.dtype.kind in "iu" else v.astype(np.float32) for k, v in meant.items()})
        meta["expected_without_entry_points"] = "expected_0.npz"
    else:
        exp = {}
        tensors = []
        for k, v in dec.items():
            a = np.asarray(v)
            a = a.astype(np.int32) if a.dtype.kind in "iu" else a.astype(np.float32)  # float64: codebooks
            exp[k] = a
            tensors.append({"name": k, "shape": list(a.shape), "dtype": str(a.dtype), "nncodec_dtype": str(np.asarray(v).dtype),
                            "sha256": _sha(a)})
        _npz(os.path.join(folder, "expected_0.npz"), exp)
        meta["expected"] = [{"stream": "stream_0.nnc", "arrays": "expected_0.npz", "tensors": tensors}]
    with open(os.path.join(folder, "case.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return "ok" if err is None else f"undecodable by 0.3.1 ({err})"


def derived(out: str, bitstreams: str, ambiguous: str) -> None:
    """The cases where the two dialects disagree (docs/deviations.rst, nnr.dialect):

    * NEG_ED1_AS_ED2_A: a 0.3.1 stream decoded under NNCodec 2.1.3's rules must fail;
    * NEG_ED1_GPI0_213_AS_ED1_A: a profile-0 stream of 2.1.3's internals (GPI0_DQ_SCAN2_A) decoded
      under 0.3.1's rules must fail;
    * NEG_ED1_AMBIGUOUS_A: ``ambiguous`` (a stream nnr wrote with the edition-1 rules that both rule sets
      decode without error, to different tensors): a decoder that guesses must not return tensors
      (AmbiguousDialectError in nnr's default); its expected_0.npz is 0.3.1's decode;
    * ED1_AMBIGUOUS_ED1_A: the same stream under the edition-1 rules: 0.3.1's tensors.
    """
    import shutil

    from nnc import compression  # NNCodec 0.3.1

    def case(name: str, src: str, meta: dict, expected: dict | None) -> None:
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(src, os.path.join(folder, "stream_0.nnc"))
        base = {"name": name, "mode": "single", "streams": ["stream_0.nnc"], "features": [4], "cross_checked": False}
        if expected is not None:
            _npz(os.path.join(folder, "expected_0.npz"), expected)
            if meta["kind"] == "positive":
                base["expected"] = [{"stream": "stream_0.nnc", "arrays": "expected_0.npz", "tensors": [
                    {"name": k, "shape": list(v.shape), "dtype": str(v.dtype), "sha256": _sha(v)}
                    for k, v in expected.items()]}]
        with open(os.path.join(folder, "case.json"), "w", encoding="utf-8") as f:
            json.dump({**base, **meta}, f, indent=1)
            f.write("\n")

    def dec(path: str) -> dict:
        with open(path, "rb") as f, contextlib.redirect_stdout(io.StringIO()):
            d = compression.decompress(bytearray(f.read()), reconstruct_lsa=False, reconstruct_bnf=False,
                                       verbose=False)
        return {k: np.asarray(v).astype(np.int32 if np.asarray(v).dtype.kind in "iu" else np.float32)
                for k, v in d.items()}

    ed1_src = os.path.join(bitstreams, "ED1_SCAN1_SINGLE_ROW_A", "stream_0.nnc")
    gen = {"tool": "nncodec-0.3.1", "version": "0.3.1", "script": "conformance/generate/ed1.py --derived"}
    case("NEG_ED1_AS_ED2_A", ed1_src, {
        "kind": "negative", "generator": {**gen, "from": "ED1_SCAN1_SINGLE_ROW_A"},
        "description": "The stream of ED1_SCAN1_SINGLE_ROW_A (NNCodec 0.3.1) decoded under NNCodec 2.1.3's "
                       "profile-0 rules (decode_call.args.dialect 'ed2'): must fail, not return tensors.",
        "decode_call": {"call": "nnr.Decoder(dialect='ed2')", "args": {"dialect": "ed2"}},
        "expected_error": {"class": "NNRError", "stream": "stream_0.nnc", "unit_index": 3, "element": None}}, None)
    case("NEG_ED1_GPI0_213_AS_ED1_A", os.path.join(bitstreams, "GPI0_DQ_SCAN2_A", "stream_0.nnc"), {
        "kind": "negative", "generator": {"tool": "nncodec", "version": "2.1.3", "from": "GPI0_DQ_SCAN2_A"},
        "description": "The profile-0 stream of GPI0_DQ_SCAN2_A (NNCodec 2.1.3's internals) decoded under the "
                       "edition-1 reference software's rules (decode_call.args.dialect 'ed1'): must fail.",
        "decode_call": {"call": "nnr.Decoder(dialect='ed1')", "args": {"dialect": "ed1"}},
        "expected_error": {"class": "NNRError", "stream": "stream_0.nnc", "unit_index": None, "element": None}}, None)
    exp = dec(ambiguous)
    about = ("written by nnr with the edition-1 rules (general_profile_idc 0) and decoded by NNCodec 0.3.1 "
             "to expected_0.npz; NNCodec 2.1.3's rules decode it without error to other tensors")
    case("NEG_ED1_AMBIGUOUS_A", ambiguous, {
        "kind": "negative", "generator": {"tool": "nnr", "note": about},
        "description": "A profile-0 stream both rule sets decode without error, to different tensors (" + about +
                       "): a decoder that must guess the rules may not return tensors.",
        "expected_error": {"class": "AmbiguousDialectError", "stream": "stream_0.nnc", "unit_index": 3,
                           "element": "nnr_compressed_data_unit_payload"}}, exp)
    case("ED1_AMBIGUOUS_ED1_A", ambiguous, {
        "kind": "positive", "generator": {"tool": "nnr", "note": about},
        "description": "The stream of NEG_ED1_AMBIGUOUS_A decoded under the edition-1 rules (decode_call.args.dialect "
                       "'ed1'): NNCodec 0.3.1's tensors.",
        "decode_call": {"call": "nnc.compression.decompress (NNCodec 0.3.1)", "args": {"dialect": "ed1"}}}, exp)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--named", action="store_true", help="write the named cases of bitstreams/ instead")
    p.add_argument("--derived", nargs=2, metavar=("BITSTREAMS", "AMBIGUOUS_NNC"),
                   help="write the cases where the two dialects disagree (see derived())")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    if a.derived:
        derived(a.out, a.derived[0], a.derived[1])
        return 0
    if a.named:
        for name, (_, kw, dargs) in NAMED.items():
            print(name, make(a.out, name, named_inputs(name), kw, "named case", "name", 0, dargs), flush=True)
        return 0
    for idx in range(a.first, a.first + a.count):
        name, inputs, kw, note = draw_case(idx, a.seed)
        try:
            res = make(a.out, name, inputs, kw, note, a.seed, idx)
        except BaseException as e:  # noqa: BLE001  (0.3.1's encoder refuses some inputs)
            res = f"encoder failed: {type(e).__name__}: {str(e)[:160]}"
        print(name, note, res, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
