"""Scale: a ~100M-parameter model (24 x 2048x2048 float32), encode and decode time and peak RSS,
nnr against NNCodec 2.1.3, and whether time grows linearly with size.

    python benchmarks/bench_scale.py [--quick] [--json FILE] [--nncodec-python PATH]
    python benchmarks/bench_scale.py --folder [--jobs 1,2] [--json FILE]

``--folder``: nnr alone, checkpoints at LLM scale.  A seeded bf16 Hugging Face folder of 117M
parameters in three shards (an 8192x2048 embedding and 24 layers of 2048x2048 with their norms;
``--quick``: a quarter of each side) goes through ``nnr encode`` and ``nnr decode --format hf``
(streaming, tensor by tensor: :mod:`nnr.streaming`) with ``-j 1`` and ``-j 2``; per run the
wall time, the CPU time of the process and of its workers, the peak RSS of the process (import
included), per parameter; the speed-up per worker measured and estimated from CPU times counted from after
the imports (the critical path: the larger of the process's and its workers' CPU time), whether the outputs of
``-j 1`` and ``-j 2`` are identical, and the memory bound of the issue (3 x the largest tensor's
float32 size + 150 MB).  Also what a 7B checkpoint would cost per core, by extrapolation.

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


# -- checkpoints at LLM scale: a sharded bf16 folder through the CLI ----------------------------------

_RUN = """
import json, resource, sys, time
from nnr.cli import main
t = time.perf_counter()
ready = resource.getrusage(resource.RUSAGE_SELF)  # after the imports: CPU counted from here, as wall time
rc = main(sys.argv[1:])
wall = time.perf_counter() - t
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
me_cpu = me.ru_utime + me.ru_stime - ready.ru_utime - ready.ru_stime
peak = me.ru_maxrss / 1024  # (kept across exec: includes the benchmark's own peak before the fork)
try:
    with open("/proc/self/status") as f:  # this process's own peak (VmHWM is reset at exec)
        peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    pass
print(json.dumps({"rc": rc, "s": wall, "cpu_self_s": me_cpu,
                  "cpu_workers_s": kids.ru_utime + kids.ru_stime, "peak_mb": peak}), file=sys.stderr)
