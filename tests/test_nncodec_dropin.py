"""nnr.nncodec against NNCodec 2.1.3: same arrays, dtypes, key order, HLS dicts and incremental state.

The expected values were produced by NNCodec itself (tests/data_gen/gen_nncodec_dropin.py);
every comparison is exact: key order, dtype, shape and bytes.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

import nnr
from nnr.nncodec import HdspMode, HdspTool, new_approx_param_base, nn, nnc, tensor

DATA = pathlib.Path(__file__).parent / "data" / "nncodec_dropin"
MANIFEST: dict[str, Any] = json.loads((DATA / "expected.json").read_text())
_NPZ = np.load(DATA / "expected.npz")
ARRAYS = {k: _NPZ[k] for k in _NPZ.files}


def stream(name: str) -> bytes:
    return (DATA / f"{name}.nnc").read_bytes()


def cases(kind: str) -> list[str]:
    return [c for c, m in MANIFEST.items() if m["kind"] == kind]


# -- exact comparison helpers ------------------------------------------------------------------

def same_array(got: Any, exp: np.ndarray, what: str) -> None:
    assert isinstance(got, np.ndarray), f"{what}: {type(got).__name__}, expected ndarray"
    assert got.dtype == exp.dtype, f"{what}: dtype {got.dtype}, expected {exp.dtype}"
    assert got.shape == exp.shape, f"{what}: shape {got.shape}, expected {exp.shape}"
    assert got.tobytes() == exp.tobytes(), f"{what}: values differ"


def same_params(got: Any, desc: list[list[Any]], what: str) -> None:
    assert isinstance(got, dict), f"{what}: {type(got).__name__}"
    assert list(got) == [d[0] for d in desc], f"{what}: keys {list(got)}"
    for name, dtype, shape, key in desc:
        exp = ARRAYS[key]
        assert exp.dtype.str == dtype and list(exp.shape) == shape
        same_array(got[name], exp, f"{what}[{name!r}]")


def untag(x: Any) -> Any:
    if isinstance(x, dict):
        if "__ndarray__" in x:
            return np.array(x["data"], dtype=np.dtype(x["__ndarray__"])).reshape(x["shape"])
        if "__npscalar__" in x:
            return np.dtype(x["__npscalar__"]).type(x["data"])
        return {k: untag(v) for k, v in x["__dict__"]}
    if isinstance(x, list):
        return [untag(v) for v in x]
    return x


def same_obj(got: Any, exp: Any, what: str) -> None:
    """Recursive exact equality: dict key order, Python types, numpy dtypes and shapes."""
    if isinstance(exp, dict):
        assert isinstance(got, dict), f"{what}: {type(got).__name__}, expected dict"
        assert list(got) == list(exp), f"{what}: keys {list(got)} != {list(exp)}"
        for k in exp:
            same_obj(got[k], exp[k], f"{what}[{k!r}]")
    elif isinstance(exp, np.ndarray):
        same_array(got, exp, what)
    elif isinstance(exp, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(exp), f"{what}: {got!r}"
        for i, (g, e) in enumerate(zip(got, exp)):
            same_obj(g, e, f"{what}[{i}]")
    else:
        assert type(got) is type(exp), f"{what}: {type(got).__name__} {got!r}, expected {type(exp).__name__} {exp!r}"
        assert got == exp, f"{what}: {got!r} != {exp!r}"


def expected_state(desc: dict[str, Any]) -> dict[str, Any]:
    """NNCodec's state dict after a step, rebuilt from the manifest (fresh objects)."""
    types = {"int": int}
    return {
        "parameters": {k: ARRAYS[key].copy() for k, _dt, _sh, key in desc["parameters"]},
        "put_node_depth": {k: types[t](v) for k, v, t in desc["put_node_depth"]},
        "device_id": types[desc["device_id_type"]](desc["device_id"]),
        "parameter_id": {k: types[t](v) for k, v, t in desc["parameter_id"]},
    }


