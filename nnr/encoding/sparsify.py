"""NNCodec's sparsification of (difference) updates, encoder-side preprocessing.

* :func:`unstructured`: entries below a threshold become 0.  The threshold starts at half the
  quantization step of ``qp`` (entries that would quantize to 0 anyway); while the share of
  zeros stays below ``target_sparsity`` it grows to ``max(|mean ± d·std|)`` for growing ``d``.
* :func:`structured`: in every 2-D+ tensor, the rows ("filters") whose mean magnitude lies below
  ``gain`` times the average row mean magnitude are zeroed, lowest first.

1-D tensors, all-zero tensors and tensors named ``*.weight_scaling`` are left alone.  The
arithmetic reproduces NNCodec under numpy 1.26 whatever numpy is installed: float32 statistics
computed as numpy 1.26 does (:mod:`nnr.encoding.reductions`), thresholds formed in float64 and
compared in float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.encoding.approx import stepsize_from_qp
from nnr.encoding.reductions import mean_any, row_means_f32, std_any

Arrays = dict[str, npt.NDArray[Any]]


def sparsity(params: Mapping[str, npt.NDArray[Any]]) -> float:
    """Share of zero entries over all tensors."""
    zeros = 0
    total = 0
    for v in params.values():
        zeros += int(np.count_nonzero(v == 0))
        total += int(v.size)
    return zeros / total if total else 0.0


def _skipped(name: str, w: npt.NDArray[Any]) -> bool:
    return w.ndim < 2 or not bool(np.any(w)) or ".weight_scaling" in name


def _threshold_pass(params: Mapping[str, npt.NDArray[Any]], d: float, step: float, from_step: bool) -> Arrays:
    out: Arrays = {}
    for name, v in params.items():
        w = np.array(v, copy=True)
        if _skipped(name, w):
            out[name] = w
            continue
        mu = float(mean_any(w))
        sd = float(std_any(w))
        th = max(abs(mu - d * sd), abs(mu + d * sd))
        if from_step or th < step / 2:
            th = step / 2
        t32 = np.float32(th)
        out[name] = (w * (w >= t32)) + (w * (w <= -t32))
    return out


def unstructured(qp: int, params: Mapping[str, npt.NDArray[Any]], target_sparsity: float = 0.0,
                 qp_density: int = 2) -> Arrays:
    """NNCodec's ``apply_unstruct_spars_v2``."""
    step = stepsize_from_qp(int(qp), int(qp_density))
    current = _threshold_pass(params, 1.0, step, True)
    if target_sparsity > 0.0 and sparsity(current) < target_sparsity:
        base = current
        d = 0.25
        inc = 0.2
        for _ in range(501):
            s = sparsity(current)
            if s >= target_sparsity:
                break
            gap = target_sparsity - s
            if gap < 0.05:
                inc = 0.01
            elif gap < 0.10:
                inc = 0.05
            elif gap < 0.30:
                inc = 0.10
            d += inc
            current = _threshold_pass(base, d, step, False)
    return current


def _row_means(w: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if w.dtype == np.float32:
        return row_means_f32(abs(w))
    return np.array([np.mean(abs(w[i])) for i in range(len(w))])


def structured(params: Mapping[str, npt.NDArray[Any]], gain: float = 0.9) -> Arrays:
    """NNCodec's ``apply_struct_spars_v2`` (without an explicit per-layer filter sparsity)."""
    shares: dict[str, float] = {}
    for name, v in params.items():
        if v.ndim > 1 and bool(np.any(v)) and ".weight_scaling" not in name:
            means = _row_means(v)
            th = np.float32(float(mean_any(means)) * gain)
            shares[name] = len(means[means < th]) / len(v)
    out: Arrays = {}
    for name, v in params.items():
        w = np.array(v, copy=True)
        if _skipped(name, w):
            out[name] = w
            continue
        means = _row_means(w)
        means = means / abs(means).max()
        order = np.argsort(means, kind="stable")
        poor = {int(i) for i in order[: int(shares[name] * len(order))]}
        for i in range(len(w)):
            if i in poor:
                w[i] *= 0
        out[name] = w
    return out
