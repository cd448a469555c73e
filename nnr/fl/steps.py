"""nnr.fl's adaptive step sizes: QPs chosen per tensor and per stream from what is being sent.

A fixed difference QP means a fixed step size, but the size of a round's update depends on the
model, the optimizer, the learning rate and the round: the same step is fine-grained for one
model and coarser than a whole round's update for another (error feedback then delivers updates
rounds late).  The rule here sets each tensor's step from the statistics of the tensor being
coded, so a stream costs about the same number of bits per parameter whatever the scale:

* **Difference streams** (updates; error feedback's residual included): a weight tensor's step is
  twice the ``1 - share`` quantile of its magnitudes, so about a ``share`` of its entries
  quantize to a nonzero level and the rest wait in the residual (error feedback).  The largest
  entries are coded with many levels, i.e. finely.  The share is what carries ``ENERGY`` (28 %)
  of the update's sum of squares, kept between ``update_density`` (2.7 %) and ``MAX_DENSITY``
  (5 %, or ``update_density`` if larger): an SGD update is heavy-tailed and its largest 3 %
  carry about a third of its energy; AdamW's sign-like steps are flat (3 % carry 15 %, 5 %
  carry 23 %) and get 5 %.  A small tensor gets at least ``MIN_NONZEROS`` entries.
  Both bounds are larger for the first streams (``x (1 + 3 * 2**-(n - 1))`` for the ``n``-th
  update of the link): the first rounds move the model most and are not left for later.
  A flat update (every entry the same size, as a few sign-like optimizer steps give) has no
  quantile to cut at: its share is taken by position and the rest waits in the residual.  Not
  downstream: there ties come from averaging the clients' quantized updates (values on a
  lattice), and the plain rule, which codes about half of a tied group, measured better (the
  position rule cost the digits MLP 10 % more traffic, the language model 2.5 %).
* Tensors of fewer than two dimensions (biases, norms, BatchNorm statistics) are few: they are
  coded densely, at a step of an eighth of their RMS.
* **Downstream, the model's ends**: the first and last weight tensors (an input embedding and an
  output head; a classifier's first and last layers), each if it is at most ``END_SHARE`` (4 %)
  of the model, are coded densely too.  Every token or class has a row of its own there, and a
  downstream error is common to every client (an upstream one is averaged with the others'):
  sparse, these rows cost a language model two to three points of target-field accuracy.
* **Whole-model streams** (the initial model): weights at a step of half their standard
  deviation (about 2 bits per parameter); 1-D tensors at an eighth of their RMS.  Every client
  holds the same reconstruction, and the server continues from it, so for a randomly initialised
  model this is a different but equally good starting point, not an error to be fed back.  (A
  pretrained starting point deserves a fine ``qp``: set it.)

The result is an explicit ``qp_per_tensor``: the streams are what NNCodec writes with those
QPs.  Setting ``qp`` / ``diff_qp`` (NNCodec's names) overrides the rule with fixed QPs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.cabac.coding import qp_offset_limits
from nnr.encoding.approx import qp_from_stepsize

__all__ = ["DENSITY", "MAX_DENSITY", "ENERGY", "WHOLE_WEIGHT_STEP", "DENSE_STEP", "MIN_NONZEROS", "TIE_SHARE",
           "END_SHARE", "density_for", "end_tensors", "energy_share", "update_plan", "whole_model_qps"]

DENSITY = 0.027  # least share of a weight tensor's update entries coded nonzero (per stream)
MAX_DENSITY = 0.05  # most share, unless the update's energy is ...
ENERGY = 0.28  # ... this share of the update's energy (sum of squares) is reached first
WHOLE_WEIGHT_STEP = 1 / 2  # initial model: step relative to each weight tensor's std
DENSE_STEP = 1 / 8  # tensors below 2 dimensions: step relative to their RMS
MIN_NONZEROS = 256  # a small weight tensor still gets about this many nonzero entries per stream
TIE_SHARE = 8  # ties at the cut are a flat update's when they exceed the share by more than 1/8 of it
END_SHARE = 0.04  # downstream: the model's first and last weight tensors are coded densely up to this size


def density_for(density: float, n: int) -> float:
    """Nonzero share for the ``n``-th update stream of a link (from 1): more precision early."""
    return min(1.0, density * (1.0 + 3.0 * 2.0 ** -(max(n, 1) - 1)))


def energy_share(mags: npt.NDArray[np.float64]) -> float:
    """The least share of entries, largest first, that carries ``ENERGY`` of the sum of squares:
    small for a heavy-tailed update (SGD), larger for a flat one (Adam's sign-like steps)."""
    e = np.sort(mags * mags)[::-1].cumsum()
    if e.size == 0 or e[-1] <= 0:
        return 0.0
    return float(np.searchsorted(e, ENERGY * e[-1]) + 1) / e.size


def _qp(step: float, qp_density: int, limits: tuple[int, int]) -> int | None:
    if not (step > 0 and math.isfinite(step)):
        return None
    return int(min(max(round(qp_from_stepsize(step, qp_density)), limits[0]), limits[1]))


def _rms(a: npt.NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(a * a))) if a.size else 0.0