def same_state(got: dict[str, Any], desc: dict[str, Any], what: str) -> None:
    assert list(got) == desc["keys"], f"{what}: keys {list(got)}"
    exp = expected_state(desc)
    same_obj(got["put_node_depth"], exp["put_node_depth"], f"{what}.put_node_depth")
    same_obj(got["parameter_id"], exp["parameter_id"], f"{what}.parameter_id")
    same_obj(got["device_id"], exp["device_id"], f"{what}.device_id")
    assert list(got["parameters"]) == list(exp["parameters"]), f"{what}.parameters keys"
    for k, v in exp["parameters"].items():
        same_array(got["parameters"][k], v, f"{what}.parameters[{k!r}]")


def same_hist(tool: Any, desc: list[list[Any]], what: str) -> None:
    assert isinstance(tool.data_hist, OrderedDict)
    assert list(tool.data_hist) == [d[0] for d in desc], f"{what}: keys {list(tool.data_hist)}"
    for name, _dt, _sh, key in desc:
        same_array(tool.data_hist[name], ARRAYS[key], f"{what}[{name!r}]")


def tool_with(desc: list[list[Any]]) -> HdspTool:
    t = HdspTool(True)
    for name, _dt, _sh, key in desc:
        t.data_hist[name] = ARRAYS[key].copy()
    return t


# -- tensor.decode -----------------------------------------------------------------------------

@pytest.mark.parametrize("case", cases("tensor"))
def test_tensor_decode(case: str) -> None:
    m = MANIFEST[case]
    tid = m["tensor_id"]
    data = stream(case)
    desc = m["calls"]["decode"]["outputs"]
    same_params({tid: tensor.decode(bytearray(data), tensor_id=tid)}, desc, case)
    for variant in (data, memoryview(data), str(DATA / f"{case}.nnc"), DATA / f"{case}.nnc"):
        same_params({tid: tensor.decode(variant, tid)}, desc, f"{case} ({type(variant).__name__})")


@pytest.mark.parametrize("case", cases("tensor"))
def test_tensor_decode_hls(case: str) -> None:
    m = MANIFEST[case]
    call = m["calls"]["decode_hls"]
    out, hls = tensor.decode(bytearray(stream(case)), tensor_id=m["tensor_id"], return_hls=True)
    same_params({m["tensor_id"]: out}, call["outputs"], case)
    same_obj(hls, untag(call["hls"]), f"{case} hls")


def test_tensor_dtypes_are_nncodecs() -> None:
    assert tensor.decode(stream("tensor_float")).dtype == np.float32
    assert tensor.decode(stream("tensor_int")).dtype == np.int32
    assert tensor.decode(stream("tensor_codebook")).dtype == np.float64


def test_tensor_unknown_id_is_keyerror() -> None:
    with pytest.raises(KeyError):
        tensor.decode(stream("tensor_float"), tensor_id="nope")


# -- nn.decode ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call", list(MANIFEST["nn_dict"]["calls"]))
def test_nn_decode(call: str) -> None:
    c = MANIFEST["nn_dict"]["calls"][call]
    same_params(nn.decode(bytearray(stream("nn_dict")), c["args"]), c["outputs"], f"nn_dict/{call}")


def test_nn_decode_keyword_args_and_model_ignored() -> None:
    c = MANIFEST["nn_dict"]["calls"]["lsa"]
    same_params(nn.decode(stream("nn_dict"), args={"lsa": True, "qp": -1}, model=object()), c["outputs"], "nn")


# -- nnc.decompress with NNR_PT_BLOCK ----------------------------------------------------------

BLOCK_CALLS = [(case, call) for case in cases("nnc") for call in MANIFEST[case]["calls"]]


