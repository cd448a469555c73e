"""The coding context of a tensor (nnr.cabac.coding.tensor_coding): each rule it is the home of."""

from __future__ import annotations

from dataclasses import dataclass

from nnr.cabac.coding import coding_unit, qp_offset_bits, tensor_coding
from nnr.units.types import PayloadType


@dataclass
class Header:  # the fields of a compressed data unit header the coding reads
    nnr_compressed_data_unit_payload_type: int = PayloadType.NNR_PT_FLOAT
    dq_flag: int = 1
    scan_order: int = 2
    cabac_unary_length_minus1: int = 9
    parent_node_id_present_flag: int = 1
    temporal_context_modeling_flag: int = 1


def test_unit_signals() -> None:
    u = coding_unit(Header(), 1, ed1=False, verify_entry_points=True, max_coded=1000)
    t = tensor_coding((40, 3, 3), u, (5, 2), [1] * 360, None, [7, 0, 9])
    assert (t.height, t.width, t.num_gtx, t.dq, t.scan_order, t.gpi) == (40, 9, 10, True, 2, 1)
    assert (t.cb_size, t.cb_zero, t.base, t.preamble, t.parent_node_id_present) == (5, 2, [1] * 360, True, True)
    assert (t.entry_points, t.verify_entry_points, t.max_coded) == ([7, 0, 9], True, 1000)
    assert (t.scan.scan_order, t.scan.block_height, t.scan.block_rows) == (2, 16, 3)


def test_profile_0_has_no_codebook_binarization_and_no_tca() -> None:
    t = tensor_coding((40, 9), coding_unit(Header(), 0), (5, 2), [1] * 360)
    assert (t.cb_size, t.cb_zero, t.base, t.preamble) == (0, 0, None, False)


def test_tca_only_where_signalled() -> None:
    t = tensor_coding((40, 9), coding_unit(Header(temporal_context_modeling_flag=0), 1), None, [1] * 360)
    assert t.base is None


def test_integer_payload_has_no_dq() -> None:
    assert not tensor_coding((4, 4), coding_unit(Header(nnr_compressed_data_unit_payload_type=0), 1)).dq
    assert not tensor_coding((4, 4), coding_unit(Header(dq_flag=0), 1)).dq


def test_one_dimension_is_scanned_row_major() -> None:
    t = tensor_coding((300,), coding_unit(Header(scan_order=3), 1))
    assert (t.height, t.width, t.scan_order, t.scan.scan_order, t.scan.block_rows) == (300, 1, 0, 0, 1)


def test_size_1_codebook_codes_no_bin() -> None:
    t = tensor_coding((8, 8), coding_unit(Header(), 1, max_coded=10), (1, 0))
    assert (t.cb_size, t.preamble, t.max_coded) == (1, False, -1)


def test_edition_1_rules_reset_the_range_of_one_block_row() -> None:
    h = Header(scan_order=1, dq_flag=0, parent_node_id_present_flag=0, temporal_context_modeling_flag=0)
    assert tensor_coding((8, 8), coding_unit(h, 0, ed1=True)).scan.range_reset
    assert not tensor_coding((8, 8), coding_unit(h, 0)).scan.range_reset


def test_qp_offset_width() -> None:
    assert [qp_offset_bits(d) for d in (0, 2, 5)] == [6, 8, 11]
