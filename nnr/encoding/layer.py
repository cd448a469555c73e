"""One tensor through the DeepCABAC level encoder, the way NNCodec's encoder codes a layer.

:func:`encode_layer` takes the integer levels of a tensor (DQ reconstruction indices when DQ is
on) with NNCodec's per-layer settings and writes them to an :class:`ArithmeticEncoder`: the
edition-2 preamble, the probability-parameter signalling (NNCodec's choice when ``param_opt``),
the levels.  :func:`coded_size` codes a layer alone and returns the codeword length in bytes,
which is how NNCodec compares alternatives (codebook offset, codebook vs uniform, HDSP on/off).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.cabac.coding import CodingUnit, tensor_coding
from nnr.cabac.enc_levels import TensorEncodeInfo, encode_codeword_end, encode_tensor_levels, zero_row_flags
from nnr.cabac.param_choice import choose_parameter_sets
from nnr.cabac.scan import matrix_shape
from nnr.cabac.arith_encoder import ArithmeticEncoder
from nnr.encoding.gtx0 import coded_size_gtx0
from nnr.errors import NNRUsageError


def encode_layer(
    enc: ArithmeticEncoder,
    levels: npt.NDArray[np.int32],
    *,
    dq: bool,
    scan_order: int,
    gpi: int,
    parent_node_id_present: bool,
    num_gtx: int,
    param_opt: bool,
    row_skip: bool,
    cb_size: int = 0,
    cb_zero: int = 0,
    base: list[int] | None = None,
    history: list[int] | None = None,
    hdsp: bool = False,
    ed1: bool = False,
) -> TensorEncodeInfo:
    """Code one tensor as NNCodec's ``encodeLayer`` (``encodeLayer2`` with a TCA ``base``).

    ``row_skip``: row_skip_enabled_flag = 1 with the all-zero rows skipped (edition 2, tensors
    with two or more dimensions).  ``hdsp``: hist_dep_sig_prob_enabled_flag = 1 with ``history``
    (only written when a parent node id is present; NNCodec's TCA path always writes it).
    ``ed1``: the edition-1 reference software's coding rules (nnr.dialect).
    """
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


def coded_size(levels: npt.NDArray[np.int32], **kwargs: Any) -> int:
    """Bytes of the codeword holding only this layer (NNCodec's trial encodings).

    ``num_gtx`` 0 (NNCodec's trials with cabac_unary_length_minus1 0) goes through
    :mod:`nnr.encoding.gtx0`, which reproduces the context sharing NNCodec has then.
    """
    if kwargs.get("num_gtx") == 0:
        if kwargs.get("cb_size") or kwargs.get("base") is not None or kwargs.get("hdsp") or kwargs.get("row_skip"):
            raise NNRUsageError("trial coding with zero greater-than flags supports plain levels only")
        h, w = matrix_shape(tuple(levels.shape))
        scan = int(kwargs.get("scan_order", 0)) if levels.ndim > 1 else 0
        return coded_size_gtx0(levels.reshape(-1).tolist(), h, w, dq=bool(kwargs.get("dq")), scan_order=scan,
                               gpi=int(kwargs.get("gpi", 0)),
                               parent_node_id_present=bool(kwargs.get("parent_node_id_present")),
                               param_opt=bool(kwargs.get("param_opt")))
    enc = ArithmeticEncoder()
    encode_layer(enc, levels, **kwargs)
    return len(encode_codeword_end(enc))
