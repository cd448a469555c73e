"""ServerApp: FedAvg, wrapped in nnr.fl.NNCStrategy unless run_config says ``nnr = false``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flwr.app import Array, ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

import nnr.fl
from digits_app import task


def run(grid: Grid, *, num_rounds: int = 20, compress: bool = True, hidden: int | tuple[int, ...] = 64,
        fraction_evaluate: float = 0.0, settings: dict[str, Any] | None = None,
        on_round: Callable[[int], None] | None = None, seed: int = 0) -> dict[str, Any]:
    """Run the federation from the initial model of ``seed`` (``hidden``: the MLP's hidden
    widths); returns per-round accuracy and traffic.  ``on_round(r)`` is called after round
    ``r``'s model was evaluated."""
    strategy: Any = FedAvg(fraction_train=1.0, fraction_evaluate=fraction_evaluate, min_available_nodes=2)
    if compress:
        strategy = nnr.fl.NNCStrategy(strategy, **(settings or {}))
    x, y = task.test_set()

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = {k: a.numpy() for k, a in arrays.items()}
        if on_round is not None and server_round > 0:
            on_round(server_round)
        return MetricRecord({"accuracy": task.accuracy(model, x, y)})

    initial = ArrayRecord({k: Array(v) for k, v in task.init_model(hidden, seed).items()})
    result = strategy.start(grid=grid, initial_arrays=initial, num_rounds=num_rounds, evaluate_fn=evaluate)
    acc = [float(result.evaluate_metrics_serverapp[r]["accuracy"]) for r in range(1, num_rounds + 1)]
    if compress:
        comm = [dict(c) for c in strategy.communication]
    else:  # float32 FedAvg: every message carries the model as float32
        model_bytes = 4 * sum(v.size for v in task.init_model(hidden).values())
        comm = []
        for r in range(1, num_rounds + 1):
            n_eval = 2 if fraction_evaluate > 0 else 0
            comm.append({"round": r, "up_bytes": 2 * model_bytes, "down_bytes": (2 + n_eval) * model_bytes,
                         "float32_up_bytes": 2 * model_bytes, "float32_down_bytes": (2 + n_eval) * model_bytes,
                         "client_seconds": 0.0})
    return {"accuracy": acc, "communication": comm, "failures": [str(e) for e in getattr(strategy, "failures", [])],
            "streams": [len(b) for b in getattr(strategy, "streams", [])]}


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    out = run(grid, num_rounds=int(rc.get("num-server-rounds", 3)), compress=bool(rc.get("nnr", True)),
              hidden=task.parse_hidden(rc.get("hidden", 64)),  # type: ignore[arg-type]
              fraction_evaluate=float(rc.get("fraction-evaluate", 0.0)), seed=int(rc.get("seed", 0)))
    path = str(rc.get("result-path", ""))
    if path:
        with open(path, "w") as f:
            json.dump(out, f)
