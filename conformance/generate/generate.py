#!/usr/bin/env python
"""Deterministic generator of golden NNR test vectors, produced and decoded by NNCodec 2.1.3.

Run with the NNCodec virtualenv's python (see setup_peer.sh):

    python conformance/generate/generate.py                 # all cases -> bitstreams/
    python conformance/generate/generate.py --only NAME ... # some cases
    python conformance/generate/generate.py --out DIR       # somewhere else
    python conformance/generate/generate.py --check         # regenerate into a temp dir and
                                                            # compare byte-for-byte with bitstreams/
    python conformance/generate/generate.py --probe-failures  # re-run the known NNCodec failures

Case definitions: cases.py.  Output format: README.md next to this file.
"""
import argparse
import copy
import filecmp
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
import zlib

import numpy as np

sys.dont_write_bytecode = True        # keep the working tree free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import cases as case_defs  # noqa: E402
import hdrparse  # noqa: E402
import npzio  # noqa: E402
import peer  # noqa: E402

DEFAULT_OUT = os.path.join(REPO, "bitstreams")
SCRIPT = "conformance/generate/generate.py"
NNCODEC_VERSION = "2.1.3"
SMALL_OUTPUT = 64 * 1024


class CaseError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# helpers

def jsonable(x):
    """Convert kwargs / oob dicts into JSON-able values (numpy scalars, tuples, arrays)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"not JSON-able: {type(x)}")


def seed_all(seed):
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)
    try:
        import torch
        torch.manual_seed(seed)
    except Exception:  # torch is only imported by NNCodec, never needed for coding
        pass


def case_seed(c):
    return c["seed"] if c.get("seed") is not None else zlib.crc32(c["name"].encode())


def recorded(a):
    """Convert an NNCodec output array to the recorded dtype (float32 or int32)."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating):
        r = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        r = a.astype(np.int32)
        if not np.array_equal(r.astype(a.dtype), a):
            raise CaseError("integer output does not fit int32")
    else:
        raise CaseError(f"unexpected output dtype {a.dtype}")
    return np.ascontiguousarray(r)


def expected_entry(stream_name, arrays_name, outputs):
    tensors, rec = [], {}
    for name, a in outputs.items():
        r = recorded(a)
        rec[name] = r
        tensors.append({"name": name, "shape": list(r.shape), "dtype": r.dtype.name,
                        "sha256": hashlib.sha256(r.tobytes()).hexdigest(),
                        "nncodec_dtype": np.asarray(a).dtype.name})
    total = sum(r.nbytes for r in rec.values())
    small = total < SMALL_OUTPUT
    return ({"stream": stream_name, "tensors": tensors, "arrays": arrays_name if small else None},
            rec if small else None)


def make_model(desc):
    """An NNRModel from a {parameter_dimensions, parameter_type, block_identifier} description."""
    core = peer.nncodec_modules()["nnc_core"]
    mdl = core.nnr_model.NNRModel({k: np.zeros(v, np.float32) for k, v in desc["parameter_dimensions"].items()})
    info = mdl.model_info
    info["parameter_type"].update(desc["parameter_type"])
    info["block_identifier"] = dict(desc["block_identifier"])
    return mdl


# ------------------------------------------------------------------------------------------------
# encoders / decoders per api

