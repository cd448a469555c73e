"""Encoding: :func:`encode` (one stream) and :class:`Encoder` (a session of update streams).

The encoder makes NNCodec 2.1.3's decisions, so for the same tensors and settings it writes the
same bytes::

    import nnr
    data = nnr.encode({"fc.weight": w, "fc.bias": b})            # NNCodec's defaults: qp -38, DQ
    data = nnr.encode(tensors, qp=-40, use_dq=False, scan_order=2, row_skipping=True)

    session = nnr.Encoder(qp=-36, tca=True, hdsp=True)           # incremental updates
    for update in updates:
        stream = session.encode(update)                          # TCA / HDSP state carried

Settings are the keyword arguments of NNCodec's ``nnc.compress`` (see
:class:`nnr.encoding.settings.EncodeSettings`); ``dq`` and ``bitdepth`` are accepted as aliases of
``use_dq`` and ``int_quant_bw``.  Two settings go beyond ``compress``: ``general_profile_idc``
(0 writes an edition-1 stream) and ``out_of_band`` (tensor dimensions and
cabac_unary_length_minus1 left to the application); ``model`` describes tensor order, types and
blocks explicitly (``{"parameter_dimensions": ..., "parameter_type": ..., "block_identifier":
...}``, e.g. for decomposed weights ``<w>_G`` / ``<w>_H``).

Bad input raises :class:`nnr.NNRUsageError` before anything is written: NaN / infinite values,
0-d or empty tensors, unsupported dtypes, integers outside int32, QPs that
``iae(6 + qp_density)`` cannot signal, bit depths outside 1..31, unknown settings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import numpy.typing as npt

if sys.version_info >= (3, 11) or TYPE_CHECKING:  # annotations only (lazy): Python 3.10 needs no Unpack
    from typing import Unpack

from nnr import parallel
from nnr.encoding import EncodeSettings, ModelInfo, StreamResult, compress
from nnr.encoding.datadriven import DataDriven, DataDrivenStep
from nnr.encoding.inputs import prepare_tensors_with_info
from nnr.encoding.settings import SettingsKeywords
from nnr.encoding.split import SPLIT_MIN_ELEMENTS
from nnr.errors import NNRUsageError
from nnr.incremental import IncrementalState, SessionKind
from nnr.limits import MAX_TENSOR_ELEMENTS, MAX_UNITS
from nnr.decoding.payload import EXPANSION_PER_BYTE, stream_element_limit
from nnr.usage import check_int

__all__ = ["EncodeKeywords", "EncodeOptions", "Encoder", "EncoderOptions", "OmittedTensorWarning", "StreamOptions",
           "encode"]


class OmittedTensorWarning(UserWarning):
    """An update stream leaves out tensors whose update is all zero (NNCodec's rule): a decoder
    returns no tensor for them, and the model keeps its previous values."""

ALIASES = {"dq": "use_dq", "bitdepth": "int_quant_bw"}

Progress = Callable[[int, int], None]
ToolProgress = Callable[[DataDrivenStep, int, int], None]
TOOL_FLAGS = ("ioq", "lsa", "fine_tune")
Evaluate = Callable[[dict[str, npt.NDArray[Any]]], Any]


class EncodeKeywords(SettingsKeywords, total=False):
    """The settings of one stream: :class:`~nnr.encoding.settings.EncodeSettings` by name, the
    aliases ``dq`` (``use_dq``) and ``bitdepth`` (``int_quant_bw``), the decoder limits the
    stream must respect (``DecoderLimits``) and the data-driven tool flags."""

    dq: bool
    bitdepth: int | None
    max_units: int
    max_tensor_elements: int
    max_expansion: int
    ioq: bool
    lsa: bool
    fine_tune: bool


class _SharedOptions(TypedDict, total=False):
    """The options :func:`encode` and :class:`Encoder` share besides the settings and ``model``."""

    workers: int
    record_dtypes: bool | None
    evaluate: Evaluate | None
    tune: Any
    tool_progress: ToolProgress | None


class StreamOptions(EncodeKeywords, _SharedOptions, total=False):
    """The keyword arguments of :func:`encode` but ``model``: the settings
    (:class:`EncodeKeywords`), ``progress``, ``workers``, ``dtypes``, ``record_dtypes``,
    ``evaluate``, ``tune``, ``tool_progress``."""

    progress: Progress | None
    dtypes: Mapping[str, str] | None


class EncodeOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`encode`: :class:`StreamOptions` and ``model``."""

    model: Any


class EncoderOptions(EncodeKeywords, _SharedOptions, total=False):
    """The keyword arguments of :class:`Encoder`: the settings (:class:`EncodeKeywords`), ``hdsp``,
    ``model``, ``workers``, ``record_dtypes``, ``evaluate``, ``tune``, ``tool_progress``."""

    hdsp: bool
    model: Any


def _settings(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in kwargs.items():
        key = ALIASES.get(k, k)
        if key in out:
            raise NNRUsageError(f"setting {key!r} given twice (also as {k!r})")
        out[key] = v
    return out


def _data_driven(kw: dict[str, Any], evaluate: Any, tune: Any, progress: Any) -> DataDriven | None:
    """The data-driven tool flags taken out of the settings ``kw``, with their callables."""
    flags = {k: kw.pop(k) for k in TOOL_FLAGS if k in kw}
    for k, v in flags.items():
        if not isinstance(v, (bool, np.bool_)):
            raise NNRUsageError(f"{k} must be True or False, got {v!r}")
    if evaluate is not None and not callable(evaluate):
        raise NNRUsageError(f"evaluate must be None or a callable evaluate(parameters) -> performance, "
                            f"got {evaluate!r}")
    if tune is not None and not callable(tune):
        raise NNRUsageError(f"tune must be None or a callable tune(parameters, parameter_types, lsa, fine_tune), "
                            f"got {tune!r}")
    dd = DataDriven(evaluate=evaluate, tune=tune, ioq=bool(flags.get("ioq", False)),
                    lsa=bool(flags.get("lsa", False)), fine_tune=bool(flags.get("fine_tune", False)),
                    progress=progress)
    dd.check()
    return dd if dd.active else None


def model_description(model: Any) -> ModelInfo | None:
    """``model`` as given to :func:`encode`: None, a :class:`ModelInfo`, or a mapping with
    ``parameter_dimensions`` (ordered) and optional ``parameter_type`` / ``block_identifier`` /
    ``topology_storage_format``."""
    if model is None or isinstance(model, ModelInfo):
        return model
    if isinstance(model, Mapping) and "parameter_dimensions" in model:
        return ModelInfo.from_description(
            model["parameter_dimensions"], model.get("parameter_type"), model.get("block_identifier"),
            model.get("topology_storage_format", 0))
    raise NNRUsageError("model must be a ModelInfo or a dict with 'parameter_dimensions' "
                        "(and optionally 'parameter_type', 'block_identifier')")


def encode(tensors: Mapping[str, npt.NDArray[Any]], **options: Unpack[EncodeOptions]) -> bytes:
    """Encode ``tensors`` (name -> array) into one NNR bitstream, as NNCodec's ``nnc.compress``.

    Float arrays (float16/32/64, bfloat16 / float8 torch tensors or ml_dtypes arrays) are
    quantized from float32, integer arrays coded as integers (NNR_PT_INT), 0-d tensors
    with shape (1,).  Original dtypes and shapes are recorded in the stream (:mod:`nnr.dtypes`;
    ``nnr.decode(data, dtype="original")`` restores them): by default only what NNCodec cannot
    encode (bfloat16 / float8, 0-d tensors), so that for NNCodec's inputs the bytes stay
    NNCodec's; ``record_dtypes=True`` records every other dtype too (float16, float64, int64, ...:
    ``nnr_decompressed_data_format``), ``False`` nothing.
    ``dtypes`` (name -> dtype name) overrides the recorded dtype of tensors the caller already
    converted, e.g. bfloat16 weights given as float32 arrays.
    ``split_min_elements`` (nnr's own setting, default
    ``nnr.encoding.split.SPLIT_MIN_ELEMENTS``, 1048576; 0: never): float tensors of at least this
    many elements (more than 64 rows) are coded as block rows with entry points, quantized and
    coded block row by block row on the workers and decodable the same way
    (``nnr.encoding.split``); these bytes differ from NNCodec's (pass 0 for NNCodec's bytes).
    ``progress(done, total)`` is called with element counts while quantizing and coding.
    ``workers``: quantize and code the tensors on this many processes (0: one per core); the
    bytes are the same as with 1.
    ``ioq`` / ``lsa`` / ``fine_tune`` with ``evaluate`` / ``tune``: the data-driven tools (see
    the module); ``tool_progress(step, done, total)`` reports them.
    """
    o = options
    model, progress, dtypes = o.pop("model", None), o.pop("progress", None), o.pop("dtypes", None)
    record_dtypes = o.pop("record_dtypes", None)
    n = parallel.resolve_workers(o.pop("workers", 1))
    tools = (o.pop("evaluate", None), o.pop("tune", None), o.pop("tool_progress", None))
    o.setdefault("split_min_elements", SPLIT_MIN_ELEMENTS)  # nnr's own default (not NNCodec's)
    kw = _settings(o)
    limits = _limits(kw)
    dd = _data_driven(kw, *tools)
    s = EncodeSettings.from_kwargs(kw)
    _check_progress(progress)
    t, info = prepare_tensors_with_info(tensors, dtypes, record_dtypes)
    limits.check_input(t)
    res, _ = compress(t, s, model=model_description(model), progress=progress, workers=n, tensor_info=info,
                      data_driven=dd)
    limits.check_output(t, res.coded, len(res.data))
    return res.data


@dataclass(frozen=True)
class DecoderLimits:
    """The limits a decoder applies by default (:mod:`nnr.limits`, ``Decoder(max_...)``): the
    encoder refuses to write a stream they would refuse, unless given the same raised limits."""

    max_units: int = MAX_UNITS
    max_tensor_elements: int = MAX_TENSOR_ELEMENTS
    max_expansion: int = EXPANSION_PER_BYTE

    def check_input(self, tensors: Mapping[str, npt.NDArray[Any]]) -> None:
        if len(tensors) + 8 > self.max_units:
            raise NNRUsageError(f"{len(tensors)} tensors: a stream of them has more NNR units than decoders accept "
                                f"by default ({self.max_units}); pass max_units=... here and to the Decoder")
        for k, v in tensors.items():
            if int(v.size) > self.max_tensor_elements:
                raise NNRUsageError(f"tensor {k!r} has {v.size} elements, more than decoders accept by default "
                                    f"({self.max_tensor_elements}); pass max_tensor_elements=... here and to the "
                                    "Decoder")

    def check_output(self, tensors: Mapping[str, npt.NDArray[Any]], coded: list[str], nbytes: int) -> None:
        """The stream-wide work budget the decoder applies (docs/robustness.rst), for a stream
        of ``nbytes`` bytes coding the tensors named in ``coded``."""
        n = sum(int(tensors[k].size) for k in coded if k in tensors)
        if n > stream_element_limit(nbytes, self.max_expansion):
            raise NNRUsageError(f"the {nbytes}-byte stream describes {n} elements, more than {self.max_expansion} "
                                "per byte (nearly all-zero tensors): decoders refuse it by default; pass "
                                "max_expansion=... here and to the Decoder")


def _limits(kw: dict[str, Any]) -> DecoderLimits:
    """The decoder limits among the settings (removed from ``kw``), checked."""
    given = {k: check_int(k, kw.pop(k), 1 if k != "max_expansion" else 0)
             for k in ("max_units", "max_tensor_elements", "max_expansion") if k in kw}
    return DecoderLimits(**given)


class Encoder:
    """An encoder session for a sequence of update streams.

    It keeps the incremental state (:class:`nnr.incremental.IncrementalState`, attribute
    ``state``): per tensor the levels last coded (the base of temporal context adaptation), the
    parameter-update-tree node (device id, parameter id, depth) and, with ``hdsp=True``, the
    history of non-zero positions for history-dependent significance probability (each unit is
    then coded with and without it and the smaller kept).  Defaults differ from :func:`encode`
    in two settings: ``compress_differences=True`` (the streams are updates with parent node
    ids) and ``tca=True``.  Keyword arguments of :meth:`encode` override the session's settings
    for one stream.  :meth:`state_record` / :meth:`load_state_record` save and restore the state
    as plain arrays.  ``workers``: as for :func:`encode`; ``evaluate`` / ``tune`` /
    ``tool_progress`` and the tool flags ``ioq`` / ``lsa`` / ``fine_tune`` as for :func:`encode`
    (the flags may be given per stream).
    """

    def __init__(self, **options: Unpack[EncoderOptions]) -> None:
        o = options
        hdsp, model, record_dtypes = o.pop("hdsp", False), o.pop("model", None), o.pop("record_dtypes", None)
        self.workers = parallel.resolve_workers(o.pop("workers", 1))
        self._tools = (o.pop("evaluate", None), o.pop("tune", None), o.pop("tool_progress", None))
        kw = _settings(o)
        kw.setdefault("compress_differences", True)
        kw.setdefault("tca", True)
        self.limits = _limits(kw)
        self._settings = kw
        _data_driven(dict(kw), *self._tools)  # refuse bad settings now
        EncodeSettings.from_kwargs({k: v for k, v in kw.items() if k not in TOOL_FLAGS})
        self._model = model_description(model)
        self.hdsp = bool(hdsp)
        self.record_dtypes = record_dtypes  # as nnr.encode's
        self.state = IncrementalState(keep_parameter_ids=True)
        self.last: StreamResult | None = None

    def encode(self, tensors: Mapping[str, npt.NDArray[Any]], *, progress: Progress | None = None,
               **overrides: Unpack[EncodeKeywords]) -> bytes:
        """The next stream of the session; the state advances only when encoding succeeds."""
        kw = {**self._settings, **_settings(overrides)}
        dd = _data_driven(kw, *self._tools)
        s = EncodeSettings.from_kwargs(kw)
        _check_progress(progress)
        t, info = prepare_tensors_with_info(tensors, None, self.record_dtypes)
        self.limits.check_input(t)
        res, _ = compress(t, s, model=self._model, state=self.state, hdsp=self.hdsp, progress=progress,
                          workers=self.workers, tensor_info=info, data_driven=dd)
        assert res.state is not None
        self.limits.check_output(t, res.coded, len(res.data))
        if res.omitted:
            warnings.warn(f"{len(res.omitted)} all-zero update tensor(s) omitted from the stream (the update of "
                          f"{', '.join(repr(n) for n in res.omitted[:5])}{', ...' if len(res.omitted) > 5 else ''}"
                          f" is zero; the decoder returns no tensor for them)", OmittedTensorWarning, stacklevel=2)
        self.state = res.state
        self.last = res
        return res.data

    def state_record(self) -> dict[str, npt.NDArray[np.generic]]:
        """The session's state as plain numeric arrays (layout: docs/incremental.rst).

        :meth:`load_state_record` on a new ``Encoder`` with the same settings continues the
        session: later streams are the same bytes.
        """
        return self.state.to_record(SessionKind.ENCODER)

    def load_state_record(self, rec: Mapping[str, npt.NDArray[np.generic]]) -> None:
        """Restore a state written by :meth:`state_record` (a malformed record: NNRUsageError)."""
        self.state, _ = IncrementalState.from_record(rec, SessionKind.ENCODER)
        self.state.keep_parameter_ids = True


def _check_progress(progress: Any) -> None:
    if progress is not None and not callable(progress):
        raise NNRUsageError(f"progress must be None or a callable progress(done, total), got {progress!r}")
