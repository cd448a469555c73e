"""NNCodec 2.1.3's weight quantizers, bit-exact (quantization.md §1, §2, §8).

:func:`quant_layer` is the counterpart of NNCodec's ``deepCABAC.Encoder().quantLayer``: for the
same float32 tensor and settings it returns the same int32 levels (DQ reconstruction indices when
``dq_flag``) and the same QP.

* uniform reconstruction quantization (URQ), ``lambda_scale`` <= 0: ``round(w · (1/Δ))`` with
  ``1/Δ`` and the product in float32 and C ``round`` (half away from zero) — vectorised here;
* URQ with ``lambda_scale`` > 0: rate-distortion optimised levels with CABAC rate estimates
  along the scan (:mod:`nnr.quantization.rdoq`);
* dependent quantization (``dq_flag`` = 1): the 8-state Viterbi search over the scan
  (:mod:`nnr.quantization.trellis`), with rate estimates when ``lambda_scale`` > 0;
* if some ``w/Δ`` would overflow int32 NNCodec raises the QP once to a value computed from
  ``max |w|`` and quantizes again (:func:`overflow_qp`).

The scan is NNCodec's: row-major, or with ``scan_order`` 1…4 blocks of 8, 16, 32, 64 squared,
block row by block row; a tensor with one row or one column (``layerWidth`` = 1 or all weights
in the first row) is always scanned row-major.
"""

from __future__ import annotations

import math

import numpy
import numpy.typing as npt

from nnr.cabac.scan import block_size, matrix_shape, scan_order_in_force
from nnr.errors import NNRUsageError
from nnr.limits import INT32_MIN
from nnr.quantization.rdoq import urq_lambda_factor, urq_with_rate
from nnr.quantization.trellis import dq_lambda_factor, dq_no_rate, dq_with_rate

__all__ = [
    "quant_layer",
    "step_size",
    "overflow_qp",
    "scan_permutation",
]



def step_size(qp: int, qp_density: int) -> numpy.float32:
    """Δ as NNCodec's encoder computes it: ``mul · 2^(shift − qp_density)`` rounded to float32."""
    k = 1 << qp_density
    mul = k + (qp & (k - 1))
    shift = qp >> qp_density
    try:
        d = math.ldexp(float(mul), shift - qp_density)
    except OverflowError:
        d = math.inf
    with numpy.errstate(over="ignore"):
        return numpy.float32(d)


def scan_permutation(height: int, width: int, scan_order: int) -> npt.NDArray[numpy.intp] | None:
    """Row-major positions in NNCodec's scan order, or None for the row-major scan itself."""
    if scan_order == 0 or height * width == 0:
        return None
    b = block_size(scan_order)
    y = numpy.arange(height, dtype=numpy.intp)
    x = numpy.arange(width, dtype=numpy.intp)
    by = y // b
    bx = x // b
    bh = numpy.minimum(b, height - by * b)  # height of each row's block row
    bw = numpy.minimum(b, width - bx * b)  # width of each column's block
    # rank = by·b·W + bx·b·bh + (y mod b)·bw + (x mod b)
    rank = (
        (by * b * width)[:, None]
        + (bx * b)[None, :] * bh[:, None]
        + (y - by * b)[:, None] * bw[None, :]
        + (x - bx * b)[None, :]
    )
    perm = numpy.empty(height * width, dtype=numpy.intp)
    perm[rank.reshape(-1)] = numpy.arange(height * width, dtype=numpy.intp)
    return perm


def _scaled_f32(w: npt.NDArray[numpy.float32], qstep: numpy.float32) -> npt.NDArray[numpy.float64]:
    """``w · (1/Δ)`` in float32 (NNCodec's λ = 0 paths), widened to float64."""
    with numpy.errstate(all="ignore"):
        scale = numpy.float32(1.0) / qstep
        return (w * scale).astype(numpy.float64)


def _overflows(x: npt.NDArray[numpy.float64], hi: float, lo: float) -> bool:
    """Whether C ``round(x)`` exceeds ``hi`` or falls below ``lo`` for some element."""
    if x.size == 0:
        return False
    with numpy.errstate(invalid="ignore"):
        return bool(numpy.any(x >= hi + 0.5) or numpy.any(x <= lo - 0.5))


def _fits(w: npt.NDArray[numpy.float32], qstep: numpy.float32, dq: bool, rate: bool) -> bool:
    """NNCodec's int32 overflow check of ``quantize`` (different bounds and products per path)."""
    if dq:
        return not _overflows(_scaled_f32(w, qstep), 2147483645.0, -2147483646.0)
    if rate:
        with numpy.errstate(all="ignore"):
            x = w.astype(numpy.float64) * (numpy.float64(1.0) / numpy.float64(qstep))
        return not _overflows(x, 2147483647.0, -2147483648.0)
    return not _overflows(_scaled_f32(w, qstep), 2147483647.0, -2147483648.0)


def overflow_qp(w: npt.NDArray[numpy.float32], qp_density: int) -> int:
    """The QP NNCodec retries with after an int32 overflow (from max |w|, in its float types)."""
    a = numpy.abs(w)
    a = a[~numpy.isnan(a)]
    max_abs = float(a.max()) if a.size else 0.0
    if not math.isfinite(max_abs) or max_abs <= 0.0:
        raise NNRUsageError("quant_layer: cannot choose a QP for a tensor with non-finite values")
    k = 1 << qp_density
    min_step = max_abs / float((1 << 31) - 3)
    base_qp = numpy.float32(math.floor(math.log2(min_step)) * k)
    e = float(base_qp / numpy.float32(k))
    new_qp = numpy.float32(float(base_qp) + ((min_step * k) / math.pow(2.0, e) - k))
    return int(math.ceil(float(new_qp)))