def encode(c, inputs, kwargs, tmpdir, state=None):
    """Run the encoder of case c.  Returns (bytes, call_name, json_args, extra) where extra
    may hold 'oob' (out-of-band dict)."""
    m = peer.nncodec_modules()
    api = c["api"]
    inputs = copy.deepcopy(inputs)      # NNCodec must not be able to alter the recorded inputs
    kwargs = copy.deepcopy(kwargs)      # nor the shared case definitions
    state = state or {}
    base = state.get("enc_base")
    hdsp = state.get("enc_hdsp")
    extra = {}
    if api == "compress":
        kw = dict(kwargs)
        if base is not None:
            kw.update(approx_param_base=base, update_base_param=True)
        if hdsp is not None:
            kw["hdsp_tool"] = hdsp
        with peer.quiet():
            extra["intent"] = m["nnc"].compress(copy.deepcopy(inputs), bitstream_path=None,
                                                quantize_only=True, **copy.deepcopy(kwargs))
            bs = m["nnc"].compress(inputs, bitstream_path=None, return_bitstream=True, **kw)
        call = "nncodec.nnc.compress"
        args = {"parameter_dict": None, "bitstream_path": None, "return_bitstream": True, **kwargs}
        if base is not None:
            args.update(approx_param_base="<encoder-side state dict, carried over the sequence>",
                        update_base_param=True)
        if hdsp is not None:
            args["hdsp_tool"] = "<nncodec.nnc_core.hdsp.hdsp_tool.HdspTool(True), encoder-side, carried>"
    elif api == "core":
        kw = dict(kwargs)
        if "model" in c:
            desc = c["model"](inputs)
            kw["model"] = make_model(desc)
        if base is not None:
            kw.update(approx_param_base=base, update_base_param=True)
        if hdsp is not None:
            kw["hdsp_tool"] = hdsp
        extra["intent"] = {}
        bs, oob = peer.core_encode(inputs, intent=extra["intent"], **kw)
        extra["oob"] = oob
        call = ("nncodec.nnc_core (conformance/generate/peer.py core_encode: NNRModel -> "
                "approximator.init_approx_data / ApproxInfo / [fold_bn] / approx -> coder.encode)")
        args = {"parameter_dict": None, **kwargs}
        if "model" in c:
            args["model"] = {"NNRModel": c["model"](inputs)}
        if base is not None:
            args.update(approx_param_base="<encoder-side state dict, carried over the sequence>",
                        update_base_param=True)
        if hdsp is not None:
            args["hdsp_tool"] = "<HdspTool(True), encoder-side, carried>"
    elif api == "tensor":
        (tid, arr), = inputs.items()
        a = dict(kwargs, results=tmpdir)
        if a.get("tensor_id", "0") != tid:
            raise CaseError("tensor_id must be the input key")
        with peer.quiet():
            extra["intent"] = m["tensor"].encode(copy.deepcopy(arr), dict(a), quantize_only=True)
            bs = m["tensor"].encode(arr, a, approx_param_base=base, hdsp_tool=hdsp)
        call = "nncodec.tensor.encode"
        args = {"tensor": None, "args": {**kwargs, "results": "<temporary directory>"}}
        if base is not None:
            args["approx_param_base"] = "<encoder-side state dict, carried over the sequence>"
        if hdsp is not None:
            args["hdsp_tool"] = "<HdspTool(True), encoder-side, carried>"
    elif api == "torch":
        net = case_defs.make_torch_net(inputs)
        with peer.quiet():
            r = m["nnc"].compress_model(net, bitstream_path=os.path.join(tmpdir, "bitstream.nnc"),
                                        return_bitstream=True, verbose=False, **kwargs)
        bs = r[0] if isinstance(r, tuple) else r
        call = "nncodec.nnc.compress_model"
        args = {"model_path_or_object": None, "bitstream_path": "<temporary file>",
                "return_bitstream": True, "verbose": False, **kwargs}
    elif api == "nn":
        a = dict(kwargs, results=tmpdir)
        with peer.quiet():
            bs = m["nn"].encode(inputs, a)
        call = "nncodec.nn.encode"
        args = {"model": None, "args": {**kwargs, "results": "<temporary directory>"}}
    else:
        raise CaseError(f"unknown api {api}")
    return bytes(bs), call, args, extra


def decode(c, bs, dec, state=None, oob=None):
    """Decode with NNCodec.  Returns (outputs dict, call name, json args)."""
    m = peer.nncodec_modules()
    state = state or {}
    base = state.get("dec_base")
    hdsp = state.get("dec_hdsp")
    api = dec["api"]
    kw = copy.deepcopy(dec.get("kwargs", {}))
    jargs = dict(kw)
    if api == "decompress":
        if base is not None:
            kw.update(approx_param_base=base, update_base_param=True)
            jargs.update(approx_param_base="<decoder-side state dict, carried>", update_base_param=True)
        if hdsp is not None:
            kw.update(hdsp_tool=hdsp, return_hls=True)
            jargs.update(hdsp_tool="<HdspTool(True), decoder-side, carried>", return_hls=True)
        with peer.quiet():
            r = m["nnc"].decompress(bytearray(bs), **kw)
        out = r[0] if isinstance(r, tuple) else r
        call = "nncodec.nnc.decompress"
    elif api == "core":
        if base is not None:
            kw.update(approx_param_base=base, update_base_param=True)
            jargs.update(approx_param_base="<decoder-side state dict, carried>", update_base_param=True)
        if hdsp is not None:
            kw["hdsp_tool"] = hdsp
            jargs["hdsp_tool"] = "<HdspTool(True), decoder-side, carried>"
        out = peer.core_decode(bs, oob_dict=oob or None, **kw)
        recompose = kw.get("recompose", True)
        call = ("nncodec.nnc_core.coder.decode + nncodec.nnc_core.approximator.rec"
                + (" + approximator.recompose_params" if recompose else " (no recompose_params)")
                + " (conformance/generate/peer.py core_decode)")
        jargs["oob_dict"] = jsonable(oob) if oob else None
        jargs.pop("recompose", None)
    elif api == "tensor":
        tid = c["kwargs"].get("tensor_id", "0")
        with peer.quiet():
            r = m["tensor"].decode(bytearray(bs), tid, approx_param_base=base, hdsp_tool=hdsp,
                                   return_hls=hdsp is not None)
        out = {tid: r[0] if isinstance(r, tuple) else r}
        call = "nncodec.tensor.decode"
        jargs = {"tensor_id": tid}
        if base is not None:
            jargs["approx_param_base"] = "<decoder-side state dict, carried>"
        if hdsp is not None:
            jargs.update(hdsp_tool="<HdspTool(True), decoder-side, carried>", return_hls=True)
    elif api == "nn":
        a = dict(c["kwargs"])
        with peer.quiet():
            out = m["nn"].decode(bytearray(bs), a)
        call = "nncodec.nn.decode"
        jargs = {"args": a}
    else:
        raise CaseError(f"unknown decode api {api}")
    return dict(out), call, jargs


