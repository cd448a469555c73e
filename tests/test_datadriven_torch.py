"""nnr.torch's data-driven encoding: blocks from the module's structure, BN folding undone on
loading, LSA with frozen weights, IOQ by a metric, clear errors."""

from __future__ import annotations

import copy
import os
import sys
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from extras import require  # noqa: E402

torch = require("torch")

import nnr  # noqa: E402
import nnr.torch  # noqa: E402
from nnr.encoding.datadriven import DataDrivenStep  # noqa: E402


def small(conv_bias: bool) -> Any:
    torch.manual_seed(3)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, bias=conv_bias), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                            torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():  # batch-norm statistics far from the identity, so that folding matters
        m[1].running_mean.copy_(torch.tensor([0.3, -0.2, 0.1, 0.5]))
        m[1].running_var.copy_(torch.tensor([2.0, 0.5, 1.5, 0.8]))
        m[1].weight.copy_(torch.tensor([1.5, 0.7, -1.2, 1.1]))
        m[1].bias.copy_(torch.tensor([0.2, -0.1, 0.3, 0.0]))
    m.eval()
    return m


def batches() -> list[tuple[Any, Any]]:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(96, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (96,), generator=g)
    return [(x[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32)]


def accuracy(out: Any, y: Any) -> float:
    return float((out.argmax(1) == y).float().mean())


def test_describe_finds_blocks_and_scaling() -> None:
    params, _, spec = nnr.torch.describe(small(False), lsa=True)
    assert list(params) == ["0.weight", "0.weight_scaling", "1.weight", "1.bias", "1.running_mean",
                            "1.running_var", "4.weight", "4.weight_scaling", "4.bias"]
    assert spec is not None
    assert spec["parameter_type"] == {"0.weight": "weight", "0.weight_scaling": "weight.ls", "1.weight": "bn.gamma",
                                      "1.bias": "bn.beta", "1.running_mean": "bn.mean", "1.running_var": "bn.var",
                                      "4.weight": "weight", "4.weight_scaling": "weight.ls", "4.bias": "bias"}
    blocks = spec["block_identifier"]
    assert len({blocks[n] for n in ("0.weight", "0.weight_scaling", "1.weight", "1.running_var")}) == 1
    assert blocks["4.weight"] == blocks["4.bias"] != blocks["0.weight"]


@pytest.mark.parametrize("conv_bias", [False, True])
def test_bnf_is_undone_on_loading(conv_bias: bool) -> None:
    m = small(conv_bias)
    x = batches()[0][0]
    data = nnr.torch.encode_model(m, bnf=True, qp=-70, nonweight_qp=-90)
    names = list(nnr.decode(data))
    assert not any("running" in n for n in names)  # folded: no batch-norm tensors in the stream
    assert ("0.weight_scaling" in names) and (("0.bias" in names) == conv_bias)
    rec = copy.deepcopy(m)
    for p in rec.parameters():
        p.data.zero_()
    nnr.torch.load_model(rec, data)
    with torch.no_grad():
        assert float((rec(x) - m(x)).abs().max()) < 1e-4


def test_lsa_keeps_quantized_weights_and_lowers_the_loss() -> None:
    m = small(False)
    data_loader = batches()
    loss = torch.nn.functional.cross_entropy
    plain = nnr.torch.encode_model(m, bnf=True, qp=-14)
    seen: list[tuple[DataDrivenStep, int, int]] = []
    tuned = nnr.torch.encode_model(m, data_loader, loss=loss, bnf=True, lsa=True, qp=-14, epochs=4, lr=0.05,
                                   progress=lambda s, d, t: seen.append((s, d, t)))
    assert [s for s in seen if s[2] == 12] == [(DataDrivenStep.TUNE, i, 12) for i in range(1, 13)]  # 4 x 3
    a, b = nnr.decode(plain), nnr.decode(tuned)
    for w in ("0.weight", "4.weight"):
        assert a[w].tobytes() == b[w].tobytes()  # frozen at the quantized values
    assert not np.array_equal(b["4.weight_scaling"], np.ones(3, np.float32))

    def total_loss(stream: bytes) -> float:
        rec = copy.deepcopy(m)
        nnr.torch.load_model(rec, stream)
        with torch.no_grad():
            return sum(float(loss(rec(x), y)) for x, y in data_loader)

    assert total_loss(tuned) < total_loss(plain) - 0.01


def test_ioq_and_ft_run_with_progress() -> None:
    m = small(True)
    seen: list[tuple[DataDrivenStep, int, int]] = []
    data = nnr.torch.encode_model(m, batches(), loss=torch.nn.functional.cross_entropy, metric=accuracy,
                                  ioq=True, fine_tune=True, qp=-8, progress=lambda s, d, t: seen.append((s, d, t)))
    assert [s for s in seen if s[0] == DataDrivenStep.IOQ] == [(DataDrivenStep.IOQ, i, 11) for i in range(1, 12)]
    assert seen[-1] == (DataDrivenStep.TUNE, 1, 1)
    before = dict(m.state_dict())
    rec = copy.deepcopy(m)
    nnr.torch.load_model(rec, data)
    assert not torch.equal(rec.state_dict()["1.bias"], before["1.bias"])  # fine-tuned, then coded


def test_errors_name_what_is_missing() -> None:
    m = small(False)
    with pytest.raises(nnr.NNRUsageError, match="loader"):
        nnr.torch.encode_model(m, lsa=True, loss=torch.nn.functional.cross_entropy)
    with pytest.raises(nnr.NNRUsageError, match="metric"):
        nnr.torch.encode_model(m, batches(), ioq=True)
    with pytest.raises(nnr.NNRUsageError, match="loss"):
        nnr.torch.encode_model(m, batches(), fine_tune=True)
    with pytest.raises(nnr.NNRUsageError, match="torch.nn.Module"):
        nnr.torch.ModelData({}, batches())
    with pytest.raises(nnr.NNRUsageError, match="no tensor"):
        nnr.torch.load_model(torch.nn.Linear(3, 2), nnr.torch.encode_model(m))


def test_digits_example_lsa_wins_back_accuracy() -> None:
    """The example's pipeline, shortened (3 training epochs, one QP, no IOQ)."""
    require("sklearn")
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "datadriven_digits" / "run.py"
    spec = importlib.util.spec_from_file_location("datadriven_digits_run", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = {r["variant"]: r for r in mod.run([-8], epochs=3, lsa_epochs=1, variants=("plain", "+BNF", "+LSA"))["rows"]}
    assert rows["float"]["bytes"] == 15560
    assert rows["+BNF"]["bytes"] < rows["plain"]["bytes"] and rows["+BNF"]["accuracy"] == rows["plain"]["accuracy"]
    assert rows["+LSA"]["accuracy"] > rows["plain"]["accuracy"] + 0.05


def test_keep_best_keeps_the_values_before_a_harmful_epoch() -> None:
    m = small(False)
    params, _, spec = nnr.torch.describe(m, lsa=True)
    assert spec is not None
    types = dict(spec["parameter_type"])
    loss = torch.nn.functional.cross_entropy
    wild = nnr.torch.ModelData(m, batches(), loss, lr=1e3)  # one epoch at this rate only hurts
    ls, ft = wild.tune(params, types, True, False)
    assert ft == {} and set(ls) == {"0.weight_scaling", "4.weight_scaling"}
    assert all(np.array_equal(v, np.ones_like(v)) for v in ls.values())
    ls_all, _ = nnr.torch.ModelData(m, batches(), loss, lr=1e3, keep_best=False).tune(params, types, True, False)
    assert not all(np.array_equal(v, np.ones_like(v)) for v in ls_all.values())
