"""nnr.fl with PyTorch models end to end: the user's train function loads and returns
``state_dict`` s (``ArrayRecord(model.state_dict())`` / ``to_torch_state_dict()``), BatchNorm
running statistics and the integer ``num_batches_tracked`` buffers included."""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np

from extras import require

require("flwr")
torch = require("torch")

import nnr.fl  # noqa: E402
from fl_harness import LocalGrid  # noqa: E402
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402
from torch import nn  # noqa: E402

logging.getLogger("flwr").setLevel(logging.WARNING)


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 16, 10)

    def forward(self, x: Any) -> Any:
        x = torch.relu(self.bn(self.conv(x.view(-1, 1, 8, 8))))
        return self.fc(nn.functional.max_pool2d(x, 2).flatten(1))


def data(k: int) -> tuple[Any, Any]:
    r = np.random.default_rng(k)
    x = r.standard_normal((64, 64)).astype(np.float32)
    y = (x[:, :10].argmax(1)).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def make_app(seen: list[dict[str, Any]]) -> ClientApp:
    app = ClientApp(mods=[nnr.fl.nnc_mod])

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.manual_seed(0)
        model = CNN()
        sd = msg.content["arrays"].to_torch_state_dict()
        seen.append({k: v.clone() for k, v in sd.items()})
        model.load_state_dict(sd, strict=True)
        x, y = data(int(context.node_config["partition-id"]))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for b in range(0, 64, 16):
            loss = nn.functional.cross_entropy(model(x[b:b + 16]), y[b:b + 16])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return Message(RecordDict({"arrays": ArrayRecord(model.state_dict()),
                                   "metrics": MetricRecord({"num-examples": 64})}), reply_to=msg)

    return app


def test_torch_state_dicts_with_batchnorm_buffers() -> None:
    random.seed(0)
    seen: list[dict[str, Any]] = []
    grid = LocalGrid(make_app(seen), 2)
    strat = nnr.fl.NNCStrategy(FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2))
    torch.manual_seed(0)
    initial = CNN().state_dict()
    models: list[dict[str, Any]] = []
    strat.start(grid=grid, initial_arrays=ArrayRecord(initial), num_rounds=3,
                evaluate_fn=lambda rnd, arrays: models.append(arrays.to_torch_state_dict()))
    assert strat.failures == []
    assert len(seen) == 6 and list(seen[0]) == list(initial)
    for sd in seen:  # what the train function got: the model's tensors, in its dtypes
        assert sd["bn.num_batches_tracked"].dtype == torch.int64 and sd["bn.num_batches_tracked"].ndim == 0
        assert sd["bn.running_var"].dtype == torch.float32
    # the integer buffer travels as it is: FedAvg's average of 4 + 4 steps per round
    assert [int(m["bn.num_batches_tracked"]) for m in models] == [0, 4, 8, 12]
    # the BatchNorm statistics move with training and reach the clients as the server holds them
    assert not torch.equal(models[1]["bn.running_mean"], initial["bn.running_mean"])
    for k in initial:
        assert torch.equal(seen[4][k], models[2][k]) and torch.equal(seen[5][k], models[2][k]), k
    # the float tensors travelled as NNC, one stream per round
    assert [keys for _, keys in grid.sent_keys] == [["nnr.down.0"]] * 2 + [["nnr.down.1"]] * 2 + [["nnr.down.2"]] * 2
    assert sorted(strat._layout.like_coded()) == sorted(k for k in initial if k != "bn.num_batches_tracked")
