"""The syntax tables of ``syntax/`` against the decoder.

* The tables are well formed, cover every structure of the notes, and their ``code`` references
  import.
* Streams (the worked examples of syntax.md §9, the NNCodec streams under ``bitstreams/``, and
  hand-built streams for the header paths NNCodec never writes) are decoded with a tracer; every
  traced (structure, element, descriptor) must be in the table of its structure, the structure
  nesting must follow the tables' calls, and the elements must come in table order
  (:func:`nnr.syntax.check_trace`).
* The checker itself rejects wrong names, descriptors, orders, conditions and tables.
* The rendered docs page is up to date, and (if Sphinx is installed) the docs build without warnings.

Streams larger than ``NNR_SYNTAX_MAX_STREAM_BYTES`` (default 8192; 0 = no limit) are skipped: the
pure-Python level decoder is slow and large streams add no syntax coverage.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import importlib.util
import inspect
import json
import os
import re
import shutil
import struct
import sys

import numpy as np
import pytest

if sys.version_info < (3, 11):
    pytest.importorskip("tomli")  # the tables are TOML; Python 3.10 needs tomli

from nnr import syntax as st
from nnr.bitstream import TraceEvent
from nnr.decoder import Decoder
from nnr.errors import NNRError
from nnr.units.compressed_data_unit import CompressedDataUnitHeader, EntryPoint, OutOfBandParameters
from nnr.units.layer_parameter_set import LayerParameterSet, LayerParameterSetHeader
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.performance_maps import (
    DecompositionEntry,
    DecompositionPerformanceMap,
    PruningEntry,
    PruningPerformanceMap,
    SparsificationEntry,
    SparsificationPerformanceMap,
    UnificationEntry,
    UnificationPerformanceMap,
)
from nnr.units.topology import QuantizationUnit, TopologyUnit
from nnr.units.types import ParentNodeIdType, PayloadType, TopologyStorageFormat
from nnr.writer import StreamWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SYNTAX_DIR = os.path.join(ROOT, "syntax")
DOCS_DIR = os.path.join(ROOT, "docs")
MAX_BYTES = int(os.environ.get("NNR_SYNTAX_MAX_STREAM_BYTES", "8192"))

SYNTAX = st.load(SYNTAX_DIR)

# Every structure of syntax.md / deepcabac.md that must have a table.
REQUIRED_STRUCTURES = [
    "nnr_unit", "nnr_unit_size", "nnr_unit_header", "nnr_unit_payload", "nnr_start_unit_header",
    "nnr_model_parameter_set_unit_header", "nnr_model_parameter_set_unit_payload",
    "sparsification_performance_map", "pruning_performance_map", "unification_performance_map",
    "decomposition_performance_map", "nnr_layer_parameter_set_unit_header",
    "nnr_layer_parameter_set_unit_payload", "nnr_topology_unit_header", "nnr_topology_unit_payload",
    "nnr_quantization_unit_header", "nnr_quantization_unit_payload", "nnr_compressed_data_unit_header",
    "topology_elements_ids_list", "tensor_dimensions_list", "integer_codebook", "cabac_entry_point_list",
    "nnr_compressed_data_unit_payload", "nnr_aggregate_unit_header",
]
PAYLOAD_ELEMENTS = [
    "qp_offset", "hist_dep_sig_prob_enabled_flag", "row_skip_enabled_flag", "row_skip_flag", "sig_flag",
    "sign_flag", "abs_level_greater_x", "abs_level_greater_x2", "abs_remainder", "terminate_bin",
]

# syntax.md §9: the worked example, general_profile_idc 1 and 0.
EXAMPLE_GPI1 = """00040201 0008068100400080 00060e000000
002a16097700d041c120e102a080 d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f
001c16096200d0c1c3830a80 b4d800073800965da803641000b59908"""
EXAMPLE_GPI0 = """00040200 0008068100400080 00060e000000
00281609770070483840a080 d9b305e26eed282be32b4dc12c235594f43fdc0c20fc90c73cc5d47e
001a1609620070e0c2a0 b4d800073800965da803641000b59908"""


def hexstream(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def trace(data: bytes, decoder: Decoder | None = None) -> tuple[list[TraceEvent], NNRError | None]:
    events: list[TraceEvent] = []
    try:
        (decoder or Decoder()).decode_stream(data, tracer=events.append)
    except NNRError as e:
        return events, e
    return events, None


def assert_conforms(events: list[TraceEvent], *, complete: bool = True, syntax: st.Syntax = SYNTAX) -> st.TraceReport:
    rep = st.check_trace(events, syntax, complete=complete)
    assert rep.ok, "decoder trace does not match syntax/:\n  " + "\n  ".join(rep.problems)
    return rep


# ---------------------------------------------------------------------------------------------
# The tables themselves
# ---------------------------------------------------------------------------------------------


def test_tables_are_well_formed():
    assert st.validate(SYNTAX) == []


def test_every_structure_of_the_notes_has_a_table():
    missing = [n for n in REQUIRED_STRUCTURES if n not in SYNTAX.tables]
    assert not missing
    payload = {r.name for r in SYNTAX.tables["nnr_compressed_data_unit_payload"].rows}
    assert not [e for e in PAYLOAD_ELEMENTS if e not in payload]
    assert SYNTAX.tables["nnr_aggregate_unit_header"].status == "U"
    assert SYNTAX.tables["topology_elements_ids_list"].parameters == ("topologyIndexedFlag",)


def test_every_row_has_descriptor_semantics_and_status():
    for t in SYNTAX.tables.values():
        for r in t.rows:
            assert r.status in ("V", "C", "U"), (t.name, r)
            assert r.semantics, (t.name, r)
            if r.element is not None:
                assert st.parse_descriptor(r.descriptor or "") is not None, (t.name, r)


@pytest.mark.parametrize("table", sorted(SYNTAX.tables))
def test_code_references_resolve(table):
    t = SYNTAX.tables[table]
    for ref in (t.code, *t.see_also):
        assert ref.startswith("nnr."), ref
        obj = st.resolve_code(ref)  # raises ImportError / AttributeError for a stale reference
        assert callable(obj), ref


@pytest.mark.parametrize("table", sorted(n for n, t in SYNTAX.tables.items() if t.traced))
def test_traced_structures_are_marked_by_their_code(table):
    """A table marked ``traced`` is entered with ``r.structure("<name>")`` by the code it names."""
    t = SYNTAX.tables[table]
    pattern = re.compile(r"structure\(\s*[\"']" + re.escape(t.name) + r"[\"']\s*\)")
    sources = []
    for ref in (t.code, *t.see_also):
        try:
            sources.append(inspect.getsource(st.resolve_code(ref)))  # type: ignore[arg-type]
        except (OSError, TypeError):  # compiled (mypyc) module: no source
            pass
    if not sources:
        pytest.skip(f"no source for {t.code}, {t.see_also}")
    assert any(pattern.search(s) for s in sources), f"none of {t.code}, {t.see_also} enters structure {t.name!r}"


# ---------------------------------------------------------------------------------------------
# Decoder traces against the tables
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [EXAMPLE_GPI1, EXAMPLE_GPI0], ids=["gpi1", "gpi0"])
def test_worked_example_trace_matches_tables(text):
    events, err = trace(hexstream(text))
    assert err is None
    rep = assert_conforms(events)
    names = [(e.structure, e.name, e.descriptor) for e in events]
    assert ("nnr_compressed_data_unit_header", "dq_flag", "u(1)") in names
    assert ("nnr_compressed_data_unit_payload", "qp_offset", "iae(8)") in names
    assert ("tensor_dimensions_list", "tensor_dimensions", "ue(7)") in names
    assert rep.events == len(events)


# -- NNCodec streams under bitstreams/ --------------------------------------------------------


def _case_params() -> list:
    params = []
    for cj in sorted(glob.glob(os.path.join(ROOT, "bitstreams", "*", "case.json"))):
        try:
            with open(cj) as f:
                case = json.load(f)
        except (OSError, ValueError):
            continue  # being written
        d = os.path.dirname(cj)
        streams = [os.path.join(d, s) for s in case.get("streams", [])]
        if not streams or not all(os.path.isfile(s) for s in streams):
            continue
        size = max(os.path.getsize(s) for s in streams)
        marks = []
        if MAX_BYTES and size > MAX_BYTES:
            marks.append(pytest.mark.skip(reason=f"stream of {size} bytes > NNR_SYNTAX_MAX_STREAM_BYTES={MAX_BYTES}"))
        params.append(pytest.param(cj, marks=marks, id=case.get("name", os.path.basename(d))))
    if not params:
        params.append(pytest.param("", marks=pytest.mark.skip(reason="no bitstreams/*/case.json"), id="none"))
    return params


CASES = _case_params()


def _out_of_band(case: dict) -> dict[str, OutOfBandParameters]:
    """NNCodec's oob_dict of the case (of every step of a sequence) as decoder parameters."""
    args = case.get("decode_call", {}).get("args") or {}
    raw: dict = {}
    if isinstance(args, dict):
        raw.update(args.get("oob_dict") or {})
        for step in args.get("steps") or []:
            if isinstance(step, dict):
                raw.update(step.get("oob_dict") or {})
    known = {f.name for f in dataclasses.fields(OutOfBandParameters)}
    return {name: OutOfBandParameters(**{k: v for k, v in d.items() if k in known}) for name, d in raw.items()}


