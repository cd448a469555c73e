"""Describing PyTorch models the way NNCodec's PyTorch front end does (``compress_model``).

torch is optional: a ``torch.nn.Module`` is accepted only when torch is importable; a state dict
of numpy arrays (name -> array, in ``state_dict()`` order) works without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.encoding.model import ModelInfo
from nnr.errors import NNRUsageError
from nnr.units.types import TopologyStorageFormat

INT_KINDS = ("int8", "int16", "int32", "uint8", "uint16", "uint32")


def _to_numpy(v: Any) -> npt.NDArray[Any]:
    if isinstance(v, np.ndarray):
        return v
    for step in ("detach", "cpu"):
        f = getattr(v, step, None)
        if callable(f):
            v = f()
    f = getattr(v, "numpy", None)
    if callable(f):
        return np.asarray(f())
    return np.asarray(v)


def _bn_info_of_module(module: Any) -> dict[str, bool]:
    import torch  # type: ignore[import-not-found, unused-ignore]

    info: dict[str, bool] = {}

    def walk(m: Any, prefix: str, is_bn: bool) -> None:
        for name, p in m._parameters.items():
            if p is not None:
                info[prefix + name] = is_bn
        for name, b in m._buffers.items():
            if b is not None and "num_batches_tracked" not in name:
                info[prefix + name] = is_bn
        for name, child in m._modules.items():
            if child is not None:
                walk(child, prefix + name + ".", isinstance(child, torch.nn.BatchNorm2d))

    walk(module, "", False)
    return info


def _bn_info_of_dict(sd: Mapping[str, Any]) -> dict[str, bool]:
    """Batch-norm members of a bare state dict: the entries of modules with running statistics."""
    info: dict[str, bool] = {}
    for name in sd:
        prefix = name.rsplit(".", 1)[0] + "." if "." in name else ""
        info[name] = bool(prefix) and (prefix + "running_mean") in sd and (prefix + "running_var") in sd
    return info


def state_dict_of(obj: Any) -> tuple[dict[str, npt.NDArray[Any]], dict[str, bool]]:
    """(state dict as numpy arrays, batch-norm membership per entry) of a module or a dict."""
    if isinstance(obj, Mapping):
        sd = {str(k): _to_numpy(v) for k, v in obj.items()}
        return sd, _bn_info_of_dict(sd)
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise NNRUsageError("compress_model takes a torch.nn.Module (torch is not installed) or a state dict "
                            "of arrays") from None
    if isinstance(obj, torch.nn.Module):
        sd = {k: _to_numpy(v) for k, v in obj.state_dict().items()}
        return sd, _bn_info_of_module(obj)
    raise NNRUsageError(f"compress_model: cannot use a {type(obj).__name__}; give a torch.nn.Module or a state dict")


def describe_state_dict(sd: Mapping[str, npt.NDArray[Any]]) -> tuple[dict[str, npt.NDArray[Any]], ModelInfo]:
    """Parameters and model description of a state dict (NNCodec's PyTorch model class)."""
    m = ModelInfo(topology_storage_format=TopologyStorageFormat.NNR_TPL_PYT, topology_compression_format=0)
    m.ids = {}
    params: dict[str, npt.NDArray[Any]] = {}
    for i, name in enumerate(sd):
        if ".num_batches_tracked" in name:
            continue
        a = sd[name]
        v = np.asarray(a, dtype=np.int32) if a.dtype.name in INT_KINDS else a
        if ".weight_scaling" in name:
            v = v.flatten()
        shape = v.shape
        if len(shape) == 0:
            v = np.array([np.float32(v)])
        params[name] = v
        m.dims[name] = tuple(int(d) for d in v.shape)
        m.ids[name] = i
        if len(shape) > 1:
            t = "weight"
        elif len(shape) == 1:
            if ".bias" in name:
                t = "bias"
            elif ".running_mean" in name:
                t = "bn.mean"
            elif ".running_var" in name:
                t = "bn.var"
            elif ".weight_scaling" in name:
                t = "weight.ls"
            elif "gamma" in name:
                t = "bn.gamma"
            elif ".weight" in name:
                t = "weight"
            else:
                t = "unspecified"
        else:
            t = "unspecified"
        m.types[name] = t
    return params, m


def guess_blocks(params: Mapping[str, npt.NDArray[Any]], bn_info: Mapping[str, bool] | None) -> dict[str, Any] | None:
    """NNCodec's guess of ``block_id_and_param_type`` for a PyTorch model (None when it fails).

    Tensors are grouped by their module prefix; batch-norm groups are attached, in order, to the
    next weight group with an output dimension of the same size.
    """
    try:
        return _guess(params, bn_info)
    except (KeyError, TypeError, ValueError, IndexError, AssertionError):
        return None


def _guess(params: Mapping[str, npt.NDArray[Any]], bn_info: Mapping[str, bool] | None) -> dict[str, Any]:
    spec: dict[str, dict[str, Any]] = {"block_identifier": {}, "parameter_type": {}}
    groups: dict[str, list[tuple[str, str, str, int, tuple[int, ...]]]] = {}
    num = -1
    ptype: str | None = None
    bid: str | None = None
    for name, v in params.items():
        if "aux_classifier" in name:
            continue
        dims = v.ndim
        shape = tuple(v.shape)
        parts = name.split(".")
        end = parts[-1]
        base = ".".join(parts[:-1] + [""]) if len(parts) > 1 else "genericBlk."
        if dims > 1:
            ptype, bid = "weight", base
        elif dims == 1:
            if bn_info and not name.endswith(".weight_scaling") and bn_info[name]:
                if "weight" in end:
                    ptype, bid = "bn.gamma", base
                elif "bias" in end:
                    ptype, bid = "bn.beta", base
                elif "running_mean" in end:
                    ptype, bid = "bn.mean", base
                elif "running_var" in end:
                    ptype, bid = "bn.var", base
                elif ptype is None:
                    raise KeyError(name)  # NNCodec fails on an unnamed batch-norm entry first in line
            elif "bias" in end or "beta" in end:
                ptype, bid = "bias", base
            elif "running_mean" in end or "moving_mean" in end:
                ptype, bid = "bn.mean", base
            elif "running_var" in end or "moving_variance" in end:
                ptype, bid = "bn.var", base
            elif "weight_scaling" in end:
                ptype, bid = "weight.ls", base
            elif "gamma" in end:
                ptype, bid = "bn.gamma", base
            elif "weight" in end:
                ptype, bid = "weight", base
            else:
                ptype, bid = "unspecified", None
        else:
            ptype, bid = "unspecified", None
        if bid:
            key = base + str(num)
            if key in groups:
                if any(e[1] == ptype for e in groups[key]):
                    num += 1
            else:
                num += 1
            key = base + str(num)
            bid = key
            groups.setdefault(key, []).append((name, ptype or "unspecified", key, dims, shape))
        else:
            spec["parameter_type"][name] = ptype
            spec["block_identifier"][name] = bid
    Group = list[tuple[str, str, str, int, tuple[int, ...]]]
    weight_groups: list[Group] = []
    bn_groups: list[Group] = []
    for g in groups.values():
        (bn_groups if any("bn." in e[1] for e in g) else weight_groups).append(g)
    for g in weight_groups:
        wshape: tuple[int, ...] | None = None
        wbid: str | None = None
        for name, t, b, _, shape in g:
            spec["parameter_type"][name] = t
            spec["block_identifier"][name] = b
            if t == "weight":
                wshape, wbid = shape, b
        if bn_groups and wshape is None:
            raise TypeError("block without weight")
        if bn_groups and wshape is not None and any(d == bn_groups[0][0][4][0] for d in wshape):
            for name, t, _, _, _ in bn_groups.pop(0):
                spec["parameter_type"][name] = t
                spec["block_identifier"][name] = wbid
    if bn_groups:
        raise AssertionError("unmatched batch-norm group")
    return spec
