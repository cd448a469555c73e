"""The ``args`` dicts of NNCodec's front ends (``tensor.encode``, ``nn.encode``), checked.

NNCodec merges ``args`` over its defaults and reads the values as they are: unknown keys are
ignored, ``use_dq='False'`` is truthy, ``sparsity=None`` fails deep inside with a TypeError.
Here every key must be one of the front end's and every value of the type its default implies
(docs/deviations.rst lists NNCodec's behaviour for each).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nnr.errors import NNRUsageError
from nnr.nncodec.state import merge_args
from nnr.usage import check_bool, check_int, check_name, check_number

FLAGS = ("compress_differences", "err_accumulation", "opt_qp", "quantize_only", "row_skipping", "tca",
         "pre_signalling", "use_dq", "param_opt", "verbose", "bnf", "lsa", "wandb")
APPROX_METHODS = ("uniform", "codebook")


def checked_args(args: Mapping[str, Any] | None, defaults: Mapping[str, Any], where: str) -> dict[str, Any]:
    """:func:`nnr.nncodec.state.merge_args` with every key known and every value checked."""
    a = merge_args(defaults, args)
    unknown = sorted(str(k) for k in a if k not in defaults)
    if unknown:
        raise NNRUsageError(f"{where}: unknown key(s) in args: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(defaults))})")
    for k in FLAGS:
        if k in a:
            a[k] = check_bool(k, a[k])
    if a["approx_method"] not in APPROX_METHODS:
        raise NNRUsageError(f"args['approx_method'] must be 'uniform' or 'codebook', got {a['approx_method']!r}")
    if a["bitdepth"] is not None and a["bitdepth"] is not False:
        a["bitdepth"] = check_int("bitdepth", a["bitdepth"], 1, 31)
    else:
        a["bitdepth"] = None
    a["qp"] = check_int("qp", a["qp"])
    if "qp_density" in a:
        a["qp_density"] = check_int("qp_density", a["qp_density"], 0, 7)
    if a["nonweight_qp"] is not None:
        a["nonweight_qp"] = check_int("nonweight_qp", a["nonweight_qp"])
    a["sparsity"] = check_number("sparsity", a["sparsity"], 0.0, 1.0)
    a["struct_spars_factor"] = check_number("struct_spars_factor", a["struct_spars_factor"], 0.0)
    if a["qp_per_tensor"] is not None and not isinstance(a["qp_per_tensor"], Mapping):
        raise NNRUsageError(f"args['qp_per_tensor'] must be a dict or None, got {a['qp_per_tensor']!r}")
    if "tensor_id" in a:
        check_name("tensor_id", str(a["tensor_id"]))
    for k in ("results", "job_identifier", "model"):
        if k in a and a[k] is not None and not isinstance(a[k], str):
            raise NNRUsageError(f"args[{k!r}] must be a str, got {a[k]!r}")
    return a
