"""``nnr.nncodec.tensor``: NNCodec's ``tensor.encode`` / ``tensor.decode`` (one tensor per bitstream).

``from nncodec import tensor`` -> ``from nnr.nncodec import tensor``; ``tensor.encode`` then
writes the same bytes and ``tensor.decode`` returns the same array.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from nnr.encoding import sparsify
from nnr.encoding.inputs import prepare_tensor
from nnr.errors import NNRUsageError
from nnr.nncodec import nnc
from nnr.nncodec._args import checked_args

__all__ = ["decode", "encode", "nncargs"]

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


def encode(tensor: Any, args: Mapping[str, Any] | None = None, approx_param_base: MutableMapping[str, Any] | None = None,
           hdsp_tool: Any = None, quantize_only: bool = False) -> Any:
    """Encode one tensor like NNCodec's ``tensor.encode`` (``args`` merged over :data:`nncargs`).

    Integer arrays are coded as integers, others as float32; ``sparsity`` > 0 applies NNCodec's
    unstructured and (with ``struct_spars_factor`` > 0) structured sparsification first.  With
    ``approx_param_base`` the incremental state is used and updated.  Returns the bitstream
    (bytearray).  Unlike NNCodec no file is written unless ``args`` names a ``results`` folder.
    """
    a = checked_args(args, nncargs, "tensor.encode")
    if tensor is None:
        raise NNRUsageError("tensor is None (loading tensor_path needs torch; pass the array)")
    tid = str(a["tensor_id"])
    params: dict[str, Any] = {tid: prepare_tensor(tid, tensor)}
    if a["sparsity"] > 0:
        params = sparsify.unstructured(a["qp"], params, target_sparsity=float(a["sparsity"]))
        if a["struct_spars_factor"] > 0:
            params = sparsify.structured(params, gain=float(a["struct_spars_factor"]))
    path = None
    if args is not None and "results" in args:
        label = f"qp_{a['qp']}" if a["bitdepth"] is None else f"{a['bitdepth']}bit"
        path = f"{a['results']}/{a['job_identifier']}_{label}_bitstream.nnc"
    return nnc.compress(params, bitstream_path=path,
                        codebook_mode=2 if a["approx_method"] == "codebook" else 0,
                        qp=a["qp"], qp_per_tensor=a["qp_per_tensor"], use_dq=a["use_dq"], opt_qp=a["opt_qp"],
                        param_opt=a["param_opt"], row_skipping=a["row_skipping"], tca=a["tca"],
                        hdsp_tool=hdsp_tool, pre_signalling=a["pre_signalling"], verbose=a["verbose"],
                        return_bitstream=True, approx_param_base=approx_param_base,
                        update_base_param=approx_param_base is not None, device_id=0,
                        compress_differences=a["compress_differences"], int_quant_bw=a["bitdepth"],
                        quantize_only=quantize_only)
