"""nnr.fl on Flower: NNCStrategy + nnc_mod on the digits app of examples/fl_digits.

Most tests drive the app in-process (tests/fl_harness.py: the ClientApp called directly for each
message); ``test_simulation_engine`` runs it on Flower's simulation engine (Ray) and
``test_deployment_engine`` (tests/test_fl_deployment.py) on a SuperLink with two SuperNodes —
both must give exactly the in-process results.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extras import require

flwr = require("flwr")
require("sklearn")  # the example task's data (digits ship with scikit-learn)

import nnr  # noqa: E402
import nnr.fl  # noqa: E402
from fl_harness import LocalGrid  # noqa: E402
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp.strategy import FedAdam, FedAvg  # noqa: E402

from digits_app import client_app, task  # noqa: E402

logging.getLogger("flwr").setLevel(logging.WARNING)

REPO = Path(__file__).resolve().parent.parent
NNCODEC_PY = Path(os.environ.get("NNCODEC_VENV", "/root/.cache/nnr-peer/nnc-venv")) / "bin" / "python"


def run_local(rounds: int, *, compress: bool = True, num_nodes: int = 2, app: Any = None, available: Any = None,
              strategy: Any = None, settings: dict[str, Any] | None = None, hidden: int = 64,
              fraction_evaluate: float = 0.0) -> tuple[dict[str, Any], Any, LocalGrid]:
    """One in-process run; returns (per-round results, the strategy, the grid)."""
    random.seed(0)  # FedAvg samples nodes with `random`
    grid = LocalGrid(app or client_app.make(), num_nodes, available=available)
    inner = strategy or FedAvg(fraction_train=1.0, fraction_evaluate=fraction_evaluate, min_train_nodes=1,
                               min_evaluate_nodes=1, min_available_nodes=1)
    strat = nnr.fl.NNCStrategy(inner, **(settings or {})) if compress else inner
    x, y = task.test_set()
    accs: list[float] = []
    models: list[dict[str, np.ndarray]] = []  # the global model after each round (0: initial)

    def evaluate(rnd: int, arrays: ArrayRecord) -> None:
        grid.round = rnd + 1  # the node set of the next round
        models.append(model_of(arrays))
        if rnd:
            accs.append(task.accuracy({k: a.numpy() for k, a in arrays.items()}, x, y))

    initial = ArrayRecord({k: Array(v) for k, v in task.init_model(hidden).items()})
    result = strat.start(grid=grid, initial_arrays=initial, num_rounds=rounds, evaluate_fn=evaluate)
    comm = [dict(c) for c in strat.communication] if compress else []
    return {"accuracy": accs, "communication": comm, "result": result, "models": models}, strat, grid


def model_of(rec: ArrayRecord) -> dict[str, np.ndarray]:
    return {k: a.numpy() for k, a in rec.items()}


def digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k, v in arrays.items():
        h.update(k.encode())
        h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()


def ratio(comm: list[dict[str, Any]]) -> float:
    return sum(c["up_bytes"] + c["down_bytes"] for c in comm) / sum(
        c["float32_up_bytes"] + c["float32_down_bytes"] for c in comm)


@pytest.fixture(scope="module")
def twenty_rounds() -> tuple[dict[str, Any], Any, LocalGrid]:
    return run_local(20, hidden=128)


@pytest.fixture(scope="module")
def float32_twenty_rounds() -> dict[str, Any]:
    return run_local(20, compress=False, hidden=128)[0]


# -- package shape ---------------------------------------------------------------------------------


def test_import_nnr_does_not_import_flwr() -> None:
    code = "import sys, nnr, nnr.fl; s = nnr.fl.FLSettings(); assert 'flwr' not in sys.modules, 'flwr imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_settings_names_and_config_round_trip() -> None:
    s = nnr.fl.FLSettings()
    for name in ("qp", "diff_qp", "nonweight_qp", "use_dq", "tca", "sparsity", "struct_spars_factor",
                 "err_accumulation", "compress_upstream", "compress_downstream", "compress_differences", "bitdepth"):
        assert name in s.names()
    t = nnr.fl.FLSettings.from_kwargs({"diff_qp": -18, "bitdepth": 8, "sparsity": 0.5})
    assert nnr.fl.FLSettings.from_config(ConfigRecord(t.to_config())) == t
    with pytest.raises(nnr.NNRUsageError, match="lsa"):
        nnr.fl.NNCStrategy(FedAvg(), lsa=True)
    with pytest.raises(nnr.NNRUsageError, match="sparsity"):
        nnr.fl.FLSettings.from_kwargs({"sparsity": 1.5})
    with pytest.raises(nnr.NNRUsageError, match="qp"):
        nnr.fl.FLSettings.from_kwargs({"diff_qp": 10**6})


# -- the bar: transparent defaults -----------------------------------------------------------------


def test_defaults_are_transparent(twenty_rounds: Any, float32_twenty_rounds: dict[str, Any]) -> None:
    """20 rounds, 2 clients, the 64-128-10 MLP (9,610 parameters: NNC's per-tensor headers weigh
    more than on the models of docs/fl.rst, which stay below 1 %): float32 FedAvg's accuracy
    within 1 point at <= 2% of its traffic (initial model included)."""
    out, strat, _ = twenty_rounds
    f32 = float32_twenty_rounds
    assert len(out["communication"]) == 20 and [c["round"] for c in out["communication"]] == list(range(1, 21))
    assert abs(out["accuracy"][-1] - f32["accuracy"][-1]) <= 0.01
    assert ratio(out["communication"]) <= 0.02
    assert strat.failures == []
    # round 1 counts the initial model: the whole model, coded at qp, to both clients
    c1 = out["communication"][0]
    assert c1["down_bytes"] == 2 * len(strat.streams[0])
    assert c1["float32_down_bytes"] == c1["float32_up_bytes"] == 2 * 4 * sum(v.size for v in task.init_model(128).values())


def test_communication_figures_are_the_payloads(twenty_rounds: Any) -> None:
    out, strat, grid = twenty_rounds
    comm = out["communication"]
    result = out["result"]
    for c in comm:  # the round's training MetricRecord carries the same figures
        m = result.train_metrics_clientapp[c["round"]]
        for k in ("up_bytes", "down_bytes", "float32_up_bytes", "float32_down_bytes"):
            assert m[k] == c[k]
    # every downstream stream reached each node once: down bytes are the streams' sizes (the
    # last one, the final model, is coded but sent to nobody without federated evaluation)
    assert sum(c["down_bytes"] for c in comm) == 2 * sum(len(s) for s in strat.streams[:-1])
    sent_up = [len(b) for _, key, b in grid_streams(grid, "up")]
    assert sum(c["up_bytes"] for c in comm) == sum(sent_up)


def grid_streams(grid: LocalGrid, which: str) -> list[tuple[int, str, bytes]]:
    return grid.down_streams if which == "down" else grid.up_streams


def test_clients_hold_the_servers_model(twenty_rounds: Any) -> None:
    """What each node reconstructed is, bit for bit, the global model the last round sent."""
    out, _, grid = twenty_rounds
    final = out["models"][19]
    for nid, ctx in grid.contexts.items():
        held = model_of(ctx.state.array_records["nnr.model"])
        assert digest(held) == digest(final), nid


def test_every_stream_decodes_with_a_fresh_decoder(twenty_rounds: Any) -> None:
    _, strat, _ = twenty_rounds
    dec = nnr.Decoder()
    model: dict[str, np.ndarray] = {}
    for i, s in enumerate(strat.streams):
        upd = dec.decode(s)
        if i == 0:
            model = {k: v.copy() for k, v in upd.items()}
        else:
            for k in model:
                if k in upd:
                    model[k] = model[k] + upd[k]
    assert digest(model) == digest(model_of(twenty_rounds[0]["result"].arrays))


@pytest.mark.skipif(not NNCODEC_PY.exists(), reason="needs the NNCodec 2.1.3 venv")
def test_nncodec_decodes_a_captured_run(tmp_path: Path, twenty_rounds: Any) -> None:
    """The downstream streams and one node's upstream streams, decoded by NNCodec 2.1.3 (through
    conformance/wrappers/nncodec_decoder.py) as one sequence each: the same arrays as nnr's."""
    _, strat, grid = twenty_rounds
    node = grid.node_ids[0]
    ups = [b for nid, _, b in grid_streams(grid, "up") if nid == node]
    assert len(ups) == 20
    for name, streams in (("down", strat.streams[:6]), ("up", ups[:6])):
        d = tmp_path / name
        d.mkdir()
        paths = []
        for i, s in enumerate(streams):
            p = d / f"s{i:02d}.nnc"
            p.write_bytes(s)
            paths.append(str(p))
        out = tmp_path / f"{name}-out"
        out.mkdir()
        r = subprocess.run([str(NNCODEC_PY), str(REPO / "conformance/wrappers/nncodec_decoder.py"), str(out), *paths],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        dec = nnr.Decoder()
        for i, s in enumerate(streams):
            ours = dec.decode(s)
            with np.load(out / f"s{i:02d}.npz") as z:
                theirs = {k: z[k] for k in z.files}
            assert sorted(theirs) == sorted(ours), (name, i)
            for k in ours:
                assert np.array_equal(np.asarray(theirs[k], dtype=np.float32), ours[k]), (name, i, k)


# -- late and missing clients ----------------------------------------------------------------------


def test_late_and_missing_clients_are_caught_up() -> None:
    """Node 2 joins in round 4, node 1 misses rounds 3-5: the server sends each the streams it
    lacks, every reply decodes, and every node that trained last holds the final model."""

    def available(rnd: int) -> list[int]:
        nodes = [0]
        if not 3 <= rnd <= 5:
            nodes.append(1)
        if rnd >= 4:
            nodes.append(2)
        return nodes

    out, strat, grid = run_local(7, num_nodes=3, available=available)
    assert strat.failures == []
    late = grid.node_ids[2]
    first = [keys for nid, keys in grid.sent_keys if nid == late][0]
    assert first == [f"nnr.down.{i}" for i in range(4)]  # the initial model and rounds 1-3
    back = [keys for nid, keys in grid.sent_keys if nid == grid.node_ids[1]][2]  # round 6
    assert back == [f"nnr.down.{i}" for i in range(2, 6)]
    assert [keys for nid, keys in grid.sent_keys if nid == grid.node_ids[0]] == [[f"nnr.down.{i}"] for i in range(7)]
    final = out["models"][6]  # sent in round 7
    for nid in grid.node_ids:
        assert digest(model_of(grid.contexts[nid].state.array_records["nnr.model"])) == digest(final)
    assert out["accuracy"][-1] > 0.8


# -- nodes and servers that lost their state ------------------------------------------------------


def test_node_that_lost_its_state_is_resynchronised(caplog: Any) -> None:
    """Node 1's ``context.state`` is wiped before round 4 (a SuperNode restart, a new machine):
    its round-4 reply says so and is left out of aggregation, its next message carries every
    downstream stream from 0 (counted), and from then on its replies decode again."""

    def wipe(msg: Message, context: Context, call_next: Any) -> Message:
        if (msg.metadata.message_type == "train" and int(context.node_config["partition-id"]) == 1
                and int(msg.content["config"]["server-round"]) == 4):
            for key in list(context.state.keys()):
                del context.state[key]
        return call_next(msg, context)

    with caplog.at_level(logging.WARNING, logger="flwr"):
        out, strat, grid = run_local(6, app=client_app.make(outer_mods=[wipe]))
    lost = grid.node_ids[1]
    assert strat.failures == [] and strat.resynced == [(4, lost)]
    assert any(f"node {lost} lost its state" in r.getMessage() for r in caplog.records)
    keys = [k for nid, k in grid.sent_keys if nid == lost]
    assert keys[3] == ["nnr.down.3"] and keys[4] == [f"nnr.down.{i}" for i in range(5)] and keys[5] == ["nnr.down.5"]
    # round 5 sends node 0 the new stream and node 1 every stream: all counted
    assert out["communication"][4]["down_bytes"] == len(strat.streams[4]) + sum(len(s) for s in strat.streams[:5])
    # round 4 aggregated node 0's reply only: the float32 reference counts one reply
    c4 = out["communication"][3]
    assert c4["float32_up_bytes"] == c4["float32_down_bytes"] // 2
    final = out["models"][5]
    for nid in grid.node_ids:
        assert digest(model_of(grid.contexts[nid].state.array_records["nnr.model"])) == digest(final)


def test_restarted_server_starts_the_nodes_afresh() -> None:
    """A new NNCStrategy (a server restarted without nnr state) on nodes that hold a previous
    link's state: the nodes see another link and start afresh instead of skipping stream 0."""
    random.seed(0)
    grid = LocalGrid(client_app.make(), 2)
    initial = ArrayRecord({k: Array(v) for k, v in task.init_model().items()})
    models: list[dict[str, np.ndarray]] = []
    for _ in range(2):
        strat = nnr.fl.NNCStrategy(FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2))
        strat.start(grid=grid, initial_arrays=initial, num_rounds=3,
                    evaluate_fn=lambda rnd, arrays: models.append(model_of(arrays)))
        assert strat.failures == [] and strat.resynced == []
    for nid in grid.node_ids:  # the model sent in round 3 (streams 0-2 of the second server)
        assert digest(model_of(grid.contexts[nid].state.array_records["nnr.model"])) == digest(models[-2])
        assert grid.contexts[nid].state.config_records["nnr.client"]["down_seen"] == 3


