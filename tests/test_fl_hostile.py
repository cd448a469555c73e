"""A malicious Flower peer (issue 17): every malformed field of a reply is a CorruptReplyError
naming node and round, the reply is left out, and the run goes on; the server decodes with the
limits of the model layout it knows, not the decoder's defaults."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from extras import require

require("flwr")

import nnr  # noqa: E402
import nnr.fl  # noqa: E402
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord  # noqa: E402
from nnr.fl.replies import ReplyFieldError, config_float, config_int, decode_limits, plain_arrays  # noqa: E402
from nnr.units.compressed_data_unit import CompressedDataUnitHeader  # noqa: E402
from nnr.units.model_parameter_set import ModelParameterSet  # noqa: E402
from nnr.writer import StreamWriter  # noqa: E402
from test_fl import client_app, run_local  # noqa: E402


def _bomb_stream() -> bytes:
    """~330 bytes claiming a 1000 x 2000 tensor (rows may be skipped): within the default
    decoder's budget per byte, far above the model layout's largest tensor."""
    s = StreamWriter()
    s.start_unit(1)
    s.model_parameter_set(ModelParameterSet(mps_qp_density=2))
    s.compressed_data_unit(CompressedDataUnitHeader(topology_elem_id="fc1.weight", tensor_dimensions=[1000, 2000]),
                           bytes(range(256)) + bytes(40))
    return s.getvalue()


def _set(reply: Message, key: str, value: Any) -> None:
    reply.content["nnr"][key] = value


def _arrays(reply: Message) -> ArrayRecord:
    return reply.content["arrays"]


def _plain(reply: Message, fill: float | None = None, shape_off: bool = False) -> None:
    """Replace the coded reply with plain float arrays (no nnr.up)."""
    rec = ArrayRecord()
    for k, a in _arrays(reply).items():
        if k == "nnr.up":
            continue
        rec[k] = a
    for k, shape in (("fc1.weight", (64, 64)), ("fc1.bias", (64,)), ("fc2.weight", (10, 64)), ("fc2.bias", (10,))):
        v = np.zeros((3, 3) if shape_off else shape, np.float32)
        if fill is not None:
            v[...] = fill
        rec[k] = Array(v)
    reply.content["arrays"] = rec


TAMPER: dict[str, Callable[[Message], None]] = {
    "down_seen_string": lambda r: _set(r, "down_seen", "x"),
    "down_seen_float": lambda r: _set(r, "down_seen", 1.5),
    "down_seen_negative": lambda r: _set(r, "down_seen", -3),
    "crc32_string": lambda r: _set(r, "crc32", "abc"),
    "crc32_list": lambda r: _set(r, "crc32", [1, 2]),
    "up_index_float": lambda r: _set(r, "up_index", 1.5),
    "up_index_bytes": lambda r: _set(r, "up_index", b"\x01"),
    "client_seconds_string": lambda r: _set(r, "client_seconds", "fast"),
    "client_seconds_nan": lambda r: _set(r, "client_seconds", math.nan),
    "client_seconds_bool_list": lambda r: _set(r, "client_seconds", [True]),
    "array_dtype_foo": lambda r: _arrays(r).__setitem__("nnr.up", Array(dtype="foo", shape=(3,), stype="nnr.nnc",
                                                                        data=b"abc")),
    "stream_wrong_stype": lambda r: _arrays(r).__setitem__("nnr.up", Array(dtype="uint8", shape=(3,),
                                                                           stype="numpy.ndarray", data=b"abc")),
    "plain_nan": lambda r: _plain(r, math.nan),
    "plain_wrong_shapes": lambda r: _plain(r, shape_off=True),
    "raw_garbage_array": lambda r: _arrays(r).__setitem__("extra", Array(dtype="<f4", shape=(1000, 1000),
                                                                         stype="numpy.ndarray", data=b"\x93NUMPY" * 7)),
    "extra_array_record": lambda r: r.content.__setitem__("more", ArrayRecord({"z": Array(np.ones(2))})),
    "no_nnr_record": lambda r: r.content.__delitem__("nnr"),
    "metrics_weight_nan": lambda r: next(iter(r.content.metric_records.values())).__setitem__("num-examples", math.nan),
    "metrics_weight_missing": lambda r: next(iter(r.content.metric_records.values())).__delitem__("num-examples"),
    "metrics_two_records": lambda r: r.content.__setitem__("m2", MetricRecord({"a": 1})),
}


def _with_bomb(r: Message) -> None:
    data = _bomb_stream()
    _arrays(r)["nnr.up"] = Array(dtype="uint8", shape=(len(data),), stype="nnr.nnc", data=data)
    _set(r, "crc32", zlib.crc32(data) & 0xFFFFFFFF)


TAMPER["stream_bomb_within_default_limits"] = _with_bomb


def tampering_app(tamper: Callable[[Message], None], node_index: int, rnd: int, evaluate: bool = False) -> Any:
    def mod(msg: Message, context: Context, call_next: Any) -> Message:
        reply = call_next(msg, context)
        kind = "evaluate" if evaluate else "train"
        if (msg.metadata.message_type == kind and int(context.node_config["partition-id"]) == node_index
                and int(msg.content["config"]["server-round"]) == rnd):
            tamper(reply)
        return reply

    return client_app.make(outer_mods=[mod])


@pytest.mark.parametrize("name", sorted(TAMPER))
def test_a_malformed_reply_field_is_dropped_and_the_run_goes_on(name: str) -> None:
    out, strat, grid = run_local(3, app=tampering_app(TAMPER[name], 1, 2), hidden=64)
    assert len(out["communication"]) == 3  # the run went on to the end
    assert len(strat.failures) == 1, [str(e) for e in strat.failures]
    e = strat.failures[0]
    assert isinstance(e, nnr.fl.CorruptReplyError) and (e.node_id, e.server_round) == (grid.node_ids[1], 2)
    assert "round 2: reply from node" in str(e)


@pytest.mark.parametrize("name", ["down_seen_string", "client_seconds_nan", "metrics_weight_nan"])
def test_a_malformed_evaluate_reply_is_dropped(name: str) -> None:
    out, strat, grid = run_local(2, app=tampering_app(TAMPER[name], 0, 2, evaluate=True), fraction_evaluate=1.0)
    assert len(out["communication"]) == 2
    assert [(e.node_id, e.server_round) for e in strat.failures] == [(grid.node_ids[0], 2)]


def test_field_checks() -> None:
    assert config_int({"a": 3}, "a", 0) == 3 and config_int({}, "a", 7) == 7
    for bad in ("3", 3.0, True, -1, [3], None):
        with pytest.raises(ReplyFieldError, match="'a'"):
            config_int({"a": bad}, "a", 0)
    assert config_float({"s": 2}, "s") == 2.0
    for bad in (math.nan, math.inf, -1.0, "1", b"1", [1.0]):
        with pytest.raises(ReplyFieldError):
            config_float({"s": bad}, "s")
    names, shapes, dtypes = ("w", "b"), ((2, 3), (3,)), ("<f4", "<f4")
    ok = {"w": np.ones((2, 3), np.float64), "b": np.zeros(3, np.float32)}
    got = plain_arrays(ok, names, shapes, dtypes)
    assert got["w"].dtype == np.float32 and np.array_equal(got["w"], np.ones((2, 3), np.float32))
    for bad in ({"w": np.ones((3, 2), np.float32), "b": np.zeros(3, np.float32)},
                {"w": np.ones((2, 3), np.float32)},
                {**ok, "c": np.ones(1)},
                {"w": np.full((2, 3), np.nan, np.float32), "b": np.zeros(3, np.float32)},
                {"w": np.ones((2, 3), np.int32), "b": np.zeros(3, np.float32)}):
        with pytest.raises(ReplyFieldError):
            plain_arrays(bad, names, shapes, dtypes)
    assert decode_limits(((64, 64), (10,))) == {"max_tensor_elements": 4096, "max_units": 20}


def test_the_server_decodes_with_the_layouts_limits() -> None:
    """The bomb stream fits the default decoder's per-byte budget; the layout's refuses it before
    any allocation."""
    data = _bomb_stream()
    with pytest.raises(nnr.LimitExceededError) as ei:
        nnr.Decoder(**decode_limits(((64, 64), (64,), (10, 64), (10,)))).decode(data)
    assert ei.value.element == "tensor_dimensions"
    assert "limit 4096" in str(ei.value)
    with pytest.raises(nnr.NNRError) as ei:  # the default decoder's budget per byte admits the header
        nnr.Decoder().decode(data)
    assert "limit" not in str(ei.value)
