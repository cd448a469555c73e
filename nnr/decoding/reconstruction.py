"""From decoded levels to tensors: dequantization, local scaling, G·H recomposition, and the
dtypes a caller receives (NNCodec's, or those the stream records).

:func:`reconstruct` turns the NDUs of a stream (:class:`~nnr.decoding.payload.CodedUnit`) into
:class:`OutputTensor` objects; :func:`arrays_of` is the one dtype policy of
:meth:`nnr.decoding.stream.DecodedStream.arrays` and :func:`nnr.open`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnr.block_layout import BlockRole, weight_of
from nnr.decoding.payload import CodedTensor, CodedUnit
from nnr.dtypes import TensorInfo, cast_to
from nnr.errors import MalformedStreamError, NNRError
from nnr.reconstruction.dequantization import dequantize_codebook, dequantize_uniform
from nnr.reconstruction.post_processing import apply_local_scaling, recompose
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.types import PayloadType


@dataclass
class OutputTensor:
    """A reconstructed tensor with the facts about how it was coded."""

    name: str
    value: npt.NDArray[np.generic]  # NNCodec-native dtype: float32, float64 (codebook), int32
    coded: list[CodedTensor]  # one, or G and H for a recomposed weight
    role: BlockRole
    block: list[str]  # names of the unit's tensors (a PT_BLOCK), for LS / BN post-processing
    unit_index: int


def arrays_of(outputs: Iterable[OutputTensor], record: dict[str, TensorInfo], dtypes: dict[str, str],
              dtype: object) -> dict[str, npt.NDArray[np.generic]]:
    """The caller's arrays: float tensors as float32, in the shapes ``record`` gives, then cast as
    ``dtype`` asks (None: as they are; "original": to ``dtypes[name]``; another: float tensors to it)."""
    out: dict[str, npt.NDArray[np.generic]] = {}
    for t in outputs:
        v = t.value
        if v.dtype.kind == "f" and v.dtype != np.float32:
            v = v.astype(np.float32)
        rec = record.get(t.name)
        if rec is not None and math.prod(rec.shape) == v.size and rec.shape != v.shape:
            v = v.reshape(rec.shape)
        if isinstance(dtype, str) and dtype == "original":
            orig = dtypes.get(t.name)
            if orig is not None and orig != str(v.dtype):
                v = cast_to(t.name, v, orig)
        elif dtype is not None and v.dtype.kind == "f":
            v = cast_to(t.name, v, dtype if isinstance(dtype, str) else np.dtype(dtype).name)  # type: ignore[call-overload]
        out[t.name] = v
    return out


@dataclass(frozen=True)
class PostProcessing:
    """What reconstruction applies beyond dequantization (the decoder's options)."""

    reconstruct_lsa: bool = False  # local scaling applied to the weight, the scaling tensor dropped
    recompose_decomposition: bool = False  # W = G·H instead of G and H


def reconstruct(coded: list[CodedUnit], post: PostProcessing) -> list[OutputTensor]:
    """The tensors of a stream's NDUs, in stream order."""
    outputs: list[OutputTensor] = []
    pending_g: tuple[CodedTensor, npt.NDArray[np.generic], int] | None = None
    for unit_index, h, tensors in coded:
        names = [t.name for t in tensors]
        values = _unit_values(unit_index, tensors, post)
        for t in tensors:
            if t.name not in values:
                continue
            if t.role == BlockRole.DC_G and post.recompose_decomposition:
                pending_g = (t, values[t.name], unit_index)
                continue
            if t.role == BlockRole.DC_H and post.recompose_decomposition:
                if pending_g is None:
                    raise MalformedStreamError(f"decomposed tensor H {t.name!r} without a preceding G",
                                               unit_index=unit_index, element="compressed_parameter_types")
                outputs.append(_recomposed(pending_g, t, values[t.name], h, names, unit_index))
                pending_g = None
                continue
            outputs.append(OutputTensor(t.name, values[t.name], [t], t.role, names, unit_index))
    if pending_g is not None:
        g, _, ui = pending_g
        raise MalformedStreamError(f"decomposed tensor G {g.name!r} without its H", unit_index=ui,
                                   element="compressed_parameter_types")
    return outputs


def _unit_values(unit_index: int, tensors: list[CodedTensor], post: PostProcessing) -> dict[str, npt.NDArray[np.generic]]:
    """The dequantized tensors of one NDU (with local scaling applied, if asked)."""
    values: dict[str, npt.NDArray[np.generic]] = {}
    for t in tensors:
        try:
            values[t.name] = dequantize(t)
        except NNRError as e:
            raise e.locate(unit_index=unit_index, unit_type="NNR_NDU", bit_offset=t.bit_offset)
    if post.reconstruct_lsa:
        ls = next((t for t in tensors if t.role == BlockRole.LS), None)
        tgt = next((t for t in tensors if t.role in (BlockRole.WEIGHT, BlockRole.DC_G)), None)
        if ls is not None and tgt is not None:
            values[tgt.name] = apply_local_scaling(values[tgt.name], values.pop(ls.name))
    return values


def _recomposed(pending_g: tuple[CodedTensor, npt.NDArray[np.generic], int], t: CodedTensor,
                hv: npt.NDArray[np.generic], h: CompressedDataUnitHeader, names: list[str],
                unit_index: int) -> OutputTensor:
    """W = G·H, named after the weight (:func:`nnr.block_layout.weight_of` G's name), in H's unit."""
    g, gv, _ = pending_g
    wname = wg if (wg := weight_of(g.name, BlockRole.DC_G)) is not None else g.name
    w = recompose(gv, hv, list(h.tensor_dimensions))
    return OutputTensor(wname, w, [g, t], BlockRole.WEIGHT, names, unit_index)


def dequantize(t: CodedTensor) -> npt.NDArray[np.generic]:
    """One tensor's values from its levels (uniform or codebook), its raw floats, or its integers."""
    if t.raw is not None:
        return t.raw
    assert t.levels is not None
    if t.payload_type == PayloadType.NNR_PT_INT:
        return np.array(t.levels)  # the caller's own array; the levels stay the session's TCA base
    assert t.qp is not None
    if t.codebook is not None:
        return dequantize_codebook(t.levels, t.codebook.codebook, t.codebook.cb_zero_offset, t.qp, t.qp_density)
    return dequantize_uniform(t.levels, t.qp, t.qp_density)