@functools.lru_cache(maxsize=None)
def case_traces(case_json: str) -> tuple[tuple[str, tuple[TraceEvent, ...], bool, str], ...]:
    """(stream, events, complete, crash) per stream of a case, decoded in one decoder session."""
    with open(case_json) as f:
        case = json.load(f)
    oob = _out_of_band(case)
    dec = Decoder(out_of_band=oob) if oob else Decoder()
    positive = case.get("kind", "positive") == "positive"
    out = []
    for s in case["streams"]:
        with open(os.path.join(os.path.dirname(case_json), s), "rb") as f:
            data = f.read()
        events: list[TraceEvent] = []
        complete, crash = positive, ""
        try:
            dec.decode_stream(data, tracer=events.append)
        except NNRError:  # a rejected stream is checked as far as it was read
            complete = False
        except Exception as e:  # a decoder crash (the conformance tests own it): checked as far as read
            complete, crash = False, f"{type(e).__name__}: {e}"
        out.append((s, tuple(events), complete, crash))
    return tuple(out)


@pytest.mark.parametrize("case_json", CASES)
def test_nncodec_stream_traces_match_tables(case_json):
    for stream, events, complete, crash in case_traces(case_json):
        rep = st.check_trace(list(events), SYNTAX, complete=complete)
        assert rep.ok, f"{stream}{' (decoder crashed: ' + crash + ')' if crash else ''}:\n  " + "\n  ".join(rep.problems)


