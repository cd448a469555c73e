"""One side of a benchmark: a long-lived process that times what the driver asks for.

    <python> benchmarks/server.py nnr|nncodec          # serve JSON requests on stdin
    <python> benchmarks/server.py nnr|nncodec --peak REQUEST_JSON   # one request, peak RSS

Runs under nnr's interpreter or under NNCodec 2.1.3's venv (``~/.cache/nnr-peer/nnc-venv``); it
imports only numpy and the side's package.  Each request (one JSON line) is answered with one JSON
line: the wall time of the operation alone (inputs are read before the clock starts, outputs
hashed after it stops) and a SHA-256 of the result, so both sides' results can be compared
without moving them.  Requests:

* ``{"op": "decode", "stream": PATH, "workers": N}`` — decode a stream; the hash covers every
  tensor's name, shape and float32 / int32 bytes, in name order.
* ``{"op": "encode", "tensors": NPZ, "settings": {...}, "out": PATH, "workers": N}`` — encode
  the arrays of an .npz file (nnr: ``nnr.encode``; NNCodec: ``nnc.compress``); the hash is the
  stream's.

``--peak`` runs one request in this fresh process and reports the peak resident set size beyond
what the process held after importing its package (Linux: VmHWM reset through
``/proc/self/clear_refs``; elsewhere ``ru_maxrss`` less the RSS after import).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import time

import numpy as np

SIDE = sys.argv[1]
if SIDE == "nnr":
    import nnr
    from nnr.cabac import dec_levels as _levels

    BUILD = "pure-python" if _levels.__file__.endswith(".py") else "compiled"
else:
    with contextlib.redirect_stdout(io.StringIO()):
        from nncodec import nnc
    BUILD = "nncodec-2.1.3"


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _maxrss_kb() -> int:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == "darwin" else r


def hash_arrays(arrays: dict[str, np.ndarray]) -> tuple[str, int]:
    h = hashlib.sha256()
    nbytes = 0
    for name in sorted(arrays):
        v = np.asarray(arrays[name])
        if v.dtype.kind == "f" and v.dtype != np.float32:
            v = v.astype(np.float32)
        v = np.ascontiguousarray(v)
        h.update(f"{name}|{v.dtype.str}|{v.shape}|".encode())
        h.update(memoryview(v).cast("B"))
        nbytes += v.nbytes
    return h.hexdigest(), nbytes


def do_decode(req: dict) -> dict:
    with open(req["stream"], "rb") as f:
        data = f.read()
    workers = int(req.get("workers", 1))
    if SIDE == "nnr":
        t = time.perf_counter()
        out = nnr.decode(data, workers=workers) if workers != 1 else nnr.decode(data)
        dt = time.perf_counter() - t
    else:
        buf = bytearray(data)
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            out = nnc.decompress(buf)
        dt = time.perf_counter() - t
    del data
    digest, nbytes = hash_arrays(out)
    return {"s": dt, "sha256": digest, "decoded_bytes": nbytes, "tensors": len(out)}


def do_encode(req: dict) -> dict:
    with np.load(req["tensors"]) as z:
        tensors = {k: z[k] for k in z.files}
    settings = dict(req.get("settings", {}))
    workers = int(req.get("workers", 1))
    if SIDE == "nnr":
        if workers != 1:
            settings["workers"] = workers
        # NNCodec's bytes (no block rows split off: nnr.encoding.split) unless asked otherwise
        settings.setdefault("split_min_elements", 0)
        t = time.perf_counter()
        bs = nnr.encode(tensors, **settings)
        dt = time.perf_counter() - t
    else:
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            bs = nnc.compress(tensors, bitstream_path=None, return_bitstream=True, verbose=False, **settings)
        dt = time.perf_counter() - t
        bs = bytes(bs)
    if req.get("out"):
        with open(req["out"], "wb") as f:
            f.write(bs)
    return {"s": dt, "sha256": hashlib.sha256(bs).hexdigest(), "bytes": len(bs)}


OPS = {"decode": do_decode, "encode": do_encode}


def main() -> int:
    if len(sys.argv) > 3 and sys.argv[2] == "--peak":
        req = json.loads(sys.argv[3])
        base_kb = _status_kb("VmRSS") or _maxrss_kb()
        exact = _reset_peak()
        res = OPS[req["op"]](req)
        peak_kb = (_status_kb("VmHWM") if exact else None) or _maxrss_kb()
        res.update(build=BUILD, rss_after_import_mb=base_kb / 1024, peak_beyond_import_mb=max(0, peak_kb - base_kb) / 1024,
                   peak_method="VmHWM reset after import" if exact else "ru_maxrss - RSS after import")
        print(json.dumps(res), flush=True)
        return 0
    # The protocol owns the original stdout; anything the libraries print goes to stderr.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    print(json.dumps({"ready": True, "build": BUILD}), file=proto, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            res = OPS[req["op"]](req)
        except Exception as e:  # reported to the driver, which fails the row
            res = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res), file=proto, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
