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
from nnr.decoder import DecodedStream, DecodedUnit, Decoder, check_not_checkpoint, read_input
from nnr.dtypes import DTYPE_OF_FORMAT, TensorInfo, decode_record
from nnr.errors import LimitExceededError, MalformedStreamError, NNRError, NNRUsageError, TruncatedStreamError
from nnr.limits import MAX_TENSOR_ELEMENTS, MAX_UNITS
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.context import UnitContext
from nnr.units.nnr_unit import peek_unit_size, read_unit_header
from nnr.units.types import NNRUnitType, TopologyStorageFormat

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
        d = Decoder(**self._options)  # type: ignore[arg-type]
        d._stream_start()
        buf = self._buf
        pos, end, index = 0, len(buf), 0
        record: dict[str, TensorInfo] = {}
        if end == 0:
            raise MalformedStreamError("the stream holds no NNR unit", unit_index=0, bit_offset=0)
        while pos < end:
            if index >= d.max_units:
                raise LimitExceededError(f"more than {d.max_units} NNR units in one stream "
                                         "(nnr.open(..., max_units=...) raises the limit)", unit_index=index,
                                         element="nnr_unit", bit_offset=8 * pos)
            size = peek_unit_size(buf, pos, end, index)
            typ = buf[pos + _size_bytes(buf, pos)] >> 2
            state = replace(d.ctx)
            if typ in (NNRUnitType.NNR_NDU, NNRUnitType.NNR_AGG) and d.general_profile_idc is not None:
                names, dependent, fmt = self._names(d, pos, size, index, typ == NNRUnitType.NNR_AGG)
                e = _Entry(index, pos, size, state, dependent, names)
                for n in names:
                    if n in self._entries:  # a stream defect, as nnr.decode reports it
                        raise MalformedStreamError(f"tensor {n!r} was already coded by unit {self._entries[n].index}",
                                                   unit_index=index, unit_type="NNR_NDU", element="topology_elem_id",
                                                   bit_offset=8 * pos)
                    self._entries[n] = e
                    if fmt is not None:
                        self.dtypes[n] = fmt
            else:
                units: list[DecodedUnit] = []
                d._decode_units(bytes(buf[pos:pos + size]), 0, size, units, [], None, index)
                tp = units[0].topology
                if tp is not None and tp.topology_storage_format == TopologyStorageFormat.NNR_TPL_UNREC:
                    record.update(decode_record(tp.topology_data) or {})
            pos += size
            index += 1
        self._record = record
        self.dtypes.update({n: t.dtype for n, t in record.items()})

    def _names(self, d: Decoder, pos: int, size: int, index: int, aggregate: bool) -> tuple[list[str], bool, str | None]:
        """Tensor names of an NDU (or an aggregate's NDUs) from its headers alone."""
        if aggregate:  # decode the aggregate's headers fully: rare, and small next to its payloads
            units: list[DecodedUnit] = []
            probe = Decoder(**self._options)  # type: ignore[arg-type]
            probe.ctx = replace(d.ctx)
            probe._stream_start()
            probe._decode_units(bytes(self._buf[pos:pos + size]), 0, size, units, [], None, index)
            names = [t.name for u in units for c in u.children if c.ndu is not None for t in c.tensors]
            dep = any(c.ndu is not None and (c.ndu.temporal_context_modeling_flag or c.ndu.parent_node_id_present_flag)
                      for u in units for c in u.children)
            return names, bool(dep), None
        for limit in (min(size, HEADER_PEEK), size):
            try:
                h = self._ndu_header(d, pos, pos + limit, index)
                break
            except TruncatedStreamError:
                if limit == size:
                    raise
            except MalformedStreamError:
                if limit == size:
                    raise
        names = list(h.topology_elem_id_list) if h.nnr_multiple_topology_elements_present_flag else [str(h.topology_elem_id)]
        from nnr.payload import tensor_layout
        from nnr.units.types import PayloadType

        kind = "int32" if h.nnr_compressed_data_unit_payload_type == PayloadType.NNR_PT_INT else "float32"
        try:
            layout = tensor_layout(h)
        except NNRError:
            layout = []  # dimensions out of band: shape_of says None
        # the decoder's stream-wide work budget, on the headers: what shape_of promises (and a
        # streaming writer sizes its files by) is what the stream's bytes can justify
        # (a reader over the header's bytes only, for the error's location: the payload stays untouched)
        d._charge_stream(h, BitReader(self._buf, pos, pos + min(size, HEADER_PEEK), unit_index=index),
                         len(self._buf))
        for n, _, shape in layout:
            self._shapes[n] = (tuple(int(x) for x in shape), kind)
        dep = bool(h.temporal_context_modeling_flag or h.parent_node_id_present_flag)
        fmt = DTYPE_OF_FORMAT.get(h.nnr_decompressed_data_format or 0) if h.nnr_decompressed_data_format_present_flag else None
        return names, dep, fmt

    def _ndu_header(self, d: Decoder, pos: int, end: int, index: int) -> CompressedDataUnitHeader:
        r = BitReader(self._buf, pos, end, unit_index=index)
        try:
            read_unit_header(r)
            mps = d.mps
            if mps is None:
                raise r.error(MalformedStreamError, "an NNR_NDU needs a preceding NNR_MPS", "nnr_unit_type")
            return CompressedDataUnitHeader.read(r, replace(d.ctx, out_of_band=None))
        except NNRError as e:
            raise e.locate(unit_index=index, unit_type="NNR_NDU", bit_offset=r.pos)

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
        decoded block row by block row on this many processes, ``nnr.payload_rows``)."""
        e = self._entries.get(name)
        if e is None:
            raise NNRUsageError(f"no tensor {name!r} in the stream ({len(self._entries)} tensors; see keys())")
        if e.dependent:
            raise NNRUsageError(f"tensor {name!r} is coded as an update of an earlier stream (temporal context "
                                "adaptation / parent node): decode the streams in order with nnr.Decoder")
        d = Decoder(**self._options)  # type: ignore[arg-type]
        d.row_workers = max(1, int(workers))
        d.ctx = replace(e.state)
        d._stream_start()
        units: list[DecodedUnit] = []
        coded: list[Any] = []
        # the unit's bytes alone (the compiled arithmetic decoder takes bytes, not a mapping);
        # bit offsets in errors are then counted from the unit's first byte
        unit = self._buf[e.pos:e.pos + e.size]
        d._decode_units(unit if isinstance(unit, bytes) else bytes(unit), 0, e.size, units, coded, None, e.index)
        outputs = [t for t in d._reconstruct(coded) if t.name == name]
        assert d.general_profile_idc is not None
        ds = DecodedStream(units, outputs, d.general_profile_idc, d.mps)
        return _arrays_with(ds, self._record, self.dtypes, dtype)[name]

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


def _arrays_with(ds: DecodedStream, record: dict[str, TensorInfo], dtypes: dict[str, str],
                 dtype: object) -> dict[str, npt.NDArray[np.generic]]:
    """``ds.arrays(dtype)`` with the stream-wide tensor-info record applied (the unit decoded
    alone does not contain the record's topology unit)."""
    from nnr.dtypes import cast_to

    out = ds.arrays(None)
    for name, v in out.items():
        rec = record.get(name)
        if rec is not None and math.prod(rec.shape) == v.size and rec.shape != v.shape:
            v = v.reshape(rec.shape)
        orig = dtypes.get(name)
        if dtype is None:
            pass
        elif isinstance(dtype, str) and dtype == "original":
            if orig is not None and orig != str(v.dtype):
                v = cast_to(name, v, orig)
        elif v.dtype.kind == "f":
            v = cast_to(name, v, dtype if isinstance(dtype, str) else np.dtype(dtype).name)  # type: ignore[call-overload]
        out[name] = v
    return out


def _size_bytes(buf: Any, pos: int) -> int:
    """Bytes of the nnr_unit_size field (nnr_unit_size_flag: 15 or 31 bits)."""
    return 4 if buf[pos] & 0x80 else 2


def open_stream(source: object, **options: Any) -> LazyStream:
    """:class:`LazyStream` of a path, bytes, bytearray or memoryview (``nnr.open``)."""
    return LazyStream(source, **options)