@pytest.mark.parametrize("case,call", BLOCK_CALLS)
def test_block_decompress(case: str, call: str) -> None:
    c = MANIFEST[case]["calls"][call]
    data = bytearray(stream(case))
    if "args" in c:
        same_params(nn.decode(data, c["args"]), c["outputs"], f"{case}/{call}")
        return
    kw = dict(c["kw"])
    out = nnc.decompress(data, **kw)
    if kw.get("return_model_information"):
        params, info = out
        same_obj(info, untag(c["model_information"]), f"{case}/{call} model information")
    elif kw.get("return_hls"):
        params, hls = out
        same_obj(hls, untag(c["hls"]), f"{case}/{call} hls")
    else:
        params = out
    same_params(params, c["outputs"], f"{case}/{call}")


def test_block_lsa_really_scales() -> None:
    """Guards the test data: LSA changes the weights and drops the scaling tensors."""
    calls = MANIFEST["block_bn"]["calls"]
    plain = [d[0] for d in calls["lsa0_bnf0"]["outputs"]]
    lsa = [d[0] for d in calls["lsa1_bnf0"]["outputs"]]
    assert "conv2.weight_scaling" in plain and "conv2.weight_scaling" not in lsa
    key0 = dict((d[0], d[3]) for d in calls["lsa0_bnf0"]["outputs"])["conv2.weight"]
    key1 = dict((d[0], d[3]) for d in calls["lsa1_bnf0"]["outputs"])["conv2.weight"]
    assert not np.array_equal(ARRAYS[key0], ARRAYS[key1])


def test_block_id_and_param_type_checked() -> None:
    with pytest.raises(nnr.NNRUsageError):
        nnc.decompress(stream("block_bn"), block_id_and_param_type={"parameter_type": {}})


# -- incremental decoding: TCA, HDSP, row skipping, skipped NDUs --------------------------------

INCREMENTAL = cases("incremental_nnc") + cases("incremental_tensor")


def run_step(case: str, step: int, state: dict[str, Any], tool: Any) -> tuple[dict[str, Any], Any]:
    m = MANIFEST[case]
    data = bytearray(stream(f"{case}_{step}"))
    if m["kind"] == "incremental_tensor":
        tid = m["tensor_id"]
        out, hls = tensor.decode(data, tensor_id=tid, approx_param_base=state, hdsp_tool=tool, return_hls=True)
        return {tid: out}, hls
    out, hls = nnc.decompress(data, approx_param_base=state, update_base_param=True, hdsp_tool=tool,
                              return_hls=True)
    return out, hls


@pytest.mark.parametrize("case", INCREMENTAL)
def test_incremental_sequence(case: str) -> None:
    """The whole sequence from an empty state; outputs, HLS, state and history after every step."""
    m = MANIFEST[case]
    state = new_approx_param_base()
    assert state == {"parameters": {}, "put_node_depth": {}, "device_id": 0, "parameter_id": {}}
    inner = (state["parameters"], state["put_node_depth"], state["parameter_id"])
    tool = HdspTool(True)
    for step in range(m["steps"]):
        c = m["calls"][str(step)]
        out, hls = run_step(case, step, state, tool)
        same_params(out, c["outputs"], f"{case}[{step}]")
        same_obj(hls, untag(c["hls"]), f"{case}[{step}] hls")
        same_state(state, c["state"], f"{case}[{step}] state")
        same_hist(tool, c["hist"], f"{case}[{step}] history")
    # updated in place, like NNCodec: the caller's dict objects
    assert (state["parameters"], state["put_node_depth"], state["parameter_id"]) == inner
    assert all(a is b for a, b in zip((state["parameters"], state["put_node_depth"], state["parameter_id"]), inner))


@pytest.mark.parametrize("case,resume", [(c, k) for c in INCREMENTAL for k in range(MANIFEST[c]["steps"] - 1)])
def test_incremental_continues_nncodec_state(case: str, resume: int) -> None:
    """State and history produced by NNCodec (after step `resume`) continue in nnr."""
    m = MANIFEST[case]
    state = expected_state(m["calls"][str(resume)]["state"])
    tool = tool_with(m["calls"][str(resume)]["hist"])
    for step in range(resume + 1, m["steps"]):
        c = m["calls"][str(step)]
        out, _ = run_step(case, step, state, tool)
        same_params(out, c["outputs"], f"{case}[{step}] from NNCodec state {resume}")
        same_state(state, c["state"], f"{case}[{step}] state")
        same_hist(tool, c["hist"], f"{case}[{step}] history")


