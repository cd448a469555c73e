"""Every row of issue 9's table, nnr against NNCodec 2.1.3 in one run, as a table and JSON.

    python benchmarks/run_all.py [--quick] [--rounds N] [--no-scale] [--json FILE]

Run it with the interpreter that has nnr installed (compiled), from outside the checkout or
with the checkout not on ``sys.path`` (otherwise the uncompiled source tree is measured).
NNCodec runs in its own venv (``--nncodec-python``, default ``~/.cache/nnr-peer/nnc-venv``).
Rows: decoding (``bench_decode.py``), encoding (``bench_encode.py``), parallel decoding, decode
peak memory, and the ~100M-parameter scale benchmark (``bench_scale.py``).  ``--quick`` runs
2 rounds per row and the scale benchmark at 24 x 1024x1024.  The JSON (default
``benchmarks-results.json`` in the current directory) holds every row with its times, ratios,
goals and identity checks, and the machine load seen.  Exit status 1 if any output or stream
differs from NNCodec's.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from bench_decode import arg_parser, decode_rows, print_row, start_sides  # noqa: E402
from bench_encode import encode_rows  # noqa: E402
from bench_scale import print_scale, scale_row  # noqa: E402


def markdown(result: dict[str, Any]) -> str:
    """The README's table of a run."""
    lines = ["| work | NNCodec | nnr | nnr / NNCodec | goal | identical |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        same = "yes" if r.get("outputs_identical", True) and r.get("bytes_identical", True) else "NO"
        if "nncodec_s" in r:
            extra = f" (workers=1: {r['nnr_workers1_s']:.2f} s)" if "nnr_workers1_s" in r else ""
            lines.append(f"| {r['row']} | {r['nncodec_s']:.2f} s | {r['nnr_s']:.2f} s{extra} | {r['ratio']:.2f} | "
                         f"<= {r['goal']} | {same} |")
        elif "value" in r:
            lines.append(f"| {r['row']}: peak RSS beyond import, less 32 MB, per MB decoded | "
                         f"{r['nncodec_per_decoded_mb']:.2f}x ({r['nncodec_peak_beyond_import_mb']:.0f} MB) | "
                         f"{r['value']:.2f}x ({r['nnr_peak_beyond_import_mb']:.0f} MB) | {r['ratio']:.2f} | "
                         f"<= {r['goal']}x | {same} |")
        else:
            for op in ("encode", "decode"):
                lines.append(f"| {r['row']} {op} (time, peak RSS) | {r[f'{op}_nncodec_s']:.1f} s, "
                             f"{r[f'{op}_nncodec_peak_mb']:.0f} MB | {r[f'{op}_nnr_s']:.1f} s, {r[f'{op}_nnr_peak_mb']:.0f} MB | "
                             f"{r[f'{op}_ratio']:.2f} (RSS {r[f'{op}_peak_ratio']:.2f}) | time/param vs "
                             f"{r['small_model']}: {r[f'{op}_nnr_time_per_param_growth']:.2f} | {same} |")
    return "\n".join(lines)


def main() -> int:
    ap = arg_parser(__doc__)
    ap.add_argument("--no-scale", action="store_true", help="skip the 100M-parameter benchmark")
    ap.set_defaults(json="benchmarks-results.json")
    args = ap.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    t0 = time.time()
    load_start = harness.load_note()
    print(f"issue-9 benchmarks, {rounds} interleaved rounds per row; {load_start}", flush=True)
    nnr, peer = start_sides(args.nncodec_python)
    done: list[dict[str, Any]] = []

    def report(r: dict[str, Any], show: Any = print_row) -> None:
        """Print a row and keep the JSON current (a run cut short keeps what it measured)."""
        show(r)
        done.append(r)
        with open(args.json, "w") as f:
            json.dump({"nnr_build": nnr.build, "partial": True, "load_at_start": load_start, "rows": done}, f, indent=2)

    try:
        print(f"nnr build: {nnr.build}", flush=True)
        rows: list[dict[str, Any]] = decode_rows(nnr, peer, args.quick, rounds, report)
        rows += encode_rows(nnr, peer, args.quick, rounds, report)
    finally:
        nnr.close()
        peer.close()
    if not args.no_scale:
        rows.append(scale_row(sys.executable, args.nncodec_python, args.quick, lambda r: report(r, print_scale)))
    identical = all(r.get("outputs_identical", True) and r.get("bytes_identical", True) for r in rows)
    result = {"nnr_build": nnr.build, "quick": args.quick, "rounds": rounds, "load_at_start": load_start,
              "load_at_end": harness.load_note(), "seconds": time.time() - t0, "python": platform.python_version(),
              "all_identical": identical, "rows": rows}
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(markdown(result), flush=True)
    print(f"all outputs / streams identical: {identical};  {result['load_at_end']};  "
          f"{result['seconds']:.0f} s;  JSON: {args.json}", flush=True)
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