# -- hand-built streams: header paths NNCodec never writes ------------------------------------


def _raw_ndu(w: StreamWriter, h: CompressedDataUnitHeader) -> bytes:
    """An NDU with a raw float payload (the payload rows are not traced)."""
    n = int(np.prod(h.tensor_dimensions))
    return w.compressed_data_unit(h, struct.pack(f"<{n}f", *[0.25 * i for i in range(n)]))


def _maps() -> dict:
    return dict(
        sparsification_performance_map=SparsificationPerformanceMap([
            SparsificationEntry(sparsification_threshold=0.1, non_zero_ratio=0.5, spm_nn_accuracy=0.9,
                                spm_class_bitmask=3, spm_nn_class_accuracy=[0.8, 0.85])]),
        pruning_performance_map=PruningPerformanceMap([
            PruningEntry(pruning_ratio=0.3, ppm_nn_accuracy=0.88, ppm_class_bitmask=1, ppm_nn_class_accuracy=[0.7]),
            PruningEntry(pruning_ratio=0.6, ppm_nn_accuracy=0.8, ppm_class_bitmask=0, ppm_nn_class_accuracy=[])]),
        unification_performance_map=UnificationPerformanceMap([
            UnificationEntry(reshaped_tensor_dimensions=[4, 5], super_block_dimensions=[2, 2], block_dimensions=[1],
                             unification_threshold=0.2, upm_nn_accuracy=0.7, upm_class_bitmask=1,
                             upm_nn_class_accuracy=[0.6])]),
    )


