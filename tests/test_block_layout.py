"""The NNR_PT_BLOCK layout (nnr.block_layout) and its users: the decoder's payload layout and the
encoder's blocks take both orders from the one definition."""

from __future__ import annotations

import json

import pytest

from nnr.block_layout import BlockRole as R
from nnr.block_layout import block_coding_order, block_id_order
from nnr.encoding.model import Block, ModelInfo
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
    blk = Block(_model(), "blk")
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
