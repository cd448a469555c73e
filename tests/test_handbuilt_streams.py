"""Syntax NNCodec cannot write (AGG, QNT, LPS, REFLIST, SHA parents, RAW_FLOAT, decompressed data
format, partial data counter, performance maps), in hand-built streams.

The seeds are the worked example of syntax.md §9 (an NNCodec 2.1.3 stream): its NDU payloads are
re-wrapped in headers written by our writer; expected values follow from the notes (the levels
and values listed there, and quantization.md §1 for other QPs).  Not cross-checked with another
implementation.
"""

import math
import struct

import numpy as np
import pytest

import nnr
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.layer_parameter_set import LayerParameterSet
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.performance_maps import (
    DecompositionEntry, DecompositionPerformanceMap, PruningEntry, PruningPerformanceMap,
    SparsificationEntry, SparsificationPerformanceMap, UnificationEntry, UnificationPerformanceMap,
)
from nnr.units.topology import QuantizationUnit, TopologyUnit
from nnr.units.types import ParentNodeIdType, PayloadType, TopologyStorageFormat
from nnr.writer import StreamWriter

# syntax.md §9, general_profile_idc 1
EXAMPLE_GPI1 = bytes.fromhex(
    "00040201" "0008068100400080" "00060e000000"
    "002a16097700d041c120e102a080" "d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f"
    "001c16096200d0c1c3830a80" "b4d800073800965da803641000b59908")
EXAMPLE_GPI0 = bytes.fromhex(
    "00040200" "0008068100400080" "00060e000000"
    "00281609770070483840a080" "d9b305e26eed282be32b4dc12c235594f43fdc0c20fc90c73cc5d47e"
    "001a1609620070e0c2a0" "b4d800073800965da803641000b59908")
W_PAYLOAD = bytes.fromhex("d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f")
B_PAYLOAD = bytes.fromhex("b4d800073800965da803641000b59908")

# Values listed in syntax.md §9
W_VALUES = np.array([[0.087890625, 0.0205078125, 0.0498046875, 0.11279296875],
                     [0.09375, -0.0498046875, 0.04833984375, -0.0087890625],
                     [-0.005859375, 0.0205078125, 0.005859375, 0.07177734375]], dtype=np.float32)
B_VALUES = np.array([0.007610321044921875, 0.0012159347534179688, 0.004439353942871094], dtype=np.float32)
B_LEVELS = np.array([3192, 510, 1862])


def w_header(**kw) -> CompressedDataUnitHeader:
    h = CompressedDataUnitHeader(
        nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_FLOAT, topology_elem_id="w",
        node_id_present_flag=1, device_id=0, parameter_id=0, put_node_depth=0, dq_flag=1,
        tensor_dimensions=[3, 4], cabac_unary_length_minus1=10)
    for k, v in kw.items():
        setattr(h, k, v)
    return h


def b_header(**kw) -> CompressedDataUnitHeader:
    return w_header(**{"topology_elem_id": "b", "parameter_id": 1, "tensor_dimensions": [3], **kw})


def example_writer(gpi: int = 1, mps: ModelParameterSet | None = None) -> StreamWriter:
    s = StreamWriter()
    s.start_unit(gpi)
    s.model_parameter_set(mps or ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2))
    return s


def assert_example(out: dict) -> None:
    assert list(out) == ["w", "b"]
    assert out["w"].dtype == np.float32 and out["w"].tobytes() == W_VALUES.tobytes()
    assert out["b"].dtype == np.float32 and out["b"].tobytes() == B_VALUES.tobytes()


def test_worked_example_both_profiles():
    assert_example(nnr.decode(EXAMPLE_GPI1))
    assert_example(nnr.decode(EXAMPLE_GPI0))


def test_writer_reproduces_the_example_byte_for_byte():
    s = example_writer()
    s.topology(TopologyUnit())
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    assert s.getvalue() == EXAMPLE_GPI1


def test_reflist_indexed_topology_references():
    s = example_writer(mps=ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2,
                                             mps_topology_indexed_reference_flag=1))
    s.topology(TopologyUnit(topology_storage_format=TopologyStorageFormat.NNR_TPL_REFLIST,
                            topology_elem_id_list=["w", "b", "unused"]))
    s.compressed_data_unit(w_header(topology_elem_id=None, topology_elem_id_index=0), W_PAYLOAD)
    s.compressed_data_unit(b_header(topology_elem_id=None, topology_elem_id_index=1), B_PAYLOAD)
    assert_example(nnr.decode(s.getvalue()))


def test_reflist_index_out_of_range_is_an_error():
    s = example_writer(mps=ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2,
                                             mps_topology_indexed_reference_flag=1))
    s.topology(TopologyUnit(topology_storage_format=TopologyStorageFormat.NNR_TPL_REFLIST,
                            topology_elem_id_list=["w", "b"]))
    s.compressed_data_unit(w_header(topology_elem_id=None, topology_elem_id_index=2), W_PAYLOAD)
    with pytest.raises(nnr.MalformedStreamError) as ei:
        nnr.decode(s.getvalue())
    assert ei.value.element == "topology_elem_id_index" and ei.value.unit_index == 3