def stream_all_headers_gpi1() -> StreamWriter:
    """Performance maps, LPS, REFLIST / PRUN topology, QNT, partial data counter, indexed
    references, SHA parent ids, decompressed data format, entry points (raw float payloads)."""
    gpi, indexed, parent = 1, 1, 1  # the MPS's flags: the writer's unit context follows them
    mps = ModelParameterSet(
        topology_carriage_flag=1, mps_quantization_method_flags=1, mps_topology_indexed_reference_flag=indexed,
        mps_parent_signalling_enabled_flag=parent, nnr_pre_flag=1, base_model_id="base",
        performance_metric_type="top1", metric_type_performance_map_valid_flag=1, validation_set_performance=0.75,
        mps_qp_density=2, mps_quantization_parameter=-20,
        decomposition_performance_map=DecompositionPerformanceMap([
            DecompositionEntry(mse_threshold=0.01, dpm_nn_accuracy=0.9, nn_reduction_ratio=0.5,
                               dpm_nn_class_accuracy=[0.9, 0.8])]),
        **_maps(),
    )
    lps = LayerParameterSet(lps_quantization_method_flags=1, lps_qp_density=3, lps_quantization_parameter=-10, **_maps())
    reflist = TopologyUnit(topology_storage_format=TopologyStorageFormat.NNR_TPL_REFLIST,
                           topology_elem_id_list=["w", "b", "c"])
    prun = TopologyUnit(topology_storage_format=TopologyStorageFormat.NNR_TPL_PRUN, topology_data=b"\x01\x02\x03")
    qnt = QuantizationUnit(quantization_storage_format=1, quantization_compression_format=0, quantization_data=b"qdata")
    ndu1 = CompressedDataUnitHeader(
        nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT, nnr_decompressed_data_format_present_flag=1,
        nnr_decompressed_data_format=1, topology_elem_id_index=0, node_id_present_flag=0,
        parent_node_id_present_flag=1, parent_node_id_type=ParentNodeIdType.ICNN_NDU_ID, parent_device_id=2,
        parameter_id=0, put_node_depth=1, tensor_dimensions_flag=1, cabac_unary_length_flag=0,
        tensor_dimensions=[20, 3], scan_order=1,
        cabac_entry_point_list=[EntryPoint(1, 0, 100), EntryPoint(2, 0, 250)],
    )
    ndu2 = CompressedDataUnitHeader(
        nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT, topology_elem_id_index=1,
        node_id_present_flag=1, device_id=1, parameter_id=1, put_node_depth=0, parent_node_id_present_flag=1,
        parent_node_id_type=ParentNodeIdType.ICNN_NDU_PL_SHA256, parent_node_payload_sha256=bytes(range(32)),
        tensor_dimensions=[3],
    )
    ndu3 = CompressedDataUnitHeader(
        nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT, topology_elem_id_index=2,
        node_id_present_flag=1, device_id=0, parameter_id=2, put_node_depth=0, parent_node_id_present_flag=1,
        parent_node_id_type=ParentNodeIdType.ICNN_NDU_PL_SHA512, parent_node_payload_sha512=bytes(range(64)),
        cabac_unary_length_flag=1, cabac_unary_length_minus1=5, tensor_dimensions=[2, 2],
    )
    w = StreamWriter(trace=True)
    w.start_unit(gpi)
    w.model_parameter_set(mps)
    w.layer_parameter_set(lps, LayerParameterSetHeader(1))
    w.topology(reflist, partial_data_counter=7)
    w.topology(prun)
    w.quantization(qnt)
    for h in (ndu1, ndu2, ndu3):
        _raw_ndu(w, h)
    return w


def stream_headers_gpi0() -> StreamWriter:
    """Edition-1 MPS without quantization, long size field, raw float tensor."""
    mps = ModelParameterSet(topology_carriage_flag=0, mps_quantization_method_flags=0)
    ndu = CompressedDataUnitHeader(nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT,
                                   topology_elem_id="x", tensor_dimensions=[5])
    w = StreamWriter(trace=True)
    w.start_unit(0, long_size=True)
    w.model_parameter_set(mps)
    w.topology(TopologyUnit())
    _raw_ndu(w, ndu)
    return w


def stream_aggregate() -> StreamWriter:
    """Aggregate units with and without entry points ([U] layout)."""
    mps = ModelParameterSet(topology_carriage_flag=1, mps_quantization_method_flags=1, mps_qp_density=2)
    w = StreamWriter(trace=True)

    def raw(name: str) -> bytes:
        h = CompressedDataUnitHeader(nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT,
                                     topology_elem_id=name, node_id_present_flag=1, tensor_dimensions=[2])
        return _raw_ndu(w, h)

    w.start_unit(1)
    w.model_parameter_set(mps)
    w.aggregate([w.topology(TopologyUnit()), raw("x")], entry_points=True)
    w.aggregate([w.quantization(QuantizationUnit(quantization_data=b"\x05")), raw("y"), raw("z")], entry_points=False)
    return w


