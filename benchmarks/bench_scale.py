"""Scale: a ~100M-parameter model (24 x 2048x2048 float32), encode and decode time and peak RSS,
nnr against NNCodec 2.1.3, and whether time grows linearly with size.

    python benchmarks/bench_scale.py [--quick] [--json FILE] [--nncodec-python PATH]

Every measurement runs in a fresh process (``server.py --peak``), so it reports wall time and
the peak resident set size beyond the import of the package together.  Encoding uses
``nnc.compress``'s defaults (QP -38, DQ, parameter-set optimisation); each side decodes the
stream NNCodec wrote.  Linearity: the same measurements on 24 x 512x512 (16x fewer parameters);
``time_per_param_growth`` = (time per parameter at scale) / (time per parameter small), ~1 when
linear.  ``--quick``: 24 x 1024x1024 against 24 x 256x256.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from bench_decode import arg_parser  # noqa: E402


def _measure(nnr_py: str, peer_py: str, npz: str, tag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    stream = harness.cache_path("streams", f"scale_{tag}.nnc")
    nnr_stream = harness.cache_path("streams", f"scale_{tag}.nnr.nnc")
    for side, py in (("nncodec", peer_py), ("nnr", nnr_py)):
        e = harness.peak(side, py, op="encode", tensors=npz, settings={},
                         out=stream if side == "nncodec" else nnr_stream)
        out[f"encode_{side}"] = e
    out["bytes_identical"] = out["encode_nncodec"]["sha256"] == out["encode_nnr"]["sha256"]
    for side, py in (("nncodec", peer_py), ("nnr", nnr_py)):
        out[f"decode_{side}"] = harness.peak(side, py, op="decode", stream=stream, workers=1)
    out["outputs_identical"] = out["decode_nncodec"]["sha256"] == out["decode_nnr"]["sha256"]
    out["stream_bytes"] = os.path.getsize(stream)
    os.remove(nnr_stream)
    return out


def scale_row(nnr_py: str, peer_py: str, quick: bool, report: Any = print) -> dict[str, Any]:
    big, small = (1024, 256) if quick else (2048, 512)
    count = 24
    res = {}
    for n in (small, big):
        npz = harness.save_npz(f"stacked_{count}x{n}x{n}", lambda n=n: harness.stacked(count, n))
        res[n] = _measure(nnr_py, peer_py, npz, f"{count}x{n}x{n}")
    m = res[big]
    params = count * big * big
    r: dict[str, Any] = {"row": f"scale {count}x{big}x{big} ({params / 1e6:.0f}M parameters)", "parameters": params,
                         "stream_bytes": m["stream_bytes"], "bytes_identical": m["bytes_identical"],
                         "outputs_identical": m["outputs_identical"]}
    for op in ("encode", "decode"):
        for side in ("nncodec", "nnr"):
            r[f"{op}_{side}_s"] = m[f"{op}_{side}"]["s"]
            r[f"{op}_{side}_peak_mb"] = m[f"{op}_{side}"]["peak_beyond_import_mb"]
            growth = (m[f"{op}_{side}"]["s"] / params) / (res[small][f"{op}_{side}"]["s"] / (count * small * small))
            r[f"{op}_{side}_time_per_param_growth"] = growth
        r[f"{op}_ratio"] = r[f"{op}_nnr_s"] / r[f"{op}_nncodec_s"]
        r[f"{op}_peak_ratio"] = r[f"{op}_nnr_peak_mb"] / max(r[f"{op}_nncodec_peak_mb"], 1e-9)
    r["small_model"] = f"{count}x{small}x{small}"
    r["peak_method"] = m["decode_nnr"]["peak_method"]
    report(r)
    return r


def print_scale(r: dict[str, Any]) -> None:
    print(f"{r['row']}: {r['stream_bytes']} B stream", flush=True)
    for op in ("encode", "decode"):
        print(f"  {op}: NNCodec {r[f'{op}_nncodec_s']:.1f} s / {r[f'{op}_nncodec_peak_mb']:.0f} MB peak,   "
              f"nnr {r[f'{op}_nnr_s']:.1f} s / {r[f'{op}_nnr_peak_mb']:.0f} MB peak,   time ratio {r[f'{op}_ratio']:.2f}, "
              f"peak ratio {r[f'{op}_peak_ratio']:.2f};   time/param growth vs {r['small_model']}: "
              f"nnr {r[f'{op}_nnr_time_per_param_growth']:.2f}, NNCodec {r[f'{op}_nncodec_time_per_param_growth']:.2f}",
              flush=True)
    print(f"  bytes identical: {r['bytes_identical']}, outputs identical: {r['outputs_identical']}", flush=True)


def main() -> int:
    args = arg_parser(__doc__).parse_args()
    if not os.path.exists(args.nncodec_python):
        raise SystemExit(f"NNCodec's python not found at {args.nncodec_python}")
    print(harness.load_note(), flush=True)
    r = scale_row(sys.executable, args.nncodec_python, args.quick, print_scale)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": harness.load_note(), "rows": [r]}, f, indent=2)
    return 0 if r["bytes_identical"] and r["outputs_identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