def test_indexed_reference_without_reflist_is_a_missing_reference():
    s = example_writer(mps=ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2,
                                             mps_topology_indexed_reference_flag=1))
    s.compressed_data_unit(w_header(topology_elem_id=None, topology_elem_id_index=0), W_PAYLOAD)
    with pytest.raises(nnr.MissingReferenceError):
        nnr.decode(s.getvalue())


def test_aggregate_unit_carries_complete_units():
    s = example_writer()
    a = s.compressed_data_unit(w_header(), W_PAYLOAD)
    b = s.compressed_data_unit(b_header(), B_PAYLOAD)
    s.aggregate([a, b])
    data = s.getvalue()
    assert data[len(data) - len(a) - len(b) - 9] >> 2 == 0  # not a size field: sanity of layout below
    stream = nnr.Decoder().decode_stream(data)
    assert [u.type_name for u in stream.units] == ["NNR_STR", "NNR_MPS", "NNR_AGG"]
    assert [c.type_name for c in stream.units[2].children] == ["NNR_NDU", "NNR_NDU"]
    assert_example(stream.arrays())


def test_aggregate_unit_count_mismatch():
    s = example_writer()
    a = s.compressed_data_unit(w_header(), W_PAYLOAD)
    b = s.compressed_data_unit(b_header(), B_PAYLOAD)
    c = s.compressed_data_unit(b_header(topology_elem_id="c"), B_PAYLOAD)
    s.aggregate([a, b, c], entry_points=False)
    data = bytearray(s.getvalue())
    # unit: size (2 bytes), header (1), aggregate type u(8), entry_points_present_flag u(1),
    # num_of_nnr_units_minus2 u(16) ending in the MSB of the unit's 7th byte, alignment
    agg = len(data) - len(a) - len(b) - len(c) - 7
    assert data[agg + 2] >> 2 == 6
    assert data[agg + 6] == 0xC0  # last bit of num_of_nnr_units_minus2 (= 1), then the alignment bit
    data[agg + 6] &= 0x7F
    with pytest.raises(nnr.MalformedStreamError) as ei:
        nnr.decode(bytes(data))
    assert ei.value.element == "num_of_nnr_units_minus2"


def test_quantization_unit_is_parsed_and_kept():
    s = example_writer()
    s.quantization(QuantizationUnit(3, 0, b"codebook-data\x00\x01"))
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    stream = nnr.Decoder().decode_stream(s.getvalue())
    q = stream.units[2].quantization
    assert (q.quantization_storage_format, q.quantization_compression_format, q.quantization_data) == \
        (3, 0, b"codebook-data\x00\x01")
    assert_example(stream.arrays())


def step(qp: int, qp_density: int) -> float:
    k = 1 << qp_density
    return (k + qp % k) * 2.0 ** (qp // k - qp_density)


def test_layer_parameter_set_replaces_the_mps_quantization_parameter():
    s = example_writer()
    s.layer_parameter_set(LayerParameterSet(lps_qp_density=2, lps_quantization_parameter=4))
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    out = nnr.decode(s.getvalue())
    # the payload codes qp_offset -75 (syntax.md §9); with the LPS QP 4 the QP is -71
    expected = B_LEVELS.astype(np.float32) * np.float32(step(-71, 2))
    assert out["b"].tobytes() == expected.tobytes()
    assert step(-71, 2) == 5 * 2.0 ** -20


def _parent_mps() -> ModelParameterSet:
    return ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2, mps_parent_signalling_enabled_flag=1)


@pytest.mark.parametrize("kind", [ParentNodeIdType.ICNN_NDU_PL_SHA256, ParentNodeIdType.ICNN_NDU_PL_SHA512])
def test_sha_parent_node_ids(kind):
    s = example_writer(mps=_parent_mps())
    s.compressed_data_unit(w_header(parent_node_id_present_flag=0), W_PAYLOAD)
    digest = bytes(range(32 if kind == ParentNodeIdType.ICNN_NDU_PL_SHA256 else 64))
    kw = {"parent_node_payload_sha256" if kind == 1 else "parent_node_payload_sha512": digest}
    s.compressed_data_unit(b_header(parent_node_id_present_flag=1, parent_node_id_type=kind, **kw), B_PAYLOAD)
    stream = nnr.Decoder().decode_stream(s.getvalue())
    h = stream.units[-1].ndu
    assert (h.parent_node_payload_sha256 if kind == 1 else h.parent_node_payload_sha512) == digest
    assert_example(stream.arrays())


def test_raw_float_payload():
    values = np.array([[1.5, -0.0, np.float32(3.4e38)], [np.inf, -np.inf, 1e-45]], dtype=np.float32)
    s = example_writer()
    h = w_header(nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT, topology_elem_id="raw",
                 tensor_dimensions=[2, 3], dq_flag=0)
    s.compressed_data_unit(h, values.astype("<f4").tobytes())
    out = nnr.decode(s.getvalue())
    assert out["raw"].dtype == np.float32 and out["raw"].tobytes() == values.tobytes()


