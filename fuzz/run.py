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

CLASSES = ["ok", "nnr_error", "usage_error", "foreign", "nonfinite", "lost", "memory", "memory_per_byte", "timeout",
           "crash"]
FAILURES = set(CLASSES) - {"ok", "nnr_error", "usage_error"}
# memory per input byte an input may grow the worker by (beyond MEMORY_BASE): the bound of
# docs/robustness.rst ("memory per input byte" is an outcome class, not only the address-space cap)
BYTES_PER_INPUT_BYTE = 1 << 20
MEMORY_BASE = 256 << 20
TARGETS = ["decode", "original", "open", "session_workers", "cli_info", "cli_decode", "safetensors", "npz", "torch",
           "fl_reply"]


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


def _classify(fn: Any) -> dict[str, Any]:
    """Run ``fn()`` (returns None, or a 'lost' reason) and classify how it ended."""
    t0 = time.process_time()
    try:
        lost = fn()
        if lost:
            return {"cls": "lost", "sig": f"lost:{lost[:60]}", "cpu": time.process_time() - t0}
        return {"cls": "ok", "cpu": time.process_time() - t0}
    except nnr.NNRError as e:
        if e.unit_index is None and e.element is None and not type(e).__name__ == "CorruptReplyError":
            return {"cls": "foreign", "sig": f"NNRError without location: {type(e).__name__}: {e.reason[:60]}",
                    "tb": traceback.format_exc()[-2000:]}
        return {"cls": "nnr_error", "cpu": time.process_time() - t0}
    except nnr.NNRUsageError:
        return {"cls": "usage_error", "cpu": time.process_time() - t0}
    except MemoryError:
        return {"cls": "memory", "sig": "MemoryError", "tb": traceback.format_exc()[-2000:]}
    except BaseException as e:  # noqa: BLE001
        tb = traceback.extract_tb(e.__traceback__)
        frames = [f for f in tb if "/nnr/" in f.filename.replace(os.sep, "/")]
        where = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"
        return {"cls": "foreign", "sig": f"{type(e).__name__}@{where}", "tb": traceback.format_exc()[-3000:],
                "msg": str(e)[:300]}


def _named_tensors(data: bytes) -> list[str]:
    """Tensor names the stream's NDU headers carry, parsed without decoding payloads."""
    try:
        ds = nnr.Decoder().decode_stream(data)
    except nnr.NNRError:
        return []
    return [t.name for t in ds.outputs]