def default_decode(c):
    if c.get("decode"):
        return c["decode"]
    return {"compress": {"api": "decompress"}, "core": {"api": "decompress"}, "torch": {"api": "decompress"},
            "tensor": {"api": "tensor"}, "nn": {"api": "nn"}, "fl": {"api": "decompress"}}[c["api"]]


# ------------------------------------------------------------------------------------------------
# feature derivation from the written streams

CHECKABLE = {16, 17, 19, 22, 25, 26, 27, 28, 31, 32, 33, 34, 35, 36, 40, 42, 43, 44, 45}


def bypass_flags(streams, units_list):
    """Per stream: list of (ndu names, leading bypass flags) -- see hdrparse.leading_bypass_flags."""
    out = []
    for bs, units in zip(streams, units_list):
        gpi = units[0].get("general_profile_idc", 0)
        mps = next((u for u in units if u["type"] == hdrparse.NNR_MPS), {})
        qpd = mps.get("mps_qp_density", 0)
        out.append([(u["names"], hdrparse.leading_bypass_flags(bs, u, gpi, qpd))
                    for u in units if u["type"] == hdrparse.NNR_NDU])
    return out


def derive_features(c, streams, units_list, inputs_list, outputs_list, hdsp_hits):
    declared = set(c.get("features", []))
    f = set()                      # evidence from the streams (and the encoder settings)
    kw = c["kwargs"]
    f.update([1, 2, 4, 29])
    flags = bypass_flags(streams, units_list)
    parsed_hdsp = set()
    for i, per in enumerate(flags):
        for names, fl in per:
            if fl.get("hist_dep_sig_prob_enabled_flag"):
                f.add(44)
                parsed_hdsp.add((i, names[0]))
            if fl.get("row_skip_enabled_flag"):
                f.add(43)
    logged = {(i, names[0]) for i, names in hdsp_hits}
    if c.get("hdsp") and logged != parsed_hdsp:
        raise CaseError(f"HDSP flags in the streams {sorted(parsed_hdsp)} differ from the encoder's "
                        f"HdspTool decisions {sorted(logged)}")
    for units, inputs, outputs in zip(units_list, inputs_list, outputs_list):
        gpi = units[0].get("general_profile_idc", 0)
        mps = next((u for u in units if u["type"] == hdrparse.NNR_MPS), {})
        ndus = [u for u in units if u["type"] == hdrparse.NNR_NDU]
        if mps:
            f.add(5)
            if gpi == 1:
                f.add(6)
        if any(u["type"] == hdrparse.NNR_TPL for u in units):
            f.add(9)
        if gpi == 1 and mps.get("mps_parent_signalling_enabled_flag"):
            f.add(6)
        if ndus:
            f.update([23, 30])
        for u in ndus:
            pt = u["payload_type"]
            f.add({0: 16, 1: 17, 2: 18, 3: 19}[pt])
            if pt in (1, 3):
                f.add(24)
            if u.get("dq_flag") and pt in (1, 3):
                f.add(25)
            if u["codebook_present_flag"]:
                f.add(26)
                if gpi == 1:
                    f.add(28)
            if "codebook_dc" in u:
                f.add(27)
            if u["scan_order"] > 0:
                f.add(31)
            if u["entry_points"] > 0:
                f.add(32)
            cpt = u["compressed_parameter_types"]
            for bit, row in ((1, 36), (2, 33), (4, 34), (8, 35)):
                if cpt & bit:
                    f.add(row)
            if not u["tensor_dimensions_flag"] or not u["cabac_unary_length_flag"] \
                    or not u["input_parameters_present_flag"]:
                f.add(22)
            if gpi == 1 and len(u["tensor_dimensions"]) > 1:
                f.add(38)
            if u.get("node_id_present_flag"):
                f.add(39)
            if u.get("parent_node_id_present_flag"):
                f.add(40)
            if u.get("temporal_context_modeling_flag"):
                f.add(42)
            if u["long_size"]:
                f.add(1)
        # omitted all-zero tensors
        coded = {n for u in ndus for n in u["names"]}
        if mps.get("mps_parent_signalling_enabled_flag") and gpi == 1:
            if any(k not in coded for k in inputs):
                f.add(45)
    if c["mode"] == "sequence" and c.get("_stateful", True):
        f.add(46)
    if kw.get("opt_qp") or kw.get("lambda_scale") or kw.get("int_quant_bw") or kw.get("bitdepth"):
        f.add(47)
    missing = (declared & CHECKABLE) - f
    if missing:
        raise CaseError(f"declared feature(s) {sorted(missing)} not found in the written streams")
    return sorted(f | declared | set(c.get("encoder_features", [])))


