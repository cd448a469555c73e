"""Encoding speed of nnr against NNCodec 2.1.3, measured in the same run on the same tensors.

    python benchmarks/bench_encode.py [--nncodec-python PATH] [--repeat N] [--json FILE]

Tensors: float32 of 1M (1024x1024) and 4M (2048x2048) elements, N(0, 0.05²), encoded with
``nnc.compress``'s defaults (QP -38, parameter-set optimisation) and dependent quantization on
and off, by NNCodec's ``nnc.compress`` and by ``nnr.encode``.  Both run in separate processes
started by this script; each reports the best of N wall times of encoding only (import and input
generation excluded).  The ratio nnr / NNCodec < 1 means nnr is faster.  The two streams are
compared byte for byte.
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

TIME_NNCODEC = textwrap.dedent("""
    import contextlib, io, sys, time, numpy as np
    from nncodec import nnc
    out, n, dq, repeat = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
    x = (np.random.RandomState(0).randn(n, n) * 0.05).astype(np.float32)
    best = 1e9
    for _ in range(repeat):
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            bs = nnc.compress({"w": x}, bitstream_path=None, qp=-38, use_dq=dq, return_bitstream=True, verbose=False)
        best = min(best, time.perf_counter() - t)
    open(out, "wb").write(bs)
    print(best)
""")

TIME_NNR = textwrap.dedent("""
    import sys, time, numpy as np, nnr
    from nnr.cabac import levels
    out, n, dq, repeat = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
    x = (np.random.RandomState(0).randn(n, n) * 0.05).astype(np.float32)
    best = 1e9
    for _ in range(repeat):
        t = time.perf_counter()
        bs = nnr.encode({"w": x}, qp=-38, use_dq=dq)
        best = min(best, time.perf_counter() - t)
    open(out, "wb").write(bs)
    print(best, "compiled" if not levels.__file__.endswith(".py") else "pure-python")
""")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nncodec-python", default=DEFAULT_PEER)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=[f"{s} dq={d}" for s in ("1M", "4M") for d in ("on", "off")], action="append",
                    help="run only these cases")
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()
    if not os.path.exists(args.nncodec_python):
        print(f"NNCodec's python not found at {args.nncodec_python}; run conformance/generate/setup_peer.sh", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, n, dq in CASES:
            name = f"{size} dq={'on' if dq else 'off'}"
            if args.only and name not in args.only:
                continue
            p_peer = os.path.join(tmp, f"nncodec_{size}_{int(dq)}.nnc")
            p_nnr = os.path.join(tmp, f"nnr_{size}_{int(dq)}.nnc")
            argv = [str(n), "1" if dq else "0", str(args.repeat)]
            t_peer = float(subprocess.run([args.nncodec_python, "-c", TIME_NNCODEC, p_peer, *argv], check=True,
                                          capture_output=True, text=True).stdout.split()[0])
            out = subprocess.run([sys.executable, "-c", TIME_NNR, p_nnr, *argv], check=True, capture_output=True,
                                 text=True).stdout.split()
            t_nnr, build = float(out[0]), out[1]
            a, b = open(p_nnr, "rb").read(), open(p_peer, "rb").read()
            r = {"tensor": name, "bytes": len(b), "nncodec_s": t_peer, "nnr_s": t_nnr, "ratio": t_nnr / t_peer,
                 "identical": a == b, "nnr_build": build}
            results.append(r)
            print(f"{name:<12} {r['bytes']:>9} B   NNCodec {t_peer:7.3f} s   nnr {t_nnr:7.3f} s   "
                  f"ratio {r['ratio']:.2f}   {'identical' if a == b else 'MISMATCH'}   ({build})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0 if all(r["identical"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