# -- corrupt replies -------------------------------------------------------------------------------


def corrupting_app(node_index: int, rnd: int, *, keep_crc: bool) -> tuple[ClientApp, list[int]]:
    """The example's ClientApp with a mod outside nnc_mod that damages one reply's stream."""
    target: list[int] = []

    def corrupt(msg: Message, context: Context, call_next: Any) -> Message:
        reply = call_next(msg, context)
        if (msg.metadata.message_type == "train" and int(context.node_config["partition-id"]) == node_index
                and int(msg.content["config"]["server-round"]) == rnd):
            target.append(context.node_id)
            data = bytes(reply.content["arrays"]["nnr.up"].data)
            bad = data[: len(data) // 2]
            reply.content["arrays"]["nnr.up"] = Array(dtype="uint8", shape=(len(bad),), stype="nnr.nnc", data=bad)
            if keep_crc:
                import zlib

                reply.content["nnr"]["crc32"] = zlib.crc32(bad) & 0xFFFFFFFF
        return reply

    return client_app.make(outer_mods=[corrupt]), target


@pytest.mark.parametrize("keep_crc", [False, True])
def test_corrupt_reply_is_dropped_and_the_run_goes_on(keep_crc: bool, caplog: Any) -> None:
    app, target = corrupting_app(1, 2, keep_crc=keep_crc)
    out, strat, grid = run_local(4, app=app)
    assert len(strat.failures) == 1
    e = strat.failures[0]
    assert isinstance(e, nnr.fl.CorruptReplyError) and isinstance(e, nnr.NNRError)
    assert (e.node_id, e.server_round) == (target[0], 2)
    assert f"round 2: reply from node {target[0]} dropped" in str(e)
    assert ("CRC-32" in e.reason) != keep_crc
    assert len(out["accuracy"]) == 4 and len(out["communication"]) == 4
    # the node's next reply is coded against the state the server holds, and decodes
    final = out["models"][3]
    for nid in grid.node_ids:
        assert digest(model_of(grid.contexts[nid].state.array_records["nnr.model"])) == digest(final)


# -- any strategy; links switched off ----------------------------------------------------------------


def test_wraps_fedadam() -> None:
    x = ArrayRecord({k: Array(v) for k, v in task.init_model().items()})
    out, strat, grid = run_local(3, strategy=FedAdam(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=1,
                                                     min_available_nodes=1, eta=0.05))
    assert strat.failures == [] and len(x) == 4
    final = out["models"][2]
    for nid in grid.node_ids:
        assert digest(model_of(grid.contexts[nid].state.array_records["nnr.model"])) == digest(final)


def test_settings_travel_in_the_train_config() -> None:
    _, strat, grid = run_local(1, settings={"diff_qp": -18, "sparsity": 0.5})
    cfg = grid.sent_configs[0]["config"]
    assert cfg["nnr.diff_qp"] == -18 and cfg["nnr.sparsity"] == 0.5 and cfg["server-round"] == 1
    assert nnr.fl.FLSettings.from_config(cfg) == strat.settings


def test_uncompressed_links_count_float_bytes() -> None:
    out, _, _ = run_local(2, settings={"compress_upstream": False})
    for c in out["communication"]:
        assert c["up_bytes"] == c["float32_up_bytes"]
    out, _, _ = run_local(2, settings={"compress_downstream": False})
    for c in out["communication"]:
        assert c["down_bytes"] == c["float32_down_bytes"] and c["up_bytes"] < c["float32_up_bytes"]


def test_federated_evaluation_messages_carry_streams_once() -> None:
    """Evaluate messages bring the new model; the next train message then carries nothing new."""
    out, strat, grid = run_local(3, fraction_evaluate=1.0)
    assert strat.failures == []
    assert sum(c["down_bytes"] for c in out["communication"]) == 2 * sum(len(s) for s in strat.streams)
    evals = out["result"].evaluate_metrics_clientapp
    assert sorted(evals) == [1, 2, 3] and all(0 <= evals[r]["eval_acc"] <= 1 for r in evals)


# -- the simulation engine ---------------------------------------------------------------------------


SIMULATION = """
import json, sys
sys.path.insert(0, {example!r})
from flwr.serverapp import ServerApp
from flwr.simulation import run_simulation
from digits_app import client_app, server_app
got = {{}}
app = ServerApp()

@app.main()
def main(grid, context):
    got.update(server_app.run(grid, num_rounds=3, compress=True))

run_simulation(server_app=app, client_app=client_app.make(), num_supernodes=2,
               backend_config={{"client_resources": {{"num_cpus": 1, "num_gpus": 0.0}}}})
print("RESULT " + json.dumps(got))
"""


def test_simulation_engine(tmp_path: Path) -> None:
    """Three rounds on Flower's simulation engine (Ray, CPU only), in a child process bounded in
    time: the same bytes and accuracies as the in-process run."""
    require("ray")
    from fl_harness import EXAMPLE

    r = subprocess.run([sys.executable, "-c", SIMULATION.format(example=str(EXAMPLE))], capture_output=True,
                       text=True, timeout=420, cwd=tmp_path)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stdout[-3000:] + r.stderr[-3000:]
    import json

    got = json.loads(lines[-1][len("RESULT "):])
    ref, _, _ = run_local(3)
    assert got["failures"] == []
    assert got["accuracy"] == ref["accuracy"]
    for a, b in zip(got["communication"], ref["communication"]):
        assert {k: v for k, v in a.items() if k != "client_seconds"} == \
               {k: v for k, v in b.items() if k != "client_seconds"}


def test_digits_task_deeper_mlp_gradient() -> None:
    """The example task's MLP with two hidden layers (the issue's held-out 64-256-256-10 shape,
    narrower here): one full-batch SGD step at lr 1 moves each parameter by minus the gradient
    of ``task.loss``, checked against central finite differences in float64."""
    x, y = task.partition(0, 2)
    x, y = x[:40], y[:40]
    m = task.init_model((12, 9), seed=3)
    assert sorted(m) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "fc3.bias", "fc3.weight"]
    m["fc1.bias"] += 0.05  # nonzero biases, so their gradients are exercised too
    step = {k: m[k] - v for k, v in task.train(m, x, y, epochs=1, lr=1.0, batch_size=len(x)).items()}
    m64 = {k: v.astype(np.float64) for k, v in m.items()}
    r = np.random.default_rng(0)
    for k, v in m64.items():
        for idx in [tuple(int(r.integers(0, n)) for n in v.shape) for _ in range(4)]:
            eps = 1e-4
            v[idx] += eps
            up = task.loss(m64, x.astype(np.float64), y)
            v[idx] -= 2 * eps
            down = task.loss(m64, x.astype(np.float64), y)
            v[idx] += eps
            assert step[k][idx] == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=2e-5), (k, idx)