def check_headers(c, units, inputs, outputs):
    """Sanity: every NDU name is an encoder input (or derived from one) and plain tensors carry
    the input's dimensions."""
    names_in = set(inputs)
    for u in units:
        if u["type"] != hdrparse.NNR_NDU:
            continue
        for n in u["names"]:
            if n not in names_in and not (c["kwargs"].get("bnf")):
                raise CaseError(f"NDU name {n!r} not among the inputs")
        if u["payload_type"] != hdrparse.PT_BLOCK and u["names"][0] in inputs \
                and not (u["compressed_parameter_types"] & hdrparse.CPT_DC):
            shape = list(np.asarray(inputs[u["names"][0]]).shape) or [1]
            if list(u["tensor_dimensions"]) != shape:
                raise CaseError(f"{u['names'][0]}: header dims {u['tensor_dimensions']} != input {shape}")


# ------------------------------------------------------------------------------------------------
# running one case

def set_input_ref(c, args, fname, inputs):
    """Replace the input argument of the recorded call by a reference to the input file."""
    if c["api"] == "tensor":
        args["tensor"] = "%s[%s]" % (fname, next(iter(inputs)))
    elif c["api"] == "torch":
        args["model_path_or_object"] = f"{case_defs.TORCH_NET_DESC.replace('input.npz', fname)}"
    elif c["api"] == "nn":
        args["model"] = fname
    else:
        args["parameter_dict"] = fname
    return args

def run_single(c, rng, tmpdir):
    inputs = c["build"](rng)
    bs, call, args, extra = encode(c, inputs, c["kwargs"], tmpdir)
    args = set_input_ref(c, dict(args), "input.npz", inputs)
    if c.get("expect_hex"):
        want = bytes.fromhex(c["expect_hex"].replace(" ", ""))
        if bs != want:
            raise CaseError("stream differs from the expected hex:\n got  %s\n want %s" % (bs.hex(), want.hex()))
    dec = default_decode(c)
    out, dcall, dargs = decode(c, bs, dec, oob=extra.get("oob"))
    return {"inputs": [inputs], "streams": [bs], "outputs": [out], "oob": [extra.get("oob")],
            "intent": [extra.get("intent")],
            "gen_call": call, "gen_args": args, "input_files": ["input.npz"],
            "dec_call": dcall, "dec_args": dargs, "hdsp_hits": [], "notes": ""}


def run_sequence(c, rng, tmpdir):
    steps_in = c["build"](rng)
    if c["api"] == "fl":
        return run_fl(c, steps_in)
    n = len(steps_in)
    step_kw = c.get("steps") or [{}] * n
    if len(step_kw) != n:
        raise CaseError("steps / inputs length mismatch")
    dev = c.get("device_id", 0)
    use_hdsp = c.get("hdsp", False)
    enc_state = {"enc_base": peer.new_param_base(dev)}
    dec_state = {"dec_base": peer.new_param_base(dev)}
    if use_hdsp:
        enc_state["enc_hdsp"] = peer.make_recording_hdsp_tool()
        dec_state["dec_hdsp"] = peer.nncodec_modules()["HdspTool"](True)
    dec = default_decode(c)
    res = {"inputs": [], "streams": [], "outputs": [], "oob": [], "hdsp_hits": [],
           "input_files": [], "notes": "", "intent": []}
    step_args, dec_args = [], []
    for i, (inp, sk) in enumerate(zip(steps_in, step_kw)):
        kw = {k: v for k, v in {**c["kwargs"], **sk}.items() if not k.startswith("_")}
        no_base = sk.get("_no_base", False)
        es = {} if no_base else enc_state
        ds = {} if no_base else dec_state
        logn = len(enc_state["enc_hdsp"].log) if use_hdsp else 0
        try:
            bs, call, args, extra = encode(c, inp, kw, tmpdir, es)
        except Exception as ex:
            raise CaseError(f"stream {i}: encoding failed: {type(ex).__name__}: {ex}") from ex
        if use_hdsp:
            for names, idx in enc_state["enc_hdsp"].log[logn:]:
                if idx == 1:
                    res["hdsp_hits"].append((i, names))
        try:
            out, dcall, dargs = decode(c, bs, dec, ds, oob=extra.get("oob"))
        except Exception as ex:
            raise CaseError(f"stream {i}: NNCodec cannot decode its own stream: "
                            f"{type(ex).__name__}: {ex}") from ex
        fname = f"input_{i}.npz"
        args = set_input_ref(c, dict(args), fname, inp)
        step_args.append(args)
        dec_args.append(dargs)
        res["inputs"].append(inp)
        res["streams"].append(bs)
        res["outputs"].append(out)
        res["oob"].append(extra.get("oob"))
        res["intent"].append(extra.get("intent"))
        res["input_files"].append(fname)
    res["gen_call"] = call
    res["gen_args"] = {"inputs": res["input_files"], "steps": step_args}
    res["dec_call"] = dcall
    res["dec_args"] = {"steps": dec_args}
    # how the state was carried
    ncall = {"compress": "nnc.compress", "core": "peer.core_encode (nnc_core)", "tensor": "tensor.encode"}[c["api"]]
    dcall_s = {"decompress": "nnc.decompress", "core": "nnc_core.coder.decode", "tensor": "tensor.decode"}[dec["api"]]
    note = (f" State: encoder {ncall} with one approx_param_base dict (device_id {dev}) and "
            f"update_base_param=True carried over all streams; decoder {dcall_s} called once per stream "
            f"in order with its own approx_param_base dict and update_base_param=True (it stores the "
            f"decoded integer levels, parameter ids and put_node_depth after each tensor)")
    if use_hdsp:
        note += ("; both sides also carry an HdspTool(True) (decoder call with return_hls=True, "
                 "history = union of non-zero levels of earlier updates)")
    if any(sk.get("_no_base") for sk in step_kw):
        idx = [str(i) for i, sk in enumerate(step_kw) if sk.get("_no_base")]
        note += f"; stream(s) {', '.join(idx)} were encoded and decoded without that state"
    note += ". Expected = what each decode call returns (the update carried by that stream)."
    if use_hdsp:
        if not res["hdsp_hits"]:
            raise CaseError("HDSP case without any hist_dep_sig_prob_enabled_flag = 1")
        by = {}
        for i, names in res["hdsp_hits"]:
            by.setdefault(i, []).extend(names)
        note += " hist_dep_sig_prob_enabled_flag = 1 in: " + "; ".join(
            f"stream {i}: {', '.join(v)}" for i, v in sorted(by.items())) + "."
    res["notes"] = note
    return res


