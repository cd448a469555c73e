"""Writers are symmetric with readers: hypothesis round-trips of the NNR syntax structures."""

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from nnr.bitstream import BitReader, BitWriter
from nnr.units.compressed_data_unit import CompressedDataUnitHeader, EntryPoint, IntegerCodebook
from nnr.units.context import UnitContext
from nnr.units.layer_parameter_set import LayerParameterSet
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.performance_maps import PruningEntry, PruningPerformanceMap
from nnr.units.topology import TopologyUnit
from nnr.units.types import PayloadType

names = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=12)
f32 = st.floats(width=32, allow_nan=False).map(lambda x: struct.unpack("<f", struct.pack("<f", x))[0])


@st.composite
def codebooks(draw):
    size = draw(st.integers(1, 12))
    start = draw(st.integers(-300, 300))
    steps = draw(st.lists(st.integers(1, 40), min_size=size - 1, max_size=size - 1))
    cb = [start]
    for s in steps:
        cb.append(cb[-1] + s)
    zero = draw(st.integers(max(0, (size >> 1) - 2), min(size - 1, (size >> 1) + 1)))
    return IntegerCodebook(draw(st.integers(0, 6)), cb, zero)


@st.composite
def ndu_headers(draw, gpi, parent_signalling):
    pt = draw(st.sampled_from([PayloadType.NNR_PT_INT, PayloadType.NNR_PT_FLOAT, PayloadType.NNR_PT_RAW_FLOAT]))
    dims = draw(st.lists(st.integers(1, 300), min_size=1, max_size=4))
    h = CompressedDataUnitHeader(nnr_compressed_data_unit_payload_type=pt, topology_elem_id=draw(names),
                                 tensor_dimensions=dims, cabac_unary_length_minus1=draw(st.integers(0, 255)))
    if pt != PayloadType.NNR_PT_RAW_FLOAT:
        h.dq_flag = draw(st.integers(0, 1))
    if pt == PayloadType.NNR_PT_FLOAT and draw(st.booleans()):
        h.codebook_present_flag = 1
        h.codebook = draw(codebooks())
    if draw(st.booleans()):
        h.nnr_decompressed_data_format_present_flag = 1
        h.nnr_decompressed_data_format = draw(st.integers(0, 127))
    if gpi == 1:
        h.node_id_present_flag = draw(st.integers(0, 1))
        if h.node_id_present_flag:
            h.device_id, h.parameter_id, h.put_node_depth = (draw(st.integers(0, 1000)) for _ in range(3))
        if parent_signalling and draw(st.booleans()):
            h.parent_node_id_present_flag = 1
            h.parent_node_id_type = draw(st.integers(0, 2))
            h.temporal_context_modeling_flag = draw(st.integers(0, 1))
            if h.parent_node_id_type == 0:
                h.parent_device_id = draw(st.integers(0, 1000))
                if not h.node_id_present_flag:
                    h.parameter_id, h.put_node_depth = draw(st.integers(0, 1000)), draw(st.integers(0, 1000))
            elif h.parent_node_id_type == 1:
                h.parent_node_payload_sha256 = draw(st.binary(min_size=32, max_size=32))
            else:
                h.parent_node_payload_sha512 = draw(st.binary(min_size=64, max_size=64))
    if len(dims) > 1:
        h.scan_order = draw(st.integers(0, 4))
        rows = h.block_rows_minus1()
        prev = 0
        for j in range(rows):
            off = draw(st.integers(0, 5000)) if j == 0 else max(0, prev + draw(st.integers(-500, 500)))
            h.cabac_entry_point_list.append(EntryPoint(draw(st.integers(0, 255)), draw(st.integers(0, 7)) if h.dq_flag else 0, off))
            prev = off
    return h


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(0, 1), st.integers(0, 1))
def test_compressed_data_unit_header_round_trip(data, gpi, parent_signalling):
    h = data.draw(ndu_headers(gpi, parent_signalling))
    ctx = UnitContext(gpi, ModelParameterSet(mps_parent_signalling_enabled_flag=parent_signalling))
    w = BitWriter()
    h.write(w, ctx)
    raw = w.getvalue()
    back = CompressedDataUnitHeader.read(BitReader(raw), ctx)
    back.header_bits = h.header_bits = 0
    assert back == h
    w2 = BitWriter()
    back.write(w2, ctx)
    assert w2.getvalue() == raw


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 1), st.integers(0, 1), st.integers(0, 7), st.integers(-4096, 4095), st.integers(0, 1),
       st.one_of(st.none(), names), st.one_of(st.none(), f32),
       st.lists(st.tuples(f32, f32, st.integers(0, 500), st.lists(f32, max_size=3)), max_size=3))
def test_model_parameter_set_round_trip(gpi, indexed, qpd, qp, parent, base_id, vsp, pruning):
    m = ModelParameterSet(topology_carriage_flag=1, mps_topology_indexed_reference_flag=indexed, mps_qp_density=qpd,
                          mps_quantization_parameter=qp,
                          pruning_performance_map=PruningPerformanceMap([PruningEntry(*p) for p in pruning]) if pruning else None)
    if gpi == 1:
        m.mps_parent_signalling_enabled_flag = parent
        m.base_model_id = base_id
        m.validation_set_performance = vsp
        if vsp is not None:
            m.performance_metric_type = "acc"
    w = BitWriter()
    m.write(w, UnitContext(gpi))
    assert ModelParameterSet.read(BitReader(w.getvalue()), UnitContext(gpi)) == m


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 7), st.integers(-4096, 4095), st.lists(names, min_size=2, max_size=6))
def test_lps_and_reflist_round_trip(qpd, qp, ids):
    lps = LayerParameterSet(lps_qp_density=qpd, lps_quantization_parameter=qp)
    w = BitWriter()
    lps.write(w)
    assert LayerParameterSet.read(BitReader(w.getvalue())) == lps
    t = TopologyUnit(topology_storage_format=6, topology_elem_id_list=ids)
    w = BitWriter()
    t.write(w, UnitContext(1))
    r = BitReader(w.getvalue())
    back = TopologyUnit.read(r, UnitContext(1))
    assert back.topology_elem_id_list == ids and r.bits_left == 0