def test_incremental_data_exercises_tools() -> None:
    """Guards the test data: TCA, HDSP (flag on), row skipping and a skipped NDU all occur."""
    from nnr.decoder import Decoder
    from nnr.nncodec.state import to_incremental

    seen = {"tca": 0, "hdsp": 0, "rowskip": 0}
    state, tool = new_approx_param_base(), HdspTool(True)
    m = MANIFEST["inc_nnc"]
    for step in range(m["steps"]):
        dec = Decoder()
        dec.state = to_incremental(state, tool)
        ds = dec.decode_stream(stream(f"inc_nnc_{step}"))
        for u in ds.units:
            for t in u.tensors:
                seen["tca"] += t.tca
                seen["hdsp"] += t.side.hist_dep_sig_prob_enabled_flag
                seen["rowskip"] += sum(t.side.row_skip_flag)
        run_step("inc_nnc", step, state, tool)
    assert all(v > 0 for v in seen.values()), seen
    n_out = [len(m["calls"][str(s)]["outputs"]) for s in range(m["steps"])]
    assert min(n_out) < max(n_out)  # an all-zero update left its NDU out


def test_incremental_hdsp_history_matters() -> None:
    """Without the history, a stream with the HDSP flag set does not decode to NNCodec's result."""
    m = MANIFEST["inc_nnc"]
    state = expected_state(m["calls"]["1"]["state"])
    c = m["calls"]["2"]
    try:
        out, _ = nnc.decompress(stream("inc_nnc_2"), approx_param_base=state, update_base_param=True,
                                return_hls=True)
    except nnr.NNRError:
        return
    with pytest.raises(AssertionError):
        same_params(out, c["outputs"], "no history")


def test_incremental_tca_needs_state() -> None:
    with pytest.raises(nnr.MissingReferenceError):
        nnc.decompress(stream("inc_nnc_1"))
    with pytest.raises(nnr.NNRError):
        tensor.decode(stream("inc_tensor_2"), tensor_id="blk.weight")


def test_incremental_history_updated_only_with_return_hls() -> None:
    """NNCodec adds decoded levels to the HDSP history only when return_hls=True."""
    m = MANIFEST["inc_nnc"]
    state = expected_state(m["calls"]["0"]["state"])
    tool = tool_with(m["calls"]["0"]["hist"])
    before = {k: v.copy() for k, v in tool.data_hist.items()}
    out = nnc.decompress(stream("inc_nnc_1"), approx_param_base=state, update_base_param=True, hdsp_tool=tool)
    same_params(out, m["calls"]["1"]["outputs"], "inc_nnc[1]")
    same_state(state, m["calls"]["1"]["state"], "inc_nnc[1] state")
    assert list(tool.data_hist) == list(before)
    assert all(np.array_equal(tool.data_hist[k], before[k]) for k in before)


def test_incremental_without_update_keeps_state() -> None:
    m = MANIFEST["inc_nnc"]
    state = expected_state(m["calls"]["0"]["state"])
    out = nnc.decompress(stream("inc_nnc_1"), approx_param_base=state, update_base_param=False)
    same_params(out, m["calls"]["1"]["outputs"], "inc_nnc[1]")
    same_state(state, m["calls"]["0"]["state"], "unchanged state")


def test_incremental_wrong_state_is_nnrerror() -> None:
    m = MANIFEST["inc_nnc"]
    state = expected_state(m["calls"]["0"]["state"])
    state["put_node_depth"]["enc.0.weight"] = 7
    snapshot = expected_state(m["calls"]["0"]["state"])
    snapshot["put_node_depth"]["enc.0.weight"] = 7
    with pytest.raises(nnr.NNRError):
        nnc.decompress(stream("inc_nnc_1"), approx_param_base=state, update_base_param=True)
    same_obj(state["put_node_depth"], snapshot["put_node_depth"], "state untouched on error")
    state = expected_state(m["calls"]["0"]["state"])
    state["parameter_id"]["enc.0.bias"] = 9
    with pytest.raises(nnr.NNRError):
        nnc.decompress(stream("inc_nnc_1"), approx_param_base=state, update_base_param=True)


