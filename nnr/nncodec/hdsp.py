"""History-dependent significance probability (HDSP) bookkeeping with NNCodec's ``HdspTool`` interface.

The decoder only needs to know, per tensor, which positions were ever non-zero in the updates
decoded so far (quantization.md §10).  NNCodec keeps that in a small object passed around as
``hdsp_tool``; :class:`HdspTool` offers the same attributes and methods, so code written against
NNCodec's class works with this one, and :mod:`nnr.nncodec` accepts either.

Attributes: ``hdsp_enabled`` (bool), ``data_hist`` (OrderedDict name -> int8 array of 0/1, the
tensor's shape), ``best_mode_idx`` (encoder's per-tensor choice, 0 = off, 1 = on), ``empty_pos``.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.incremental import merge_history


class HdspMode(enum.IntEnum):
    """How a tensor's levels use the history (values as in NNCodec's deepCABAC extension)."""

    TensorOff = 0  # the stream's HDSP flag is read, but no position uses the history
    TensorOn = 1  # positions whose history entry is 1 use the HDSP contexts (if the flag says so)
    AlwaysOff = 99  # no HDSP at all


class HdspTool:
    """Per-tensor history of non-zero positions, with NNCodec's ``HdspTool`` methods."""

    def __init__(self, hdsp_enabled: bool) -> None:
        self.hdsp_enabled = hdsp_enabled
        self.best_mode_idx: dict[str, int] = {}
        self.data_hist: OrderedDict[str, npt.NDArray[np.int8]] = OrderedDict()
        self.empty_pos = np.zeros(2, dtype=np.int8)

    def enabled(self) -> bool:
        return bool(self.hdsp_enabled)

    def has_hist(self, param_name: str) -> bool:
        return param_name in self.data_hist

    def get_num_modes(self, params: Sequence[str]) -> int:
        """2 (off and on are both tried by an encoder) when enabled and every tensor has a history."""
        if self.enabled() and all(self.has_hist(p) for p in params):
            return 2
        return 1

    def get_opts(self, param_name: str, inst: str, mode: int | None = None) -> list[Any]:
        """``[mode, history]`` for one tensor.

        ``inst`` is who asks: ``'a'`` (never uses HDSP), ``'e'`` (encoder), ``'d'`` (decoder),
        ``'de'`` (encoder re-decoding for entry points).  ``mode`` forces 0 (off) or 1 (on).
        """
        if not self.enabled() or inst == "a":
            return [HdspMode.AlwaysOff, self.empty_pos]
        if inst not in ("e", "d", "de"):
            raise ValueError(f"unknown HDSP user {inst!r}")
        known = self.has_hist(param_name)
        if mode is None:
            if not known:
                return [HdspMode.TensorOff, self.empty_pos]
            if inst == "d":  # the decoder follows the flag in the stream; the history must be on hand
                return [HdspMode.TensorOn, self.data_hist[param_name]]
            best = self.best_mode_idx[param_name]
            if best not in (0, 1):
                raise ValueError(f"invalid HDSP mode index {best!r} for {param_name!r}")
            return [HdspMode.TensorOn if best == 1 else HdspMode.TensorOff, self.data_hist[param_name]]
        if mode == 1 and known:
            return [HdspMode.TensorOn, self.data_hist[param_name]]
        if mode == 0:
            return [HdspMode.TensorOff, self.empty_pos]
        raise ValueError(f"unknown HDSP mode {mode!r} for {param_name!r}")

    def get_best_bit_stream_and_set_mode(self, param_names: Sequence[str], bit_streams: Sequence[Any]) -> Any:
        """Encoder side: keep the shortest candidate (first on ties) and remember its mode."""
        best = min(range(len(bit_streams)), key=lambda i: len(bit_streams[i]))
        for name in param_names:
            self.best_mode_idx[name] = best
        return bit_streams[best]

    def add_data_to_hist(self, enc_diff_rec_approx_data: Mapping[str, Any]) -> None:
        """Mark the non-zero positions of each (update) tensor; a no-op when disabled."""
        if not self.enabled():
            return
        for name, value in enc_diff_rec_approx_data.items():
            arr = np.asarray(value)
            old = self.data_hist.get(name)
            self.data_hist[name] = merge_history(None if old is None else old.reshape(-1) == 1,
                                                 arr).reshape(arr.shape).astype(np.int8)

    def print_max_diff(self, name: str, dict1: Mapping[str, Any], dict2: Mapping[str, Any],
                       asssert_on_mismatch: bool) -> None:
        """Debug helper: largest absolute difference between two tensor dicts (same keys)."""
        largest = 0.0
        for k in dict1:
            d = float(np.abs(np.asarray(dict1[k]) - np.asarray(dict2[k])).max())
            if d != 0:
                print(f"{k}: {d}")
            largest = max(largest, d)
        if asssert_on_mismatch:
            if largest != 0.0:
                raise AssertionError(f"{name} mismatch")
        else:
            print(f"{name}: {largest}")
