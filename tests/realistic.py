"""Deterministic, realistic test tensors that every numpy version generates bit-identically.

Values come from a 64-bit LCG (integer arithmetic) turned into floats with +, *, / only (correctly
rounded in every numpy), shaped like a small transformer: heavy-tailed (ratio-of-uniforms,
Cauchy-like tails) weights of std ~0.02 with a per-row scale, LayerNorm-like vectors near 1,
small biases, and an embedding table with more than 8192 rows.
"""

from __future__ import annotations

import numpy as np

SHAPES = {
    "embeddings.word_embeddings.weight": (9000, 64),
    "encoder.layer.0.attention.self.query.weight": (384, 384),
    "encoder.layer.0.attention.self.query.bias": (384,),
    "encoder.layer.0.intermediate.dense.weight": (1536, 384),
    "encoder.layer.0.intermediate.dense.bias": (1536,),
    "encoder.layer.0.output.dense.weight": (384, 1536),
    "encoder.layer.0.output.LayerNorm.weight": (384,),
    "conv.weight": (64, 32, 3, 3),
}


def uniforms(seed: int, n: int) -> np.ndarray:
    """n float64 values in (0, 1) from a 64-bit LCG (Knuth's MMIX constants)."""
    x = np.empty(n, dtype=np.uint64)
    state = np.uint64((seed * 0x9E3779B97F4A7C15 + 1) & 0xFFFFFFFFFFFFFFFF)
    a = np.uint64(6364136223846793005)
    c = np.uint64(1442695040888963407)
    # jump ahead in blocks: x[i] = a**i * s + c * (a**i - 1) / (a - 1), via doubling
    mult = np.ones(n, dtype=np.uint64)
    add = np.zeros(n, dtype=np.uint64)
    idx = np.arange(n, dtype=np.uint64)
    cur_a, cur_c = a, c
    bit = 0
    with np.errstate(over="ignore"):
        while (1 << bit) <= n:
            sel = ((idx >> np.uint64(bit)) & np.uint64(1)).astype(bool)
            mult[sel], add[sel] = mult[sel] * cur_a, add[sel] * cur_a + cur_c
            cur_a, cur_c = cur_a * cur_a, cur_c * cur_a + cur_c
            bit += 1
        x = mult * state + add
    top = (x >> np.uint64(11)).astype(np.float64)  # 53 random bits
    return (top + 0.5) / float(1 << 53)


def heavy_tailed(seed: int, shape: tuple[int, ...], std: float = 0.02) -> np.ndarray:
    n = int(np.prod(shape))
    u = uniforms(seed, 2 * n)
    # ratio of centred uniforms: symmetric, Cauchy-like tails; clipped to keep a finite spread
    r = (u[:n] - 0.5) / (u[n:] + 0.05)
    r = np.minimum(np.maximum(r, -40.0), 40.0)
    w = (r * (std / 1.4)).reshape(shape)
    if len(shape) > 1:  # per-row scale 0.5..1.5, as trained layers have
        rows = uniforms(seed + 7777, shape[0]).reshape((shape[0],) + (1,) * (len(shape) - 1))
        w = w * (0.5 + rows)
    return w.astype(np.float32)


def checkpoint(seed: int = 1) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for i, (name, shape) in enumerate(SHAPES.items()):
        if name.endswith("LayerNorm.weight"):
            out[name] = (1.0 + heavy_tailed(seed + i, shape, 0.05).astype(np.float64)).astype(np.float32)
        elif name.endswith(".bias"):
            out[name] = heavy_tailed(seed + i, shape, 0.01)
        else:
            out[name] = heavy_tailed(seed + i, shape)
    return out
