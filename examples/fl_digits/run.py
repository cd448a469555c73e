"""Federated digits, nnr vs float32, on Flower's simulation engine — one command:

    pip install 'nnr[flower]' 'flwr[simulation]' scikit-learn matplotlib
    python examples/fl_digits/run.py            # 20 rounds, 2 clients; writes fl_digits.png

Runs FedAvg twice on the same numpy MLP (64-256-256-10 by default, 85k parameters; ``--hidden
64`` for the small one) and data split: once exchanging float32 arrays, once
wrapped in ``nnr.fl.NNCStrategy`` with ``nnr.fl.nnc_mod`` on the clients (NNC bitstreams).
Prints per-round accuracy and traffic and plots accuracy and cumulative bytes per round.

The same app runs on a real deployment (SuperLink + SuperNodes) with ``flwr run``: see
pyproject.toml beside this file and docs/fl.rst.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "benchmarks"))


def main() -> int:
    p = argparse.ArgumentParser(description="nnr.fl on scikit-learn's digits: nnr vs float32 FedAvg")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--hidden", default="256,256", help="hidden widths of the MLP (comma-separated)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial model and the batch order")
    p.add_argument("--plot", default="fl_digits.png")
    a = p.parse_args()

    from bench_fl import simulate  # the benchmark's runner (Flower simulation engine)
    from digits_app import task

    common = dict(rounds=a.rounds, hidden=task.parse_hidden(a.hidden), lr=0.1, epochs=1, fraction_evaluate=0.0,
                  seed=a.seed)
    f32 = simulate(compress=False, settings=None, **common)  # type: ignore[arg-type]
    nnc = simulate(compress=True, settings=None, **common)  # type: ignore[arg-type]

    cum_f, cum_n = [], []
    tf = tn = 0
    print(f"{'round':>5} {'acc f32':>8} {'acc nnr':>8} {'f32 bytes':>10} {'nnr up':>8} {'nnr down':>9} {'ratio':>7}")
    for r in range(a.rounds):
        c = nnc["communication"][r]
        f = f32["communication"][r]
        tf += f["up_bytes"] + f["down_bytes"]
        tn += c["up_bytes"] + c["down_bytes"]
        cum_f.append(tf)
        cum_n.append(tn)
        print(f"{r + 1:>5} {f32['accuracy'][r]:>8.4f} {nnc['accuracy'][r]:>8.4f} {f['up_bytes'] + f['down_bytes']:>10} "
              f"{c['up_bytes']:>8} {c['down_bytes']:>9} {tn / tf:>7.2%}")
    print(f"final accuracy: float32 {f32['accuracy'][-1]:.4f}, nnr {nnc['accuracy'][-1]:.4f}; "
          f"traffic: nnr {tn} bytes = {tn / tf:.2%} of float32's {tf} (initial model included)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = list(range(1, a.rounds + 1))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(rounds, f32["accuracy"], "o-", label="float32 FedAvg")
    ax1.plot(rounds, nnc["accuracy"], "s-", label="nnr.fl (NNC streams)")
    ax1.set_xlabel("round")
    ax1.set_ylabel("test accuracy")
    ax1.legend()
    ax2.semilogy(rounds, cum_f, "o-", label="float32 FedAvg")
    ax2.semilogy(rounds, cum_n, "s-", label="nnr.fl")
    ax2.set_xlabel("round")
    ax2.set_ylabel("cumulative bytes (up + down)")
    ax2.legend()
    fig.suptitle("Federated digits, 2 clients: accuracy and traffic")
    fig.tight_layout()
    fig.savefig(a.plot, dpi=100)
    print(f"plot: {a.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
