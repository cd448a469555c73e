"""nnr.nncodec.fl: the drop-in for NNCodec's nncodec.fl (legacy Flower API, torch)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extras import require

torch = require("torch")
require("flwr")
require("sklearn")

from flwr.app import Context, RecordDict  # noqa: E402
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters  # noqa: E402

import nnr  # noqa: E402
from nnr.nncodec import fl as nfl  # noqa: E402

NNCODEC_PY = Path(os.environ.get("NNCODEC_VENV", "/root/.cache/nnr-peer/nnc-venv")) / "bin" / "python"


def _update(seed: int) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {"fc1.weight": (r.standard_normal((16, 64)) * 0.02).astype(np.float32),
            "fc1.bias": (r.standard_normal(16) * 0.01).astype(np.float32),
            "fc2.weight": (r.standard_normal((10, 16)) * 0.03).astype(np.float32),
            "fc2.bias": (r.standard_normal(10) * 0.01).astype(np.float32)}


@pytest.mark.skipif(not NNCODEC_PY.exists(), reason="needs the NNCodec 2.1.3 venv")
def test_encode_writes_nncodecs_bytes(tmp_path: Path) -> None:
    """nnr.nncodec.fl.encode with NNCodec's FL defaults (sparsity 0.6, structured 0.9, uniform,
    diff_qp -26) = what nncodec.fl.encode's steps write in NNCodec 2.1.3, over a TCA sequence."""
    ups = [_update(s) for s in range(3)]
    np.savez(tmp_path / "ups.npz", **{f"{i}/{k}": v for i, u in enumerate(ups) for k, v in u.items()})
    script = f"""
import json, numpy as np
from nncodec import nnc
from nncodec.framework.applications.utils.sparsification import apply_struct_spars_v2, apply_unstruct_spars_v2
z = np.load({str(tmp_path / "ups.npz")!r})
base = {{"parameters": {{}}, "put_node_depth": {{}}, "device_id": 3, "parameter_id": {{}}}}
out = []
for i in range(3):
    m = {{k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(f"{{i}}/")}}
    m = apply_unstruct_spars_v2(-26, m, target_sparsity=0.6, qp_density=np.int32(2))
    m = apply_struct_spars_v2(m, gain=0.9)
    bs = nnc.compress(m, qp=-26, nonweight_qp=-75, use_dq=False, opt_qp=False, param_opt=True, bnf=False, lsa=False,
                      row_skipping=False, tca=True, return_bitstream=True, verbose=False, approx_param_base=base,
                      device_id=3, int_quant_bw=None, compress_differences=True, codebook_mode=0,
                      bitstream_path={str(tmp_path / "x.nnc")!r})
    out.append(bytes(bs).hex())
print(json.dumps(out))
"""
    r = subprocess.run([str(NNCODEC_PY), "-c", script], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    theirs = json.loads(r.stdout.strip().splitlines()[-1])
    base = {"parameters": {}, "put_node_depth": {}, "device_id": 3, "parameter_id": {}}
    ours = [bytes(nfl.encode(u, approx_param_base=base, device_id=3)).hex() for u in ups]
    assert ours == theirs


class _Proxy:
    def __init__(self, cid: str) -> None:
        self.cid = cid


def test_legacy_pipeline_keeps_sessions_per_side() -> None:
    """Three rounds of NNClient / NNCFedAvg, clients re-created every round (as Flower's legacy
    client_fn does) with only ``context.state`` kept: each client's model is the server's."""
    sys_path = str(Path(__file__).resolve().parent.parent / "examples" / "fl_digits")
    import sys

    sys.path.insert(0, sys_path)
    from digits_app import task

    class Args:
        lr = 0.01
        compress_upstream = compress_downstream = compress_differences = True
        err_accumulation = True

    def make_model() -> Any:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

    def train_fn(model: Any, optimizer: Any, criterion: Any, trainloader: Any, device: Any, verbose: bool,
                 args: Any, round: int) -> dict[str, float]:
        x, y = trainloader.dataset.tensors
        for i in range(0, len(x), 32):
            optimizer.zero_grad()
            loss = criterion(model(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            optimizer.step()
        return {"loss": float(loss)}

    loaders = []
    for pid in range(2):
        x, y = task.partition(pid, 2)
        ds = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
        loaders.append(torch.utils.data.DataLoader(ds, batch_size=32))
    contexts = [Context(run_id=1, node_id=10 + i, node_config={}, state=RecordDict(), run_config={}) for i in range(2)]
    arch = make_model()
    init = [v.detach().numpy().copy() for v in arch.state_dict().values()]
    server = nfl.NNCFedAvg(2, 2, None, True, None, ndarrays_to_parameters(init), arch, {}, Args())
    params = init
    held: list[dict[str, np.ndarray]] = []
    before: dict[str, np.ndarray] = {}
    for rnd in range(1, 4):
        results = []
        held = []
        for i in range(2):
            client = nfl.NNClient(contexts[i], loaders[i], None, i + 1, torch.nn.CrossEntropyLoss(),
                                  torch.device("cpu"), make_model(), Args(), {}, train_fn=train_fn)
            out, n, metrics = client.fit(params, {})
            held.append(client.prev_mdl)
            assert out[0].dtype == np.uint8 and n == len(loaders[i].dataset)
            results.append((_Proxy(str(i)), FitRes(Status(Code.OK, ""), ndarrays_to_parameters(out), n, metrics)))
        if rnd > 1:  # what the clients reconstructed from the last downstream stream
            for h in held:
                assert all(np.array_equal(h[k], before[k]) for k in before)
        agg, m = server.aggregate_fit(rnd, results, [])
        from flwr.common import parameters_to_ndarrays

        params = parameters_to_ndarrays(agg)
        before = {k: v.copy() for k, v in server.base_mdl.items()}
        assert m["up_bytes"] == server.communication[-1]["up_bytes"]
    c = server.communication
    assert [r["round"] for r in c] == [1, 2, 3]
    f32 = 4 * sum(v.size for v in init)
    assert c[0]["float32_down_bytes"] == 2 * 2 * f32  # the float32 initial model + the first stream
    assert c[0]["down_bytes"] > 2 * f32 and c[1]["down_bytes"] < c[1]["float32_down_bytes"] // 5
    x, y = task.test_set()
    w = server.base_mdl
    model = {"fc1.weight": w["0.weight"], "fc1.bias": w["0.bias"], "fc2.weight": w["2.weight"], "fc2.bias": w["2.bias"]}
    assert task.accuracy(model, x, y) > 0.5
    # every downstream stream is a standard NNC stream: a fresh nnr.Decoder session reads them
    assert isinstance(nnr.Decoder().decode(bytes(params[0])), dict)
