"""Rate control: choosing QPs from a target instead of by hand (above :mod:`nnr.encoder` and
:mod:`nnr.decoder`, which it runs).

A fixed QP means different things for different tensors: QP -38 (step 2**-9.5) gives about 4 %
relative error on weights of standard deviation 0.02, and far less on weights of spread 1.
Three ways to choose:

* :func:`relative_qps`: a QP *relative to each weight's spread*: weight ``w`` gets the QP whose
  step is ``std(w) * 2 ** (qp_rel / 2**qp_density)`` (``qp_rel`` -16 with qp_density 2: a step
  of std/16).  The result is an explicit ``qp_per_tensor``, so the stream is what NNCodec would
  write with those QPs.
* :func:`search_qp` with ``target_bits_per_param``: the finest weight QP whose stream needs at
  most that many bits per parameter.
* :func:`search_qp` with ``max_rel_error``: the coarsest weight QP whose reconstruction has an
  overall relative error ``||ŵ - w|| / ||w||`` of at most that.

The searches encode (and, for the error, decode) the tensors for each QP tried, bisecting over
integer QPs; bits fall and errors grow monotonically with the QP for all practical tensors.
:func:`sweep` gives the whole rate-distortion table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.decoder import decode
from nnr.encoder import encode as nnr_encode
from nnr.encoding.approx import qp_from_stepsize
from nnr.errors import NNRUsageError

__all__ = ["RatePoint", "relative_qps", "search_qp", "sweep"]

QP_RANGE = (-100, 20)


def relative_qps(tensors: Mapping[str, npt.NDArray[Any]], qp_rel: int, qp_density: int = 2) -> dict[str, int]:
    """Per-weight QPs (tensors with 2+ dimensions) relative to each tensor's standard deviation."""
    out: dict[str, int] = {}
    for name, v in tensors.items():
        a = np.asarray(v, dtype=np.float64)
        if a.ndim < 2:
            continue
        sd = float(a.std())
        if sd == 0 or not math.isfinite(sd):
            continue
        step = sd * 2.0 ** (qp_rel / (1 << qp_density))
        out[name] = int(round(qp_from_stepsize(step, qp_density)))
    return out


@dataclass
class RatePoint:
    """One QP's rate and distortion: overall and per tensor."""

    qp: int
    bytes: int
    parameters: int
    rel_error: float
    snr_db: float
    per_tensor: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def bits_per_param(self) -> float:
        return 8 * self.bytes / self.parameters if self.parameters else 0.0


def measure(tensors: Mapping[str, Any], qp: int, encode: Callable[..., bytes], **settings: Any) -> RatePoint:
    """Encode with weight QP ``qp``, decode, and measure."""
    data = encode(tensors, qp=qp, **settings)
    dec = decode(data)
    sig = noise = 0.0
    per: dict[str, dict[str, float]] = {}
    n = 0
    for name, v in tensors.items():
        x = np.asarray(v, dtype=np.float64).reshape(-1) if not hasattr(v, "float") else \
            np.asarray(v.detach().cpu().float().numpy(), dtype=np.float64).reshape(-1)
        n += x.size
        if name not in dec:
            continue
        y = np.asarray(dec[name], dtype=np.float64).reshape(-1)
        s, e = float(np.dot(x, x)), float(np.dot(y - x, y - x))
        sig += s
        noise += e
        per[name] = {"rel_error": math.sqrt(e / s) if s > 0 else 0.0,
                     "snr_db": 10 * math.log10(s / e) if e > 0 and s > 0 else math.inf,
                     "parameters": float(x.size)}
    return RatePoint(qp, len(data), n, math.sqrt(noise / sig) if sig > 0 else 0.0,
                     10 * math.log10(sig / noise) if noise > 0 and sig > 0 else math.inf, per)


def sweep(tensors: Mapping[str, Any], qps: list[int], encode: Callable[..., bytes] | None = None,
          progress: Callable[[int, int], None] | None = None, **settings: Any) -> list[RatePoint]:
    """A :class:`RatePoint` for every weight QP in ``qps``."""
    enc = encode if encode is not None else nnr_encode
    out = []
    for i, qp in enumerate(qps):
        out.append(measure(tensors, qp, enc, **settings))
        if progress is not None:
            progress(i + 1, len(qps))
    return out


def search_qp(tensors: Mapping[str, Any], *, target_bits_per_param: float | None = None,
              max_rel_error: float | None = None, encode: Callable[..., bytes] | None = None,
              **settings: Any) -> RatePoint:
    """The weight QP meeting one target (see the module docstring), with its measurements."""
    if (target_bits_per_param is None) == (max_rel_error is None):
        raise NNRUsageError("give exactly one of target_bits_per_param and max_rel_error")
    if target_bits_per_param is not None and not target_bits_per_param > 0:
        raise NNRUsageError(f"target_bits_per_param must be positive, got {target_bits_per_param}")
    if max_rel_error is not None and not max_rel_error > 0:
        raise NNRUsageError(f"max_rel_error must be positive, got {max_rel_error}")
    enc = encode if encode is not None else nnr_encode
    cache: dict[int, RatePoint] = {}

    def at(qp: int) -> RatePoint:
        if qp not in cache:
            cache[qp] = measure(tensors, qp, enc, **settings)
        return cache[qp]

    def ok(p: RatePoint) -> bool:
        if target_bits_per_param is not None:
            return p.bits_per_param <= target_bits_per_param
        assert max_rel_error is not None
        return p.rel_error <= max_rel_error

    half = 1 << (5 + int(settings.get("qp_density", 2)))
    lo, hi = max(QP_RANGE[0], -half), min(QP_RANGE[1], half - 1)
    # the rate falls and the error grows with the QP: the answer is the finest QP that meets the
    # rate, or the coarsest that meets the error; bisect the one boundary where ok() flips
    rate = target_bits_per_param is not None
    keep = hi if rate else lo  # the end that must meet the target
    if not ok(at(keep)):
        p = at(keep)
        raise NNRUsageError(f"even QP {keep} needs {p.bits_per_param:.3f} bits per parameter" if rate
                            else f"even QP {keep} has a relative error of {p.rel_error:.3g}")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(at(mid)) == rate:
            hi = mid
        else:
            lo = mid
    return at(hi if rate else lo)
