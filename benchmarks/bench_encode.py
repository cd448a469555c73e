"""Encoding speed of nnr against NNCodec 2.1.3, measured in the same run on the same tensors.

    python benchmarks/bench_encode.py [--quick] [--rounds N] [--json FILE] [--nncodec-python PATH]

Rows (issue 9):

* ``encode 1M qp-38 dq=on|off`` — one 1024x1024 float32 tensor, N(0, 0.05²), ``nnc.compress``'s
  defaults otherwise (parameter-set optimisation) against ``nnr.encode``;
* ``encode codebook 256x256 600 values`` — ``codebook_mode=1`` on a 256x256 tensor taking 600
  distinct values (multiples of the QP -38 step, so the codebook has 600 entries).

Each side is one process (``server.py``) timing the encode call only; rounds alternate the
sides and the median is reported.  The streams are compared byte for byte (SHA-256).
``ratio`` = nnr / NNCodec (< 1: nnr faster).
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from bench_decode import run_rows  # noqa: E402
from harness import Side  # noqa: E402


def encode_row(row: str, nnr: Side, peer: Side, npz: str, settings: dict[str, Any], rounds: int, goal: float,
               workers: int = 1) -> dict[str, Any]:
    t = harness.interleave(rounds, [
        ("nncodec", lambda: peer.request(op="encode", tensors=npz, settings=settings)),
        ("nnr", lambda: nnr.request(op="encode", tensors=npz, settings=settings, workers=workers)),
    ])
    hashes = set().union(*t.hashes.values())
    r = {"row": row, "settings": settings, "stream_bytes": t.last["nncodec"]["bytes"], "nncodec_s": t.median("nncodec"),
         "nnr_s": t.median("nnr"), "ratio": t.median("nnr") / t.median("nncodec"), "goal": goal,
         "bytes_identical": len(hashes) == 1, "rounds": rounds, "nncodec_times": t.times["nncodec"],
         "nnr_times": t.times["nnr"]}
    if workers != 1:
        r["nnr_workers"] = workers
    r["meets_goal"] = r["ratio"] <= goal and r["bytes_identical"]
    return r


def encode_rows(nnr: Side, peer: Side, quick: bool, rounds: int, report: Any = print) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    one_m = harness.save_npz("gauss_1024x1024", lambda: harness.gaussian(1024, 1024))
    for dq in (True, False):
        r = encode_row(f"encode 1M qp-38 dq={'on' if dq else 'off'}", nnr, peer, one_m, {"qp": -38, "use_dq": dq},
                       rounds, 1.0)
        rows.append(r)
        report(r)
    cb = harness.save_npz("codebook_256x256_600", harness.codebook_tensor)
    # codebook mode codes the tensor once per candidate offset: slow on both sides, fewer rounds
    r = encode_row("encode codebook 256x256 600 values", nnr, peer, cb, {"qp": -38, "codebook_mode": 1},
                   1 if quick else min(rounds, 3), 1.0)
    rows.append(r)
    report(r)
    return rows


def main() -> int:
    return run_rows(__doc__, encode_rows, "bytes_identical")

if __name__ == "__main__":
    raise SystemExit(main())
