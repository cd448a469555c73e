"""Lazy per-tensor access to a stream, as safetensors users expect::

    with nnr.open("model.nnc") as f:
        names = f.keys()
        w = f.get_tensor("encoder.layer.0.attention.self.query.weight")

Opening reads the parameter sets and topology units and, of every NNR_NDU, only its
``nnr_unit_header`` and ``nnr_compressed_data_unit_header`` (units are length-prefixed, so the
payloads are skipped).  :meth:`LazyStream.get_tensor` then decodes the one unit holding the
tensor (a PT_BLOCK unit decodes its block; a tensor in an aggregate unit decodes that aggregate).
A file is memory-mapped, so what is never decoded is never read.

Streams whose units depend on earlier streams (temporal context adaptation, parent nodes, HDSP:
update streams) cannot be decoded one tensor at a time: :meth:`get_tensor` raises
:class:`nnr.NNRUsageError` for those units; decode them with an :class:`nnr.Decoder` session.
"""

from __future__ import annotations

import math
import mmap
import os
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.bitstream import BitReader
from nnr.decoding.inputs import check_not_checkpoint, read_input
from nnr.decoding.payload import EXPANSION_PER_BYTE, layout_or_none
from nnr.decoding.reconstruction import PostProcessing, arrays_of, reconstruct
from nnr.decoding.session import Budget, Session
from nnr.decoding.settings import DecodeSettings, decode_settings
from nnr.decoding.stream import DecodedUnit, UnitWalk, coded_units, decode_units
from nnr.dtypes import DTYPE_OF_FORMAT, TensorInfo, decode_record
from nnr.errors import MalformedStreamError, NNRError, NNRUsageError, TruncatedStreamError
from nnr.limits import MAX_TENSOR_ELEMENTS, MAX_UNITS
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.context import UnitContext
from nnr.units.nnr_unit import Frame, Frames, Framing
from nnr.units.types import NNRUnitType, PayloadType, TopologyStorageFormat

__all__ = ["LazyStream", "open_stream"]

HEADER_PEEK = 1 << 16  # bytes read to parse an NDU header (more only when it is longer)


@dataclass
class _Entry:
    """Where a tensor is: the top-level unit holding it and the decoder state in force there."""

    index: int
    pos: int
    size: int
    state: UnitContext  # a copy of the unit context in force there
    dependent: bool  # needs earlier streams (TCA / parent node)
    names: list[str]


