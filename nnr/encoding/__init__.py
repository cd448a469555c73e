"""The NNR encoder, in NNCodec 2.1.3's steps.

* :mod:`nnr.encoding.settings` — the settings (NNCodec's ``compress`` arguments), validated;
* :mod:`nnr.encoding.model` — tensor order, parameter types, blocks;
* :mod:`nnr.encoding.approx` — QPs, batch-norm folding, quantization, codebooks, integers;
* :mod:`nnr.encoding.layer` — one tensor through the DeepCABAC level encoder;
* :mod:`nnr.encoding.stream` — the NNR units of a stream (headers, payloads, entry points,
  temporal context adaptation, HDSP, omitted all-zero units);
* :mod:`nnr.encoding.inputs` — checking and converting the caller's arrays;
* :mod:`nnr.encoding.sparsify` — NNCodec's structured / unstructured sparsification of updates;
* :mod:`nnr.encoding.progress` — progress in elements, for the caller's callback.

:func:`compress` runs them for one stream; :mod:`nnr.encoder` (``nnr.encode``, ``nnr.Encoder``)
and :mod:`nnr.nncodec` are the public faces.

Where NNCodec 2.1.3's encoder works, the bytes are NNCodec's (checked on every golden case and
on random cases against NNCodec itself).  Where it fails or writes a stream it cannot decode,
this encoder does the following instead:

* bad input (NaN / infinite values, 0-d or empty tensors, integers outside int32, QPs that
  ``iae(6 + qp_density)`` cannot carry, bit depths outside 1..31 or 1 bit for signed values,
  levels that overflow int32 even after the QP increase) raises :class:`nnr.NNRUsageError`
  (NNCodec writes a corrupt stream, or fails with an assertion or a C++ check);
* a tensor with a single row or a single column and ``scan_order`` > 0 gets scan_order 0 in its
  header (NNCodec fails: its entry-point list is missing; the levels are coded row-major anyway);
* decomposed blocks whose G has one block row before an H with several get the entry points
  the decoder needs (NNCodec derives them with a spurious range reset and cannot decode its own
  stream, deepcabac.md §7);
* ``int_quant_bw`` with batch-norm folding treats the tensors folding creates as non-weights
  (NNCodec fails with a KeyError); ``opt_qp`` without weight tensors changes nothing (NNCodec
  fails on an empty maximum), with only constant weights it is refused (NNCodec fails on a NaN);
  batch-norm folding with codebooks is refused (NNCodec fails).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import numpy.typing as npt

if sys.version_info >= (3, 11) or TYPE_CHECKING:  # annotations only (lazy): Python 3.10 needs no Unpack
    from typing import Unpack

from nnr.block_layout import weight_of
from nnr.encoding.approx import Approximation, QuantLayer, approximate, assign_qps, fold_batch_norm, init_approximation
from nnr.encoding.datadriven import DataDriven
from nnr.encoding.model import ModelInfo, apply_block_id_and_param_type, block_spec_ok
from nnr.encoding.progress import Ticker
from nnr.encoding.settings import EncodeSettings
from nnr.encoding.split import split_tensors
from nnr.encoding.stream import StreamResult, StreamWatch, levels_dict, write_stream
from nnr.errors import NNRUsageError
from nnr.incremental import IncrementalState
from nnr.quantization import quant_layer as uniform_quantizer
from nnr.usage import check_keywords

__all__ = ["CompressOptions", "EncodeSettings", "ModelInfo", "StreamResult", "compress"]


class CompressOptions(TypedDict, total=False):
    """The keyword arguments of :func:`compress` (each optional; defaults in brackets).

    ``model`` [NNCodec's description of the dict]: order, types and blocks.  ``strict_blocks``
    [True]: refuse a ``block_id_and_param_type`` NNCodec's sanity check rejects (False: ignore it
    as NNCodec does).  ``state`` [None], ``hdsp`` [False], ``put_nodes`` [True]: the session's
    incremental state and how the stream continues it.  ``quant_layer`` [the uniform / dependent
    quantizer of :mod:`nnr.quantization`].  ``progress`` [None], ``workers`` [1].
    ``tensor_info`` [None]: original dtypes and shapes to record.  ``data_driven`` [None]:
    IOQ / LSA / FT.
    """

    model: ModelInfo | None
    state: IncrementalState | None
    hdsp: bool
    put_nodes: bool
    strict_blocks: bool
    quant_layer: QuantLayer | None
    progress: Callable[[int, int], None] | None
    workers: int
    tensor_info: Mapping[str, Any] | None
    data_driven: DataDriven | None


def compress(tensors: Mapping[str, npt.NDArray[Any]], settings: EncodeSettings,
             **options: Unpack[CompressOptions]) -> tuple[StreamResult, Approximation]:
    """Encode ``tensors`` (float32 / int32 arrays, checked by the caller) into one stream.

    ``options``: :class:`CompressOptions`.  ``settings.block_id_and_param_type`` regroups the
    model description as NNCodec does; one NNCodec's sanity check rejects raises
    :class:`NNRUsageError` with ``strict_blocks``, otherwise it is ignored (and ``bnf`` switched
    off) as NNCodec does.  ``state`` is left unchanged; the state after the stream is
    ``result.state`` (with ``hdsp``, its histories updated with the new levels; ``put_nodes``:
    see :func:`nnr.encoding.stream.write_stream`).
    ``progress(done, total)`` is called with
    element counts (each element is counted once when quantized and once when coded; the
    codebook search, which codes a tensor once per candidate, advances within its tensor).
    ``workers`` > 1: tensors are quantized and units coded on that many processes (the same
    bytes as with 1).
    ``tensor_info``: original dtypes and shapes to record (:mod:`nnr.dtypes`).
    ``data_driven``: IOQ / LSA / FT with the caller's evaluate and tune callables
    (:mod:`nnr.encoding.datadriven`), run after the QPs are assigned, before batch-norm folding.
    """
    check_keywords("compress", options, CompressOptions)
    model, state, tensor_info = options.get("model"), options.get("state"), options.get("tensor_info")
    hdsp, workers, data_driven = options.get("hdsp", False), options.get("workers", 1), options.get("data_driven")
    s = settings
    if model is None:
        m = ModelInfo.from_tensors(tensors)
    else:
        m = model.copy()
    if s.block_id_and_param_type is not None:
        if block_spec_ok(s.block_id_and_param_type, tensors):
            apply_block_id_and_param_type(m, s.block_id_and_param_type)
            m.check_blocks()
        elif options.get("strict_blocks", True):
            raise NNRUsageError("block_id_and_param_type does not describe valid blocks of these tensors "
                                "(each block needs one 'weight', members of known types with 1-D shapes and the "
                                "weight's first dimension)")
        else:
            s = EncodeSettings(**{**s.__dict__, "block_id_and_param_type": None, "bnf": False})
    for name in tensors:
        base = weight_of(name)
        if name not in m.dims and (base is None or base not in m.dims):
            raise NNRUsageError(f"tensor {name!r} is not in the model description")
    a = init_approximation(tensors, m, s)
    if tensor_info:
        a.tensor_info = dict(tensor_info)
    assign_qps(a, s)
    qfn = options.get("quant_layer") or uniform_quantizer
    if data_driven is not None and data_driven.active:
        data_driven.run(a, s, qfn, workers)
    if s.bnf:
        fold_batch_norm(a, s)
    tick = Ticker(options.get("progress"), 2 * sum(int(v.size) for v in a.params.values()))
    split = split_tensors(a, s, state is not None or hdsp, workers, tick)
    approximate(a, s, qfn, tick, workers, tick.part)
    res = write_stream(a, s, state=state, hdsp=hdsp, put_nodes=options.get("put_nodes", True), workers=workers,
                       split=split, watch=StreamWatch(tick=tick))
    tick.finish()
    if hdsp and res.state is not None:
        after = res.state
        for name, v in levels_dict(a).items():
            after.tensors[name] = after.with_history(name, v)
    return res, a
