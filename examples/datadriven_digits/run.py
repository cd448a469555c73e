"""Data-driven NNR coding of a small CNN on scikit-learn's digits: float, plain coding, +BNF,
+LSA, +IOQ.

One command (CPU, one thread, about a minute)::

    python examples/datadriven_digits/run.py [--qps -8 -12] [--out digits_datadriven.png]

It trains a two-convolution CNN (batch norm after each convolution) on 1400 of the 1797 8x8
digits, then codes it with :func:`nnr.torch.encode_model` at each QP, tools added one at a time:

* ``plain``: uniform / dependent quantization, nothing else;
* ``+BNF``: each batch norm folded into the convolution before it (local scaling and bias);
* ``+LSA``: the scaling factors trained on the training images with the weights frozen at their
  quantized values;
* ``+IOQ``: each weight tensor's QP searched (offsets -4..4) by accuracy on a validation split.

Each stream is decoded into a copy of the model (:func:`nnr.torch.load_model`) and scored on
the 397 held-out test images.  Prints a table, writes it as JSON (``--json``) and a plot (PNG).
Nothing is downloaded: the digits ship with scikit-learn.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nnr.torch

VARIANTS = (
    ("plain", {}),
    ("+BNF", {"bnf": True}),
    ("+LSA", {"bnf": True, "lsa": True}),
    ("+IOQ", {"bnf": True, "lsa": True, "ioq": True}),
)


def data(seed: int = 0) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    tr, va, te = perm[:1200], perm[1200:1400], perm[1400:]
    return TensorDataset(x[tr], y[tr]), TensorDataset(x[va], y[va]), TensorDataset(x[te], y[te])


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    return float((out.argmax(1) == y).float().mean())


def score(model: nn.Module, ds: TensorDataset) -> float:
    model.eval()
    with torch.no_grad():
        x, y = ds.tensors
        return accuracy(model(x), y)


def train(model: nn.Module, ds: TensorDataset, epochs: int = 20) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(1))
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()


def run(qps: list[int], epochs: int = 20, lsa_epochs: int = 3, progress: bool = False,
        variants: tuple[str, ...] = tuple(v for v, _ in VARIANTS)) -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train_ds, val_ds, test_ds = data()
    model = cnn()
    train(model, train_ds, epochs)
    float_bytes = sum(v.numel() * 4 for k, v in model.state_dict().items() if "num_batches" not in k)
    rows = [{"variant": "float", "qp": None, "bytes": float_bytes, "accuracy": score(model, test_ds)}]
    tune_loader = DataLoader(train_ds, batch_size=64, shuffle=False)
    val_loader = DataLoader(val_ds, batch_size=200)
    for qp in qps:
        for name, tools in VARIANTS:
            if name not in variants:
                continue
            t0 = time.perf_counter()
            stream = nnr.torch.encode_model(model, tune_loader, loss=nn.functional.cross_entropy, metric=accuracy,
                                            eval_loader=val_loader, epochs=lsa_epochs, lr=1e-2, qp=qp,
                                            progress=progress, **tools)
            rec = copy.deepcopy(model)
            nnr.torch.load_model(rec, stream)
            rows.append({"variant": name, "qp": qp, "bytes": len(stream), "accuracy": score(rec, test_ds),
                         "seconds": round(time.perf_counter() - t0, 2)})
    return {"rows": rows}


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ref = rows[0]
    ax.axhline(100 * ref["accuracy"], color="grey", ls="--", label=f"float ({ref['bytes']} bytes)")
    markers = {"plain": "o", "+BNF": "s", "+LSA": "^", "+IOQ": "D"}
    for name, _ in VARIANTS:
        pts = [(r["bytes"], 100 * r["accuracy"], r["qp"]) for r in rows if r["variant"] == name]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[name], ls="", label=name)
        for b, a, qp in pts:
            ax.annotate(f"QP {qp}", (b, a), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("stream size (bytes)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Digits CNN: NNR coding with data-driven tools")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qps", type=int, nargs="+", default=[-8, -12])
    ap.add_argument("--epochs", type=int, default=20, help="training epochs of the float model")
    ap.add_argument("--out", default="digits_datadriven.png", help="the plot (PNG)")
    ap.add_argument("--json", default=None, help="also write the table as JSON")
    ap.add_argument("--progress", action="store_true", help="progress bars of IOQ and LSA on stderr")
    args = ap.parse_args()
    result = run(args.qps, args.epochs, progress=args.progress)
    print(f"{'variant':8s} {'QP':>4s} {'bytes':>6s} {'accuracy':>9s}")
    for r in result["rows"]:
        qp = "" if r["qp"] is None else str(r["qp"])
        print(f"{r['variant']:8s} {qp:>4s} {r['bytes']:6d} {100 * r['accuracy']:8.2f}%")
    plot(result, args.out)
    print(f"plot: {args.out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
