"""A drop-in for NNCodec 2.1.3's encoding and decoding calls.

Change one import and get NNCodec's results (the same bytes from ``tensor.encode``,
``nn.encode``, ``nnc.compress``; the same arrays, dtypes, key order and incremental state from
the decoding calls)::

    from nnr.nncodec import nnc              # instead of: from nncodec import nnc
    bs = nnc.compress(params, qp=-38, return_bitstream=True)

    from nnr.nncodec import tensor          # instead of: from nncodec import tensor
    w = tensor.decode(bitstream)

    from nnr.nncodec import nn, nnc
    params = nn.decode(bitstream, {"lsa": True})
    params = nnc.decompress(bitstream, reconstruct_lsa=True)

Incremental decoding carries NNCodec's state dict and, for HDSP, an ``HdspTool`` (ours or
NNCodec's); state produced by NNCodec continues here and vice versa::

    from nnr.nncodec import HdspTool, new_approx_param_base
    state, tool = new_approx_param_base(), HdspTool(True)
    for bs in updates:
        upd, _ = tensor.decode(bs, approx_param_base=state, hdsp_tool=tool, return_hls=True)

Encoding sequences work the same way (``nnc.compress(..., approx_param_base=state,
update_base_param=True, hdsp_tool=tool)``); :class:`nnr.Encoder` keeps that state itself.
"""

from nnr.nncodec import nn, nnc, tensor
from nnr.nncodec.hdsp import HdspMode, HdspTool
from nnr.nncodec.nnc import compress, decompress
from nnr.nncodec.state import new_approx_param_base

__all__ = ["HdspMode", "HdspTool", "compress", "decompress", "new_approx_param_base", "nn", "nnc",
           "tensor"]
