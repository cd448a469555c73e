"""ServerApp: FedAvg over the five regions, wrapped in nnr.fl.NNCStrategy unless ``nnr = false``."""

from __future__ import annotations

import json
import time
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

import nnr.fl
from llm_app import task


def run(grid: Grid, *, num_rounds: int = 20, compress: bool = True, clients: int = task.REGIONS,
        settings: dict[str, Any] | None = None, seed: int = 0, jitter: float = 0.0) -> dict[str, Any]:
    """Run the federation from the initial model of ``seed`` (``jitter``: see ``task.init_model``);
    returns per-round accuracy, perplexity and traffic."""
    torch.set_num_threads(1)
    strategy: Any = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=clients)
    if compress:
        strategy = nnr.fl.NNCStrategy(strategy, **(settings or {}))
    test = task.test_set()

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = task.TinyLlama()
        model.load_state_dict(arrays.to_torch_state_dict())
        return MetricRecord(task.evaluate(model, test))

    initial = ArrayRecord(task.init_model(seed, jitter).state_dict())
    t0 = time.perf_counter()
    result = strategy.start(grid=grid, initial_arrays=initial, num_rounds=num_rounds, evaluate_fn=evaluate)
    rounds = range(1, num_rounds + 1)
    out: dict[str, Any] = {
        "accuracy": [float(result.evaluate_metrics_serverapp[r]["accuracy"]) for r in rounds],
        "perplexity": [float(result.evaluate_metrics_serverapp[r]["perplexity"]) for r in rounds],
        "seconds": time.perf_counter() - t0}
    if compress:
        out["communication"] = [dict(c) for c in strategy.communication]
        out["failures"] = [str(e) for e in strategy.failures]
    else:  # float32 FedAvg: each train message and reply carries the model as float32
        size = 4 * sum(int(v.numel()) for v in task.init_model().state_dict().values())
        out["communication"] = [{"round": r, "up_bytes": clients * size, "down_bytes": clients * size,
                                 "float32_up_bytes": clients * size, "float32_down_bytes": clients * size,
                                 "client_seconds": 0.0} for r in rounds]
    return out


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    out = run(grid, num_rounds=int(rc.get("num-server-rounds", 20)), compress=bool(rc.get("nnr", True)),
              seed=int(rc.get("seed", 0)))
    path = str(rc.get("result-path", ""))
    if path:
        with open(path, "w") as f:
            json.dump(out, f)
