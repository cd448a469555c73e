"""The incremental-coding state (nnr.incremental): the PUT predicate, state records, layering.

* a session saved with ``state_record()`` after any stream of a golden sequence (TCA, HDSP, row
  skipping, omitted units) and restored into a new session with ``load_state_record`` writes
  NNCodec's golden bytes (Encoder) / decodes NNCodec's golden arrays (Decoder), like the
  uninterrupted session; the record survives ``np.savez`` / ``np.load(allow_pickle=False)``;
* malformed records raise NNRUsageError;
* the decoder checks the whole PUT predicate (device_id too);
* ``import nnr`` loads no ``nnr.nncodec`` module.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import nnr
from nnr.incremental import RECORD_VERSION, TensorState, advance, child_depth, continues_parent, merge_history

HERE = os.path.dirname(os.path.abspath(__file__))
BITSTREAMS = os.path.join(os.path.dirname(HERE), "bitstreams")

# TCA + HDSP + row skipping + scan order 2; omitted all-zero units + TCA; HDSP + TCA without DQ;
# HDSP with omitted units (histories of tensors with no node)
SEQUENCES = ["SEQ_SCAN2_TCA_HDSP_DQ_A", "SEQ_ZERO_OMIT_TCA_A", "SEQ_HDSP_TCA_NODQ_A", "SEQ_HDSP_OMIT_A"]
NOT_SETTINGS = {"approx_param_base", "bitstream_path", "hdsp_tool", "parameter_dict", "return_bitstream",
                "update_base_param"}


def case(name: str) -> dict[str, Any]:
    with open(os.path.join(BITSTREAMS, name, "case.json")) as f:
        out: dict[str, Any] = json.load(f)
    return out


def npz(name: str, f: str) -> dict[str, np.ndarray]:
    z = np.load(os.path.join(BITSTREAMS, name, f), allow_pickle=False)
    return {k: z[k] for k in z.files}


def stream(name: str, i: int) -> bytes:
    with open(os.path.join(BITSTREAMS, name, f"stream_{i}.nnc"), "rb") as f:
        return f.read()


def sequence(name: str) -> tuple[dict[str, Any], bool, list[dict[str, np.ndarray]], list[bytes]]:
    steps = case(name)["generator"]["args"]["steps"]
    settings = {k: v for k, v in steps[0].items() if k not in NOT_SETTINGS}
    assert all({k: v for k, v in s.items() if k not in NOT_SETTINGS} == settings for s in steps)
    settings.setdefault("tca", False)  # nnc.compress's default (nnr.Encoder's is True)
    hdsp = "hdsp_tool" in steps[0]
    inputs = [npz(name, s["parameter_dict"]) for s in steps]
    return settings, hdsp, inputs, [stream(name, i) for i in range(len(steps))]


def through_npz(rec: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The record as a file would keep it (no pickle)."""
    for k, v in rec.items():
        assert isinstance(v, np.ndarray) and v.dtype.kind in "iub", (k, v.dtype)
    buf = io.BytesIO()
    np.savez(buf, **rec)
    buf.seek(0)
    z = np.load(buf, allow_pickle=False)
    return {k: z[k] for k in z.files}


def same_arrays(got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str) -> None:
    assert list(got) == list(want), f"{what}: names {list(got)} != {list(want)}"
    for k in want:
        g, w = got[k], want[k].astype(got[k].dtype)
        assert g.shape == w.shape and g.tobytes() == w.tobytes(), f"{what}: {k!r} differs"


@pytest.mark.parametrize("name", SEQUENCES)
def test_encoder_restored_between_any_two_streams(name: str) -> None:
    settings, hdsp, inputs, golden = sequence(name)
    for cut in range(1, len(inputs)):
        enc = nnr.Encoder(hdsp=hdsp, **settings)
        out = [enc.encode(u) for u in inputs[:cut]]
        rec = through_npz(enc.state_record())
        enc2 = nnr.Encoder(hdsp=hdsp, **settings)
        enc2.load_state_record(rec)
        out += [enc2.encode(u) for u in inputs[cut:]]
        assert out == golden, f"{name}: restored after stream {cut - 1}"
        # the state matters: a session that starts afresh at the cut writes other bytes
        assert nnr.Encoder(hdsp=hdsp, **settings).encode(inputs[cut]) != golden[cut]