def test_raw_float_payload_of_wrong_length():
    s = example_writer()
    h = w_header(nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT, topology_elem_id="raw",
                 tensor_dimensions=[2, 3])
    s.compressed_data_unit(h, bytes(4 * 6 - 1))
    with pytest.raises(nnr.TruncatedStreamError):
        nnr.decode(s.getvalue())


def test_decompressed_data_format_and_partial_data_counter():
    s = example_writer()
    s.compressed_data_unit(w_header(nnr_decompressed_data_format_present_flag=1, nnr_decompressed_data_format=1),
                           W_PAYLOAD, partial_data_counter=7)
    s.compressed_data_unit(b_header(nnr_decompressed_data_format_present_flag=1, nnr_decompressed_data_format=1),
                           B_PAYLOAD)
    stream = nnr.Decoder().decode_stream(s.getvalue())
    assert stream.units[2].header.partial_data_counter == 7
    assert stream.units[2].ndu.nnr_decompressed_data_format == 1
    assert_example(stream.arrays())


def test_long_unit_size_form():
    s = example_writer()
    s.compressed_data_unit(w_header(), W_PAYLOAD, long_size=True)
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    data = s.getvalue()
    assert data[12] & 0x80  # the NDU's nnr_unit_size_flag
    assert_example(nnr.decode(data))


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_model_parameter_set_edition2_fields_and_performance_maps():
    mps = ModelParameterSet(
        topology_carriage_flag=1, mps_qp_density=2, base_model_id="resnet-50@v1", performance_metric_type="top1",
        metric_type_performance_map_valid_flag=1, validation_set_performance=f32(0.7613),
        sparsification_performance_map=SparsificationPerformanceMap([
            SparsificationEntry(f32(0.01), f32(0.5), f32(0.75), 5, [f32(0.7), f32(0.8)])]),
        pruning_performance_map=PruningPerformanceMap([PruningEntry(f32(0.3), f32(0.74), 1, [f32(0.9)]),
                                                       PruningEntry(f32(0.5), f32(0.7), 0, [])]),
        unification_performance_map=UnificationPerformanceMap([
            UnificationEntry([3, 4], [2], [8, 8], f32(0.1), f32(0.72), 3, [f32(0.6), f32(0.65)])]),
        decomposition_performance_map=DecompositionPerformanceMap([
            DecompositionEntry(f32(1e-3), f32(0.73), f32(0.4), [f32(0.1), f32(0.2), f32(0.3)])]),
    )
    s = example_writer(mps=mps)
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    stream = nnr.Decoder().decode_stream(s.getvalue())
    assert stream.units[1].mps == mps
    assert_example(stream.arrays())


def test_layer_parameter_set_performance_maps_round_trip():
    lps = LayerParameterSet(lps_qp_density=2, lps_quantization_parameter=0,
                            sparsification_performance_map=SparsificationPerformanceMap([
                                SparsificationEntry(f32(0.2), f32(0.3), f32(0.4), 0, [])]))
    s = example_writer()
    s.layer_parameter_set(lps)
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    stream = nnr.Decoder().decode_stream(s.getvalue())
    assert stream.units[2].lps == lps
    assert stream.arrays()["w"].tobytes() == W_VALUES.tobytes()


def test_tensor_split_is_reported_unsupported():
    s = example_writer()
    s.compressed_data_unit(w_header(nnr_multiple_topology_elements_present_flag=1, topology_elem_id_list=["w1", "w2"]),
                           W_PAYLOAD)
    with pytest.raises(nnr.UnsupportedFeatureError) as ei:
        nnr.decode(s.getvalue())
    assert ei.value.element == "topology_tensor_dimension_mapping"


def test_step_sizes_from_the_notes():
    assert step(-38, 2) == 0.00146484375 == 6 * 2.0 ** -12
    assert step(-75, 2) == 5 * 2.0 ** -21
    assert math.isclose(step(0, 0), 1.0)


@pytest.mark.parametrize("qp", [4095, -4096])
def test_step_size_outside_float32_is_an_error(qp):
    s = example_writer(mps=ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2, mps_quantization_parameter=qp))
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    with pytest.raises(nnr.MalformedStreamError) as ei:
        nnr.decode(s.getvalue())
    assert ei.value.unit_index == 2


def test_nested_aggregate_units_are_refused():
    s = example_writer()
    a = s.compressed_data_unit(w_header(), W_PAYLOAD)
    b = s.compressed_data_unit(b_header(), B_PAYLOAD)
    inner = s.aggregate([a, b])
    c = s.compressed_data_unit(b_header(topology_elem_id="c"), B_PAYLOAD)
    s.aggregate([inner, c])
    with pytest.raises(nnr.MalformedStreamError) as ei:
        nnr.decode(s.getvalue())
    assert ei.value.element == "nnr_unit_type"