def test_foreign_hdsp_tool_duck_typed() -> None:
    """An object with NNCodec's HdspTool interface (not ours) works as hdsp_tool."""

    class Foreign:
        def __init__(self) -> None:
            self.hdsp_enabled = True
            self.data_hist: OrderedDict[str, np.ndarray] = OrderedDict()

        def enabled(self) -> bool:
            return self.hdsp_enabled

        def add_data_to_hist(self, d: dict[str, np.ndarray]) -> None:
            for k, v in d.items():
                self.data_hist.setdefault(k, np.zeros(v.shape, dtype=np.int8))[v != 0] = 1

    m = MANIFEST["inc_nnc"]
    state, tool = new_approx_param_base(), Foreign()
    for step in range(m["steps"]):
        out, _ = run_step("inc_nnc", step, state, tool)
        same_params(out, m["calls"][str(step)]["outputs"], f"inc_nnc[{step}] foreign tool")
    same_hist(tool, m["calls"][str(m["steps"] - 1)]["hist"], "foreign tool history")


# -- HdspTool ----------------------------------------------------------------------------------

def test_hdsp_tool_interface() -> None:
    t = HdspTool(True)
    assert t.enabled() and not t.has_hist("a") and t.get_num_modes(["a"]) == 1
    assert t.get_opts("a", "d")[0] == HdspMode.TensorOff
    assert t.get_opts("a", "a")[0] == HdspMode.AlwaysOff
    t.add_data_to_hist({"a": np.array([[0, 2], [0, 0]], dtype=np.int32)})
    t.add_data_to_hist({"a": np.array([[0, 0], [-1, 0]], dtype=np.int32), "b": np.zeros(3, dtype=np.float32)})
    assert list(t.data_hist) == ["a", "b"]
    same_array(t.data_hist["a"], np.array([[0, 1], [1, 0]], dtype=np.int8), "hist a")
    same_array(t.data_hist["b"], np.zeros(3, dtype=np.int8), "hist b")
    mode, hist = t.get_opts("a", "d")
    assert mode == HdspMode.TensorOn and hist is t.data_hist["a"]
    assert t.get_num_modes(["a", "b"]) == 2
    assert t.get_best_bit_stream_and_set_mode(["a"], [b"xyz", b"xy", b"pq"]) == b"xy"
    assert t.best_mode_idx["a"] == 1 and t.get_opts("a", "e")[0] == HdspMode.TensorOn
    assert t.get_opts("a", "e", 0)[0] == HdspMode.TensorOff
    off = HdspTool(False)
    off.add_data_to_hist({"a": np.ones(2)})
    assert not off.data_hist and off.get_opts("a", "d")[0] == HdspMode.AlwaysOff
    assert int(HdspMode.AlwaysOff) == 99


