#!/usr/bin/env python3
"""Mutation fuzzing of nnr's decoder, each input in a forked worker under memory and time limits.

    python fuzz/run.py --inputs 2000                    # a short campaign (what .ci/run runs)
    python fuzz/run.py --inputs 100000 --out fuzz-out   # a long one; failures saved in fuzz-out/
    python fuzz/run.py --replay fuzz-out/failures/x.json

Seeds are the streams of every case in bitstreams/ (sequences decoded in one session).  Each
input is a seed with one stream mutated (fuzz/mutate.py: bytes; NDU / MPS header fields
re-encoded through nnr's writers; units dropped, duplicated, reordered, spliced from another
seed) and is decoded by ``nnr.Decoder`` in a worker process forked from this one with
``RLIMIT_AS`` (default 1 GiB) and a CPU-time limit (default 10 s, plus a wall-clock limit).

Outcome classes:

* ``ok``       -- decoded; every float output finite
* ``nnr_error``-- an :class:`nnr.NNRError` (what a bad stream must give)
* ``foreign``  -- any other exception (including NNRUsageError: a stream is not a misuse)
* ``nonfinite``-- decoded to a float tensor with NaN / infinity
* ``memory``   -- MemoryError or killed at the memory limit
* ``timeout``  -- over the CPU or wall-clock limit
* ``crash``    -- the worker died otherwise (signal, abort)

The exit status is 1 when any input fell outside ``ok`` / ``nnr_error``.  Each distinct failure
(class + exception type + innermost nnr frame) is written to ``--out``/failures/ as JSON (the
input's streams in hex, the mutation, the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import select
import signal
import struct
import sys
import time
import traceback
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import nnr  # noqa: E402
from mutate import load_seeds, mutate  # noqa: E402

from nnr.units.types import PayloadType  # noqa: E402

CLASSES = ["ok", "nnr_error", "foreign", "nonfinite", "memory", "timeout", "crash"]
FAILURES = set(CLASSES) - {"ok", "nnr_error"}


def decode_one(streams: list[bytes]) -> dict[str, Any]:
    """Decode a stream sequence in one session; classify the outcome (runs in the worker)."""
    t0 = time.process_time()
    try:
        d = nnr.Decoder()
        for s in streams:
            ds = d.decode_stream(s)
            for o in ds.outputs:  # raw float payloads carry any float32, NaN included
                quantized = any(c.payload_type != PayloadType.NNR_PT_RAW_FLOAT for c in o.coded)
                if quantized and o.value.dtype.kind == "f" and not np.all(np.isfinite(o.value.astype(np.float32))):
                    return {"cls": "nonfinite", "sig": f"nonfinite:{o.role}", "cpu": time.process_time() - t0}
        return {"cls": "ok", "cpu": time.process_time() - t0}
    except nnr.NNRError as e:
        r = {"cls": "nnr_error", "cpu": time.process_time() - t0, "element": e.element}
        if e.bit_offset is None or e.unit_index is None or e.element is None:
            r["cls"] = "foreign"
            r["sig"] = f"NNRError without location: {type(e).__name__}: {e.reason[:80]}"
            r["tb"] = traceback.format_exc()
        return r
    except MemoryError:
        return {"cls": "memory", "sig": "MemoryError", "tb": traceback.format_exc(), "cpu": time.process_time() - t0}
    except RecursionError:
        return {"cls": "crash", "sig": "RecursionError", "tb": traceback.format_exc()[-2000:]}
    except BaseException as e:  # noqa: BLE001 -- the point is to catch everything
        tb = traceback.extract_tb(e.__traceback__)
        frames = [f for f in tb if "/nnr/" in f.filename.replace(os.sep, "/")]
        where = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"
        return {"cls": "foreign", "sig": f"{type(e).__name__}@{where}", "tb": traceback.format_exc()[-3000:],
                "msg": str(e)[:300]}


# -- worker processes --------------------------------------------------------------------------------


def _send(fd: int, obj: Any) -> None:
    b = json.dumps(obj).encode()
    os.write(fd, struct.pack("<I", len(b)))
    view = memoryview(b)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _recv(fd: int) -> Any:
    head = b""
    while len(head) < 4:
        c = os.read(fd, 4 - len(head))
        if not c:
            raise EOFError
        head += c
    (n,) = struct.unpack("<I", head)
    buf = bytearray()
    while len(buf) < n:
        c = os.read(fd, n - len(buf))
        if not c:
            raise EOFError
        buf += c
    return json.loads(buf)


class Worker:
    """A forked child decoding inputs one at a time under RLIMIT_AS and RLIMIT_CPU."""

    def __init__(self, mem_bytes: int, cpu_seconds: int) -> None:
        self.mem_bytes, self.cpu_seconds = mem_bytes, cpu_seconds
        self.spawn()

    def spawn(self) -> None:
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(to_child_w)
            os.close(to_parent_r)
            try:
                resource.setrlimit(resource.RLIMIT_AS, (self.mem_bytes, self.mem_bytes))
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                while True:
                    try:
                        job = _recv(to_child_r)
                    except EOFError:
                        break
                    # a fresh CPU budget per input: the limit is on this process's total
                    used = resource.getrusage(resource.RUSAGE_SELF)
                    spent = int(used.ru_utime + used.ru_stime) + 1
                    # (only the soft limit: an unprivileged process cannot raise a hard one again)
                    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
                    resource.setrlimit(resource.RLIMIT_CPU, (spent + self.cpu_seconds, hard))
                    try:
                        res = decode_one([bytes.fromhex(h) for h in job])
                        _send(to_parent_w, res)
                    except BaseException as e:  # noqa: BLE001
                        _send(to_parent_w, {"cls": "crash", "sig": f"worker {type(e).__name__}",
                                            "tb": traceback.format_exc()[-3000:]})
            finally:
                os._exit(0)
        os.close(to_child_r)
        os.close(to_parent_w)
        self.pid, self.w, self.r = pid, to_child_w, to_parent_r

    def kill(self) -> int:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.reap()

    def reap(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass
        return status

    def run(self, streams: list[bytes], wall: float) -> dict[str, Any]:
        try:
            _send(self.w, [s.hex() for s in streams])
        except OSError:
            status = self.reap()
            self.spawn()
            return self._died(status)
        ready, _, _ = select.select([self.r], [], [], wall)
        if not ready:
            self.kill()
            self.spawn()
            return {"cls": "timeout", "sig": "wall-clock"}
        try:
            return _recv(self.r)
        except EOFError:
            status = self.reap()
            self.spawn()
            return self._died(status)

    @staticmethod
    def _died(status: int) -> dict[str, Any]:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU:
                return {"cls": "timeout", "sig": "SIGXCPU"}
            if sig == signal.SIGKILL:  # the kernel's OOM killer
                return {"cls": "memory", "sig": "SIGKILL"}
            return {"cls": "crash", "sig": f"signal {sig}"}
        return {"cls": "crash", "sig": f"exit {os.WEXITSTATUS(status)}"}

    def close(self) -> None:
        os.close(self.w)
        self.reap()


# -- the campaign ----------------------------------------------------------------------------------


def campaign(args: argparse.Namespace) -> int:
    seeds = load_seeds(args.seeds)
    if args.only:
        seeds = [s for s in seeds if any(s.name.startswith(p) for p in args.only)]
    all_streams = [s for seed in seeds for s in seed.streams]
    rng = random.Random(args.seed)
    counts = {c: 0 for c in CLASSES}
    by_kind: dict[str, dict[str, int]] = {}
    distinct: dict[str, dict[str, Any]] = {}
    cpu_max = 0.0
    fail_dir = os.path.join(args.out, "failures") if args.out else None
    if fail_dir:
        os.makedirs(fail_dir, exist_ok=True)
    worker = Worker(args.mem_mb << 20, args.cpu)
    t0 = time.time()
    try:
        for i in range(args.inputs):
            if args.max_seconds and time.time() - t0 > args.max_seconds:
                print(f"time budget of {args.max_seconds} s reached after {i} inputs")
                break
            seed = seeds[rng.randrange(len(seeds))]
            streams, what = mutate(rng, seed, all_streams)
            res = worker.run(streams, args.wall)
            cls = res["cls"]
            counts[cls] += 1
            kind = what.split(": ", 1)[1].split(",")[0].split(":")[0]
            by_kind.setdefault(kind, {c: 0 for c in CLASSES})[cls] += 1
            cpu_max = max(cpu_max, float(res.get("cpu", 0.0)))
            if cls in FAILURES:
                sig = re.sub(r"\d+", "N", f"{cls}:{res.get('sig', '?')}")  # one per kind, not per value
                if sig not in distinct:
                    rec = {"class": cls, "signature": sig, "seed": seed.name, "mutation": what, "input": i,
                           "streams": [s.hex() for s in streams], "traceback": res.get("tb"), "message": res.get("msg")}
                    distinct[sig] = rec
                    print(f"[{i}] NEW {sig}  ({seed.name}; {what})", flush=True)
                    if fail_dir:
                        fn = "".join(c if c.isalnum() else "_" for c in sig)[:80]
                        with open(os.path.join(fail_dir, fn + ".json"), "w") as f:
                            json.dump(rec, f, indent=1)
                distinct[sig]["count"] = distinct[sig].get("count", 0) + 1
            if args.progress and (i + 1) % args.progress == 0:
                print(f"{i + 1} inputs, {time.time() - t0:.0f} s: {counts}", flush=True)
    finally:
        worker.close()
    total = sum(counts.values())
    summary = {"inputs": total, "seconds": round(time.time() - t0, 1), "seed": args.seed, "counts": counts,
               "by_mutation": by_kind, "max_cpu_seconds_per_input": round(cpu_max, 3),
               "distinct_failures": {k: v.get("count", 1) for k, v in distinct.items()},
               "limits": {"address_space_mb": args.mem_mb, "cpu_seconds": args.cpu, "wall_seconds": args.wall}}
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(os.path.join(args.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
    return 1 if any(counts[c] for c in FAILURES) else 0


def replay(path: str) -> int:
    with open(path) as f:
        rec = json.load(f)
    res = decode_one([bytes.fromhex(h) for h in rec["streams"]])
    print(json.dumps(res, indent=1))
    return 0 if res["cls"] in ("ok", "nnr_error") else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seeds", default=os.path.join(os.path.dirname(HERE), "bitstreams"), help="case folders")
    p.add_argument("--only", nargs="*", help="seed case name prefixes")
    p.add_argument("--out", help="folder for failures/ and summary.json")
    p.add_argument("--mem-mb", type=int, default=1024, help="RLIMIT_AS of the worker")
    p.add_argument("--cpu", type=int, default=10, help="CPU seconds per input")
    p.add_argument("--wall", type=float, default=60.0, help="wall-clock seconds per input")
    p.add_argument("--max-seconds", type=float, default=0, help="stop the campaign after this long")
    p.add_argument("--progress", type=int, default=0, help="print counts every N inputs")
    p.add_argument("--replay", help="decode a saved failure again (in this process)")
    args = p.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
