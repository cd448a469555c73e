"""Application post-processing of decoded parameters (quantization.md §5–§7).

* Low-rank decomposition: W = reshape(G · H, dims) — part of the decoding output.
* Local scaling: W[i, ...] *= ls[i]  (only on request, like NNCodec's ``reconstruct_lsa``).
* BN unfolding: restores BN-shaped tensors after BN folding (NNCodec's ``reconstruct_bnf``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def recompose(g: npt.NDArray[Any], h: npt.NDArray[Any], dims: list[int]) -> npt.NDArray[Any]:
    """W = G · H reshaped to the weight's dimensions (numpy's BLAS-backed dot, like NNCodec)."""
    return np.asarray(g.dot(h)).reshape(dims)


def apply_local_scaling(w: npt.NDArray[Any], ls: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """W[i, ...] *= ls[i] for every output channel i (in W's dtype, as an in-place product)."""
    out = w.copy()
    out *= ls.reshape([-1] + [1] * (w.ndim - 1))
    return out
