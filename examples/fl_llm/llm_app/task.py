"""The task: synthetic mobile-network records of five regions and a tiny Llama-style model.

A record is one line of a network log, as tokens::

    <bos> region hour tech cell rsrp sinr load ping

``ping`` (the round-trip time, in 12 buckets) is the *target field*: it depends on signal
(``rsrp``), interference (``sinr``), cell load, the radio technology and the hour, through a
rule with a per-region offset (backhaul), plus noise.  Each region (a client) has its own mix
of technologies, cells, busy hours and signal conditions, so the split is non-IID.  Everything
is generated here from a seed: nothing is downloaded.

The model is Llama-shaped (RMSNorm, rotary position embedding in causal self-attention, SwiGLU
feed-forward, untied output head), ~0.44M parameters.  Local training: AdamW on next-token
cross-entropy, lr 1e-3 reached after 5 warmup steps in each round.  Metrics: accuracy of the
``ping`` token given the rest of the record, and per-token perplexity over the whole record.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

REGIONS = 5
HOURS, TECHS, CELLS, RSRP, SINR, LOAD, PING = 24, 3, 16, 8, 8, 6, 12
FIELDS = [("region", REGIONS), ("hour", HOURS), ("tech", TECHS), ("cell", CELLS), ("rsrp", RSRP),
          ("sinr", SINR), ("load", LOAD), ("ping", PING)]
OFFSETS = np.cumsum([1] + [n for _, n in FIELDS]).tolist()  # token 0 is <bos>
VOCAB = OFFSETS[-1]
SEQ = 1 + len(FIELDS)
TARGET = SEQ - 1  # position of the ping token
HOUR_SD, PING_SD = 2.0, 0.4  # spread of a record's hour around its region's busy hour; noise of the ping rule


def records(region: int, n: int, seed: int) -> np.ndarray:
    """``n`` records of ``region`` as token ids, shape (n, SEQ)."""
    r = np.random.default_rng(1_000_003 * seed + region)
    g = np.random.default_rng(7 + region)  # the region's fixed character
    tech_p = g.dirichlet(np.full(TECHS, 0.7))
    cell_p = g.dirichlet(np.full(CELLS, 0.4))
    busy = g.integers(0, HOURS)
    backhaul = g.integers(-2, 3)
    signal = g.normal(0, 1.2)
    hour = (busy + np.round(r.normal(0, HOUR_SD, n))).astype(int) % HOURS
    tech = r.choice(TECHS, n, p=tech_p)
    cell = r.choice(CELLS, n, p=cell_p)
    rsrp = np.clip(np.round(r.normal(3.5 + signal + 0.15 * (cell % 5), 1.6, n)), 0, RSRP - 1).astype(int)
    sinr = np.clip(np.round(0.6 * rsrp + r.normal(1.0, 1.3, n)), 0, SINR - 1).astype(int)
    peak = np.cos(2 * np.pi * (hour - busy) / HOURS)
    load = np.clip(np.round(2.5 + 2.0 * peak + r.normal(0, 0.8, n)), 0, LOAD - 1).astype(int)
    ping = (9.0 - 2.5 * tech - 0.55 * rsrp - 0.35 * sinr + 0.9 * load + backhaul
            + (cell % 3 == 0) * 1.5 + r.normal(0, PING_SD, n))
    ping = np.clip(np.round(ping), 0, PING - 1).astype(int)
    cols = [np.full(n, region), hour, tech, cell, rsrp, sinr, load, ping]
    out = np.zeros((n, SEQ), dtype=np.int64)
    for i, c in enumerate(cols):
        out[:, 1 + i] = OFFSETS[i] + c
    return out


@lru_cache(maxsize=8)
def partition(region: int, n: int = 4000) -> np.ndarray:
    return records(region, n, seed=1)


@lru_cache(maxsize=1)
def test_set(n_per_region: int = 600) -> np.ndarray:
    return np.concatenate([records(k, n_per_region, seed=2) for k in range(REGIONS)])


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotary(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of (batch, heads, seq, head_dim)."""
    t, d = x.shape[-2], x.shape[-1]
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = torch.arange(t, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm = RMSNorm(d)
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, d, bias=False)
        self.wv = nn.Linear(d, d, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.ffn_norm = RMSNorm(d)
        self.w1 = nn.Linear(d, hidden, bias=False)
        self.w3 = nn.Linear(d, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.attn_norm(x)
        q, k, v = (w(h).view(b, t, self.heads, d // self.heads).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
        a = F.scaled_dot_product_attention(rotary(q), rotary(k), v, is_causal=True)
        x = x + self.wo(a.transpose(1, 2).reshape(b, t, d))
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class TinyLlama(nn.Module):
    def __init__(self, d: int = 96, layers: int = 4, heads: int = 4, hidden: int = 240) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d)
        self.layers = nn.ModuleList(Block(d, heads, hidden) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, VOCAB, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for blk in self.layers:
            x = blk(x)
        return self.head(self.norm(x))


JITTER = 1e-7  # a float32 twin's initial model: float32's rounding (most weights a step or two off)


def init_model(seed: int = 0, jitter: float = 0.0) -> TinyLlama:
    """The initial model of ``seed``; ``jitter`` multiplies every weight by ``1 + jitter * N(0, 1)``
    (``JITTER``: float32's rounding), for a float32 twin that shows the task's own run-to-run noise."""
    torch.manual_seed(seed)
    model = TinyLlama()
    if jitter:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for w in model.parameters():
                w.mul_(1 + jitter * torch.randn(w.shape, generator=g))
    return model


LR = 1e-3  # peak learning rate of a round
SCHEDULES = ("constant", "cosine")
LR_FLOOR = 0.1  # the cosine schedule's last round trains at this share of the peak learning rate


def round_lr(lr: float, schedule: str, server_round: int, rounds: int) -> float:
    """The learning rate of a round: ``constant``, or ``cosine`` from ``lr`` in round 1 down to
    ``LR_FLOOR * lr`` in the last round (as LLM training decays it)."""
    if schedule == "constant":
        return lr
    if schedule != "cosine":
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    done = min(max(server_round - 1, 0), max(rounds - 1, 0))  # rounds before this one
    return lr * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * done / max(rounds - 1, 1))))


def train(model: TinyLlama, data: np.ndarray, *, steps: int = 20, batch_size: int = 32, lr: float = LR,
          warmup: int = 5, seed: int = 0) -> float:
    """``steps`` AdamW steps on next-token cross-entropy (a fresh optimizer each round, its
    learning rate ramped up over the first ``warmup`` steps: a fresh AdamW's first steps are
    sign-like and full-size); returns the mean loss."""
    r = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    total = 0.0
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / max(warmup, 1))
        ids = torch.from_numpy(data[r.integers(0, len(data), batch_size)])
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    return total / steps


@torch.no_grad()
def evaluate(model: TinyLlama, data: np.ndarray) -> dict[str, float]:
    """Target-field (ping) accuracy and per-token perplexity."""
    model.eval()
    ids = torch.from_numpy(data)
    logits = model(ids[:, :-1])
    nll = F.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    pred = logits[:, TARGET - 1].argmax(-1)
    return {"accuracy": float((pred == ids[:, TARGET]).float().mean()), "perplexity": float(math.exp(float(nll)))}