def stream_tensor_split(indexed: int = 0) -> StreamWriter:
    """A non-block unit over several topology elements (by name or by REFLIST index): the decoder
    stops at topology_tensor_dimension_mapping() (no syntax in the notes); checked up to there."""
    mps = ModelParameterSet(topology_carriage_flag=1, mps_quantization_method_flags=1, mps_qp_density=2,
                            mps_topology_indexed_reference_flag=indexed)
    reflist = TopologyUnit(topology_storage_format=TopologyStorageFormat.NNR_TPL_REFLIST, topology_elem_id_list=["a", "b"])
    h = CompressedDataUnitHeader(nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_FLOAT,
                                 nnr_multiple_topology_elements_present_flag=1, topology_elem_id_list=["a", "b"],
                                 topology_elem_id_index_list=[1, 0], node_id_present_flag=1, dq_flag=1,
                                 tensor_dimensions=[2, 2])
    w = StreamWriter(trace=True)
    w.start_unit(1)
    w.model_parameter_set(mps)
    w.topology(reflist)
    w.compressed_data_unit(h, b"\x80")
    return w


HANDBUILT = {
    "all_headers_gpi1": (stream_all_headers_gpi1, True),
    "headers_gpi0": (stream_headers_gpi0, True),
    "aggregate": (stream_aggregate, True),
    "tensor_split": (stream_tensor_split, False),
    "tensor_split_indexed": (lambda: stream_tensor_split(indexed=1), False),
}


@functools.lru_cache(maxsize=None)
def handbuilt_writer(name: str) -> StreamWriter:
    return HANDBUILT[name][0]()


@functools.lru_cache(maxsize=None)
def handbuilt_trace(name: str) -> tuple[TraceEvent, ...]:
    build, decodable = HANDBUILT[name]
    events, err = trace(handbuilt_writer(name).getvalue())
    assert (err is None) == decodable, f"{name}: {err!r}"
    return tuple(events)


@pytest.mark.parametrize("name", sorted(HANDBUILT))
def test_handbuilt_stream_traces_match_tables(name):
    events = list(handbuilt_trace(name))
    assert_conforms(events, complete=HANDBUILT[name][1])


@pytest.mark.parametrize("name", sorted(HANDBUILT))
def test_handbuilt_stream_writer_traces_match_tables_and_reader(name):
    """The stream writer's trace of what it wrote conforms to the tables and is, element for
    element (structure path, name, descriptor, bit offset, value), the decoder's trace of the
    bytes (as far as the decoder reads: the tensor-split streams stop early)."""
    wrote = handbuilt_writer(name).trace()
    read = list(handbuilt_trace(name))
    if HANDBUILT[name][1]:
        assert_conforms(wrote)
        assert len(wrote) == len(read)
    else:
        assert len(wrote) > len(read) > 0
    for k, (a, b) in enumerate(zip(wrote, read)):
        assert a == b, f"event #{k}: wrote {a}, read {b}"


def test_handbuilt_streams_reach_the_rare_structures():
    seen = {e.structure for n in HANDBUILT for e in handbuilt_trace(n)}
    for s in ["sparsification_performance_map", "pruning_performance_map", "unification_performance_map",
              "decomposition_performance_map", "nnr_layer_parameter_set_unit_payload", "nnr_quantization_unit_payload",
              "nnr_aggregate_unit_header", "cabac_entry_point_list", "topology_elements_ids_list"]:
        assert s in seen, s


def _all_traces() -> list[tuple[str, list[TraceEvent]]]:
    out = [(f"example {i}", trace(hexstream(t))[0]) for i, t in enumerate((EXAMPLE_GPI1, EXAMPLE_GPI0))]
    out += [(n, list(handbuilt_trace(n))) for n in HANDBUILT]
    for p in CASES:
        if p.marks or not p.values[0]:
            continue
        out += [(f"{p.id}/{s}", list(ev)) for s, ev, _, _ in case_traces(p.values[0])]
    return out


