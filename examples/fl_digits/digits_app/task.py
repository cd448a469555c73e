"""The task: scikit-learn's digits (ships with scikit-learn), a 64-H-...-10 ReLU MLP in numpy, SGD."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TEST_SIZE = 360


@lru_cache(maxsize=1)
def _data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    return (x[order] / 16.0).astype(np.float32), y[order].astype(np.int64)


def test_set() -> tuple[np.ndarray, np.ndarray]:
    x, y = _data()
    return x[:TEST_SIZE], y[:TEST_SIZE]


def partition(partition_id: int, num_partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """Training data of one client (an IID split of what the test set leaves)."""
    x, y = _data()
    return x[TEST_SIZE + partition_id::num_partitions], y[TEST_SIZE + partition_id::num_partitions]


def init_model(hidden: int | tuple[int, ...] = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """He-initialised weights ``fc1`` .. ``fcL`` of a 64-hidden...-10 MLP (``hidden``: one width or
    several), zero biases."""
    r = np.random.default_rng(seed)
    dims = (64, *((hidden,) if isinstance(hidden, int) else hidden), 10)
    out: dict[str, np.ndarray] = {}
    for i, (a, b) in enumerate(zip(dims, dims[1:]), start=1):
        out[f"fc{i}.weight"] = (r.standard_normal((b, a)) * np.sqrt(2 / a)).astype(np.float32)
        out[f"fc{i}.bias"] = np.zeros(b, np.float32)
    return out


def parse_hidden(value: int | str | tuple[int, ...]) -> int | tuple[int, ...]:
    """Hidden widths from a run config value: ``64`` or ``"256,256"``."""
    if isinstance(value, str):
        widths = tuple(int(w) for w in value.split(",") if w.strip())
        return widths[0] if len(widths) == 1 else widths
    return value


def _layers(m: dict[str, np.ndarray]) -> int:
    return sum(1 for k in m if k.endswith(".weight"))


def _forward(m: dict[str, np.ndarray], x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The inputs of every layer (``x`` and the hidden activations) and the logits."""
    acts = [x]
    n = _layers(m)
    for i in range(1, n):
        acts.append(np.maximum(acts[-1] @ m[f"fc{i}.weight"].T + m[f"fc{i}.bias"], 0))
    return acts, acts[-1] @ m[f"fc{n}.weight"].T + m[f"fc{n}.bias"]


def accuracy(m: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    return float((_forward(m, x)[1].argmax(1) == y).mean())


def loss(m: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    z = _forward(m, x)[1]
    z = z - z.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))


def train(m: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, *, epochs: int = 1, lr: float = 0.1,
          batch_size: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """Plain minibatch SGD on cross-entropy; returns a new model."""
    m = {k: np.array(v, dtype=np.float32, copy=True) for k, v in m.items()}
    r = np.random.default_rng(seed)
    n = _layers(m)
    for _ in range(epochs):
        idx = r.permutation(len(x))
        for s in range(0, len(x), batch_size):
            b = idx[s:s + batch_size]
            xb, yb = x[b], y[b]
            acts, z = _forward(m, xb)
            z = z - z.max(1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(b)), yb] -= 1
            p /= len(b)
            grads = {}
            delta = p
            for i in range(n, 0, -1):
                grads[f"fc{i}.weight"] = delta.T @ acts[i - 1]
                grads[f"fc{i}.bias"] = delta.sum(0)
                if i > 1:
                    delta = delta @ m[f"fc{i}.weight"]
                    delta[acts[i - 1] <= 0] = 0
            for k, g in grads.items():
                m[k] -= np.float32(lr) * g.astype(np.float32)
    return m