def run_fl(c, rounds):
    """Mimic NNCodec's flwr client (framework/applications/utils/flwr/nnc_client.py + fl.encode)
    without Flower: weight difference to the received global model, error accumulation,
    sparsification, nnc.compress with the client's approx_param_base (not updated by the
    encoder), server-side decoding with update_base_param=True whose state the client reuses
    (NNCodec shares it through client_ID<id>_internal_states.npz)."""
    m = peer.nncodec_modules()
    nnc, sp = m["nnc"], m["sparsification"]
    dev = c["device_id"]
    kw = dict(c["kwargs"])
    sparsity, gain, qpd = 0.6, 0.9, 2
    enc_base = peer.new_param_base(dev)
    dec_base = peer.new_param_base(dev)
    residuals = None
    res = {"inputs": [], "streams": [], "outputs": [], "oob": [], "hdsp_hits": [],
           "input_files": [], "notes": "", "intent": []}
    step_args, dec_args = [], []
    for i, (glob, local) in enumerate(rounds):
        diff = {k: local[k] - glob[k] for k in local}
        if residuals is not None:
            diff = {k: diff[k] + residuals[k] if k in residuals else diff[k] for k in diff}
        with peer.quiet():
            s = sp.apply_unstruct_spars_v2(kw["qp"], diff, target_sparsity=sparsity,
                                           qp_density=np.int32(qpd))
            diff = sp.apply_struct_spars_v2(s, gain=gain)
        diff = {k: np.asarray(v, dtype=np.float32) for k, v in diff.items()}
        with peer.quiet():
            intent = nnc.compress(copy.deepcopy(diff), bitstream_path=None, quantize_only=True,
                                  device_id=dev, **copy.deepcopy(kw))
            bs = bytes(nnc.compress(diff, bitstream_path=None, return_bitstream=True, model=None,
                                    model_executer=None, verbose=False, approx_param_base=enc_base,
                                    device_id=dev, **kw))
            client_view = nnc.decompress(bytearray(bs), approx_param_base=enc_base)
            out = nnc.decompress(bytearray(bs), approx_param_base=dec_base, update_base_param=True)
        for k in out:
            if not np.array_equal(out[k], client_view[k]):
                raise CaseError("client and server decodes differ")
        residuals = {k: (diff[k] - out[k]) if k in out else diff[k] for k in diff}
        enc_base = copy.deepcopy(dec_base)
        fname = f"input_{i}.npz"
        step_args.append({"parameter_dict": fname, "bitstream_path": None, "return_bitstream": True,
                          "approx_param_base": "<client state: the server-side decoder state after "
                                               "the previous stream>",
                          "device_id": dev, **kw})
        dec_args.append({"approx_param_base": "<server-side decoder state dict, carried>",
                         "update_base_param": True})
        res["inputs"].append(diff)
        res["streams"].append(bs)
        res["outputs"].append(dict(out))
        res["oob"].append(None)
        res["intent"].append(intent)
        res["input_files"].append(fname)
    res["gen_call"] = "nncodec.nnc.compress"
    res["gen_args"] = {"inputs": res["input_files"], "steps": step_args,
                       "preprocessing": {"model_diff": "locally trained - received global model",
                                         "err_accumulation": True,
                                         "apply_unstruct_spars_v2": {"qp": kw["qp"], "target_sparsity": sparsity,
                                                                     "qp_density": qpd},
                                         "apply_struct_spars_v2": {"gain": gain},
                                         "note": "input_<i>.npz holds the dict after preprocessing, "
                                                 "exactly as passed to compress"}}
    res["dec_call"] = "nncodec.nnc.decompress"
    res["dec_args"] = {"steps": dec_args}
    res["notes"] = (f" State: as in NNCodec's flwr client/server, the encoder passes the client's "
                    f"approx_param_base (device_id {dev}) without update_base_param, the server decodes "
                    f"each stream with nnc.decompress(approx_param_base=<server state>, "
                    f"update_base_param=True), and that updated state is the client's state for the next "
                    f"round. Expected = what each server-side decode call returns (the sparse update).")
    return res