class LazyStream:
    """An NNR stream opened for per-tensor decoding (see the module docstring)."""

    def __init__(self, source: object, *, verify_entry_points: bool = True,
                 max_tensor_elements: int = MAX_TENSOR_ELEMENTS, max_units: int = MAX_UNITS,
                 dialect: object = "auto") -> None:
        self._file: Any = None
        self._map: mmap.mmap | None = None
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if os.path.isdir(path):
                raise NNRUsageError(f"{path!r} is a directory, not an .nnc stream")
            check_not_checkpoint(path)
            try:
                self._file = open(path, "rb")
            except OSError as e:
                raise NNRUsageError(f"cannot read {path!r}: {e.strerror}") from None
            if os.fstat(self._file.fileno()).st_size == 0:
                self._file.close()
                raise MalformedStreamError("the stream holds no NNR unit", unit_index=0, bit_offset=0)
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self._buf: Any = self._map
        else:
            self._buf = read_input(source)
        self._options = {"verify_entry_points": verify_entry_points, "max_tensor_elements": max_tensor_elements,
                         "max_units": max_units, "dialect": dialect}  # dialect: profile-0 coding rules (nnr.dialect)
        self._entries: dict[str, _Entry] = {}
        self._record: dict[str, TensorInfo] = {}  # nnr's tensor-info record: dtype and shape
        self.dtypes: dict[str, str] = {}
        """Recorded original dtypes by tensor name (NDU headers and nnr's tensor-info record)."""
        self._shapes: dict[str, tuple[tuple[int, ...], str]] = {}  # from the NDU headers: shape, decoded dtype
        try:
            self._index()
        except BaseException:
            self.close()
            raise

    # -- indexing --------------------------------------------------------------------------------

    def _index(self) -> None:
        s = decode_settings(self._options, "nnr.open")
        session = Session()
        walk = UnitWalk(session, s, parallel_payloads=False)  # for the units the index reads whole
        budget = Budget().for_stream(len(self._buf))  # the decoder's stream-wide work budget
        record: dict[str, TensorInfo] = {}
        if len(self._buf) == 0:
            raise MalformedStreamError("the stream holds no NNR unit", unit_index=0, bit_offset=0)
        frames = Frames(self._buf, framing=Framing(max_units=s.max_units, raises_limit="nnr.open(..., max_units=...)"))
        for frame in frames:
            typ = frame.nnr_unit_type
            state = replace(session.ctx)
            if typ in (NNRUnitType.NNR_NDU, NNRUnitType.NNR_AGG) and session.ctx.general_profile_idc is not None:
                if typ == NNRUnitType.NNR_AGG:
                    names, dependent, carried = self._aggregate_names(s, frame, state)
                    frames.skip(carried)
                else:
                    names, dependent = self._ndu_names(session, frame, budget)
                e = _Entry(frame.index, frame.offset, frame.size, state, dependent, names)
                for n in names:
                    if n in self._entries:  # a stream defect, as nnr.decode reports it
                        raise MalformedStreamError(f"tensor {n!r} was already coded by unit {self._entries[n].index}",
                                                   unit_index=frame.index, unit_type="NNR_NDU",
                                                   element="topology_elem_id", bit_offset=8 * frame.offset)
                    self._entries[n] = e
            else:
                unit, = walk.units(_alone(frame.data, frame.offset, frame.size, frame.index))
                tp = unit.topology
                if tp is not None and tp.topology_storage_format == TopologyStorageFormat.NNR_TPL_UNREC:
                    record.update(decode_record(tp.topology_data) or {})
        self._record = record
        self.dtypes.update({n: t.dtype for n, t in record.items()})

    def _aggregate_names(self, s: DecodeSettings, frame: Frame, state: UnitContext) -> tuple[list[str], bool, int]:
        """Tensor names of an aggregate's NDUs, whether one depends on earlier streams, and how
        many units it carries: the aggregate decoded whole (rare, and small next to its payloads)
        in a session holding the unit context in force before it."""
        unit, = decode_alone(state, s, frame.data, (frame.offset, frame.size, frame.index))
        names = [t.name for c in unit.children if c.ndu is not None for t in c.tensors]
        dep = any(c.ndu is not None and (c.ndu.temporal_context_modeling_flag or c.ndu.parent_node_id_present_flag)
                  for c in unit.children)
        return names, bool(dep), len(unit.children)

    def _ndu_names(self, session: Session, frame: Frame, budget: Budget) -> tuple[list[str], bool]:
        """Tensor names of an NDU from its headers alone (the payload stays untouched)."""
        for limit in (min(frame.size, HEADER_PEEK), frame.size):
            try:
                h, r = self._ndu_header(session, frame, limit)
                break
            except (TruncatedStreamError, MalformedStreamError):
                if limit == frame.size:
                    raise
        names = list(h.topology_elem_id_list) if h.nnr_multiple_topology_elements_present_flag else [str(h.topology_elem_id)]
        kind = "int32" if h.nnr_compressed_data_unit_payload_type == PayloadType.NNR_PT_INT else "float32"
        layout = layout_or_none(h)  # None: dimensions out of band, shape_of says None
        # the decoder's stream-wide work budget, on the headers: what shape_of promises (and a
        # streaming writer sizes its files by) is what the stream's bytes can justify
        budget.charge_stream(layout, r, self._options.get("max_expansion", EXPANSION_PER_BYTE))  # type: ignore[arg-type]
        for n, _, shape in layout or []:
            self._shapes[n] = (tuple(int(x) for x in shape), kind)
        dep = bool(h.temporal_context_modeling_flag or h.parent_node_id_present_flag)
        fmt = DTYPE_OF_FORMAT.get(h.nnr_decompressed_data_format or 0) if h.nnr_decompressed_data_format_present_flag else None
        if fmt is not None:
            for n in names:
                self.dtypes[n] = fmt
        return names, dep

    def _ndu_header(self, session: Session, frame: Frame, limit: int) -> tuple[CompressedDataUnitHeader, BitReader]:
        # a reader over the header's bytes only: a reader over the whole unit would copy the payload
        r = frame.reader(limit)
        try:
            if session.ctx.mps is None:
                raise r.error(MalformedStreamError, "an NNR_NDU needs a preceding NNR_MPS", "nnr_unit_type")
            return CompressedDataUnitHeader.read(r, replace(session.ctx, out_of_band=None)), r
        except NNRError as e:
            raise e.locate(unit_index=frame.index, unit_type="NNR_NDU", bit_offset=r.pos)

    # -- access ----------------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """Tensor names in stream order (a decomposed weight appears as its factors,
        :func:`nnr.block_layout.factor_name`)."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get_tensor(self, name: str, *, dtype: object = None, workers: int = 1) -> npt.NDArray[np.generic]:
        """Decode the unit holding ``name`` and return that tensor (``dtype``: as
        :func:`nnr.decode`; ``workers``: a tensor coded as block rows with entry points is
        decoded block row by block row on this many processes, :mod:`nnr.decoding.split`)."""
        e = self._entries.get(name)
        if e is None:
            raise NNRUsageError(f"no tensor {name!r} in the stream ({len(self._entries)} tensors; see keys())")
        if e.dependent:
            raise NNRUsageError(f"tensor {name!r} is coded as an update of an earlier stream (temporal context "
                                "adaptation / parent node): decode the streams in order with nnr.Decoder")
        s = decode_settings(self._options, "nnr.open")
        units = decode_alone(e.state, s, self._buf, (e.pos, e.size, e.index), max(1, int(workers)))
        outputs = [t for t in reconstruct(coded_units(units), PostProcessing()) if t.name == name]
        return arrays_of(outputs, self._record, self.dtypes, dtype)[name]

    def standalone(self) -> bool:
        """Whether every tensor decodes on its own (no unit updates an earlier stream)."""
        return not any(e.dependent for e in self._entries.values())

    def shape_of(self, name: str) -> tuple[tuple[int, ...], str] | None:
        """(shape, numpy dtype) :meth:`get_tensor` returns for ``name`` with ``dtype=None``, from
        the unit headers and nnr's record without decoding (None where the headers do not say)."""
        got = self._shapes.get(name)
        if got is None:
            return None
        shape, kind = got
        rec = self._record.get(name)
        if rec is not None and math.prod(rec.shape) == math.prod(shape):
            shape = tuple(rec.shape)
        return shape, kind

    def get_slice_names(self) -> list[str]:  # safetensors' spelling of keys()
        return self.keys()

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> LazyStream:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _alone(buf: Any, pos: int, size: int, index: int) -> Frames:
    """The framing of one unit already located, over the unit's bytes alone (the compiled
    arithmetic decoder takes bytes, not a mapping); bit offsets in errors are then counted from
    the unit's first byte."""
    unit = buf[pos:pos + size]
    return Frames(unit if isinstance(unit, bytes) else bytes(unit), 0, size, index)


def decode_alone(ctx: UnitContext, s: DecodeSettings, buf: Any, where: tuple[int, int, int],
                 row_workers: int = 1) -> list[DecodedUnit]:
    """The unit at ``where`` (offset, size, index) of ``buf`` decoded as a stream of its own, with
    its payloads, in a session holding the unit context ``ctx`` in force before it: the stream
    its work budget counts is that unit's bytes."""
    pos, size, index = where
    session = Session(ctx=replace(ctx), budget=Budget().for_stream(size))
    return decode_units(_alone(buf, pos, size, index),
                        UnitWalk(session, s, parallel_payloads=False, row_workers=row_workers))


def open_stream(source: object, **options: Any) -> LazyStream:
    """:class:`LazyStream` of a path, bytes, bytearray or memoryview (``nnr.open``)."""
    return LazyStream(source, **options)
