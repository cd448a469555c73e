"""Decoding speed and memory of nnr against NNCodec 2.1.3, measured in the same run on the same streams.

    python benchmarks/bench_decode.py [--quick] [--rounds N] [--json FILE] [--nncodec-python PATH]

Rows (issue 9), every stream written by NNCodec's ``nnc.compress``:

* ``decode 1M qp-32 dq=on|off`` — one 1024x1024 float32 tensor, N(0, 0.05²), QP -32;
* ``decode transformer 22M`` — a BERT-shaped checkpoint (103 tensors, 22.0M parameters,
  synthesized, see ``harness.transformer``), NNCodec's defaults (QP -38, DQ);
* ``decode 24x512x512 workers=2`` — 24 tensors of 512x512: nnr with ``workers=2`` against
  NNCodec in one process (nnr ``workers=1`` reported beside it);
* ``decode memory 24x512x512`` — peak RSS beyond ``import``, less 32 MB, per MB of decoded
  tensors, each side in a fresh process.

Each side is one process (``server.py``) timing the decode call only; rounds alternate the
sides and the median is reported.  Outputs are compared through SHA-256 hashes of every tensor.
``ratio`` = nnr / NNCodec (< 1: nnr faster / smaller).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Side  # noqa: E402

MB = 1 << 20


def _time_row(row: str, nnr: Side, peer: Side, stream: str, rounds: int, goal: float, workers: int = 1,
              extra_nnr: dict[str, int] | None = None) -> dict[str, Any]:
    arms = [("nncodec", lambda: peer.request(op="decode", stream=stream)),
            ("nnr", lambda: nnr.request(op="decode", stream=stream, workers=workers))]
    for key, w in (extra_nnr or {}).items():
        arms.append((key, lambda w=w: nnr.request(op="decode", stream=stream, workers=w)))
    t = harness.interleave(rounds, arms)
    hashes = set().union(*t.hashes.values())
    r: dict[str, Any] = {
        "row": row, "stream_bytes": os.path.getsize(stream), "tensors": t.last["nnr"]["tensors"],
        "decoded_bytes": t.last["nnr"]["decoded_bytes"], "nncodec_s": t.median("nncodec"), "nnr_s": t.median("nnr"),
        "ratio": t.median("nnr") / t.median("nncodec"), "goal": goal, "outputs_identical": len(hashes) == 1,
        "rounds": rounds, "nncodec_times": t.times["nncodec"], "nnr_times": t.times["nnr"],
    }
    if workers != 1:
        r["nnr_workers"] = workers
    for key in extra_nnr or {}:
        r[key + "_s"] = t.median(key)
        r[key + "_ratio"] = t.median(key) / t.median("nncodec")
    r["meets_goal"] = r["ratio"] <= goal and r["outputs_identical"]
    return r


def memory_row(nnr_python: str, peer_python: str, stream: str, rounds: int) -> dict[str, Any]:
    """Peak RSS of one decode in fresh processes (median of ``rounds`` per side)."""
    res: dict[str, list[dict[str, Any]]] = {"nnr": [], "nncodec": []}
    for r in range(rounds):
        for side, py in (("nnr", nnr_python), ("nncodec", peer_python))[:: 1 if r % 2 == 0 else -1]:
            res[side].append(harness.peak(side, py, op="decode", stream=stream, workers=1))
    out: dict[str, Any] = {"row": "decode memory 24x512x512", "stream_bytes": os.path.getsize(stream)}
    decoded_mb = res["nnr"][0]["decoded_bytes"] / MB
    out["decoded_mb"] = decoded_mb
    for side in ("nnr", "nncodec"):
        peaks = sorted(x["peak_beyond_import_mb"] for x in res[side])
        p = peaks[len(peaks) // 2]
        out[f"{side}_peak_beyond_import_mb"] = p
        out[f"{side}_per_decoded_mb"] = max(0.0, p - 32) / decoded_mb
    out["peak_method"] = res["nnr"][0]["peak_method"]
    out["outputs_identical"] = len({x["sha256"] for v in res.values() for x in v}) == 1
    out["value"] = out["nnr_per_decoded_mb"]
    out["goal"] = 1.5
    out["ratio"] = out["nnr_peak_beyond_import_mb"] / max(out["nncodec_peak_beyond_import_mb"], 1e-9)
    out["meets_goal"] = out["value"] <= 1.5 and out["outputs_identical"]
    return out


def decode_rows(nnr: Side, peer: Side, quick: bool, rounds: int, report: Any = print) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(r: dict[str, Any]) -> None:
        rows.append(r)
        report(r)

    one_m = harness.save_npz("gauss_1024x1024", lambda: harness.gaussian(1024, 1024))
    for dq in (True, False):
        s = harness.peer_stream(peer, "gauss_1024x1024", one_m, qp=-32, use_dq=dq)
        add(_time_row(f"decode 1M qp-32 dq={'on' if dq else 'off'}", nnr, peer, s, rounds, 1.0))
    tr = harness.save_npz("transformer_22M", harness.transformer)
    s = harness.peer_stream(peer, "transformer_22M", tr)
    add(_time_row("decode transformer 22M (103 tensors)", nnr, peer, s, max(1, rounds - 2) if quick else rounds, 1.0))
    st = harness.save_npz("stacked_24x512x512", lambda: harness.stacked(24, 512))
    s = harness.peer_stream(peer, "stacked_24x512x512", st)
    add(_time_row("decode 24x512x512 workers=2", nnr, peer, s, rounds, 0.6, workers=2,
                  extra_nnr={"nnr_workers1": 1}))
    add(memory_row(nnr.python, peer.python, s, 1 if quick else 3))
    return rows


def print_row(r: dict[str, Any]) -> None:
    if "nncodec_s" in r:
        extra = "".join(f"   {k[:-2]} {r[k]:.3f} s" for k in r if k.endswith("_s") and k not in ("nncodec_s", "nnr_s"))
        print(f"{r['row']:<40} NNCodec {r['nncodec_s']:8.3f} s   nnr {r['nnr_s']:8.3f} s   ratio {r['ratio']:.2f} "
              f"(goal <= {r['goal']})   {'identical' if r.get('outputs_identical', r.get('bytes_identical')) else 'MISMATCH'}"
              f"{extra}", flush=True)
    elif "value" in r:
        print(f"{r['row']:<40} nnr {r['nnr_peak_beyond_import_mb']:.1f} MB beyond import = {r['value']:.2f} x decoded "
              f"after 32 MB (goal <= {r['goal']}); NNCodec {r['nncodec_peak_beyond_import_mb']:.1f} MB = "
              f"{r['nncodec_per_decoded_mb']:.2f} x   {'identical' if r['outputs_identical'] else 'MISMATCH'}", flush=True)
    else:
        print(json.dumps(r), flush=True)


def start_sides(peer_python: str) -> tuple[Side, Side]:
    if not os.path.exists(peer_python):
        raise SystemExit(f"NNCodec's python not found at {peer_python}; run conformance/generate/setup_peer.sh")
    return Side("nnr", sys.executable), Side("nncodec", peer_python)


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nncodec-python", default=harness.DEFAULT_PEER)
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    ap.add_argument("--rounds", type=int, help="interleaved rounds per row (default 5, --quick 2)")
    ap.add_argument("--json", help="write results here")
    return ap


def run_rows(doc: str | None, rows_fn: Any, identical_key: str) -> int:
    """The command line shared by the per-area benchmarks: run ``rows_fn(nnr, peer, quick, rounds,
    report)`` on both sides, print and optionally write JSON; exit 1 when ``identical_key`` is
    false in any row."""
    args = arg_parser(doc).parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    nnr, peer = start_sides(args.nncodec_python)
    try:
        print(f"nnr {nnr.build}, {harness.load_note()}", flush=True)
        rows = rows_fn(nnr, peer, args.quick, rounds, print_row)
    finally:
        nnr.close()
        peer.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": harness.load_note(), "nnr_build": nnr.build, "rows": rows}, f, indent=2)
    return 0 if all(r.get(identical_key, True) for r in rows) else 1


def main() -> int:
    return run_rows(__doc__, decode_rows, "outputs_identical")

if __name__ == "__main__":
    raise SystemExit(main())