def consistency(c, res):
    """Compare NNCodec's decoder output with the encoder's own reconstruction (quantize_only /
    approximator.rec of the quantised data).  Returns (checked, [(stream, tensor, n_diff, size)])."""
    if c["api"] in ("nn", "torch") or c.get("decode", {}).get("kwargs", {}).get("reconstruct_lsa"):
        return False, []
    bad = []
    for i, (intent, out) in enumerate(zip(res["intent"], res["outputs"])):
        if intent is None:
            return False, []
        for k, v in intent.items():
            a = np.asarray(v, np.float64)
            if k in out:
                b = np.asarray(out[k], np.float64)
                n = a.size if a.shape != b.shape else int(np.sum(a != b))
            else:
                n = int(np.count_nonzero(a))      # omitted tensors must be all-zero
            if n:
                bad.append((i, k, n, int(a.size)))
    return True, bad


def write_case(c, res, outdir):
    """Build every file of the case in memory, check it, then replace the case folder."""
    d = os.path.join(outdir, c["name"])
    files = {}
    # inputs
    for fname, inp in zip(res["input_files"], res["inputs"]):
        files[fname] = npzio.npz_bytes({k: np.asarray(v) for k, v in inp.items()})
    expected = []
    stream_names = []
    units_list = []
    for i, (bs, out) in enumerate(zip(res["streams"], res["outputs"])):
        sname = f"stream_{i}.nnc"
        stream_names.append(sname)
        files[sname] = bs
        units = hdrparse.parse_stream(bs, res["oob"][i])
        check_headers(c, units, res["inputs"][i], out)
        units_list.append(units)
        ent, arrays = expected_entry(sname, f"expected_{i}.npz", out)
        if arrays is not None:
            files[f"expected_{i}.npz"] = npzio.npz_bytes(arrays)
        expected.append(ent)
    feats = derive_features(c, res["streams"], units_list, res["inputs"], res["outputs"], res["hdsp_hits"])
    checked, bad = consistency(c, res)
    if bad:
        multi = len(res["streams"]) > 1
        res["notes"] += (" NOTE: NNCodec's decoder output differs from NNCodec's own encoder-side "
                         "reconstruction for " + "; ".join(
                             (f"stream {i} " if multi else "") + f"{k}: {n} of {sz} values"
                             for i, k, n, sz in bad)
                         + " (an NNCodec encoder-side inconsistency, see KNOWN_NNCODEC_FAILURES.md); "
                           "the stream is valid and the expected output is what the decoder returns.")
    if c["mode"] == "single":
        gen_input = "input.npz"
    else:
        gen_input = None
    dec_args = res["dec_args"]
    meta = {
        "name": c["name"],
        "description": c["description"] + res["notes"],
        "features": feats,
        "kind": "positive",
        "cross_checked": True,
        "mode": c["mode"],
        "generator": {"tool": "nncodec", "version": NNCODEC_VERSION, "call": res["gen_call"],
                      "args": jsonable(res["gen_args"]), "input": gen_input, "script": SCRIPT},
        "decode_call": {"call": res["dec_call"], "args": jsonable(dec_args)},
        "streams": stream_names,
        "expected": expected,
    }
    files["case.json"] = (json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode()
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for fname, data in files.items():
        with open(os.path.join(d, fname), "wb") as fh:
            fh.write(data)
    return {"name": c["name"], "features": feats, "mode": c["mode"], "streams": len(stream_names),
            "total_bytes": int(sum(len(b) for b in res["streams"])),
            "folder_bytes": int(sum(len(v) for v in files.values())),
            "encoder_decoder_consistent": (not bad) if checked else None}


def run_case(c, outdir):
    seed = case_seed(c)
    seed_all(seed)
    rng = np.random.RandomState(seed)
    with tempfile.TemporaryDirectory(prefix="nnr_gen_") as tmp:
        if c["mode"] == "single":
            res = run_single(c, rng, tmp)
        else:
            res = run_sequence(c, rng, tmp)
    return write_case(c, res, outdir)


# ------------------------------------------------------------------------------------------------

def self_test():
    """core_encode must reproduce nnc.compress byte for byte for gpi 1."""
    m = peer.nncodec_modules()
    rng = np.random.RandomState(12345)
    probes = [
        ({"w": case_defs.rn(rng, (20, 12), 0.05), "b": case_defs.rn(rng, (20,), 0.01)},
         dict(qp=-38, use_dq=True, scan_order=1)),
        (case_defs.conv_bn_fc(rng), dict(qp=-36, block_id_and_param_type=case_defs.BIP_CONV_BN_FC, bnf=True)),
        ({"w": case_defs.rn(rng, (16, 16), 0.05)}, dict(qp=-30, codebook_mode=1, row_skipping=True)),
    ]
    for inputs, kw in probes:
        with peer.quiet():
            ref = bytes(m["nnc"].compress(copy.deepcopy(inputs), bitstream_path=None,
                                          return_bitstream=True, **copy.deepcopy(kw)))
        got, _ = peer.core_encode(copy.deepcopy(inputs), general_profile_idc=1, **copy.deepcopy(kw))
        if got != ref:
            raise SystemExit(f"self-test failed: core_encode differs from nnc.compress for {kw}")


def generate(names, outdir, verbose=True):
    os.makedirs(outdir, exist_ok=True)
    selected = [c for c in case_defs.CASES if not names or c["name"] in names]
    unknown = set(names or []) - {c["name"] for c in case_defs.CASES}
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(sorted(unknown))}")
    seen = set()
    for c in case_defs.CASES:
        if c["name"] in seen:
            raise SystemExit(f"duplicate case name {c['name']}")
        seen.add(c["name"])
    self_test()
    index = []
    failures = []
    t0 = time.time()
    for c in selected:
        t = time.time()
        try:
            e = run_case(c, outdir)
            index.append(e)
            if verbose:
                cons = {True: "", False: "  [decoder != encoder reconstruction]", None: "  [not checked]"}
                print(f"{c['name']:32s} {e['streams']} stream(s) {e['total_bytes']:8d} B "
                      f"features {e['features']}  ({time.time() - t:.1f}s)"
                      f"{cons[e['encoder_decoder_consistent']]}", flush=True)
        except Exception as ex:  # report and continue; exit status says it failed
            failures.append(c["name"])
            print(f"{c['name']:32s} FAILED: {type(ex).__name__}: {ex}", flush=True)
            traceback.print_exc()
    if not names:
        # full run: drop stale NNCodec case folders (other generators' cases, such as the
        # negative ones of conformance/negative/, are not ours to remove) and write the index
        keep = {c["name"] for c in case_defs.CASES}
        for d in sorted(os.listdir(outdir)):
            p = os.path.join(outdir, d)
            meta = os.path.join(p, "case.json")
            if os.path.isdir(p) and d not in keep and os.path.exists(meta):
                with open(meta) as fh:
                    tool = json.load(fh).get("generator", {}).get("tool")
                if tool == "nncodec":
                    shutil.rmtree(p)
        write_index(outdir, index)
    elif os.path.exists(os.path.join(outdir, "INDEX.json")):
        # partial run: update the entries of the regenerated cases
        with open(os.path.join(outdir, "INDEX.json")) as fh:
            old = {e["name"]: e for e in json.load(fh)["cases"]}
        old.update({e["name"]: e for e in index})
        order = [c["name"] for c in case_defs.CASES]
        write_index(outdir, [old[n] for n in order if n in old])
    if verbose:
        print(f"{len(index)} case(s) written to {outdir} in {time.time() - t0:.1f}s"
              + (f"; FAILED: {', '.join(failures)}" if failures else ""))
    return failures


