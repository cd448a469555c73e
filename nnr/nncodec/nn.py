"""``nnr.nncodec.nn``: NNCodec's ``nn.decode`` (a model's parameter dict per bitstream).

``from nncodec import nn`` -> ``from nnr.nncodec import nn``; ``nn.decode(bs, args)`` then
returns the same dict.  ``args`` is merged over :data:`nncargs` like NNCodec does; only
``'lsa'`` (apply local scaling, drop the scaling tensors) and ``'bnf'`` (accepted; a no-op on
decoding, as in NNCodec) matter to the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from nnr.errors import NNRUsageError
from nnr.nncodec import nnc

__all__ = ["decode", "nncargs"]

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
    if args is None:
        merged = dict(nncargs)
    elif isinstance(args, Mapping):
        merged = {**nncargs, **args}
    else:
        raise NNRUsageError(f"args must be a dict or None, got {type(args).__name__}")
    _ = model
    update_base = approx_param_base is not None
    out = nnc.decompress(bs, approx_param_base=approx_param_base, update_base_param=update_base,
                         reconstruct_lsa=bool(merged["lsa"]), reconstruct_bnf=bool(merged["bnf"]),
                         return_hls=return_hls)
    if return_hls:
        return out[0], out[1]
    return out
