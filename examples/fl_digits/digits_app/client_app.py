"""ClientApp: the user's train / evaluate see float arrays; nnr.fl.nnc_mod codes the exchange."""

from __future__ import annotations

from typing import Any

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

import nnr.fl
from digits_app import task


def make(lr: float | None = None, epochs: int | None = None, outer_mods: list[Any] | None = None,
         seed: int | None = None) -> ClientApp:
    """The ClientApp; ``lr`` / ``epochs`` / ``seed`` (of the batch order) default to the run
    config's ``lr`` / ``local-epochs`` / ``seed``; ``outer_mods`` run outside nnc_mod (they see
    the coded messages)."""
    app = ClientApp(mods=[*(outer_mods or []), nnr.fl.nnc_mod])

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        model = {k: a.numpy() for k, a in msg.content["arrays"].items()}
        pid = int(context.node_config["partition-id"])
        x, y = task.partition(pid, int(context.node_config["num-partitions"]))
        rnd = int(msg.content["config"]["server-round"])
        step = lr if lr is not None else float(context.run_config.get("lr", 0.1))
        n = epochs if epochs is not None else int(context.run_config.get("local-epochs", 1))
        run_seed = seed if seed is not None else int(context.run_config.get("seed", 0))
        new = task.train(model, x, y, epochs=n, lr=step, seed=100_000 * run_seed + 1000 * rnd + pid)
        metrics = MetricRecord({"train_loss": task.loss(new, x, y), "num-examples": len(x)})
        arrays = ArrayRecord({k: Array(v) for k, v in new.items()})
        return Message(RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        model = {k: a.numpy() for k, a in msg.content["arrays"].items()}
        x, y = task.test_set()
        metrics = MetricRecord({"eval_acc": task.accuracy(model, x, y), "eval_loss": task.loss(model, x, y),
                                "num-examples": len(x)})
        return Message(RecordDict({"metrics": metrics}), reply_to=msg)

    return app


app = make()
