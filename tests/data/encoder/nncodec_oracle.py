"""NNCodec 2.1.3 as an oracle for tests/test_encoder_live.py (run with NNCodec's venv python).

Reads JSON from stdin: a list of cases ``{"npz": [paths, one per stream], "kwargs": [dict per
stream], "api": "compress" | "tensor" | "nn", "sequence": bool, "hdsp": bool, "device_id": int}``
and writes a JSON list to stdout: per case ``{"streams": [hex, ...]}`` or ``{"error": text}``.
A sequence carries one approx_param_base (update_base_param=True) and, with "hdsp", one
HdspTool(True) over its streams.

A case ``{"decode": [hex, ...], "sequence": bool, "hdsp": bool}`` is decoded instead (one
``nnc.decompress`` session, state carried like the generator's decoder side); the answer is
``{"tensors": [[[name, dtype, sha256 of the float32 / int32 bytes], ...] per stream]}``.
NNCodec is only called, none of its code is copied.
"""

import contextlib
import hashlib
import io
import json
import sys

import numpy as np


def digest(a):
    a = np.asarray(a)
    r = a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a.astype(np.int32)
    return hashlib.sha256(np.ascontiguousarray(r).tobytes()).hexdigest()


def decode(c, nnc, HdspTool):
    try:
        base = {"parameters": {}, "put_node_depth": {}, "device_id": 0, "parameter_id": {}} if c.get("sequence") else None
        tool = HdspTool(True) if c.get("hdsp") else None
        res = []
        for h in c["decode"]:
            kw = {}
            if base is not None:
                kw = dict(approx_param_base=base, update_base_param=True)
            if tool is not None:
                kw.update(hdsp_tool=tool, return_hls=True)
            with contextlib.redirect_stdout(io.StringIO()):
                r = nnc.decompress(bytearray(bytes.fromhex(h)), **kw)
            d = r[0] if isinstance(r, tuple) else r
            res.append([[k, str(np.asarray(v).dtype), digest(v)] for k, v in d.items()])
        return {"tensors": res}
    except BaseException as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    cases = json.load(sys.stdin)
    with contextlib.redirect_stdout(io.StringIO()):
        from nncodec import nn, nnc, tensor
        from nncodec.nnc_core.hdsp.hdsp_tool import HdspTool
    out = []
    for c in cases:
        if "decode" in c:
            out.append(decode(c, nnc, HdspTool))
            continue
        try:
            streams = []
            base = None
            tool = None
            if c.get("sequence"):
                base = {"parameters": {}, "put_node_depth": {}, "device_id": c.get("device_id", 0),
                        "parameter_id": {}}
                if c.get("hdsp"):
                    tool = HdspTool(True)
            for path, kw in zip(c["npz"], c["kwargs"]):
                z = np.load(path)
                d = {k: z[k] for k in z.files}
                with contextlib.redirect_stdout(io.StringIO()):
                    if c["api"] == "tensor":
                        (arr,) = d.values()
                        bs = tensor.encode(arr, dict(kw, results=c["tmp"]), approx_param_base=base, hdsp_tool=tool)
                    elif c["api"] == "nn":
                        bs = nn.encode(d, dict(kw, results=c["tmp"]))
                    else:
                        extra = {}
                        if base is not None:
                            extra = dict(approx_param_base=base, update_base_param=True, hdsp_tool=tool)
                        bs = nnc.compress(d, bitstream_path=None, return_bitstream=True, **kw, **extra)
                streams.append(bytes(bs).hex())
            out.append({"streams": streams})
        except BaseException as e:  # noqa: BLE001 - NNCodec raises SystemExit / AssertionError
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
