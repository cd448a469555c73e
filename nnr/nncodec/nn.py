"""``nnr.nncodec.nn``: NNCodec's ``nn.encode`` / ``nn.decode`` (a model's parameter dict per bitstream).

``from nncodec import nn`` -> ``from nnr.nncodec import nn``; ``nn.encode(params, args)`` then
writes the same bytes and ``nn.decode(bs, args)`` returns the same dict.  ``args`` is merged over :data:`nncargs` like NNCodec does; only
``'lsa'`` (apply local scaling, drop the scaling tensors) and ``'bnf'`` (accepted; a no-op on
decoding, as in NNCodec) matter to the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from nnr.encoding import sparsify
from nnr.encoding.inputs import prepare_tensors
from nnr.errors import NNRUsageError
from nnr.nncodec import nnc
from nnr.nncodec._args import checked_args

__all__ = ["decode", "encode", "nncargs"]

# NNCodec's default arguments of its model front end.
nncargs: dict[str, Any] = {
    "approx_method": "uniform",
    "bitdepth": None,
    "compress_differences": False,
    "nonweight_qp": -75,
    "opt_qp": False,
    "qp": -32,
    "qp_density": 2,
    "quantize_only": False,
    "results": ".",
    "row_skipping": True,
    "sparsity": 0.0,
    "struct_spars_factor": 0.9,
    "tca": False,
    "pre_signalling": False,
    "use_dq": True,
    "param_opt": True,
    "qp_per_tensor": None,
    "verbose": True,
    "bnf": False,
    "lsa": False,
    "wandb": False,
    "lr": 1e-3,
    "epochs": 1,
    "dataset_path": None,
    "model": "NN",
    "max_batches": None,
    "workers": 1,
    "batch_size": 8,
}


def decode(bs: Any, args: Mapping[str, Any] | None = None, model: Any = None,
           approx_param_base: MutableMapping[str, Any] | None = None, return_hls: bool = False) -> Any:
    """The stream's tensors by name (``(dict, hls)`` with ``return_hls``).

    ``model`` is accepted and unused, as in NNCodec.  With ``approx_param_base`` the
    incremental state is used and updated in place.
    """
    merged = checked_args(args, nncargs, "nn.decode")
    _ = model
    update_base = approx_param_base is not None
    out = nnc.decompress(bs, approx_param_base=approx_param_base, update_base_param=update_base,
                         reconstruct_lsa=bool(merged["lsa"]), reconstruct_bnf=bool(merged["bnf"]),
                         return_hls=return_hls)
    if return_hls:
        return out[0], out[1]
    return out


def encode(model: Any, args: Mapping[str, Any] | None = None, use_case_name: str | None = None,
           incremental: bool = False, approx_param_base: MutableMapping[str, Any] | None = None,
           epoch: int = 0) -> Any:
    """Encode a parameter dict (or, when torch is installed, a ``torch.nn.Module``) like NNCodec's
    ``nn.encode``; returns the bitstream (bytearray).

    With ``sparsity`` > 0 and ``epoch`` > 0 the dict is sparsified first, as in NNCodec.  Unlike
    NNCodec no file is written unless ``args`` names a ``results`` folder.  ``args['lsa']`` /
    ``args['ioq']`` reach ``compress`` / ``compress_model`` as in NNCodec, which pass no model
    executer: they raise :class:`nnr.NNRUsageError` (NNCodec fails, or builds its own
    dataset-driven executer); call ``nnc.compress`` / ``nnc.compress_model`` with
    ``model_executer`` instead.
    """
    _ = use_case_name
    a = checked_args(args, nncargs, "nn.encode")
    write = args is not None and "results" in args
    if incremental or isinstance(model, Mapping):
        params: dict[str, Any] = prepare_tensors(model)
        if a["sparsity"] > 0 and epoch > 0:
            params = sparsify.unstructured(a["qp"], params, target_sparsity=float(a["sparsity"]),
                                           qp_density=int(a["qp_density"]))
            if a["struct_spars_factor"] > 0:
                params = sparsify.structured(params, gain=float(a["struct_spars_factor"]))
        path = f"{a['results']}/d{a['model']}_epoch{epoch}_qp_{a['qp']}_bitstream.nnc" if write else None
        return nnc.compress(params, bitstream_path=path,
                            codebook_mode=2 if a["approx_method"] == "codebook" else 0, qp=a["qp"],
                            nonweight_qp=a["nonweight_qp"], qp_per_tensor=a["qp_per_tensor"], use_dq=a["use_dq"],
                            opt_qp=a["opt_qp"], param_opt=a["param_opt"], int_quant_bw=a["bitdepth"],
                            row_skipping=a["row_skipping"], tca=a["tca"], pre_signalling=a["pre_signalling"],
                            approx_param_base=approx_param_base, compress_differences=False, bnf=a["bnf"],
                            lsa=a["lsa"], block_id_and_param_type=None, return_bitstream=True, device_id=0,
                            verbose=a["verbose"])
    if a["sparsity"] > 0 and epoch > 0:
        raise NNRUsageError("sparsification of a torch module is not supported; pass its state dict")
    path = f"{a['results']}/{a['model']}_qp_{a['qp']}_bitstream.nnc" if write else None
    return nnc.compress_model(model, bitstream_path=path, qp=a["qp"], nonweight_qp=a["nonweight_qp"],
                              codebook_mode=2 if a["approx_method"] == "codebook" else 0, lsa=a["lsa"],
                              bnf=a["bnf"], opt_qp=a["opt_qp"], param_opt=a["param_opt"], ioq=a.get("ioq", False),
                              int_quant_bw=a["bitdepth"], row_skipping=a["row_skipping"], tca=a["tca"],
                              approx_param_base=approx_param_base, use_dq=a["use_dq"], return_bitstream=True,
                              verbose=a["verbose"], device_id=0)
