"""The NNR_PT_BLOCK layout (nnr.block_layout) and its users: the decoder's payload layout and the
encoder's blocks take both orders from the one definition."""

from __future__ import annotations

import json

import pytest

from nnr.block_layout import BlockRole as R
from nnr.block_layout import block_coding_order, block_id_order
from nnr.encoding.model import ModelInfo
from nnr.decoding.payload import tensor_layout
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.types import CompressedParameterTypes as CPT
from nnr.units.types import PayloadType

BN = [R.BN_BETA, R.BN_GAMMA, R.BN_MEAN, R.BN_VAR]


def test_orders_as_written_in_the_syntax_notes() -> None:
    # syntax.md §8.2: ids weight-first (weight / G, H; LS; BN beta gamma mean var; bias),
    # payload LS-first (LS, bias, BN, weight / G, H)
    everything = CPT.NNR_CPT_LS | CPT.NNR_CPT_BN | CPT.NNR_CPT_BI
    assert block_id_order(everything) == [R.WEIGHT, R.LS, *BN, R.BIAS]
    assert block_coding_order(everything) == [R.LS, R.BIAS, *BN, R.WEIGHT]
    assert block_id_order(everything | CPT.NNR_CPT_DC) == [R.DC_G, R.DC_H, R.LS, *BN, R.BIAS]
    assert block_coding_order(everything | CPT.NNR_CPT_DC) == [R.LS, R.BIAS, *BN, R.DC_G, R.DC_H]
    assert block_id_order(CPT.NNR_CPT_BI) == [R.WEIGHT, R.BIAS]
    assert block_coding_order(CPT.NNR_CPT_BI) == [R.BIAS, R.WEIGHT]


def test_roles_print_as_their_names() -> None:
    assert f"{R.BN_BETA}" == "bn_beta" and str(R.LS) == "ls" and json.dumps([R.TENSOR]) == '["tensor"]'


def _model() -> ModelInfo:
    dims = {"w": (6, 4), "w_scaling": (6,), "b": (6,), "be": (6,), "ga": (6,), "me": (6,), "va": (6,)}
    types = {"w": "weight", "w_scaling": "weight.ls", "b": "bias", "be": "bn.beta", "ga": "bn.gamma",
             "me": "bn.mean", "va": "bn.var"}
    return ModelInfo.from_description(dims, types, {n: "blk" for n in dims})


@pytest.mark.parametrize("cpt", range(16))
def test_decoder_and_encoder_agree(cpt: int) -> None:
    blk = _model().block("blk")
    ids = blk.id_list(cpt)
    members = blk.members(cpt)
    h = CompressedDataUnitHeader()
    h.nnr_compressed_data_unit_payload_type = PayloadType.NNR_PT_BLOCK
    h.nnr_multiple_topology_elements_present_flag = 1
    h.compressed_parameter_types = cpt
    h.topology_elem_id_list = ids
    h.tensor_dimensions = [6, 4]
    h.decomposition_rank, h.g_number_of_rows = 2, 6
    layout = tensor_layout(h)
    # the payload the decoder reads is the order the encoder writes, tensor for tensor
    assert [(n, r) for n, r, _ in layout] == [(n, r) for r, n, _ in members]
    assert [r for _, r, _ in layout] == block_coding_order(cpt)
    assert len(ids) == len(block_id_order(cpt))


def test_decomposition_factor_names() -> None:
    # NNCodec's naming of non-block factors: <weight>_G / <weight>_H, told apart by the suffix
    from nnr.block_layout import factor_name, factor_role, weight_of

    assert factor_name("fc.weight", R.DC_G) == "fc.weight_G" and factor_name("fc.weight", R.DC_H) == "fc.weight_H"
    assert [factor_role(n) for n in ("a_G", "a_H", "a_g", "a")] == [R.DC_G, R.DC_H, None, None]
    assert [weight_of(n) for n in ("fc.weight_G", "fc.weight_H", "fc.weight")] == ["fc.weight", "fc.weight", None]
    assert weight_of("w_H", R.DC_G) is None and weight_of("w_G", R.DC_G) == "w"
    blk = _model().block("blk")
    assert (blk.dc_g, blk.dc_h) == ("w_G", "w_H")
    h = CompressedDataUnitHeader()
    h.nnr_compressed_data_unit_payload_type = PayloadType.NNR_PT_FLOAT
    h.compressed_parameter_types = CPT.NNR_CPT_DC
    h.scan_order, h.tensor_dimensions = 1, [64, 8]
    h.decomposition_rank, h.g_number_of_rows = 16, 64
    # the G unit has the entry points of G's 64 rows (8x8 blocks: 8 block rows), H those of its 16 rows
    assert (h.block_rows_minus1("w_G"), h.block_rows_minus1("w_H")) == (7, 1)
