"""NNCodec's incremental state (``approx_param_base`` and ``HdspTool``) and the core state.

NNCodec passes its state between calls as an untyped dict, ``{'parameters': {name: int32
levels}, 'put_node_depth': {name: int}, 'device_id': int, 'parameter_id': {name: int}}``, and
the HDSP history as an ``HdspTool``.  The core keeps :class:`nnr.incremental.IncrementalState`;
this module converts the one into the other (:func:`to_incremental`) and writes a coded stream
back into NNCodec's dict with NNCodec's bookkeeping rules (:class:`BaseUpdate`): depths count
the tensor's updates, a dict holds one device id, a tensor's parameter id never changes.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.errors import NNRUsageError
from nnr.incremental import IncrementalState, TensorState, child_depth

__all__ = ["STATE_KEYS", "BaseUpdate", "check_approx_param_base", "merge_args", "new_approx_param_base",
           "to_incremental", "tool_enabled"]

STATE_KEYS = ("parameters", "put_node_depth", "device_id", "parameter_id")


def new_approx_param_base() -> dict[str, Any]:
    """An empty incremental state, as NNCodec users create it."""
    return {"parameters": {}, "put_node_depth": {}, "device_id": 0, "parameter_id": {}}


def check_approx_param_base(state: object) -> MutableMapping[str, Any]:
    """``state`` if it has NNCodec's layout, else :class:`NNRUsageError`."""
    if not isinstance(state, MutableMapping) or any(k not in state for k in STATE_KEYS):
        raise NNRUsageError("approx_param_base must be a dict with the keys 'parameters', 'put_node_depth', "
                            "'device_id' and 'parameter_id' (start from nnr.nncodec.new_approx_param_base())")
    for k in ("parameters", "put_node_depth", "parameter_id"):
        if not isinstance(state[k], MutableMapping):
            raise NNRUsageError(f"approx_param_base[{k!r}] must be a dict")
    return state


def tool_enabled(tool: Any) -> bool:
    """Whether an ``HdspTool``-like object (ours or NNCodec's) is switched on."""
    if tool is None:
        return False
    fn = getattr(tool, "enabled", None)
    if callable(fn):
        return bool(fn())
    return bool(getattr(tool, "hdsp_enabled", False))


def merge_args(defaults: Mapping[str, Any], args: object) -> dict[str, Any]:
    """NNCodec's front-end ``args`` merged over its defaults (None: the defaults)."""
    if args is None:
        return dict(defaults)
    if isinstance(args, Mapping):
        return {**defaults, **args}
    raise NNRUsageError(f"args must be a dict or None, got {type(args).__name__}")


def _int(v: object, what: str) -> int:
    try:
        out: int = int(v)  # type: ignore[call-overload]
        return out
    except (TypeError, ValueError):
        raise NNRUsageError(f"approx_param_base: {what} must be an integer, got {v!r}") from None


def _levels(v: object, name: str) -> npt.NDArray[np.int32]:
    arr = np.asarray(v)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int32)
    if arr.dtype.kind != "f":
        raise NNRUsageError(f"approx_param_base['parameters'][{name!r}] must be a numeric array")
    # NNCodec keeps a raw tensor's float values; truncated, as NNCodec's TCA reads them
    return np.clip(np.nan_to_num(arr.astype(np.float64)), -2.0 ** 31, 2.0 ** 31 - 1).astype(np.int32)


def to_incremental(base: MutableMapping[str, Any] | None, tool: Any) -> IncrementalState:
    """The core state for NNCodec's ``approx_param_base`` (checked) and ``hdsp_tool`` (its
    histories when enabled: positions whose entry is exactly 1)."""
    st = IncrementalState()
    if base is not None:
        device = _int(base["device_id"], "device_id")
        params, depths, pids = base["parameters"], base["put_node_depth"], base["parameter_id"]
        for name in [*params, *depths, *pids]:
            if name in st.tensors:
                continue
            st.tensors[str(name)] = TensorState(
                device, _int(pids[name], f"parameter_id of {name!r}") if name in pids else None,
                _int(depths[name], f"put_node_depth of {name!r}") if name in depths else None,
                _levels(params[name], name) if name in params else None)
    if tool_enabled(tool):
        hist = getattr(tool, "data_hist", None) or {}
        for name, value in hist.items():
            t = st.tensors.get(str(name)) or TensorState()
            st.tensors[str(name)] = TensorState(t.device_id, t.parameter_id, t.depth, t.levels,
                                                np.asarray(value).reshape(-1) == 1)
    return st


class BaseUpdate:
    """NNCodec's update of ``approx_param_base`` by a coded stream, on copies of its dicts.

    :meth:`add` takes each coded tensor in coding order and returns why the dict cannot take it
    (``(element, reason)``) or None; :meth:`commit` writes the result into the caller's dicts
    (the same objects, as NNCodec mutates them).
    """

    def __init__(self, base: MutableMapping[str, Any]) -> None:
        self.base = base
        self.parameters = dict(base["parameters"])
        self.depth = dict(base["put_node_depth"])
        self.pids = dict(base["parameter_id"])
        self.device = base["device_id"]
        self._prev = to_incremental(base, None)

    def add(self, name: str, device_id: int, parameter_id: int | None,
            levels: npt.NDArray[Any]) -> tuple[str, str] | None:
        self.depth[name] = child_depth(self._prev.get(name))
        if not self.device:
            self.device = device_id
        elif self.device != device_id:
            return "device_id", f"device_id {device_id} differs from the incremental state's {self.device}"
        if name not in self.pids:
            self.pids[name] = parameter_id
        elif self.pids[name] != parameter_id:
            return "parameter_id", f"{name!r}: parameter_id {parameter_id} differs from the incremental " \
                                   f"state's {self.pids[name]}"
        self.parameters[name] = np.array(levels, copy=True)
        return None

    def commit(self) -> None:
        for key, new in (("parameters", self.parameters), ("put_node_depth", self.depth),
                         ("parameter_id", self.pids)):
            target = self.base[key]
            for name, value in new.items():
                target[name] = value
        self.base["device_id"] = self.device