def test_rows_marked_untraced_are_not_traced():
    """``traced = false`` rows document what the decoder does not report; if it starts to, the
    table must say so (and the order check then also requires the element)."""
    seen = {(e.structure, e.name) for _, events in _all_traces() for e in events}
    stale = []
    for r in st.untraced_rows(SYNTAX):
        for sfx in SYNTAX.suffixes(r.structure):
            if (r.structure, (r.traced_name or r.name) + sfx) in seen:
                stale.append(f"{r.structure}.{r.name}")
    assert not stale, f"now traced by the decoder, set traced = true in syntax/: {stale}"


def test_every_traced_row_occurs_in_some_trace():
    """Guards against table rows under a name the decoder never uses (needs bitstreams/)."""
    if not any(not p.marks and p.values[0] for p in CASES):
        pytest.skip("needs the NNCodec streams under bitstreams/")
    seen = {(e.structure, e.name) for _, events in _all_traces() for e in events}
    never = []
    for t in SYNTAX.tables.values():
        for r in t.rows:
            if r.traced and r.traced_name is not None and not any(
                    (t.name, r.traced_name + sfx) in seen for sfx in SYNTAX.suffixes(t.name)):
                never.append(f"{t.name}.{r.traced_name}")
        for a in t.aliases:
            if (t.name, a.name) not in seen:
                never.append(f"{t.name}.{a.name} (trace_alias)")
    assert not never, f"never traced by any stream: {never}"


# ---------------------------------------------------------------------------------------------
# The checker can fail
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_events() -> list[TraceEvent]:
    events, err = trace(hexstream(EXAMPLE_GPI1))
    assert err is None
    return events


def _index(events: list[TraceEvent], name: str, nth: int = 0) -> int:
    return [i for i, e in enumerate(events) if e.name == name][nth]


def test_checker_rejects_an_element_the_table_lacks(example_events):
    ev = list(example_events)
    i = _index(ev, "dq_flag")
    ev[i] = dataclasses.replace(ev[i], name="dependent_quantization_flag")
    rep = st.check_trace(ev, SYNTAX)
    assert not rep.ok and "dependent_quantization_flag" in rep.problems[0]


def test_checker_rejects_a_wrong_descriptor(example_events):
    ev = list(example_events)
    i = _index(ev, "scan_order")
    ev[i] = dataclasses.replace(ev[i], descriptor="ue(4)")
    assert not st.check_trace(ev, SYNTAX).ok
    j = _index(ev, "nnr_unit_size")
    ev2 = list(example_events)
    ev2[j] = dataclasses.replace(ev2[j], descriptor="u(31)")  # nnr_unit_size_flag is 0: u(15)
    assert not st.check_trace(ev2, SYNTAX).ok


def test_checker_rejects_a_wrong_structure(example_events):
    ev = list(example_events)
    i = _index(ev, "dq_flag")
    ev[i] = dataclasses.replace(ev[i], structure="nnr_unit_header", path=("nnr_unit", "nnr_unit_header"))
    assert not st.check_trace(ev, SYNTAX).ok
    ev = list(example_events)
    i = _index(ev, "count_tensor_dimensions")
    ev[i] = dataclasses.replace(ev[i], path=("nnr_unit", "nnr_model_parameter_set_unit_payload", "tensor_dimensions_list"))
    assert not st.check_trace(ev, SYNTAX).ok


def test_checker_rejects_elements_out_of_order(example_events):
    ev = list(example_events)
    i, j = _index(ev, "device_id"), _index(ev, "parameter_id")
    ev[i], ev[j] = ev[j], ev[i]
    rep = st.check_trace(ev, SYNTAX)
    assert not rep.ok and "not allowed here" in rep.problems[0]


def test_checker_rejects_a_missing_element(example_events):
    ev = list(example_events)
    del ev[_index(ev, "scan_order")]
    assert not st.check_trace(ev, SYNTAX).ok
    ev = list(example_events)
    del ev[_index(ev, "general_profile_idc")]
    assert not st.check_trace(ev, SYNTAX).ok