def whole_model_qps(model: Mapping[str, npt.NDArray[Any]], qp_density: int) -> dict[str, int]:
    """QP per tensor of a stream that carries a whole model."""
    out: dict[str, int] = {}
    lim = qp_offset_limits(qp_density)
    for name, v in model.items():
        a = np.asarray(v, dtype=np.float64)
        spread = float(a.std()) * WHOLE_WEIGHT_STEP if a.ndim >= 2 else _rms(a) * DENSE_STEP
        if a.ndim >= 2 and spread == 0:
            spread = _rms(a) * DENSE_STEP
        qp = _qp(spread, qp_density, lim)
        if qp is not None:
            out[name] = qp
    return out


def end_tensors(model: Mapping[str, npt.NDArray[Any]]) -> frozenset[str]:
    """The model's first and last weight tensors (at least 2-D, in the model's order: an input
    embedding and an output head, a classifier's first and last layers), each only if it holds at
    most ``END_SHARE`` of the model's entries."""
    total = sum(int(np.size(v)) for v in model.values())
    weights = [k for k, v in model.items() if np.ndim(v) >= 2]
    return frozenset(k for k in weights[:1] + weights[-1:] if np.size(model[k]) <= END_SHARE * total)


def update_plan(update: Mapping[str, npt.NDArray[Any]], qp_density: int, density: float, n: int,
                dense: frozenset[str] = frozenset(), split_ties: bool = True,
                ) -> tuple[dict[str, int], dict[str, npt.NDArray[Any]]]:
    """QP per tensor of the ``n``-th difference stream of a link (``update``: the target, residual
    included), and the update as it is to be coded: ``update`` itself, except where many entries
    tie at the cut (a flat update, e.g. a few sign-like optimizer steps).  There no step separates
    the share from the rest, so the share is chosen by position among the tied entries, the others
    are left to the residual (zeroed), and the step is half the cut so that every kept entry codes
    nonzero (``split_ties``; off downstream, see the module's docstring).  Tensors named in
    ``dense`` are coded densely, as 1-D tensors are."""
    qps: dict[str, int] = {}
    coded: dict[str, npt.NDArray[Any]] = dict(update)
    lim = qp_offset_limits(qp_density)
    for name, v in update.items():
        a = np.abs(np.asarray(v, dtype=np.float64))
        share = max(density_for(density, n), min(1.0, MIN_NONZEROS / max(a.size, 1)))
        if a.ndim >= 2 and share < 1.0 and name not in dense:
            flat = a.reshape(-1)
            share = max(share, min(energy_share(flat), density_for(max(MAX_DENSITY, density), n)))
            k = min(flat.size - 1, max(0, int(round((1.0 - share) * flat.size))))
            order = np.argpartition(flat, k)
            tau = float(flat[order[k]])
            kept = flat.size - k
            step = 2.0 * tau
            if tau == 0:
                step = float(flat.max())
            elif split_ties and int(np.count_nonzero(flat >= tau)) - kept > kept // TIE_SHARE:
                out = np.array(v, copy=True).reshape(-1)
                out[order[:k]] = 0
                coded[name] = out.reshape(np.shape(v))
                step = tau / 2
        else:
            step = _rms(a) * DENSE_STEP
        qp = _qp(step, qp_density, lim)
        if qp is not None:
            qps[name] = qp
    return qps, coded
