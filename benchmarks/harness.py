"""The machinery of the benchmarks against NNCodec 2.1.3: sides, interleaved repetitions, inputs.

Each side (nnr under this interpreter, NNCodec under its own venv) is one long-lived process
(``server.py``) that imports its package once; the driver sends the same request to both sides
alternately, round after round, with the order swapped every round, and keeps the median of each
side's wall times.  Both sides run one at a time, so they never compete for the CPU; slow drift
of the machine's load (2 cores shared here) hits both sides alike.  Peak memory is measured in a
fresh process per measurement.

Inputs are synthesized here (seeded, nothing downloaded) and cached with the streams NNCodec
writes from them under ``$NNR_BENCH_CACHE`` (default ``~/.cache/nnr-bench``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
DEFAULT_PEER = os.environ.get("NNCODEC_PYTHON", os.path.expanduser("~/.cache/nnr-peer/nnc-venv/bin/python"))
CACHE = os.environ.get("NNR_BENCH_CACHE", os.path.expanduser("~/.cache/nnr-bench"))


class Side:
    """One side's server process."""

    def __init__(self, name: str, python: str) -> None:
        self.name = name
        self.python = python
        self.proc = subprocess.Popen([python, SERVER, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        hello = self._read()
        self.build = hello["build"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} benchmark process exited (code {self.proc.wait()})")
        return json.loads(line)

    def request(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        res = self._read()
        if "error" in res:
            raise RuntimeError(f"{self.name}: {res['error']}")
        return res

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def peak(name: str, python: str, **req: Any) -> dict[str, Any]:
    """One request in a fresh process, with its peak RSS beyond the import of the package."""
    out = subprocess.run([python, SERVER, name, "--peak", json.dumps(req)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@dataclass
class Timing:
    times: dict[str, list[float]] = field(default_factory=dict)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    hashes: dict[str, set[str]] = field(default_factory=dict)

    def median(self, key: str) -> float:
        return statistics.median(self.times[key])


def interleave(rounds: int, arms: list[tuple[str, Callable[[], dict[str, Any]]]]) -> Timing:
    """Run every arm once per round, rotating the order each round; collect times and hashes."""
    t = Timing()
    for r in range(rounds):
        k = r % len(arms)
        for key, fn in arms[k:] + arms[:k]:
            res = fn()
            t.times.setdefault(key, []).append(float(res["s"]))
            t.hashes.setdefault(key, set()).add(res["sha256"])
            t.last[key] = res
    return t


def load_note() -> str:
    try:
        la = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} on {os.cpu_count()} cores"


# -- inputs ----------------------------------------------------------------------------------------

def cache_path(*parts: str) -> str:
    p = os.path.join(CACHE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def save_npz(name: str, make: Callable[[], dict[str, np.ndarray]]) -> str:
    path = cache_path("inputs", name + ".npz")
    if not os.path.exists(path):
        tmp = path + ".tmp.npz"
        np.savez(tmp, **make())
        os.replace(tmp, path)
    return path


def gaussian(n_rows: int, n_cols: int, seed: int = 0, scale: float = 0.05) -> dict[str, np.ndarray]:
    return {"w": (np.random.RandomState(seed).randn(n_rows, n_cols) * scale).astype(np.float32)}


def stacked(count: int, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` layers of n x n float32, N(0, 0.05²) — the '24 x 512x512' style models."""
    rng = np.random.RandomState(seed)
    return {f"layer{i:02d}.weight": (rng.randn(n, n) * 0.05).astype(np.float32) for i in range(count)}


def codebook_tensor(n: int = 256, distinct: int = 600, seed: int = 0) -> dict[str, np.ndarray]:
    """n x n float32 taking exactly ``distinct`` values, all multiples of the QP -38 step size
    (so quantization keeps ``distinct`` levels and the codebook has that many entries)."""
    rng = np.random.RandomState(seed)
    step = 6.0 / 4096  # QP -38, qp_density 2
    ks = np.unique(np.round(rng.laplace(0.0, 120.0, 8 * distinct)).astype(np.int64))
    ks = rng.choice(ks, distinct, replace=False)
    idx = np.concatenate([np.arange(distinct), rng.randint(0, distinct, n * n - distinct)])
    rng.shuffle(idx)
    return {"w": (ks[idx] * step).astype(np.float32).reshape(n, n)}


def transformer(hidden: int = 512, layers: int = 6, ffn: int = 2048, vocab: int = 5000, max_pos: int = 512,
                seed: int = 0) -> dict[str, np.ndarray]:
    """A BERT-shaped checkpoint with trained-looking weights (103 tensors, ~22M parameters).

    Shapes as BERT's (word / position / token-type embeddings, per layer Q K V O, two LayerNorms,
    the feed-forward pair, a pooler); values heavy-tailed (Student-t) at the scales trained
    BERT checkpoints show: matrices σ≈0.04 with per-row scale spread, biases σ≈0.02, LayerNorm
    gains ≈1 ± 0.1 and shifts ≈0 ± 0.05.
    """
    rng = np.random.RandomState(seed)

    def mat(rows: int, cols: int, s: float) -> np.ndarray:
        row_scale = np.exp(rng.randn(rows, 1) * 0.25)
        return (rng.standard_t(5, (rows, cols)) * s * 0.77 * row_scale).astype(np.float32)

    def vec(n: int, s: float, mean: float = 0.0) -> np.ndarray:
        return (mean + rng.standard_t(5, n) * s * 0.77).astype(np.float32)

    t: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": mat(vocab, hidden, 0.045),
        "embeddings.position_embeddings.weight": mat(max_pos, hidden, 0.02),
        "embeddings.token_type_embeddings.weight": mat(2, hidden, 0.02),
        "embeddings.LayerNorm.weight": vec(hidden, 0.1, 1.0),
        "embeddings.LayerNorm.bias": vec(hidden, 0.05),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for m in ("query", "key", "value"):
            t[p + f"attention.self.{m}.weight"] = mat(hidden, hidden, 0.04)
            t[p + f"attention.self.{m}.bias"] = vec(hidden, 0.02)
        t[p + "attention.output.dense.weight"] = mat(hidden, hidden, 0.03)
        t[p + "attention.output.dense.bias"] = vec(hidden, 0.02)
        t[p + "attention.output.LayerNorm.weight"] = vec(hidden, 0.1, 1.0)
        t[p + "attention.output.LayerNorm.bias"] = vec(hidden, 0.05)
        t[p + "intermediate.dense.weight"] = mat(ffn, hidden, 0.04)
        t[p + "intermediate.dense.bias"] = vec(ffn, 0.02)
        t[p + "output.dense.weight"] = mat(hidden, ffn, 0.035)
        t[p + "output.dense.bias"] = vec(hidden, 0.02)
        t[p + "output.LayerNorm.weight"] = vec(hidden, 0.1, 1.0)
        t[p + "output.LayerNorm.bias"] = vec(hidden, 0.05)
    t["pooler.dense.weight"] = mat(hidden, hidden, 0.03)
    t["pooler.dense.bias"] = vec(hidden, 0.02)
    return t


def peer_stream(peer: Side, name: str, tensors_npz: str, **settings: Any) -> str:
    """The stream NNCodec's ``nnc.compress`` writes for an input (cached)."""
    key = name + "".join(f"_{k}{v}" for k, v in sorted(settings.items()))
    path = cache_path("streams", key + ".nnc")
    if not os.path.exists(path):
        peer.request(op="encode", tensors=tensors_npz, settings=settings, out=path + ".tmp")
        os.replace(path + ".tmp", path)
    return path


def python_of_this_side() -> str:
    return sys.executable