def test_checker_enforces_conditions_it_can_evaluate():
    """node_id_present_flag in an edition-1 stream (general_profile_idc 0) is out of place."""
    ev, err = trace(hexstream(EXAMPLE_GPI0))
    assert err is None
    i = _index(ev, "topology_elem_id") + 1
    bad = dataclasses.replace(ev[i], name="node_id_present_flag", descriptor="u(1)", value=1)
    rep = st.check_trace(ev[:i] + [bad] + ev[i:], SYNTAX)
    assert not rep.ok
    # ... and qp_offset in an integer tensor (NNR_PT_INT codes no QP).
    ev, _ = trace(hexstream(EXAMPLE_GPI1))
    k = _index(ev, "nnr_compressed_data_unit_payload_type")
    ev[k] = dataclasses.replace(ev[k], value=PayloadType.NNR_PT_INT)
    assert not st.check_trace(ev, SYNTAX).ok


def test_checker_wants_complete_streams(example_events):
    ev = list(example_events)[:-5]
    assert not st.check_trace(ev, SYNTAX).ok
    assert st.check_trace(ev, SYNTAX, complete=False).ok


def test_a_table_missing_a_row_fails(tmp_path, example_events):
    d = tmp_path / "syntax"
    shutil.copytree(SYNTAX_DIR, d)
    p = d / "nnr_compressed_data_unit_header.toml"
    text = p.read_text()
    row = re.search(r'\[\[row\]\]\nelement = "dq_flag"\n.*?(?=\n\[\[row\]\])', text, re.S)
    assert row is not None
    p.write_text(text.replace(row.group(0), ""))
    reduced = st.load(d)
    assert st.validate(reduced) == []
    rep = st.check_trace(list(example_events), reduced)
    assert not rep.ok and "dq_flag" in rep.problems[0]


def test_a_table_with_rows_in_the_wrong_order_fails(tmp_path, example_events):
    d = tmp_path / "syntax"
    shutil.copytree(SYNTAX_DIR, d)
    p = d / "nnr_unit_header.toml"
    text = p.read_text()
    a = 'element = "independently_decodable_flag"'
    b = 'element = "partial_data_counter_present_flag"'
    p.write_text(text.replace(a, "@@").replace(b, a).replace("@@", b))
    assert not st.check_trace(list(example_events), st.load(d)).ok


def test_a_stale_code_reference_fails(tmp_path):
    d = tmp_path / "syntax"
    shutil.copytree(SYNTAX_DIR, d)
    p = d / "integer_codebook.toml"
    p.write_text(p.read_text().replace("IntegerCodebook.read", "IntegerCodebook.parse"))
    with pytest.raises(AttributeError):
        st.resolve_code(st.load(d).tables["integer_codebook"].code)


# ---------------------------------------------------------------------------------------------
# Docs
# ---------------------------------------------------------------------------------------------


def _render_module():
    spec = importlib.util.spec_from_file_location("render_syntax", os.path.join(DOCS_DIR, "render_syntax.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_implementation_map_covers_every_structure_and_process():
    """docs/implementation.rst's map: every syntax table, with the module that reads it and the
    code that writes it, and every process of docs/processes.toml; every entry resolves."""
    render = _render_module()
    rows = render.implementation_map(SYNTAX)
    assert [r[0] for r in rows] == [t.name for t in SYNTAX.ordered()]
    assert {r[0] for r in rows} == set(SYNTAX.tables)
    for name, module, reads, writes in rows:
        assert importlib.import_module(module).__name__ == module
        assert callable(st.resolve_code(reads)), (name, reads)
        assert writes is not None, f"{name}: no writing code (add it to docs/processes.toml [writers])"
        assert callable(st.resolve_code(writes)), (name, writes)
    assert set(render.writer_overrides()) <= set(SYNTAX.tables)
    procs = render.processes()
    assert len({n for n, _ in procs}) == len(procs) >= 20
    for name, code in procs:
        assert callable(st.resolve_code(code)), (name, code)
        assert importlib.import_module(render.module_of(code))


def test_rendered_docs_are_up_to_date():
    render = _render_module()
    for path, text in render.pages(SYNTAX).items():
        with open(path, encoding="utf-8") as f:
            assert f.read() == text, f"{os.path.relpath(path, ROOT)} is stale: run python3 docs/render_syntax.py"


def test_rendered_page_has_every_structure_and_its_code():
    render = _render_module()
    page = render.render_tables_page(SYNTAX)
    for t in SYNTAX.tables.values():
        assert f".. _syntax-{t.name}:" in page
        assert f"`{t.code}`" in page