# -- errors and inputs -------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["tensor_float", "block_scan", "block_codebook", "inc_nnc_0"])
def test_truncated_streams_raise_nnrerror(case: str) -> None:
    data = stream(case)
    for cut in sorted({1, 2, 5, len(data) // 3, len(data) // 2, len(data) - 7, len(data) - 1}):
        with pytest.raises(nnr.NNRError):
            nnc.decompress(bytearray(data[:cut]))


def test_garbage_raises_nnrerror() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        data = bytes(rng.integers(0, 256, size=int(rng.integers(1, 64)), dtype=np.uint8))
        try:
            nnc.decompress(data)
        except nnr.NNRError:
            pass


def test_bad_inputs() -> None:
    with pytest.raises(nnr.NNRUsageError):
        nnc.decompress(str(DATA / "does-not-exist.nnc"))
    with pytest.raises(nnr.NNRUsageError):
        nnc.decompress(12345)
    with pytest.raises(nnr.NNRUsageError):
        nnc.decompress(stream("tensor_float"), approx_param_base={"parameters": {}})
    with pytest.raises(nnr.NNRUsageError):
        nnc.decompress(stream("tensor_float"), internal_states_path="/tmp")


def test_verbose_prints(capsys: pytest.CaptureFixture[str]) -> None:
    nnc.decompress(stream("tensor_float"), verbose=True)
    text = capsys.readouterr().out
    assert text.startswith("DECODING...DONE in ") and "RECONSTRUCTING...DONE in " in text


# -- optional: nnr's state continues in NNCodec itself ------------------------------------------

NNCODEC_PYTHON = os.environ.get("NNCODEC_PYTHON", "/root/.cache/nnr-peer/nnc-venv/bin/python")

_CONTINUE = r"""
import json, sys, numpy as np
from collections import OrderedDict
from nncodec import nnc
from nncodec.nnc_core.hdsp.hdsp_tool import HdspTool
d = json.load(open(sys.argv[1])); arr = np.load(sys.argv[2])
state = {"parameters": {k: arr["p/" + k] for k in d["parameters"]}, "put_node_depth": d["put_node_depth"],
         "device_id": d["device_id"], "parameter_id": d["parameter_id"]}
tool = HdspTool(True)
for k in d["hist"]:
    tool.data_hist[k] = arr["h/" + k]
out, _ = nnc.decompress(bytearray(open(sys.argv[3], "rb").read()), approx_param_base=state,
                        update_base_param=True, hdsp_tool=tool, return_hls=True)
np.savez(sys.argv[4], **{"o/" + k: v for k, v in out.items()}, **{"s/" + k: v for k, v in state["parameters"].items()})
json.dump({"order": list(out), "put_node_depth": state["put_node_depth"], "device_id": state["device_id"],
           "parameter_id": state["parameter_id"]}, open(sys.argv[5], "w"))
"""


@pytest.mark.skipif(not os.path.exists(NNCODEC_PYTHON), reason="NNCodec not installed (set NNCODEC_PYTHON)")
def test_nnr_state_continues_in_nncodec(tmp_path: pathlib.Path) -> None:
    m = MANIFEST["inc_nnc"]
    state, tool = new_approx_param_base(), HdspTool(True)
    for step in range(3):
        run_step("inc_nnc", step, state, tool)
    (tmp_path / "s.json").write_text(json.dumps({
        "parameters": list(state["parameters"]), "put_node_depth": state["put_node_depth"],
        "device_id": state["device_id"], "parameter_id": state["parameter_id"], "hist": list(tool.data_hist)}))
    np.savez(tmp_path / "s.npz", **{"p/" + k: v for k, v in state["parameters"].items()},
             **{"h/" + k: v for k, v in tool.data_hist.items()})
    (tmp_path / "c.py").write_text(_CONTINUE)
    subprocess.run([NNCODEC_PYTHON, str(tmp_path / "c.py"), str(tmp_path / "s.json"), str(tmp_path / "s.npz"),
                    str(DATA / "inc_nnc_3.nnc"), str(tmp_path / "o.npz"), str(tmp_path / "o.json")],
                   check=True, capture_output=True, timeout=300)
    res = json.loads((tmp_path / "o.json").read_text())
    got = np.load(tmp_path / "o.npz")
    ours, _ = run_step("inc_nnc", 3, state, tool)
    assert res["order"] == list(ours)
    for k, v in ours.items():
        same_array(got["o/" + k], v, f"NNCodec output {k!r}")
    for k, v in state["parameters"].items():
        same_array(got["s/" + k], v, f"NNCodec state {k!r}")
    assert res["put_node_depth"] == state["put_node_depth"] and res["parameter_id"] == state["parameter_id"]
    assert res["device_id"] == state["device_id"]
    same_params(ours, m["calls"]["3"]["outputs"], "inc_nnc[3]")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
