"""Decoding speed of nnr against NNCodec 2.1.3, measured in the same run on the same streams.

    python benchmarks/bench_decode.py [--nncodec-python PATH] [--repeat N] [--json FILE]

Streams: float32 tensors of 1M (1024x1024) and 4M (2048x2048) elements, N(0, 0.05²), QP -38,
dependent quantization on and off, written by NNCodec's ``nnc.compress`` (its defaults otherwise).
Both decoders run in separate processes started by this script; each reports the best of N wall
times of decoding only (import and file reading excluded).  The ratio nnr / NNCodec < 1 means
nnr is faster.  Both outputs are compared bit-exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

DEFAULT_PEER = os.environ.get("NNCODEC_PYTHON", os.path.expanduser("~/.cache/nnr-peer/nnc-venv/bin/python"))

CASES = [("1M", 1024, True), ("1M", 1024, False), ("4M", 2048, True), ("4M", 2048, False)]

MAKE = textwrap.dedent("""
    import contextlib, io, sys, numpy as np
    from nncodec import nnc
    out, n, dq = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    x = (np.random.RandomState(0).randn(n, n) * 0.05).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):
        bs = nnc.compress({"w": x}, bitstream_path=out + ".tmp", qp=-38, use_dq=dq, return_bitstream=True, verbose=False)
    open(out, "wb").write(bs)
""")

TIME_NNCODEC = textwrap.dedent("""
    import contextlib, io, sys, time, numpy as np
    from nncodec import nnc
    path, repeat = sys.argv[1], int(sys.argv[2])
    data = bytearray(open(path, "rb").read())
    best = 1e9
    for _ in range(repeat):
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            out = nnc.decompress(data)
        best = min(best, time.perf_counter() - t)
    np.save(path + ".nncodec.npy", out["w"])
    print(best)
""")

TIME_NNR = textwrap.dedent("""
    import sys, time, numpy as np, nnr
    from nnr.cabac import levels
    path, repeat = sys.argv[1], int(sys.argv[2])
    data = open(path, "rb").read()
    best = 1e9
    for _ in range(repeat):
        t = time.perf_counter()
        out = nnr.decode(data)
        best = min(best, time.perf_counter() - t)
    np.save(path + ".nnr.npy", out["w"])
    print(best, "compiled" if not levels.__file__.endswith(".py") else "pure-python")
""")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nncodec-python", default=DEFAULT_PEER)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()
    if not os.path.exists(args.nncodec_python):
        print(f"NNCodec's python not found at {args.nncodec_python}; run conformance/generate/setup_peer.sh", file=sys.stderr)
        return 2
    import numpy as np

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, n, dq in CASES:
            path = os.path.join(tmp, f"w_{size}_dq{int(dq)}.nnc")
            subprocess.run([args.nncodec_python, "-c", MAKE, path, str(n), "1" if dq else "0"], check=True)
            t_peer = float(subprocess.run([args.nncodec_python, "-c", TIME_NNCODEC, path, str(args.repeat)],
                                          check=True, capture_output=True, text=True).stdout.split()[0])
            out = subprocess.run([sys.executable, "-c", TIME_NNR, path, str(args.repeat)], check=True,
                                 capture_output=True, text=True).stdout.split()
            t_nnr, build = float(out[0]), out[1]
            a, b = np.load(path + ".nnr.npy"), np.load(path + ".nncodec.npy")
            same = a.dtype == b.dtype and a.tobytes() == b.tobytes()
            r = {"stream": f"{size} dq={'on' if dq else 'off'}", "bytes": os.path.getsize(path), "nncodec_s": t_peer,
                 "nnr_s": t_nnr, "ratio": t_nnr / t_peer, "identical": same, "nnr_build": build}
            results.append(r)
            print(f"{r['stream']:<12} {r['bytes']:>9} B   NNCodec {t_peer:7.3f} s   nnr {t_nnr:7.3f} s   "
                  f"ratio {r['ratio']:.2f}   {'identical' if same else 'MISMATCH'}   ({build})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0 if all(r["identical"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
