"""ClientApp: a plain PyTorch train function (state_dict in, state_dict out); nnr.fl.nnc_mod
codes the exchange."""

from __future__ import annotations


import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

import nnr.fl
from llm_app import task


def make(steps: int | None = None, compress: bool = True, seed: int | None = None, schedule: str | None = None,
         rounds: int | None = None) -> ClientApp:
    """The ClientApp; ``steps`` (local AdamW steps per round), ``seed`` (of the batches drawn),
    ``schedule`` (of the learning rate over the rounds: ``task.round_lr``) and ``rounds`` default
    to the run config's ``local-steps``, ``seed``, ``lr-schedule`` and ``num-server-rounds``.
    With ``compress`` off the app is plain Flower (the float32 reference)."""
    app = ClientApp(mods=[nnr.fl.nnc_mod] if compress else [])

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        model = task.TinyLlama()
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        region = int(context.node_config["partition-id"])
        rnd = int(msg.content["config"]["server-round"])
        n = steps if steps is not None else int(context.run_config.get("local-steps", 20))
        run_seed = seed if seed is not None else int(context.run_config.get("seed", 0))
        data = task.partition(region)
        sched = schedule if schedule is not None else str(context.run_config.get("lr-schedule", "constant"))
        total = rounds if rounds is not None else int(context.run_config.get("num-server-rounds", 20))
        loss = task.train(model, data, steps=n, lr=task.round_lr(task.LR, sched, rnd, total),
                          seed=100_000 * run_seed + 1000 * rnd + region)
        metrics = MetricRecord({"train_loss": loss, "num-examples": len(data)})
        return Message(RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics}), reply_to=msg)

    return app


app = make()
