"""``nnr.nncodec.tensor``: NNCodec's ``tensor.decode`` (one tensor per bitstream).

``from nncodec import tensor`` -> ``from nnr.nncodec import tensor``; ``tensor.decode`` then
returns the same array.  Encoding is NNCodec's business: ``tensor.encode`` is not provided.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from nnr.nncodec import nnc

__all__ = ["decode", "nncargs"]

# NNCodec's default arguments of its tensor front end (read by its encoder; kept for code that
# copies and edits them).
nncargs: dict[str, Any] = {
    "approx_method": "uniform",
    "bitdepth": None,
    "compress_differences": False,
    "cuda_device": None,
    "err_accumulation": False,
    "job_identifier": "TAIMP_coding",
    "nonweight_qp": -75,
    "opt_qp": False,
    "qp": -32,
    "quantize_only": False,
    "results": ".",
    "row_skipping": True,
    "sparsity": 0.0,
    "struct_spars_factor": 0.9,
    "tca": False,
    "pre_signalling": False,
    "tensor_id": "0",
    "tensor_path": None,
    "use_dq": True,
    "param_opt": True,
    "qp_per_tensor": None,
    "verbose": False,
}


def decode(bitstream: Any, tensor_id: str = "0", approx_param_base: MutableMapping[str, Any] | None = None,
           hdsp_tool: Any = None, return_hls: bool = False) -> Any:
    """The tensor ``tensor_id`` of the stream (``(tensor, hls)`` with ``return_hls``).

    With ``approx_param_base`` (NNCodec's incremental state dict) the state is used for
    temporal context adaptation and updated in place; ``hdsp_tool`` supplies the HDSP history
    (updated from the stream only with ``return_hls=True``, as in NNCodec).  A missing
    ``tensor_id`` raises ``KeyError``.
    """
    update_base = approx_param_base is not None
    out = nnc.decompress(bitstream, approx_param_base=approx_param_base, update_base_param=update_base,
                         hdsp_tool=hdsp_tool, return_hls=return_hls)
    if return_hls:
        params, hls = out
        return params[tensor_id], hls
    return out[tensor_id]
