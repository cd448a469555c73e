"""The task: scikit-learn's digits (ships with scikit-learn), a 64-H-10 ReLU MLP in numpy, SGD."""

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


def init_model(hidden: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {"fc1.weight": (r.standard_normal((hidden, 64)) * np.sqrt(2 / 64)).astype(np.float32),
            "fc1.bias": np.zeros(hidden, np.float32),
            "fc2.weight": (r.standard_normal((10, hidden)) * np.sqrt(2 / hidden)).astype(np.float32),
            "fc2.bias": np.zeros(10, np.float32)}


def _forward(m: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.maximum(x @ m["fc1.weight"].T + m["fc1.bias"], 0)
    return h, h @ m["fc2.weight"].T + m["fc2.bias"]


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
    for _ in range(epochs):
        idx = r.permutation(len(x))
        for s in range(0, len(x), batch_size):
            b = idx[s:s + batch_size]
            xb, yb = x[b], y[b]
            h, z = _forward(m, xb)
            z = z - z.max(1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(b)), yb] -= 1
            p /= len(b)
            dh = p @ m["fc2.weight"]
            dh[h <= 0] = 0
            grads = {"fc2.weight": p.T @ h, "fc2.bias": p.sum(0), "fc1.weight": dh.T @ xb, "fc1.bias": dh.sum(0)}
            for k, g in grads.items():
                m[k] -= np.float32(lr) * g.astype(np.float32)
    return m
