"""Lazy per-tensor access: ``nnr.open(...).get_tensor(name)`` on a 100-tensor stream costs time
proportional to that tensor, not to the stream.

    python benchmarks/bench_lazy.py [--json out.json]

The stream: 98 tensors of 64x64, one of 16x16 ("small") and one of 512x512 ("big"), QP -38,
DQ.  Measured (median of interleaved repetitions, same run): full decode, open (headers only),
open + get_tensor of the small, a medium and the big tensor; and the sizes of those tensors.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np

import nnr


def stream() -> tuple[bytes, dict[str, int]]:
    rng = np.random.default_rng(0)
    t = {f"layer{i:03d}.weight": (rng.standard_normal((64, 64)) * 0.02).astype(np.float32) for i in range(98)}
    t["small.weight"] = (rng.standard_normal((16, 16)) * 0.02).astype(np.float32)
    t["big.weight"] = (rng.standard_normal((512, 512)) * 0.02).astype(np.float32)
    return nnr.encode(t), {k: int(v.size) for k, v in t.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    data, sizes = stream()
    with tempfile.NamedTemporaryFile(suffix=".nnc") as f:
        f.write(data)
        f.flush()
        path = f.name

        def get(name: str) -> None:
            with nnr.open(path) as s:
                s.get_tensor(name)

        def opened() -> None:
            with nnr.open(path) as s:
                s.keys()

        cases = {"full decode": lambda: nnr.decode(path), "open only": opened,
                 "get small (256)": lambda: get("small.weight"), "get layer050 (4096)": lambda: get("layer050.weight"),
                 "get big (262144)": lambda: get("big.weight")}
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.reps):
            for k, fn in cases.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    total = sum(sizes.values())
    out = {"stream_bytes": len(data), "tensors": len(sizes), "parameters": total,
           "median_seconds": med, "share_of_full_decode": {k: v / med["full decode"] for k, v in med.items()},
           "share_of_parameters": {"small": 256 / total, "layer050": 4096 / total, "big": 262144 / total},
           }
    from nnr.cabac import dec_levels as levels

    out["compiled"] = not levels.__file__.endswith(".py")
    for k, v in med.items():
        print(f"{k:<22} {1000 * v:9.2f} ms  ({100 * v / med['full decode']:5.1f}% of full decode)")
    if args.json:
        with open(args.json, "w") as fj:
            json.dump(out, fj, indent=2)


if __name__ == "__main__":
    main()