@pytest.mark.parametrize("name", SEQUENCES)
def test_decoder_restored_between_any_two_streams(name: str) -> None:
    _, _, inputs, golden = sequence(name)
    expected = [npz(name, f"expected_{i}.npz") for i in range(len(golden))]
    full = nnr.Decoder()
    for s in golden:
        full.decode(s)
    final = {k: v.tobytes() for k, v in full.state_record().items()}
    for cut in range(1, len(golden)):
        dec = nnr.Decoder()
        outs = [dec.decode(s) for s in golden[:cut]]
        rec = through_npz(dec.state_record())
        dec2 = nnr.Decoder()
        dec2.load_state_record(rec)
        outs += [dec2.decode(s) for s in golden[cut:]]
        for i, (o, e) in enumerate(zip(outs, expected)):
            same_arrays(o, e, f"{name}[{i}] restored after stream {cut - 1}")
        assert {k: v.tobytes() for k, v in dec2.state_record().items()} == final, f"{name}: final state"
        # the state matters: a session that starts afresh at the cut fails or decodes other arrays
        try:
            fresh = nnr.Decoder().decode(golden[cut])
        except nnr.NNRError:
            continue
        with pytest.raises(AssertionError):
            same_arrays(fresh, expected[cut], "fresh")


def test_sequences_exercise_tca_hdsp_rowskip_and_omission() -> None:
    """Guards the test data: each tool occurs in the sequences above."""
    seen = {"tca": 0, "hdsp": 0, "rowskip": 0, "omitted": 0}
    for name in SEQUENCES:
        dec = nnr.Decoder()
        _, _, inputs, golden = sequence(name)
        for u, s in zip(inputs, golden):
            ds = dec.decode_stream(s)
            for unit in ds.units:
                for t in unit.tensors:
                    seen["tca"] += t.tca
                    seen["hdsp"] += t.side.hist_dep_sig_prob_enabled_flag
                    seen["rowskip"] += sum(t.side.row_skip_flag)
            seen["omitted"] += len(set(u) - set(ds.arrays()))
    assert all(v > 0 for v in seen.values()), seen


def test_decoder_record_carries_session_units() -> None:
    """general_profile_idc, the MPS in force and the stream count survive a record."""
    _, _, _, golden = sequence("SEQ_ZERO_OMIT_TCA_A")
    dec = nnr.Decoder()
    dec.decode(golden[0])
    dec2 = nnr.Decoder()
    dec2.load_state_record(dec.state_record())
    assert dec2.general_profile_idc == 1 and dec2.streams_decoded == 1
    assert dec2.mps == dec.mps and dec2.mps is not None and dec2.mps.mps_parent_signalling_enabled_flag == 1
    assert dec2.reflist is None
    rec = dec.state_record()
    assert int(rec["version"][0]) == RECORD_VERSION == 1
    assert int(rec["session"][0]) == 0
    assert bytes(rec["names.utf8"]).decode() == "".join(dec.state.tensors)


# -- malformed records -----------------------------------------------------------------------------

def _records() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    settings, hdsp, inputs, golden = sequence("SEQ_HDSP_TCA_NODQ_A")
    enc = nnr.Encoder(hdsp=hdsp, **settings)
    dec = nnr.Decoder()
    for u, s in zip(inputs[:2], golden[:2]):
        enc.encode(u)
        dec.decode(s)
    return enc.state_record(), dec.state_record()


def _usage(fn: Any, rec: Any, text: str) -> None:
    with pytest.raises(nnr.NNRUsageError, match=text):
        fn(rec)


def test_malformed_records_are_usage_errors() -> None:
    erec, drec = _records()
    enc, dec = nnr.Encoder(), nnr.Decoder()
    _usage(enc.load_state_record, [1, 2], "must be a dict")
    _usage(enc.load_state_record, drec, "written by an nnr.Decoder")
    _usage(dec.load_state_record, erec, "written by an nnr.Encoder, cannot restore an nnr.Decoder")
    _usage(dec.load_state_record, {k: v for k, v in drec.items() if k != "decoder.mps_unit"},
           r"missing keys \['decoder.mps_unit'\]")
    _usage(enc.load_state_record, {**erec, "version": np.array([2], np.int64)}, "version 2 is not supported")
    _usage(enc.load_state_record, {k: v for k, v in erec.items() if k != "levels.data"}, r"missing keys \['levels.data'\]")
    _usage(enc.load_state_record, {**erec, "extra": np.zeros(1, np.int64)}, r"unknown keys \['extra'\]")
    _usage(enc.load_state_record, {**erec, "node.depth": erec["node.depth"].astype(np.int32)}, "dtype int32")
    _usage(enc.load_state_record, {**erec, "node.depth": np.array([None] * erec["node.depth"].size, dtype=object)},
           "dtype object")
    _usage(enc.load_state_record, {**erec, "node.depth": erec["node.depth"][:1]}, "entries for 2 tensors")
    _usage(enc.load_state_record, {**erec, "levels.data": erec["levels.data"][:-1]}, "shorter than the shapes")
    _usage(enc.load_state_record, {**erec, "levels.data": np.append(erec["levels.data"], np.int32(0))}, "longer")
    _usage(enc.load_state_record, {**erec, "history.data": erec["history.data"] * 2 + 1}, "other than 0 and 1")
    _usage(enc.load_state_record, {**erec, "names.length": erec["names.length"] + 1}, "lengths do not add up")
    _usage(enc.load_state_record, {**erec, "names.utf8": np.full_like(erec["names.utf8"], 0xFF)}, "not UTF-8")
    _usage(enc.load_state_record, {**erec, "node.parameter_id": erec["node.parameter_id"] - 5}, "negative")
    _usage(dec.load_state_record, {**drec, "decoder.mps_unit": drec["decoder.mps_unit"][:-1]}, "mps_unit")
    _usage(dec.load_state_record, {**drec, "decoder.general_profile_idc": np.array([7], np.int64)}, "7 is not 0 or 1")
    # a failed load leaves the session as it was
    assert enc.state.tensors == {} and dec.state.tensors == {} and dec.general_profile_idc is None