def run_target(target: str, streams: list[bytes]) -> dict[str, Any]:
    """One input through one entry point (the extended fuzzer: issue 17)."""
    if target == "decode":
        return decode_one(streams)
    import tempfile

    data = streams[-1]

    def original() -> str | None:
        d = nnr.Decoder()
        for s in streams[:-1]:
            d.decode(s)
        ds = d.decode_stream(data)
        for dt in (None, "original", "float16"):
            out = ds.arrays(dt)
            if len(out) != len({o.name for o in ds.outputs}):
                return "arrays() lost a tensor"
            for v in out.values():
                if v.dtype.kind not in "fiub" and dt == "original":
                    return f"dtype='original' gave {v.dtype}"
        return None

    def lazy() -> str | None:
        with nnr.open(data) as f:
            for k in f.keys():
                try:
                    f.get_tensor(k, dtype="original")
                except nnr.NNRUsageError as e:  # update units cannot be decoded alone: documented
                    if "update" not in str(e) and "ml_dtypes" not in str(e):
                        raise
        return None

    def session_workers() -> str | None:
        d = nnr.Decoder(workers=2)
        for s in streams:
            out = d.decode(s)
        names = _named_tensors(data) if len(streams) == 1 else list(out)
        return None if set(names) <= set(out) else "workers lost a tensor"

    def cli(argv: list[str], tmp: str) -> str | None:
        import contextlib
        import io

        from nnr.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        if code == 3 or "Traceback" in err.getvalue():
            raise RuntimeError(f"CLI exit {code}: {err.getvalue()[:200]}")
        if code == 0 and "--json" in argv:
            json.loads(out.getvalue(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        if any(c in out.getvalue() for c in "\x1b\x07\x9b"):
            return "terminal escape printed"
        if code == 0 and argv[0] == "decode":
            outside = set(os.listdir(os.path.dirname(tmp))) - _before
            if outside - {os.path.basename(tmp)}:
                return f"wrote outside the target: {sorted(outside)[:3]}"
        return None

    def checkpoint(kind: str) -> str | None:
        # a checkpoint made of the seed's decoded tensors (or of random ones), then mutated
        import random as _r

        from nnr.checkpoint import read_checkpoint, write_checkpoint

        rng = _r.Random(zlib_crc(data))
        try:
            arrays = {k: v for k, v in nnr.decode(data).items() if v.size < 1 << 16}
        except nnr.NNRError:
            arrays = {}
        arrays = arrays or {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m." + {"safetensors": "safetensors", "npz": "npz", "torch": "pt"}[kind])
            write_checkpoint(path, arrays)
            raw = bytearray(open(path, "rb").read())
            for _ in range(rng.choice([1, 2, 4, 16])):
                i = rng.randrange(len(raw))
                raw[i] = rng.randrange(256) if rng.random() < 0.7 else raw[i] ^ (1 << rng.randrange(8))
            if rng.random() < 0.2:
                del raw[rng.randrange(len(raw)):]
            with open(path, "wb") as f:
                f.write(bytes(raw))
            got, _ = read_checkpoint(path)
            return None if all(isinstance(v, np.ndarray) and v.dtype.kind in "fiub" for v in got.values()) \
                else "a non-numeric array read"

    def fl_reply() -> str | None:
        # the server's checks of a reply: a random ConfigRecord-like dict and array record, and
        # the stream decoded with the layout's limits
        import random as _r

        from nnr.fl.replies import config_float, config_int, decode_limits, plain_arrays

        rng = _r.Random(zlib_crc(data))
        values = [0, 1, -1, 2 ** 40, 1.5, float("nan"), float("inf"), "x", b"\x00", [1], True, None]
        conf = {k: rng.choice(values) for k in ("down_seen", "crc32", "up_index", "client_seconds")}
        for k in ("down_seen", "up_index"):
            try:
                config_int(conf, k, 0)
            except nnr.NNRError:
                pass
        try:
            config_float(conf, "client_seconds")
        except nnr.NNRError:
            pass
        shapes = ((4, 4), (4,))
        rec = {"w": np.full(rng.choice([(4, 4), (3,), (4, 4, 1)]), rng.choice([0.0, float("nan")]), np.float32),
               "b": np.zeros(4, rng.choice([np.float32, np.int64, np.float64]))}
        try:
            plain_arrays(rec, ("w", "b"), shapes, ("<f4", "<f4"))
        except nnr.NNRError:
            pass
        from nnr.fl.codec import LinkReceiver

        like = {"w": np.zeros((4, 4), np.float32), "b": np.zeros(4, np.float32)}
        try:
            LinkReceiver(None, decode_limits(shapes)).decode(data, like, None, True)
        except nnr.NNRError as e:  # what NNCStrategy makes of it: a CorruptReplyError naming node and round
            from nnr.fl.strategy import CorruptReplyError

            raise CorruptReplyError(1, 1, e.reason) from None
        return None

    if target == "original":
        return _classify(original)
    if target == "open":
        return _classify(lazy)
    if target == "session_workers":
        return _classify(session_workers)
    if target in ("safetensors", "npz", "torch"):
        return _classify(lambda: checkpoint(target))
    if target == "fl_reply":
        return _classify(fl_reply)
    tmp = tempfile.mkdtemp(prefix="nnr-fuzz-")
    try:
        _before_set(tmp)
        src = os.path.join(tmp, "s.nnc")
        with open(src, "wb") as f:
            f.write(data)
        if target == "cli_info":
            return _classify(lambda: cli(["info", "--json", src], tmp) or cli(["info", src], tmp))
        out = os.path.join(tmp, "out")
        return _classify(lambda: cli(["decode", src, "-o", out + "/", "--format",
                                      ("npz", "safetensors", "hf")[len(data) % 3]], out))
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


_before: set[str] = set()


def _before_set(tmp: str) -> None:
    global _before
    _before = set(os.listdir(tmp)) | {"out", "s.nnc"}


def zlib_crc(data: bytes) -> int:
    import zlib

    return zlib.crc32(data)


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
                        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
                        streams = [bytes.fromhex(h) for h in job["streams"]]
                        res = run_target(job.get("target", "decode"), streams)
                        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10) - before
                        res["grown"] = grown
                        nbytes = sum(len(x) for x in streams)
                        if res["cls"] in ("ok", "nnr_error", "usage_error") and \
                                grown > MEMORY_BASE + BYTES_PER_INPUT_BYTE * nbytes:
                            res["cls"] = "memory_per_byte"
                            res["sig"] = f"memory_per_byte:{job.get('target')}"
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

    def run(self, streams: list[bytes], wall: float, target: str = "decode") -> dict[str, Any]:
        try:
            _send(self.w, {"streams": [s.hex() for s in streams], "target": target})
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
    targets = TARGETS if args.surfaces else ["decode"]
    if args.surfaces:  # imported once here, so that workers forked from this process start with them
        import nnr.checkpoint  # noqa: F401
        import nnr.cli  # noqa: F401
        import nnr.fl.codec  # noqa: F401
        import nnr.fl.replies  # noqa: F401
        import nnr.fl.strategy  # noqa: F401

        try:
            import torch  # noqa: F401
        except ImportError:
            targets = [t for t in targets if t != "torch"]
    worker = Worker(args.mem_mb << 20, args.cpu)
    grown_max = 0.0
    t0 = time.time()
    try:
        for i in range(args.inputs):
            if args.max_seconds and time.time() - t0 > args.max_seconds:
                print(f"time budget of {args.max_seconds} s reached after {i} inputs")
                break
            seed = seeds[rng.randrange(len(seeds))]
            streams, what = mutate(rng, seed, all_streams)
            target = targets[rng.randrange(len(targets))]
            what = f"{target} {what}" if len(targets) > 1 else what
            res = worker.run(streams, args.wall, target)
            grown_max = max(grown_max, float(res.get("grown", 0)) / max(1, sum(len(x) for x in streams)))
            if res.get("grown", 0) > 64 << 20:  # a fresh worker: maxrss is per process
                worker.kill()
                worker.spawn()
            cls = res["cls"]
            counts[cls] += 1
            kind = (f"{target}/" if len(targets) > 1 else "") + what.split(": ", 1)[1].split(",")[0].split(":")[0]
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
               "max_growth_bytes_per_input_byte": round(grown_max, 1), "targets": targets,
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
    target = rec.get("mutation", "").split(" ")[0]
    res = run_target(target if target in TARGETS else "decode", [bytes.fromhex(h) for h in rec["streams"]])
    print(json.dumps(res, indent=1))
    return 0 if res["cls"] in ("ok", "nnr_error", "usage_error") else 1


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
    p.add_argument("--surfaces", action="store_true",
                   help="also run each input through nnr.open, dtype='original', a workers session, the CLI, "
                        "the checkpoint readers and the FL reply checks (fuzz/surfaces.py has the replay corpus)")
    args = p.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
