"""Dequantization: step size from QP, uniform / dependent quantization, codebooks (quantization.md §1–§3)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from nnr.errors import MalformedStreamError


def step_size(qp: int, qp_density: int) -> float:
    """Quantization step size Δ from QP and qp_density (quantization.md §1), exact in float64.

    Δ = (k + (QP mod k)) · 2^(floor(QP / k) − qp_density) with k = 2^qp_density.
    """
    k = 1 << qp_density
    mul = k + (qp & (k - 1))
    shift = qp >> qp_density
    try:
        return math.ldexp(mul, shift - qp_density)
    except OverflowError:
        return math.inf


F32_MAX = float(np.finfo(np.float32).max)


def _check_step(delta: float, qp: int) -> None:
    """A QP whose step size is 0 or infinite in the output precision cannot mean a tensor."""
    if not (0.0 < delta <= F32_MAX):
        raise MalformedStreamError(f"QP {qp} gives a step size outside the float32 range",
                                   element="mps_quantization_parameter / qp_offset")


def dequantize_uniform(levels: npt.NDArray[np.int32], qp: int, qp_density: int) -> npt.NDArray[np.float32]:
    """Uniform and dependent quantization: w = Δ · level, one float32 product (quantization.md §2).

    With dq_flag the levels are already reconstruction indices (2k − sgn(k)·(state & 1)).
    """
    d = step_size(qp, qp_density)
    _check_step(d if d > F32_MAX else float(np.float32(d)), qp)
    if levels.size:  # step × level must fit float32 too (checked in Python, before any product)
        peak = max(-int(levels.min()), int(levels.max()))
        if float(np.float32(peak)) > F32_MAX / float(np.float32(d)):
            raise MalformedStreamError(
                f"QP {qp} (step {float(np.float32(d)):g}) times level {peak} is not a finite float32",
                element="qp_offset / levels")
    w = levels.astype(np.float32)
    w *= np.float32(d)  # in place: the same float32 products, no second array
    return w


def dequantize_codebook(
    levels: npt.NDArray[np.int32], codebook: list[int], cb_zero_offset: int, qp: int, qp_density: int
) -> npt.NDArray[np.float64]:
    """Codebook reconstruction: w = codebook[level + CbZeroOffset] · Δ, in float64 (quantization.md §3)."""
    idx = levels.astype(np.int64) + cb_zero_offset
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= len(codebook)):
        raise MalformedStreamError(
            f"a level indexes outside the {len(codebook)}-entry codebook "
            f"(levels {int(levels.min())}..{int(levels.max())}, CbZeroOffset {cb_zero_offset})",
            element="integer_codebook",
        )
    d = step_size(qp, qp_density)
    _check_step(d, qp)
    if codebook:  # the output is float32: every entry × Δ must fit it (Python ints / floats)
        peak = max(abs(int(c)) for c in codebook)
        if peak > F32_MAX / d:
            raise MalformedStreamError(
                f"codebook entry {peak} times step {d:g} (QP {qp}) is not a finite float32",
                element="integer_codebook")
    cb = np.asarray(codebook, dtype=np.float64) * d
    return cb[idx]
