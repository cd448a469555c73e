"""One tensor through the DeepCABAC level encoder, the way NNCodec's encoder codes a layer.

:func:`encode_layer` takes the integer levels of a tensor (DQ reconstruction indices when DQ is
on) with NNCodec's per-layer settings and writes them to an :class:`ArithmeticEncoder`: the
edition-2 preamble, the probability-parameter signalling (NNCodec's choice when ``param_opt``),
the levels.  :func:`coded_size` codes a layer alone and returns the codeword length in bytes,
which is how NNCodec compares alternatives (codebook offset, codebook vs uniform, HDSP on/off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnr.cabac.coding import CodingUnit, tensor_coding
from nnr.cabac.enc_levels import TensorEncodeInfo, encode_codeword_end, encode_tensor_levels, zero_row_flags
from nnr.cabac.param_choice import choose_parameter_sets
from nnr.cabac.scan import matrix_shape
from nnr.cabac.arith_encoder import ArithmeticEncoder
from nnr.encoding.gtx0 import coded_size_gtx0
from nnr.errors import NNRUsageError


@dataclass(frozen=True)
class LayerCoding:
    """The per-layer settings NNCodec's ``encodeLayer`` codes one tensor with.

    ``row_skip``: row_skip_enabled_flag = 1 with the all-zero rows skipped (edition 2, tensors
    with two or more dimensions).  ``cb_size`` / ``cb_zero``: the codebook's size and zero index
    (edition 2 codebook binarization; 0: none).  ``base``: the TCA base levels.  ``hdsp``:
    hist_dep_sig_prob_enabled_flag = 1 with ``history`` (only written when a parent node id is
    present; NNCodec's TCA path always writes it).  ``ed1``: the edition-1 reference software's
    coding rules (nnr.dialect).
    """

    dq: bool
    scan_order: int
    gpi: int
    parent_node_id_present: bool
    num_gtx: int
    param_opt: bool
    row_skip: bool = False
    cb_size: int = 0
    cb_zero: int = 0
    base: list[int] | None = None
    history: list[int] | None = None
    hdsp: bool = False
    ed1: bool = False


def encode_layer(enc: ArithmeticEncoder, levels: npt.NDArray[np.int32], coding: LayerCoding) -> TensorEncodeInfo:
    """Code one tensor as NNCodec's ``encodeLayer`` (``encodeLayer2`` with a TCA ``coding.base``)."""
    c = coding
    dq, scan_order, gpi, num_gtx, param_opt = c.dq, c.scan_order, c.gpi, c.num_gtx, c.param_opt
    row_skip, cb_size, cb_zero, base, history, ed1 = c.row_skip, c.cb_size, c.cb_zero, c.base, c.history, c.ed1
    parent_node_id_present, hdsp = c.parent_node_id_present, c.hdsp
    h, w = matrix_shape(tuple(levels.shape))
    flat: list[int] = levels.reshape(-1).tolist()
    pnp = parent_node_id_present or base is not None
    u = CodingUnit()
    u.dq_flag, u.scan_order, u.gpi, u.num_gtx, u.parent_node_id_present = dq, scan_order, gpi, num_gtx, pnp
    u.tca, u.ed1 = base is not None, ed1
    tc = tensor_coding(tuple(levels.shape), u, (cb_size, cb_zero) if cb_size else None, base, history)
    skip = zero_row_flags(flat, h, w) if (row_skip and gpi == 1 and levels.ndim >= 2) else None
    hflag = 1 if (hdsp and pnp) else 0
    ids = None
    if param_opt and (cb_size != 1 or gpi == 0):
        ids = choose_parameter_sets(flat, tc, hflag, skip)
    info = TensorEncodeInfo()
    encode_tensor_levels(enc, flat, tc, hflag, skip, ids, info)
    return info


def coded_size(levels: npt.NDArray[np.int32], coding: LayerCoding) -> int:
    """Bytes of the codeword holding only this layer (NNCodec's trial encodings).

    ``num_gtx`` 0 (NNCodec's trials with cabac_unary_length_minus1 0) goes through
    :mod:`nnr.encoding.gtx0`, which reproduces the context sharing NNCodec has then.
    """
    c = coding
    if c.num_gtx == 0:
        if c.cb_size or c.base is not None or c.hdsp or c.row_skip:
            raise NNRUsageError("trial coding with zero greater-than flags supports plain levels only")
        h, w = matrix_shape(tuple(levels.shape))
        scan = c.scan_order if levels.ndim > 1 else 0
        return coded_size_gtx0(levels.reshape(-1).tolist(), h, w, dq=c.dq, scan_order=scan, gpi=c.gpi,
                               parent_node_id_present=c.parent_node_id_present, param_opt=c.param_opt)
    enc = ArithmeticEncoder()
    encode_layer(enc, levels, coding)
    return len(encode_codeword_end(enc))
