#!/usr/bin/env python
"""Re-encode every stored NNCodec case with nnr and compare the bytes.

For each positive case in ``bitstreams/`` that has its encoder input stored, the case's generator
call (``case.json`` -> ``generator``) is replayed through nnr's drop-in API
(``nnr.nncodec.nnc.compress`` / ``compress_model``, ``nnr.nncodec.tensor.encode``,
``nnr.nncodec.nn.encode``; the ``nnc_core``-level cases through ``nnc.compress`` with
``general_profile_idc`` / ``out_of_band_signaling``), carrying the incremental state over the
streams of a sequence the way the generator did, and every stream is compared with NNCodec's.

    python conformance/encode_check.py [bitstreams] [-k NAME] [--json report.json] [-v]

Prints a table (case, call, streams, bytes, result) and exits with 1 if any stream differs or a
case fails, 0 otherwise.  Results: ``exact`` (every stream byte-identical), ``DIFF`` (first
differing stream and byte), ``ERROR`` (the encoder raised).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import traceback
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
try:  # the installed (compiled) nnr if there is one, else the source tree
    import nnr  # noqa: F401
except ImportError:
    sys.path.insert(0, REPO)

from nnr.nncodec import HdspTool, new_approx_param_base, nn, nnc, tensor  # noqa: E402

DROP = ("parameter_dict", "bitstream_path", "return_bitstream", "approx_param_base", "update_base_param",
        "hdsp_tool", "model", "model_path_or_object", "tensor", "results")


def load_npz(path: str) -> dict[str, np.ndarray]:
    z = np.load(path)
    return {k: z[k] for k in z.files}


def clean(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in DROP}


def core_model(desc: dict[str, Any]) -> dict[str, Any]:
    """The NNRModel description of a core case, in the generator's order (conformance/generate/
    cases.py dc_model: weight, local scaling, bias; JSON stores the keys sorted)."""
    rank = {"weight": 0, "weight.ls": 1, "bias": 2}
    dims = desc["parameter_dimensions"]
    types = desc.get("parameter_type", {})
    order = sorted(dims, key=lambda n: (rank.get(types.get(n, ""), 3), list(dims).index(n)))
    return {"parameter_dimensions": {n: dims[n] for n in order}, "parameter_type": types,
            "block_identifier": desc.get("block_identifier", {})}


def core_kwargs(args: dict[str, Any]) -> dict[str, Any]:
    kw = clean(args)
    if "out_of_band_signaling" in kw:
        kw["out_of_band_signaling"] = bool(kw["out_of_band_signaling"])
    if "model" in args:
        kw["model"] = core_model(args["model"]["NNRModel"])
    return kw


def encode_case(case_dir: str, c: dict[str, Any]) -> list[bytes]:
    g = c["generator"]
    call = g["call"]
    args = g["args"]
    if c["mode"] == "single":
        inputs = load_npz(os.path.join(case_dir, g.get("input") or "input.npz"))
        if call == "nncodec.nnc.compress":
            return [bytes(nnc.compress(inputs, **clean(args)))]
        if call.startswith("nncodec.nnc_core"):
            return [bytes(nnc.compress(inputs, **core_kwargs(args)))]
        if call == "nncodec.tensor.encode":
            ((_, arr),) = inputs.items()
            return [bytes(tensor.encode(arr, clean(args["args"])))]
        if call == "nncodec.nn.encode":
            return [bytes(nn.encode(inputs, clean(args["args"])))]
        if call == "nncodec.nnc.compress_model":
            return [bytes(nnc.compress_model(inputs, **clean(args)))]
        raise ValueError(f"unknown generator call {call}")
    steps = args["steps"]
    files = args["inputs"]
    out: list[bytes] = []
    if "preprocessing" in args:  # federated-learning client: state = the server decoder's after each stream
        dev = int(steps[0].get("device_id", 0))
        dec_state = new_approx_param_base()
        dec_state["device_id"] = dev
        for f, st in zip(files, steps):
            inputs = load_npz(os.path.join(case_dir, f))
            enc_state = copy.deepcopy(dec_state)
            bs = bytes(nnc.compress(inputs, approx_param_base=enc_state, **clean(st)))
            nnc.decompress(bs, approx_param_base=dec_state, update_base_param=True)
            out.append(bs)
        return out
    dev = max(int(st.get("device_id", 0)) for st in steps)
    state = new_approx_param_base()
    state["device_id"] = dev
    tool = HdspTool(True) if any("hdsp_tool" in st for st in steps) else None
    for f, st in zip(files, steps):
        inputs = load_npz(os.path.join(case_dir, f))
        stateful = "approx_param_base" in st
        base = state if stateful else None
        hdsp = tool if "hdsp_tool" in st else None
        if call == "nncodec.nnc.compress":
            bs = nnc.compress(inputs, approx_param_base=base, update_base_param=stateful and bool(
                st.get("update_base_param", False)), hdsp_tool=hdsp, **clean(st))
        elif call.startswith("nncodec.nnc_core"):
            bs = nnc.compress(inputs, approx_param_base=base, update_base_param=stateful, hdsp_tool=hdsp,
                              **core_kwargs(st))
        elif call == "nncodec.tensor.encode":
            ((_, arr),) = inputs.items()
            bs = tensor.encode(arr, clean(st["args"]), approx_param_base=base, hdsp_tool=hdsp)
        else:
            raise ValueError(f"unknown generator call {call} in a sequence")
        out.append(bytes(bs))
    return out


def first_diff(a: bytes, b: bytes) -> int:
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


def run(directory: str, only: list[str], verbose: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in sorted(os.listdir(directory)):
        case_dir = os.path.join(directory, name)
        path = os.path.join(case_dir, "case.json")
        if not os.path.isfile(path) or (only and not any(k in name for k in only)):
            continue
        with open(path) as f:
            c = json.load(f)
        if c.get("kind") != "positive" or c.get("generator", {}).get("tool") != "nncodec":
            continue
        want = [open(os.path.join(case_dir, s), "rb").read() for s in c["streams"]]
        row: dict[str, Any] = {"case": name, "call": c["generator"]["call"].split(" ")[0], "streams": len(want),
                               "nncodec_bytes": sum(len(w) for w in want)}
        t0 = time.perf_counter()
        try:
            got = encode_case(case_dir, c)
        except Exception as e:  # noqa: BLE001 - reported per case
            row.update(result="ERROR", detail=f"{type(e).__name__}: {e}", nnr_bytes=None)
            if verbose:
                traceback.print_exc()
        else:
            row["nnr_bytes"] = sum(len(x) for x in got)
            bad = [i for i, (x, w) in enumerate(zip(got, want)) if x != w]
            if len(got) != len(want):
                row.update(result="DIFF", detail=f"{len(got)} streams, NNCodec wrote {len(want)}")
            elif bad:
                i = bad[0]
                row.update(result="DIFF", detail=f"stream {i}: first difference at byte "
                                                 f"{first_diff(got[i], want[i])} ({len(got[i])} vs {len(want[i])} bytes)")
            else:
                row.update(result="exact", detail="")
        row["seconds"] = round(time.perf_counter() - t0, 3)
        rows.append(row)
        if verbose:
            print(f"{name}: {row['result']} {row.get('detail', '')}", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directory", nargs="?", default=os.path.join(REPO, "bitstreams"))
    p.add_argument("-k", "--only", action="append", default=[], help="only cases whose name contains this")
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    rows = run(a.directory, a.only, a.verbose)
    w = max([len(r["case"]) for r in rows] + [4])
    print(f"{'case':<{w}}  {'call':<26} {'streams':>7} {'nncodec B':>10} {'nnr B':>10}  result")
    for r in rows:
        nb = "-" if r["nnr_bytes"] is None else str(r["nnr_bytes"])
        print(f"{r['case']:<{w}}  {r['call']:<26} {r['streams']:>7} {r['nncodec_bytes']:>10} {nb:>10}  "
              f"{r['result']}{'  ' + r['detail'] if r['detail'] else ''}")
    exact = sum(r["result"] == "exact" for r in rows)
    print(f"\n{exact}/{len(rows)} cases byte-exact")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if exact == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
