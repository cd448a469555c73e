"""nnr.fl against float32 FedAvg on Flower's simulation engine: per-round bytes and accuracy.

Runs an example app twice, float32 FedAvg and FedAvg wrapped in ``nnr.fl.NNCStrategy``, and
writes JSON: per round the server-side accuracy (and perplexity for the language model), up /
down bytes of both, and the client-side time spent in nnr (decode + encode, summed over the
round's clients); plus totals and ratios (initial model included).

* ``--task digits`` (default): ``examples/fl_digits``, a numpy MLP (``--hidden``: 64-256-256-10,
  85k parameters, by default), SGD, 2 clients.
* ``--task llm``: ``examples/fl_llm``, the tiny Llama-style model (0.44M parameters, PyTorch),
  five non-IID regions, ``--steps`` local AdamW steps per round.  ``--twin`` runs float32 a
  second time from an initial model off by float32's rounding (``task.JITTER``, 1e-7 relative):
  how far float32 lands from itself (``twin_*`` in the summary) is the task's own run-to-run
  noise, what nnr's difference to float32 is to be judged against (``docs/fl.rst``).

    python benchmarks/bench_fl.py --rounds 20 --out fl.json
    python benchmarks/bench_fl.py --settings '{"diff_qp": -16}' --hidden 128 --seed 1
    python benchmarks/bench_fl.py --task llm --out fl_llm.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

# Flower's simulation engine starts Ray's processes with fork() from the main thread while the
# ServerApp thread evaluates; OpenBLAS stops its thread pool before every fork, and a thread inside
# a matrix product then waits for it forever (docs/fl.rst).  With one BLAS thread there is no pool.
# Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "fl_digits"))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "fl_llm"))

BACKEND = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}}
LLM_SCHEDULES = ("constant", "cosine")  # examples/fl_llm's task.SCHEDULES (its module needs torch)


def simulate(*, compress: bool, rounds: int, hidden: int | tuple[int, ...], lr: float, epochs: int,
             fraction_evaluate: float, settings: dict[str, Any] | None, seed: int = 0) -> dict[str, Any]:
    """One Flower simulation-engine run of the digits app (``seed``: initial model and batch order)."""
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from digits_app import client_app, server_app

    out: dict[str, Any] = {}
    app = ServerApp()

    @app.main()
    def main(grid: Any, context: Any) -> None:
        out.update(server_app.run(grid, num_rounds=rounds, compress=compress, hidden=hidden,
                                  fraction_evaluate=fraction_evaluate, settings=settings, seed=seed))

    t0 = time.perf_counter()
    run_simulation(server_app=app, client_app=client_app.make(lr=lr, epochs=epochs, seed=seed), num_supernodes=2, backend_config=BACKEND)
    out["wall_seconds"] = time.perf_counter() - t0
    return out


def totals(comm: list[dict[str, Any]]) -> dict[str, int]:
    return {k: int(sum(c[k] for c in comm)) for k in ("up_bytes", "down_bytes", "float32_up_bytes", "float32_down_bytes")}


def last5(run: dict[str, Any], key: str) -> float:
    """Mean of a per-round metric over the last five rounds."""
    return float(sum(run[key][-5:]) / len(run[key][-5:]))


def versus_float32(run: dict[str, Any], f32: dict[str, Any], prefix: str) -> dict[str, float]:
    """A run against float32's: accuracy difference in points and perplexity ratio, in the last
    round and over the last five (keys with ``prefix``)."""
    out = {prefix + "accuracy_delta_points": 100 * (run["accuracy"][-1] - f32["accuracy"][-1]),
           prefix + "last5_accuracy_delta_points": 100 * (last5(run, "accuracy") - last5(f32, "accuracy"))}
    if "perplexity" in run:
        out[prefix + "perplexity_ratio"] = run["perplexity"][-1] / f32["perplexity"][-1]
        out[prefix + "last5_perplexity_ratio"] = last5(run, "perplexity") / last5(f32, "perplexity")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=("digits", "llm"), default="digits")
    p.add_argument("--steps", type=int, default=20, help="llm: local AdamW steps per round")
    p.add_argument("--lr-schedule", choices=LLM_SCHEDULES, default="constant",
                   help="llm: learning rate over the rounds (cosine: down to a tenth by the last round)")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--hidden", default="256,256", help="digits: hidden widths of the MLP (comma-separated)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial model and the local batches")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--fraction-evaluate", type=float, default=0.0)
    p.add_argument("--settings", default="{}", help="nnr.fl settings as JSON (default: nnr.fl's defaults)")
    p.add_argument("--skip-float32", action="store_true")
    p.add_argument("--twin", action="store_true", help="llm: also a float32 twin run (the task's own noise)")
    p.add_argument("--out", default="", help="write the JSON here (default: stdout)")
    a = p.parse_args(argv)
    if a.twin and (a.task != "llm" or a.skip_float32):
        p.error("--twin: needs --task llm and the float32 run")
    settings = json.loads(a.settings)
    if a.task == "llm":
        import importlib.util

        spec = importlib.util.spec_from_file_location("fl_llm_run", os.path.join(HERE, "..", "examples", "fl_llm", "run.py"))
        assert spec is not None and spec.loader is not None
        llm_run = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(llm_run)
        simulate_llm = llm_run.simulate

        res: dict[str, Any] = {"task": {"dataset": "synthetic mobile-network records, 5 regions (non-IID)",
                                        "model": "tiny Llama (RMSNorm, rotary attention, SwiGLU; 0.44M, PyTorch)",
                                        "clients": 5, "rounds": a.rounds, "local_steps": a.steps, "seed": a.seed,
                                        "lr_schedule": a.lr_schedule}, "settings": settings}
        if not a.skip_float32:
            res["float32"] = simulate_llm(compress=False, rounds=a.rounds, steps=a.steps, seed=a.seed,
                                          schedule=a.lr_schedule)
        if a.twin:
            from llm_app import task as llm_task

            res["float32_twin"] = simulate_llm(compress=False, rounds=a.rounds, steps=a.steps, seed=a.seed,
                                               schedule=a.lr_schedule, jitter=llm_task.JITTER)
        res["nnr"] = simulate_llm(compress=True, rounds=a.rounds, steps=a.steps, settings=settings, seed=a.seed,
                                  schedule=a.lr_schedule)
    else:
        from digits_app import task

        hidden = task.parse_hidden(a.hidden)
        common = dict(rounds=a.rounds, hidden=hidden, lr=a.lr, epochs=a.epochs, fraction_evaluate=a.fraction_evaluate,
                      seed=a.seed)
        res = {"task": {"dataset": "sklearn digits", "model": f"MLP 64-{a.hidden.replace(',', '-')}-10 (numpy)",
                        "clients": 2, **common},
               "settings": settings}
        if not a.skip_float32:
            res["float32"] = simulate(compress=False, settings=None, **common)  # type: ignore[arg-type]
        res["nnr"] = simulate(compress=True, settings=settings, **common)  # type: ignore[arg-type]
    t = totals(res["nnr"]["communication"])
    nnr_total = t["up_bytes"] + t["down_bytes"]
    f32_total = t["float32_up_bytes"] + t["float32_down_bytes"]
    res["summary"] = {
        **t,
        "nnr_total_bytes": nnr_total,
        "float32_total_bytes": f32_total,
        "traffic_ratio": nnr_total / f32_total,
        "nnr_final_accuracy": res["nnr"]["accuracy"][-1],
        "client_seconds_per_round": sum(c["client_seconds"] for c in res["nnr"]["communication"]) / a.rounds,
    }
    res["summary"]["nnr_last5_accuracy"] = last5(res["nnr"], "accuracy")
    if "perplexity" in res["nnr"]:
        res["summary"]["nnr_final_perplexity"] = res["nnr"]["perplexity"][-1]
    if "float32" in res:
        res["summary"]["float32_final_accuracy"] = res["float32"]["accuracy"][-1]
        res["summary"]["float32_last5_accuracy"] = last5(res["float32"], "accuracy")
        if "perplexity" in res["float32"]:
            res["summary"]["float32_final_perplexity"] = res["float32"]["perplexity"][-1]
        res["summary"].update(versus_float32(res["nnr"], res["float32"], ""))
        if "float32_twin" in res:
            res["summary"].update(versus_float32(res["float32_twin"], res["float32"], "twin_"))
    text = json.dumps(res, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(json.dumps(res["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