# -- the PUT predicate -----------------------------------------------------------------------------

def test_continues_parent() -> None:
    lv = np.zeros(3, np.int32)
    parent = TensorState(device_id=2, parameter_id=5, depth=3, levels=lv)
    assert continues_parent(parent, 2, 5, 4) is None
    assert continues_parent(parent, None, None, None) is None  # nothing signalled, nothing to contradict
    bad = continues_parent(parent, 1, 5, 4)
    assert bad is not None and bad.element == "device_id" and not bad.missing
    bad = continues_parent(parent, 2, 6, 4)
    assert bad is not None and bad.element == "parameter_id" and not bad.missing
    bad = continues_parent(parent, 2, 5, 3)
    assert bad is not None and bad.element == "put_node_depth" and not bad.missing
    bad = continues_parent(None, 2, 5, 4)
    assert bad is not None and bad.missing and bad.element == "temporal_context_modeling_flag"
    bad = continues_parent(TensorState(2, None, 3, lv), 2, 5, 4)
    assert bad is not None and bad.missing and bad.element == "parameter_id"
    assert child_depth(None) == 1 and child_depth(parent) == 4
    nxt = advance(parent, 2, 5, None, None)  # raw update: depth counts on, the TCA base stays
    assert nxt.depth == 4 and nxt.levels is lv
    assert merge_history(np.array([True, False, False]), np.array([0, 0, 3])).tolist() == [True, False, True]
    assert merge_history(np.array([True]), np.array([0, 1])).tolist() == [False, True]  # resized: replaced


def test_decoder_checks_device_id() -> None:
    """The decoder applies the whole predicate: a TCA node on another device is refused."""
    _, _, _, golden = sequence("SEQ_ZERO_OMIT_TCA_A")
    dec = nnr.Decoder()
    dec.decode(golden[0])
    name, t = next(iter(dec.state.tensors.items()))
    dec.state.tensors[name] = TensorState(t.device_id + 1 if t.device_id is not None else 1, t.parameter_id,
                                          t.depth, t.levels, t.history)
    with pytest.raises(nnr.MalformedStreamError) as e:
        dec.decode(golden[1])
    assert e.value.element == "device_id" and name in str(e.value)


# -- layering ----------------------------------------------------------------------------------------

def test_import_nnr_loads_no_nncodec_module() -> None:
    code = ("import sys, nnr, nnr.decoder, nnr.encoder, nnr.encoding, nnr.incremental; "
            "print(sorted(m for m in sys.modules if m == 'nnr.nncodec' or m.startswith('nnr.nncodec.')))")
    here = os.path.dirname(os.path.dirname(os.path.abspath(nnr.__file__)))  # the nnr under test
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=here)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_failed_stream_leaves_the_decoder_session_unchanged() -> None:
    _, _, _, golden = sequence("SEQ_HDSP_TCA_NODQ_A")
    dec = nnr.Decoder()
    dec.decode(golden[0])
    before = {k: v.tobytes() for k, v in dec.state_record().items()}
    with pytest.raises(nnr.NNRError):
        dec.decode(golden[1][:-3])  # truncated in the last NDU
    assert {k: v.tobytes() for k, v in dec.state_record().items()} == before
    for i in (1, 2):  # and the sequence continues
        same_arrays(dec.decode(golden[i]), npz("SEQ_HDSP_TCA_NODQ_A", f"expected_{i}.npz"), f"after error [{i}]")