def write_index(outdir, index):
    doc = {"generator": SCRIPT, "tool": "nncodec", "version": NNCODEC_VERSION,
           "count": len(index),
           "total_stream_bytes": int(sum(e["total_bytes"] for e in index)),
           "cases": index}
    with open(os.path.join(outdir, "INDEX.json"), "w") as fh:
        fh.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def compare_trees(a, b, names=None):
    """List of differences between two case trees (files compared byte for byte)."""
    diffs = []

    def walk(root):
        out = set()
        for dp, _, fns in os.walk(root):
            for fn in fns:
                out.add(os.path.relpath(os.path.join(dp, fn), root))
        return out

    fa, fb = walk(a), walk(b)
    if names:
        keep = lambda p: p.split(os.sep)[0] in names
        fa, fb = {p for p in fa if keep(p)}, {p for p in fb if keep(p)}
    for p in sorted(fa - fb):
        diffs.append(f"only in regenerated output: {p}")
    for p in sorted(fb - fa):
        diffs.append(f"only in {b}: {p}")
    for p in sorted(fa & fb):
        if not filecmp.cmp(os.path.join(a, p), os.path.join(b, p), shallow=False):
            diffs.append(f"differs: {p}")
    return diffs


def probe_failures():
    """Re-run the calls listed in cases.PROBES; each is expected to raise."""
    m = peer.nncodec_modules()
    ok = True
    for p in case_defs.PROBES:
        seed = zlib.crc32(p["name"].encode())
        seed_all(seed)
        rng = np.random.RandomState(seed)
        c = dict(p, features=[], description="")
        c.setdefault("mode", "single")
        stage = "encode"
        try:
            with tempfile.TemporaryDirectory() as tmp:
                if c["mode"] == "sequence":
                    stage = "sequence"
                    run_sequence(c, rng, tmp)
                    inputs = None
                elif c["api"] == "raw_float":
                    inputs = c["build"](rng)
                    raw_float_probe(inputs)
                else:
                    inputs = c["build"](rng)
                    es = {"enc_base": peer.new_param_base()} if p.get("stateful") else None
                    ds = {"dec_base": peer.new_param_base()} if p.get("stateful") else None
                    bs, _, _, extra = encode(c, inputs, c["kwargs"], tmp, es)
                    stage = "decode"
                    decode(c, bs, default_decode(c), ds, oob=extra.get("oob"))
            print(f"{p['name']}: NO FAILURE (unexpected) -- {p['what']}")
            ok = False
        except BaseException as ex:  # SystemExit from NNCodec included
            if isinstance(ex, CaseError) and ex.__cause__ is not None:
                stage = str(ex).split(":")[0] + (" decode" if "decode" in str(ex) else " encode")
                ex = ex.__cause__
            tb = traceback.extract_tb(ex.__traceback__)
            where = [f"{os.path.relpath(fr.filename, os.path.dirname(m['nncodec'].__file__)) if 'nncodec' in fr.filename else os.path.basename(fr.filename)}:{fr.lineno} {fr.name}"
                     for fr in tb if "nncodec" in fr.filename][-3:]
            msg = " ".join(str(ex).split())[:200]
            print(f"{p['name']}: {stage} fails: {type(ex).__name__}: {msg}\n    what: {p['what']}\n"
                  f"    at: {' <- '.join(reversed(where))}")
    return ok


