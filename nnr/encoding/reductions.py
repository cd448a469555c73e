"""Float32 sums, means and standard deviations exactly as numpy 1.26 computes them.

NNCodec 2.1.3 requires numpy 1.26, and its encoder decides with float32 reductions (the
sparsification thresholds, row means, ``opt_qp``'s spreads).  numpy's results depend on its
version: numpy 1.26 reduces a contiguous float32 array in buffers of 8192 elements, each summed
pairwise (blocks of at most 128 elements with 8 running partial sums, halves split at multiples
of 8) and the buffer sums added in order; numpy 2.x sums the whole array pairwise at once.  The
results differ in the last bits, and one value on the other side of a threshold changes the
bitstream.  These functions reproduce numpy 1.26 with elementwise float32 operations only
(which are correctly rounded in every numpy version), so the encoder's bytes do not depend on
the numpy installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["mean_f32", "row_means_f32", "std_f32", "sum_f32"]

BUFFER = 8192  # numpy 1.26's default iterator buffer size (elements)
BLOCK = 128  # numpy's pairwise-summation block (PW_BLOCKSIZE)

F32 = np.float32


def _block_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """numpy's pairwise_sum for n <= 128, on every row of ``x`` at once: 8 partial sums over the
    multiple-of-8 part, combined in a fixed tree, then the rest added in order."""
    n = x.shape[1]
    if n < 8:
        r = np.zeros(x.shape[0], dtype=np.float32)
        for j in range(n):
            r += x[:, j]
        return r
    m = n - n % 8
    acc = x[:, 0:8].copy()
    for i in range(8, m, 8):
        acc += x[:, i:i + 8]
    r = ((acc[:, 0] + acc[:, 1]) + (acc[:, 2] + acc[:, 3])) + ((acc[:, 4] + acc[:, 5]) + (acc[:, 6] + acc[:, 7]))
    for j in range(m, n):
        r += x[:, j]
    return r


def _pairwise_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """numpy's pairwise_sum of every row of a 2-D float32 array (halves split at multiples of 8)."""
    n = x.shape[1]
    if n <= BLOCK:
        return _block_rows(x)
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_rows(x[:, :n2]) + _pairwise_rows(x[:, n2:])


def sum_f32(a: npt.ArrayLike) -> np.float32:
    """``np.sum(a)`` of a float32 array (C order) as numpy 1.26 computes it: the pairwise sums
    of 8192-element buffers, added in order."""
    x = np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
    n = len(x)
    full = n - n % BUFFER
    total = F32(0)
    if full:
        for s in _pairwise_rows(x[:full].reshape(-1, BUFFER)):
            total = F32(total + s)
    if n > full:
        total = F32(total + _pairwise_rows(x[full:].reshape(1, -1))[0])
    return total


def row_means_f32(w: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """``[np.mean(w[i]) for i in range(len(w))]`` of a float32 array as numpy 1.26 computes it."""
    x = np.ascontiguousarray(w, dtype=np.float32)
    rows = x.reshape(len(x), -1)
    n = rows.shape[1]
    if n <= BUFFER:
        sums = _pairwise_rows(rows)
    else:
        sums = np.array([sum_f32(r) for r in rows], dtype=np.float32)
    return (sums.astype(np.float64) / n).astype(np.float32)


def mean_f32(a: npt.ArrayLike) -> np.float32:
    """``np.mean(a)`` of a float32 array as numpy 1.26 computes it."""
    x = np.asarray(a, dtype=np.float32)
    return F32(float(sum_f32(x)) / x.size)  # float64 division rounded once: the float32 quotient


def std_f32(a: npt.ArrayLike) -> np.float32:
    """``np.std(a)`` of a float32 array as numpy 1.26 computes it (ddof 0)."""
    x = np.asarray(a, dtype=np.float32)
    mu = mean_f32(x)
    d = x - mu
    d = d * d
    var = F32(float(sum_f32(d)) / x.size)
    return F32(np.sqrt(var))


def mean_any(a: npt.NDArray[Any]) -> Any:
    """``np.mean``: float32 arrays as numpy 1.26 computes them, other dtypes by numpy."""
    return mean_f32(a) if a.dtype == np.float32 else np.mean(a)


def std_any(a: npt.NDArray[Any]) -> Any:
    """``np.std``: float32 arrays as numpy 1.26 computes them, other dtypes by numpy."""
    return std_f32(a) if a.dtype == np.float32 else np.std(a)