"""


def make_folder(path: str, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """The seeded bf16 folder (written shard by shard; nothing downloaded)."""
    import numpy as np

    from nnr.checkpoint import HF_INDEX, write_safetensors

    d, vocab, layers = (512, 2048, 24) if quick else (2048, 8192, 24)
    names: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (vocab, d))]
    for i in range(layers):
        names += [(f"model.layers.{i}.weight", (d, d)), (f"model.layers.{i}.norm.weight", (d,))]
    names.append(("model.norm.weight", (d,)))
    params = sum(int(np.prod(s)) for _, s in names)
    done = os.path.join(path, "done.json")
    if os.path.exists(done):
        with open(done) as f:
            return dict(json.load(f))
    os.makedirs(path, exist_ok=True)
    rng = np.random.RandomState(seed)
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[], [], []]
    per = params / 3
    acc = 0
    for n, sh in names:
        shards[min(2, int(acc // per))].append((n, sh))
        acc += int(np.prod(sh))
    weight_map = {}
    for k, group in enumerate(shards):
        arrays = {}
        for n, sh in group:
            scale = 1.0 if n.endswith("norm.weight") else 0.02
            arrays[n] = (rng.randn(*sh) * scale + (1.0 if n.endswith("norm.weight") else 0.0)).astype(np.float32)
        fname = f"model-{k + 1:05d}-of-00003.safetensors"
        write_safetensors(os.path.join(path, fname), arrays, {n: "bfloat16" for n in arrays}, {"format": "pt"})
        weight_map.update({n: fname for n in arrays})
        del arrays
    with open(os.path.join(path, HF_INDEX), "w") as f:
        json.dump({"metadata": {"total_size": 2 * params}, "weight_map": weight_map}, f, indent=2)
    largest = max(int(np.prod(s)) for _, s in names)
    info = {"parameters": params, "largest_tensor": largest, "largest_shape": [vocab, d], "tensors": len(names),
            "bytes": 2 * params}
    with open(done, "w") as f:
        json.dump(info, f)
    return info


def _cli(py: str, args: list[str]) -> dict[str, Any]:
    import subprocess

    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([py, "-c", _RUN, *args], capture_output=True, text=True, env=env, cwd="/")
    rec = json.loads(out.stderr.strip().splitlines()[-1])
    if rec["rc"] != 0:
        raise SystemExit(f"nnr {' '.join(args)} failed: {out.stderr}")
    return dict(rec)


def _tree_hash(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(path)):
        for f in sorted(files):
            h.update(f.encode())
            with open(os.path.join(root, f), "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def folder_row(py: str, quick: bool, jobs: list[int], report: Any = print) -> dict[str, Any]:
    import hashlib
    import shutil

    folder = harness.cache_path("inputs", "llm_quick" if quick else "llm_117m")
    info = make_folder(folder, quick)
    params = info["parameters"]
    bound_mb = 3 * 4 * info["largest_tensor"] / 2**20 + 150
    r: dict[str, Any] = {"row": f"bf16 HF folder, {params / 1e6:.0f}M parameters in 3 shards, largest tensor "
                                f"{info['largest_shape'][0]}x{info['largest_shape'][1]}",
                         **info, "memory_bound_mb": bound_mb, "runs": {}}
    streams: dict[int, str] = {}
    outs: dict[int, str] = {}
    for j in jobs:
        stream = harness.cache_path("streams", f"llm_j{j}.nnc")
        e = _cli(py, ["encode", folder, "-o", stream, "-j", str(j), "-q", "--no-progress"])
        with open(stream, "rb") as f:
            e["sha256"] = hashlib.sha256(f.read()).hexdigest()
        e["stream_bytes"] = os.path.getsize(stream)
        streams[j] = e["sha256"]
        out = harness.cache_path("outputs", f"llm_j{j}")
        shutil.rmtree(out, ignore_errors=True)
        d = _cli(py, ["decode", stream, "-o", out, "--format", "hf", "--max-shard-size", str(info["bytes"] // 3 + 1),
                      "-j", str(j), "--no-progress"])
        outs[j] = d["sha256"] = _tree_hash(out)
        for op, m in (("encode", e), ("decode", d)):
            m["us_per_param"] = 1e6 * m["s"] / params
            m["cpu_us_per_param"] = 1e6 * (m["cpu_self_s"] + m["cpu_workers_s"]) / params
            m["peak_bytes_per_param"] = m["peak_mb"] * 2**20 / params
            m["within_memory_bound"] = m["peak_mb"] <= bound_mb
            r["runs"][f"{op}_j{j}"] = m
        os.remove(stream)
        shutil.rmtree(out, ignore_errors=True)
    r["stream_bytes"] = r["runs"][f"encode_j{jobs[0]}"]["stream_bytes"]
    r["bits_per_param"] = 8 * r["stream_bytes"] / params
    r["identical_across_jobs"] = len(set(streams.values())) == 1 and len(set(outs.values())) == 1
    base = jobs[0]
    for op in ("encode", "decode"):
        one = r["runs"][f"{op}_j{base}"]
        for j in jobs[1:]:
            m = r["runs"][f"{op}_j{j}"]
            m["speedup"] = one["s"] / m["s"]
            # on an idle machine the wall time is about the critical path: the larger CPU time of
            # this process and of its workers (each of those runs its share)
            m["speedup_cpu_estimate"] = (one["cpu_self_s"] + one["cpu_workers_s"]) / max(m["cpu_self_s"],
                                                                                         m["cpu_workers_s"])
        # a 7B checkpoint (same mix) on one core, by linear extrapolation of the time per parameter
        r[f"{op}_7b_core_hours"] = one["cpu_us_per_param"] * 7e9 / 1e6 / 3600
    report(r)
    return r


def print_folder(r: dict[str, Any]) -> None:
    print(f"{r['row']}: {r['stream_bytes']} B stream ({r['bits_per_param']:.3f} bits/parameter); memory bound "
          f"{r['memory_bound_mb']:.0f} MB", flush=True)
    for key, m in r["runs"].items():
        extra = ""
        if "speedup" in m:
            extra = f", speed-up {m['speedup']:.2f} (CPU-time estimate {m['speedup_cpu_estimate']:.2f})"
        print(f"  {key}: {m['s']:.1f} s ({m['us_per_param']:.2f} us/parameter; CPU {m['cpu_self_s']:.1f} s here + "
              f"{m['cpu_workers_s']:.1f} s workers), peak {m['peak_mb']:.0f} MB ({m['peak_bytes_per_param']:.2f} "
              f"B/parameter){extra}", flush=True)
    print(f"  identical outputs across -j: {r['identical_across_jobs']}; a 7B checkpoint on one core: encode "
          f"~{r['encode_7b_core_hours']:.1f} h, decode ~{r['decode_7b_core_hours']:.1f} h", flush=True)


def main() -> int:
    if "--folder" in sys.argv:
        import argparse

        ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        ap.add_argument("--folder", action="store_true")
        ap.add_argument("--quick", action="store_true", help="a quarter of each side (about 8M parameters)")
        ap.add_argument("--jobs", default="1,2", help="worker counts to run, the first the baseline (default 1,2)")
        ap.add_argument("--json", help="write results here")
        fa = ap.parse_args()
        print(harness.load_note(), flush=True)
        fr = folder_row(sys.executable, fa.quick, [int(x) for x in fa.jobs.split(",")], print_folder)
        if fa.json:
            with open(fa.json, "w") as f:
                json.dump({"load": harness.load_note(), "rows": [fr]}, f, indent=2)
        return 0 if fr["identical_across_jobs"] else 1
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
