"""Federated tiny Llama on five regions of mobile-network records, nnr vs float32 — one command:

    pip install 'nnr[flower]' 'flwr[simulation]' torch matplotlib
    python examples/fl_llm/run.py                 # 20 rounds, 5 clients; writes fl_llm.png

The shape of NNCodec's EuCNC 2025 experiment (arXiv 2504.01947): a Llama-style language model
(RMSNorm, rotary attention, SwiGLU; 0.44M parameters here) trained by five clients, each a
region with its own records (non-IID), FedAvg on Flower's simulation engine, once exchanging
float32 arrays and once through ``nnr.fl`` with its defaults.  The records are synthetic and
generated here (``llm_app/task.py``); nothing is downloaded.  Prints per round the target-field
(ping) accuracy, the perplexity and the cumulative bytes of both runs, and the clients' time in
nnr; plots accuracy, perplexity and cumulative bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

# one BLAS thread, set before numpy is imported: a thread pool can hang under the simulation engine
# (benchmarks/bench_fl.py, docs/fl.rst)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

BACKEND = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}}


def simulate(*, compress: bool, rounds: int = 20, steps: int = 20, settings: dict[str, Any] | None = None,
             clients: int = 5, seed: int = 0, schedule: str = "constant", jitter: float = 0.0) -> dict[str, Any]:
    """One Flower simulation-engine run of the app (``seed``: initial model and batches;
    ``schedule``: of the learning rate over the rounds; ``jitter``: see ``task.init_model``)."""
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from llm_app import client_app, server_app

    out: dict[str, Any] = {}
    app = ServerApp()

    @app.main()
    def main(grid: Any, context: Any) -> None:
        out.update(server_app.run(grid, num_rounds=rounds, compress=compress, clients=clients, settings=settings,
                                   seed=seed, jitter=jitter))

    t0 = time.perf_counter()
    client = client_app.make(steps=steps, compress=compress, seed=seed, schedule=schedule, rounds=rounds)
    run_simulation(server_app=app, client_app=client, num_supernodes=clients, backend_config=BACKEND)
    out["wall_seconds"] = time.perf_counter() - t0
    return out


def cumulative(comm: list[dict[str, Any]]) -> list[int]:
    out, total = [], 0
    for c in comm:
        total += c["up_bytes"] + c["down_bytes"]
        out.append(total)
    return out


def main() -> int:
    from llm_app import task

    p = argparse.ArgumentParser(description="nnr.fl on a tiny Llama-style model, five regions: nnr vs float32")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--steps", type=int, default=20, help="local AdamW steps per round")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial model and the local batches")
    p.add_argument("--lr-schedule", choices=task.SCHEDULES, default="constant",
                   help="learning rate over the rounds: constant, or cosine down to a tenth (docs/fl.rst)")
    p.add_argument("--settings", default="{}", help="nnr.fl settings as JSON (default: nnr.fl's defaults)")
    p.add_argument("--plot", default="fl_llm.png")
    p.add_argument("--json", default="", help="also write both runs here")
    a = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    f32 = simulate(compress=False, rounds=a.rounds, steps=a.steps, seed=a.seed, schedule=a.lr_schedule)
    nnc = simulate(compress=True, rounds=a.rounds, steps=a.steps, settings=json.loads(a.settings), seed=a.seed,
                   schedule=a.lr_schedule)
    cf, cn = cumulative(f32["communication"]), cumulative(nnc["communication"])
    print(f"{'round':>5} {'acc f32':>8} {'acc nnr':>8} {'ppl f32':>8} {'ppl nnr':>8} {'f32 bytes':>11} "
          f"{'nnr bytes':>10} {'ratio':>7} {'nnr s':>6}")
    for r in range(a.rounds):
        print(f"{r + 1:>5} {f32['accuracy'][r]:>8.4f} {nnc['accuracy'][r]:>8.4f} {f32['perplexity'][r]:>8.3f} "
              f"{nnc['perplexity'][r]:>8.3f} {cf[r]:>11} {cn[r]:>10} {cn[r] / cf[r]:>7.2%} "
              f"{nnc['communication'][r]['client_seconds']:>6.2f}")
    secs = sum(c["client_seconds"] for c in nnc["communication"]) / a.rounds
    print(f"final: accuracy float32 {f32['accuracy'][-1]:.4f}, nnr {nnc['accuracy'][-1]:.4f}; perplexity float32 "
          f"{f32['perplexity'][-1]:.3f}, nnr {nnc['perplexity'][-1]:.3f} (x{nnc['perplexity'][-1] / f32['perplexity'][-1]:.3f});"
          f" traffic nnr {cn[-1]} bytes = {cn[-1] / cf[-1]:.2%} of float32's {cf[-1]} (initial model included);"
          f" clients' time in nnr {secs:.2f} s per round (summed over the clients)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"float32": f32, "nnr": nnc}, f, indent=1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = list(range(1, a.rounds + 1))
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    for ax, key, label in ((ax1, "accuracy", "target-field (ping) accuracy"), (ax2, "perplexity", "perplexity")):
        ax.plot(rounds, f32[key], "o-", label="float32 FedAvg")
        ax.plot(rounds, nnc[key], "s-", label="nnr.fl defaults")
        ax.set_xlabel("round")
        ax.set_ylabel(label)
        ax.legend()
    ax3.semilogy(rounds, cf, "o-", label="float32 FedAvg")
    ax3.semilogy(rounds, cn, "s-", label="nnr.fl defaults")
    ax3.set_xlabel("round")
    ax3.set_ylabel("cumulative bytes (up + down)")
    ax3.legend()
    fig.suptitle("Tiny Llama, five regions (non-IID), FedAvg: accuracy, perplexity and traffic")
    fig.tight_layout()
    fig.savefig(a.plot, dpi=100)
    print(f"plot: {a.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