def raw_float_probe(inputs):
    """Leave a float tensor unquantised (no approx_method) and hand it to coder.encode, which
    would have to write NNR_PT_RAW_FLOAT."""
    core = peer.nncodec_modules()["nnc_core"]
    with peer.quiet():
        mdl = core.nnr_model.NNRModel(inputs)
        info = mdl.model_info
        adata = core.approximator.init_approx_data(inputs, info, qp_density=2, scan_order=0)
        enc_info = {"cabac_unary_length_minus1": 10, "param_opt_flag": True, "partial_data_counter": 0,
                    "general_profile_idc": 1, "node_id_present_flag": 1, "device_id": 0,
                    "mps_parent_signalling_enabled_flag": 0, "parent_node_id_present_flag": 0,
                    "temporal_context_modeling_flag": 0, "row_skip_enabled_flag": 0, "pre_signalling": 0}
        adata["dq_flag"] = {k: 0 for k in inputs}
        core.coder.encode(enc_info=enc_info, model_info=info, approx_data=adata)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="generate only these cases")
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temporary folder and compare byte for byte with --out")
    ap.add_argument("--list", action="store_true", help="list the case names and exit")
    ap.add_argument("--probe-failures", action="store_true",
                    help="re-run the known NNCodec failures (cases.PROBES) and print a summary")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        for c in case_defs.CASES:
            print(c["name"])
        return 0
    m = peer.nncodec_modules()
    if m["version"] != NNCODEC_VERSION:
        raise SystemExit(f"needs nncodec {NNCODEC_VERSION}, found {m['version']}")
    if a.probe_failures:
        return 0 if probe_failures() else 1
    if a.check:
        with tempfile.TemporaryDirectory(prefix="nnr_check_") as tmp:
            failed = generate(a.only, tmp, verbose=not a.quiet)
            # only this generator's cases (and its index): negative cases live beside them
            diffs = compare_trees(tmp, a.out, a.only or {c["name"] for c in case_defs.CASES} | {"INDEX.json"})
        if failed:
            print("generation failed for: " + ", ".join(failed))
        for d in diffs:
            print(d)
        if diffs or failed:
            print(f"CHECK FAILED: {len(diffs)} difference(s)")
            return 1
        print("CHECK OK: regenerated output is byte-identical to " + a.out)
        return 0
    failed = generate(a.only, a.out, verbose=not a.quiet)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