def _urq_round(w: npt.NDArray[numpy.float32], qstep: numpy.float32) -> npt.NDArray[numpy.int32]:
    x = _scaled_f32(w, qstep)
    with numpy.errstate(invalid="ignore"):
        r = numpy.trunc(x + numpy.copysign(0.5, x))
        nan = numpy.isnan(r)
        if nan.any():
            r[nan] = INT32_MIN  # C's (int32_t) of NaN on x86
        return r.astype(numpy.int32)


def _slots_to_levels(w64: npt.NDArray[numpy.float64], qstep: float, slots: bytes) -> npt.NDArray[numpy.int32]:
    """DQ reconstruction indices from the trellis' slot choices (vectorised
    :func:`nnr.quantization.trellis.slots_to_indices`): slot 4 is zero, otherwise the index is
    the candidate ``q`` in ``m … m + 3`` with ``q ≡ slot (mod 4)``, ``m = max(1, trunc(|w|/Δ) − 1)``,
    signed like ``w``."""
    s = numpy.frombuffer(slots, dtype=numpy.uint8).astype(numpy.int64)
    u = numpy.abs((1.0 / qstep) * w64)
    m = numpy.maximum(numpy.trunc(u).astype(numpy.int64) - 1, 1)
    q = m + ((s - m) & 3)
    signed: npt.NDArray[numpy.int64] = numpy.where(w64 < 0.0, -q, q)
    signed[s == 4] = 0
    return signed.astype(numpy.int32)


def _quantize(
    w: npt.NDArray[numpy.float32],
    qstep: numpy.float32,
    width: int,
    dq: bool,
    lambda_scale: float,
    num_gtx: int,
    scan_order: int,
) -> npt.NDArray[numpy.int32] | None:
    """NNCodec's ``quantize`` on the flat tensor; None when it reports an int32 overflow."""
    n = w.size
    if dq:
        lf = dq_lambda_factor(lambda_scale)
        rate = lf > 0.0
    else:
        lf = urq_lambda_factor(lambda_scale)
        rate = lambda_scale > 0.0
    if not _fits(w, qstep, dq, rate):
        return None
    if not dq and not rate:
        return _urq_round(w, qstep)
    if dq and (qstep == 0.0 or bool(numpy.isnan(w).any())):
        # NaN costs: NNCodec's trellis result is undefined
        raise NNRUsageError("quant_layer: DQ of NaN weights, or with a step size that underflows float32")
    if qstep == 0.0:
        return numpy.zeros(n, dtype=numpy.int32)  # URQ with rate: every w/Δ is NaN -> level 0
    perm = scan_permutation(n // width, width, scan_order)
    w64 = w.astype(numpy.float64)
    if perm is not None:
        w64 = w64[perm]
    wl: list[float] = w64.tolist()
    if dq:
        slots = dq_with_rate(wl, float(qstep), lf, num_gtx) if rate else dq_no_rate(wl, float(qstep))
        arr = _slots_to_levels(w64, float(qstep), slots)
    else:
        arr = numpy.fromiter(urq_with_rate(wl, float(qstep), lf, num_gtx), dtype=numpy.int32, count=n)
    if perm is None:
        return arr
    out = numpy.empty(n, dtype=numpy.int32)
    out[perm] = arr
    return out


def quant_layer(
    weights: npt.NDArray[numpy.float32],
    dq_flag: int,
    qp_density: int,
    qp: int,
    lambda_scale: float,
    max_num_no_rem: int,
    scan_order: int,
    general_profile_idc: int,
) -> tuple[npt.NDArray[numpy.int32], int]:
    """NNCodec 2.1.3's ``Encoder.quantLayer``, bit-exact.

    Returns (int32 levels — DQ reconstruction indices when ``dq_flag`` — of the same shape, QP
    actually used).  ``max_num_no_rem`` is what NNCodec passes as ``maxNumNoRem``:
    ``cabac_unary_length_minus1`` (the number of greater-than flags its rate estimator assumes).
    ``general_profile_idc`` does not change the result (accepted for the same signature).
    """
    w = numpy.ascontiguousarray(weights, dtype=numpy.float32)
    if dq_flag not in (0, 1):
        raise NNRUsageError(f"quant_layer: dq_flag must be 0 or 1, not {dq_flag}")
    if not 0 <= qp_density <= 7:
        raise NNRUsageError(f"quant_layer: qp_density must be 0..7, not {qp_density}")
    if max_num_no_rem < 0:
        raise NNRUsageError(f"quant_layer: max_num_no_rem must be >= 0, not {max_num_no_rem}")
    if general_profile_idc not in (0, 1):
        raise NNRUsageError(f"quant_layer: general_profile_idc must be 0 or 1, not {general_profile_idc}")
    height, width = matrix_shape(w.shape)
    n = height * width
    scan_order = scan_order_in_force(height, width, scan_order)
    if not 0 <= scan_order <= 4:
        raise NNRUsageError(f"quant_layer: unsupported scan_order {scan_order}")
    if n == 0:
        return numpy.zeros(w.shape, dtype=numpy.int32), qp
    flat = w.reshape(-1)
    ls = float(numpy.float32(lambda_scale))  # NNCodec takes lambdaScale as float32
    dq = dq_flag == 1
    res = _quantize(flat, step_size(qp, qp_density), width, dq, ls, max_num_no_rem, scan_order)
    if res is None:
        qp = overflow_qp(flat, qp_density)
        res = _quantize(flat, step_size(qp, qp_density), width, dq, ls, max_num_no_rem, scan_order)
        if res is None:
            raise NNRUsageError("quant_layer: prevention of integer overflow failed")
    return res.reshape(w.shape), qp
