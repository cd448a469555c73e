"""The decoding process of an NNR bitstream, and a decoder session across streams.

A :class:`Decoder` walks the NNR units of a stream (syntax.md §2), keeps what later units need
(``general_profile_idc``, the MPS/LPS in force, the topology REFLIST) and, across streams, the
state of incremental coding (quantization.md §10): per tensor, the last decoded levels (the
temporal-context-adaptation base), the HDSP history and the parameter-update-tree node.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from nnr.bitstream import BitReader, Tracer
from nnr.bitstream.bintrace import BinTracer
from nnr.block_layout import BlockRole, weight_of
from nnr.dtypes import DTYPE_OF_FORMAT, TensorInfo, cast_to, decode_record
from nnr.errors import (
    LimitExceededError,
    MalformedStreamError,
    MissingReferenceError,
    NNRError,
    NNRUsageError,
)
from nnr import parallel
from nnr.incremental import IncrementalState, SessionKind, advance, continues_parent, pack_strings, unpack_strings
from nnr.dialect import Dialect, as_dialect, decode_payload_rules, resolve_stream
from nnr.limits import MAX_TENSOR_ELEMENTS, MAX_UNITS
from nnr.payload import (
    BINS_PER_BIT,
    EXPANSION_PER_BYTE,
    EXPANSION_SLACK_BYTES,
    CodedTensor,
    PayloadContext,
    tensor_layout,
)
from nnr.usage import check_bool, check_int, out_of_band_table
from nnr.reconstruction.dequantization import dequantize_codebook, dequantize_uniform
from nnr.reconstruction.post_processing import apply_local_scaling, recompose
from nnr.units.compressed_data_unit import CompressedDataUnitHeader, OutOfBandParameters
from nnr.units.context import UnitContext
from nnr.units.dispatch import UnitStructure, structure_for
from nnr.units.layer_parameter_set import LayerParameterSet, LayerParameterSetHeader, LayerParameterSetUnit
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import AggregateUnitHeader, NNRUnitHeader, peek_unit_size, read_unit_header
from nnr.units.start_unit import StartUnitHeader
from nnr.units.topology import QuantizationUnit, TopologyUnit
from nnr.units.types import NNRUnitType, PayloadType, TopologyStorageFormat, unit_type_name

StreamInput = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]

MAX_STREAM_BYTES = 1 << 34  # 16 GiB: larger inputs are refused before reading
# A session keeps per tensor the levels of its last update: at most what the stream being decoded
# may describe plus max_expansion / SESSION_SHARE (and what coded bits can describe) per byte of
# all streams it decoded (docs/robustness.rst)
SESSION_SHARE = 8


CHECKPOINT_SUFFIXES = (".npz", ".safetensors", ".pt", ".pth")  # tensor files, not streams


def check_not_checkpoint(path: str) -> None:
    """A path that names a checkpoint (by its suffix) is a misuse, not a bad stream."""
    if path.lower().endswith(CHECKPOINT_SUFFIXES):
        raise NNRUsageError(f"data: {path!r} is a checkpoint, not an .nnc stream "
                            "(nnr.checkpoint.read_checkpoint reads it, nnr.encode encodes it)")


def read_input(data: object) -> bytes:
    """Accept bytes, bytearray, memoryview or a path; anything else is an API misuse."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if isinstance(path, bytes) or "\0" in path:
            raise NNRUsageError(f"data: not a usable path: {path!r}")
        if os.path.isdir(path):
            raise NNRUsageError(f"data: {path!r} is a directory, not a stream file")
        check_not_checkpoint(path)
        try:
            size = os.path.getsize(path)
            if size > MAX_STREAM_BYTES:
                raise NNRUsageError(f"data: {path!r} is {size} bytes, larger than {MAX_STREAM_BYTES}")
            with open(path, "rb") as f:
                return f.read()
        except (OSError, UnicodeError) as e:
            raise NNRUsageError(f"cannot read {path!r}: {getattr(e, 'strerror', None) or e}") from None
    raise NNRUsageError(f"expected bytes, bytearray, memoryview or a path, got {type(data).__name__}")


@dataclass
class DecodedUnit:
    """One NNR unit as parsed (for ``nnr info`` and tests)."""

    index: int
    offset: int  # byte offset in the stream
    header: NNRUnitHeader
    structure: UnitStructure | None = None  # what nnr_unit_type carries (nnr.units.dispatch)
    tensors: list[CodedTensor] = field(default_factory=list)
    children: list[DecodedUnit] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        return unit_type_name(self.header.nnr_unit_type)

    # the structure, by unit type (None for the other types)

    @property
    def start_unit(self) -> StartUnitHeader | None:
        return self.structure if isinstance(self.structure, StartUnitHeader) else None

    @property
    def mps(self) -> ModelParameterSet | None:
        return self.structure if isinstance(self.structure, ModelParameterSet) else None

    @property
    def lps_unit(self) -> LayerParameterSetUnit | None:
        return self.structure if isinstance(self.structure, LayerParameterSetUnit) else None

    @property
    def lps_header(self) -> LayerParameterSetHeader | None:
        return self.lps_unit.header if self.lps_unit is not None else None

    @property
    def lps(self) -> LayerParameterSet | None:
        return self.lps_unit.lps if self.lps_unit is not None else None

    @property
    def topology(self) -> TopologyUnit | None:
        return self.structure if isinstance(self.structure, TopologyUnit) else None

    @property
    def quantization(self) -> QuantizationUnit | None:
        return self.structure if isinstance(self.structure, QuantizationUnit) else None

    @property
    def ndu(self) -> CompressedDataUnitHeader | None:
        return self.structure if isinstance(self.structure, CompressedDataUnitHeader) else None

    @property
    def aggregate(self) -> AggregateUnitHeader | None:
        return self.structure if isinstance(self.structure, AggregateUnitHeader) else None


@dataclass
class OutputTensor:
    """A reconstructed tensor with the facts about how it was coded."""

    name: str
    value: npt.NDArray[np.generic]  # NNCodec-native dtype: float32, float64 (codebook), int32
    coded: list[CodedTensor]  # one, or G and H for a recomposed weight
    role: BlockRole
    block: list[str]  # names of the unit's tensors (a PT_BLOCK), for LS / BN post-processing
    unit_index: int


@dataclass
class DecodedStream:
    units: list[DecodedUnit]
    outputs: list[OutputTensor]
    general_profile_idc: int
    mps: ModelParameterSet | None

    def original(self) -> dict[str, TensorInfo]:
        """Original dtypes and shapes the stream records (``nnr_decompressed_data_format``,
        nnr's tensor-info topology unit; :mod:`nnr.dtypes`), by tensor name."""
        info: dict[str, TensorInfo] = {}
        flat = list(_walk(self.units))
        ndus = {u.index: u.ndu for u in flat if u.ndu is not None}
        for t in self.outputs:
            h = ndus.get(t.unit_index)
            if h is not None and h.nnr_decompressed_data_format_present_flag:
                dt = DTYPE_OF_FORMAT.get(h.nnr_decompressed_data_format or 0)
                if dt is not None:
                    info[t.name] = TensorInfo(dt, tuple(int(d) for d in t.value.shape))
        for u in flat:
            tp = u.topology
            if tp is not None and tp.topology_storage_format == TopologyStorageFormat.NNR_TPL_UNREC:
                rec = decode_record(tp.topology_data)
                if rec:
                    info.update(rec)
        return info

    def arrays(self, dtype: object = None) -> dict[str, npt.NDArray[np.generic]]:
        """Tensors in stream order: float32 (float tensors) or int32 (integer tensors), with the
        shapes the stream records (0-d tensors are coded with shape (1,)).

        ``dtype="original"``: each tensor in the dtype the stream records (float16, bfloat16,
        int64, ...; tensors without a record stay float32 / int32); any other dtype: the float
        tensors cast to it.
        """
        info = self.original()
        out: dict[str, npt.NDArray[np.generic]] = {}
        for t in self.outputs:
            v = t.value
            if v.dtype.kind == "f" and v.dtype != np.float32:
                v = v.astype(np.float32)
            rec = info.get(t.name)
            if rec is not None and math.prod(rec.shape) == v.size and rec.shape != v.shape:
                v = v.reshape(rec.shape)
            if dtype is None:
                pass
            elif isinstance(dtype, str) and dtype == "original":
                if rec is not None and rec.dtype != str(v.dtype):
                    v = cast_to(t.name, v, rec.dtype)
            elif v.dtype.kind == "f":
                v = cast_to(t.name, v, dtype if isinstance(dtype, str) else np.dtype(dtype).name)  # type: ignore[call-overload]
            out[t.name] = v
        return out


def _walk(units: list[DecodedUnit]) -> Iterator[DecodedUnit]:
    for u in units:
        yield u
        yield from _walk(u.children)


class Decoder:
    """A decoder session: decodes streams in order and carries incremental-coding state.

    For an update stream, :meth:`decode` returns what the stream carries (the update), as
    NNCodec's decoder does; the caller adds it to its model.
    """

    def __init__(
        self,
        *,
        verify_entry_points: bool = True,
        max_tensor_elements: int = MAX_TENSOR_ELEMENTS,
        max_expansion: int = EXPANSION_PER_BYTE,
        max_units: int = MAX_UNITS,
        out_of_band: Mapping[str, OutOfBandParameters | Mapping[str, object]] | None = None,
        reconstruct_lsa: bool = False,
        reconstruct_bnf: bool = False,
        recompose_decomposition: bool = False,
        workers: int = 1,
        dialect: Dialect | str = Dialect.AUTO,
    ) -> None:
        """Options:

        * ``verify_entry_points``: check every cabac_entry_point_list entry against the state
          sequential decoding reaches (a mismatch raises); off: decode sequentially, ignore them.
        * ``max_tensor_elements``: refuse larger tensors (LimitExceededError).
        * ``max_expansion``: elements a payload may describe without coding them one by one
          (skipped rows, a size-1 codebook), per payload byte; the same bound holds for the
          elements of a whole stream per stream byte, and for the elements a session holds per
          byte it has decoded (docs/robustness.rst).
        * ``max_units``: refuse streams with more NNR units than this.
        * ``out_of_band``: per tensor name, the values a stream leaves to the application
          (:class:`OutOfBandParameters` or NNCodec's ``oob_dict`` entries).
        * ``reconstruct_lsa``: apply local scaling to the weight and drop the scaling tensor.
        * ``recompose_decomposition``: output W = G·H instead of G and H.
        * ``workers``: decode the NDUs of a stream on this many processes (0: one per core);
          the output and the session state are the same as with 1.
        * ``dialect``: the coding rules of general_profile_idc 0 streams (:class:`nnr.dialect.Dialect`):
          "ed1" those of the edition-1 reference software (NNCodec 0.3.1), "ed2" NNCodec 2.1.3's,
          "auto" (default) decodes each NDU under both and accepts only an unambiguous result.
        """
        self.workers = parallel.resolve_workers(workers)
        self.row_workers = 1  # block rows of a unit decoded here on this many processes (nnr.payload_rows)
        self.verify_entry_points = check_bool("verify_entry_points", verify_entry_points)
        self.max_tensor_elements = check_int("max_tensor_elements", max_tensor_elements, 1)
        self.max_expansion = check_int("max_expansion", max_expansion, 0)
        self.max_units = check_int("max_units", max_units, 1)
        self.out_of_band = out_of_band_table(out_of_band)
        self.recompose_decomposition = check_bool("recompose_decomposition", recompose_decomposition)
        self.reconstruct_lsa = check_bool("reconstruct_lsa", reconstruct_lsa)
        self.reconstruct_bnf = check_bool("reconstruct_bnf", reconstruct_bnf)
        self.dialect = as_dialect(dialect)
        self.ctx = UnitContext()  # general_profile_idc, MPS / LPS in force, REFLIST
        self.state = IncrementalState()  # per tensor: PUT node, TCA base, HDSP history
        self._mps_unit: bytes | None = None  # the MPS in force, as coded (for state_record)
        self.streams_decoded = 0
        self._budget = _Budget()  # stream-wide and session-wide element budgets
        self._pending: list[_PayloadJob] | None = None
        self._bins: BinTracer | None = None  # the bin trace of the stream being decoded
        self.progress: Callable[[int, int], None] | None = None  # (bytes done, stream bytes), per unit

    # -- what earlier units left in force (the unit context) ----------------------------------------

    @property
    def general_profile_idc(self) -> int | None:
        return self.ctx.general_profile_idc

    @general_profile_idc.setter
    def general_profile_idc(self, value: int | None) -> None:
        self.ctx.general_profile_idc = value

    @property
    def mps(self) -> ModelParameterSet | None:
        return self.ctx.mps

    @mps.setter
    def mps(self, value: ModelParameterSet | None) -> None:
        self.ctx.mps = value

    @property
    def lps(self) -> LayerParameterSet | None:
        return self.ctx.lps

    @property
    def reflist(self) -> list[str] | None:
        return self.ctx.reflist

    @reflist.setter
    def reflist(self, value: list[str] | None) -> None:
        self.ctx.reflist = value

    # -- public API ------------------------------------------------------------------------------

    def decode(self, data: StreamInput, *, dtype: object = None) -> dict[str, npt.NDArray[np.generic]]:
        """Decode one stream; returns its tensors (float32 / int32) by name, in stream order
        (``dtype``: see :meth:`DecodedStream.arrays`)."""
        return self.decode_stream(data).arrays(dtype)

    def decode_stream(self, data: StreamInput, tracer: Tracer | None = None, *,
                      bins: BinTracer | None = None) -> DecodedStream:
        """Decode one stream, returning units, coding facts and tensors in NNCodec's dtypes.

        ``tracer`` receives every syntax element read (:class:`nnr.bitstream.TraceEvent`),
        ``bins`` every bin of the arithmetic-coded payloads it selects
        (:class:`nnr.bitstream.bintrace.BinTracer`).
        A stream that fails to decode leaves the session as it was before it.
        """
        buf = read_input(data)
        units: list[DecodedUnit] = []
        coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]] = []
        saved = (self.state, self.general_profile_idc, self.mps, self._mps_unit, self.reflist, self._budget)
        self.state = self.state.copy()  # TensorStates are replaced, never changed
        self._budget = self._budget.for_stream(len(buf))
        # With workers, NDU payloads are collected while the units are parsed and decoded in
        # parallel at the end (or earlier, when a later NDU needs an earlier one's result).
        self._pending = [] if self.workers > 1 and tracer is None and bins is None and parallel.can_fork() else None
        self._bins = bins
        try:
            self._stream_start()
            try:
                self._decode_units(buf, 0, len(buf), units, coded, tracer, 0)
            except NNRError:
                self._flush(coded)  # an earlier unit's payload error comes first, as in order
                raise
            self._flush(coded)
            if not units:
                raise MalformedStreamError("the stream holds no NNR unit", unit_index=0, element="nnr_unit",
                                           bit_offset=0)
            outputs = self._reconstruct(coded)
            self._stream_end(coded)
            self._charge_session(coded)
        except BaseException:
            self.state, self.general_profile_idc, self.mps, self._mps_unit, self.reflist, self._budget = saved
            raise
        finally:
            self._pending = None
            self._bins = None
            if bins is not None:
                bins.finish()
        self.streams_decoded += 1
        assert self.general_profile_idc is not None
        return DecodedStream(units, outputs, self.general_profile_idc, self.mps)

    # -- units -----------------------------------------------------------------------------------

    def _stream_start(self) -> None:
        self.ctx.lps = None  # an LPS applies to the NDUs after it in its own stream
        self.ctx.out_of_band = self.out_of_band.get if self.out_of_band else None
        self._in_aggregate = False
        self._coded_at: dict[str, int] = {}  # tensor name -> unit that coded it (in this stream)
        self._pending_names: set[str] = set()

    def _charge_stream(self, h: CompressedDataUnitHeader, r: BitReader, buf_len: int) -> None:
        """The stream-wide work budget: the elements of all NDUs of a stream together, at most
        ``max_expansion`` per stream byte (plus what its bits could code one by one), so
        many NDUs cannot each use the per-payload slack (docs/robustness.rst)."""
        try:
            n = sum(math.prod(shape) for _, _, shape in tensor_layout(h))
        except NNRError:
            return  # the payload decoding reports it, in order
        b = self._budget
        b.stream_elements += n
        limit = self.max_expansion * (buf_len + EXPANSION_SLACK_BYTES) + 8 * BINS_PER_BIT * buf_len
        if b.stream_elements > limit:
            raise r.error(LimitExceededError,
                          f"the NDUs so far describe {b.stream_elements} elements, more than {self.max_expansion} "
                          f"per byte of the {buf_len}-byte stream (Decoder(max_expansion=...) raises the limit)",
                          "tensor_dimensions")

    def _charge_session(self, coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]]) -> None:
        """The session-wide budget: the levels and histories a session keeps for later streams,
        at most ``max_expansion`` elements per byte it has decoded (a sequence of tiny streams
        naming new tensors cannot grow the session without bound)."""
        b = self._budget
        for _, _, tensors in coded:
            for t in tensors:
                b.held[t.name] = _held_elements(self.state.tensors.get(t.name))
        total = sum(b.held.values())
        per_byte = self.max_expansion // SESSION_SHARE + 8 * BINS_PER_BIT
        limit = self.max_expansion * (b.stream_bytes + EXPANSION_SLACK_BYTES) + per_byte * b.session_bytes
        if total > limit:
            raise LimitExceededError(
                f"the session would hold {total} elements of state after {b.session_bytes} stream bytes, more "
                f"than {per_byte} per byte (Decoder(max_expansion=...) raises the limit)",
                unit_index=coded[-1][0] if coded else 0, element="tensor_dimensions", bit_offset=0)

    def _decode_units(self, buf: bytes, pos: int, end: int, units: list[DecodedUnit],
                      coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]],
                      tracer: Tracer | None, index0: int) -> int:
        index = index0
        while pos < end:
            if index >= self.max_units:
                raise LimitExceededError(f"more than {self.max_units} NNR units in one stream "
                                         "(Decoder(max_units=...) raises the limit)", unit_index=index,
                                         element="nnr_unit", bit_offset=8 * pos)
            size = peek_unit_size(buf, pos, end, index)
            r = BitReader(buf, pos, pos + size, tracer=tracer, unit_index=index, bin_tracer=self._bins)
            try:
                unit = self._decode_unit(buf, pos, size, r, coded, tracer, index)
            except NNRError as e:
                raise e.locate(unit_index=index, unit_type=r.unit_type, bit_offset=r.pos)
            units.append(unit)
            index = (unit.children[-1].index if unit.children else index) + 1
            pos += size
            if self.progress is not None and not self._in_aggregate:
                self.progress(pos, end)
        return index

    def _decode_unit(self, buf: bytes, pos: int, size: int, r: BitReader,
                     coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]],
                     tracer: Tracer | None, index: int) -> DecodedUnit:
        with r.structure("nnr_unit"):
            h = read_unit_header(r)
            if h.nnr_unit_size != size:  # peek and read must agree (they read the same bits)
                raise r.error(MalformedStreamError, "nnr_unit_size changed between reads", "nnr_unit_size")
            u = DecodedUnit(index, pos, h)
            t = h.nnr_unit_type
            if t != NNRUnitType.NNR_STR and self.general_profile_idc is None:
                raise r.error(MissingReferenceError, "the first NNR unit of a session must be NNR_STR",
                              "nnr_unit_type", 8 * pos + 8 * h.size_field_bytes)
            if t == NNRUnitType.NNR_AGG and self._in_aggregate:  # also bounds a corrupt stream's recursion
                raise r.error(MalformedStreamError, "an aggregate unit inside an aggregate unit",
                              "nnr_unit_type", 8 * pos + 8 * h.size_field_bytes)
            if t == NNRUnitType.NNR_NDU and self.mps is None:
                raise r.error(MissingReferenceError, "an NNR_NDU needs a preceding NNR_MPS", "nnr_unit_type")
            u.structure = structure_for(t).read(r, self.ctx)
            u.structure.apply(self.ctx)
            if t == NNRUnitType.NNR_STR:
                self._mps_unit = None
            elif t == NNRUnitType.NNR_MPS:
                self._mps_unit = buf[pos:pos + size]
            elif t == NNRUnitType.NNR_NDU:
                self._decode_ndu(buf, pos, size, r, u, coded)
            elif u.aggregate is not None:
                first = r.pos // 8
                n = u.aggregate.num_of_nnr_units_minus2 + 2
                children: list[DecodedUnit] = []
                self._in_aggregate = True
                try:
                    self._decode_units(buf, first, pos + size, children, coded, tracer, index + 1)
                finally:
                    self._in_aggregate = False
                if len(children) != n:
                    raise r.error(MalformedStreamError,
                                  f"aggregate unit announces {n} NNR units but carries {len(children)}",
                                  "num_of_nnr_units_minus2", 8 * pos + 8 * h.size_field_bytes + 17)
                if u.aggregate.entry_points_present_flag:
                    for k, (c, typ, ep) in enumerate(zip(children, u.aggregate.nnr_unit_type,
                                                          u.aggregate.nnr_unit_entry_point)):
                        if c.header.nnr_unit_type != typ or c.offset - first != ep:
                            raise r.error(MalformedStreamError,
                                          f"entry {k} says type {typ} at byte {ep}, the unit there is "
                                          f"{c.type_name} at byte {c.offset - first}", "nnr_unit_entry_point")
                u.children = children
                r.skip_to_end()
            if r.pos != r.end_bit and t not in (NNRUnitType.NNR_NDU,):
                raise r.error(MalformedStreamError, f"{(r.end_bit - r.pos) // 8} byte(s) left over at the end of the unit",
                              "nnr_unit_size")
        return u

    @property
    def _gpi(self) -> int:
        return self.general_profile_idc or 0

    def _decode_ndu(self, buf: bytes, pos: int, size: int, r: BitReader, u: DecodedUnit,
                    coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]]) -> None:
        assert self.mps is not None and u.ndu is not None
        if u.header.partial_data_counter_present_flag:
            # The partial data counter numbers the pieces of a unit's data split over several
            # units; the notes give no reassembly rule, so each piece must decode on its own.
            pass
        mps = self.mps
        gpi = self._gpi
        h = u.ndu
        lps = self.lps
        if lps is not None and lps.has_quantization:
            qp_density, qp = lps.lps_qp_density, lps.lps_quantization_parameter
        else:
            qp_density, qp = mps.mps_qp_density, mps.mps_quantization_parameter
        self._charge_stream(h, r, len(buf))
        ctx = PayloadContext(gpi, qp_density, qp, self.state.tca_bases(), self.state.histories(),
                             self.verify_entry_points, self.max_tensor_elements, self.max_expansion,
                             self.row_workers)
        job = _PayloadJob(buf, r.pos // 8, pos + size, h, ctx, r, u, self.dialect)
        if self._pending is None:
            with r.structure("nnr_compressed_data_unit_payload"):
                tensors = decode_payload_rules(buf, job.start, job.end, h, ctx, r, self.dialect)
            self._finish_ndu(job, tensors, coded)
            return
        try:
            names = {name for name, _, _ in tensor_layout(h)}
        except NNRError:
            names = None  # the payload decoding reports it, in order
        if names is None or not names.isdisjoint(self._pending_names):
            self._flush(coded)  # this unit's TCA base or PUT node comes from a pending one
        job.names = names or set()
        self._pending_names |= job.names
        self._pending.append(job)

    def _finish_ndu(self, job: _PayloadJob, tensors: list[CodedTensor],
                    coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]]) -> None:
        """After an NDU's payload: PUT bookkeeping, the TCA base, the unit's tensors."""
        r, u, h = job.r, job.unit, job.header
        for t in tensors:  # one policy for a name coded twice: the second is an error
            first = self._coded_at.get(t.name)
            if first is not None:
                raise MalformedStreamError(f"tensor {t.name!r} was already coded by unit {first}", unit_index=u.index,
                                           unit_type="NNR_NDU", element="topology_elem_id",
                                           bit_offset=8 * u.offset)
        for t in tensors:
            self._coded_at[t.name] = u.index
        r.skip_to_end()
        self._advance_put(h, tensors, r)
        st = self.state.tensors
        for t in tensors:  # one copy of the levels: the TCA base the state now keeps
            lv, ts = t.levels, st.get(t.name)
            if lv is not None and ts is not None and ts.levels is not None and ts.levels.size == lv.size:
                t.levels = ts.levels.reshape(t.shape)
        u.tensors = tensors
        coded.append((u.index, h, tensors))

    def _flush(self, coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]]) -> None:
        """Decode the pending NDU payloads on the workers, then finish the units in order."""
        jobs = self._pending
        if not jobs:
            return
        self._pending = []
        self._pending_names = set()
        # a unit larger than the others together: here, its block rows on the workers (if it has
        # entry points: nnr.payload_rows), the others on the workers first
        sizes = [j.end - j.start for j in jobs]
        big = {i for i, n in enumerate(sizes) if n * self.workers > sum(sizes)}
        for i in big:
            jobs[i].ctx = replace(jobs[i].ctx, workers=self.workers)
        rest = [i for i in range(len(jobs)) if i not in big]
        results: list[Any] = [parallel.FAILED] * len(jobs)
        try:
            for i, res in zip(rest, parallel.run(lambda k: _run_payload_job(jobs[rest[k]]), [sizes[i] for i in rest],
                                                 self.workers)):
                results[i] = res
        except NNRError:  # ran in this process: decode in order below, for the located error
            results = [parallel.FAILED] * len(jobs)
        for job, res in zip(jobs, results):
            try:
                if isinstance(res, parallel.Job):
                    tensors = _attach_levels(res)
                else:  # failed on a worker: decode here for the exact error (or a lost worker's result)
                    with job.r.structure("nnr_unit"), job.r.structure("nnr_compressed_data_unit_payload"):
                        tensors = decode_payload_rules(job.buf, job.start, job.end, job.header, job.ctx, job.r,
                                                       job.dialect)
                with job.r.structure("nnr_unit"):
                    self._finish_ndu(job, tensors, coded)
            except NNRError as e:
                raise e.locate(unit_index=job.unit.index, unit_type=job.r.unit_type, bit_offset=job.r.pos)

    def _advance_put(self, h: CompressedDataUnitHeader, tensors: list[CodedTensor], r: BitReader) -> None:
        """Parameter update tree: with TCA the node must continue its parent; then it becomes the
        tensor's node, its levels the TCA base."""
        st = self.state.tensors
        tca = bool(h.temporal_context_modeling_flag) and self._gpi == 1
        device = h.device_id if h.node_id_present_flag else None
        for t in tensors:
            prev = st.get(t.name)
            if tca and t.levels is not None:
                bad = continues_parent(prev, device, h.parameter_id, h.put_node_depth)
                if bad is not None:
                    cls = MissingReferenceError if bad.missing else MalformedStreamError
                    raise r.error(cls, f"{t.name!r}: {bad.reason}", bad.element)
        for t in tensors:
            st[t.name] = advance(st.get(t.name), h.device_id, h.parameter_id, h.put_node_depth, t.levels)

    # -- reconstruction --------------------------------------------------------------------------

    def _reconstruct(self, coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]]) -> list[OutputTensor]:
        resolve_stream(coded)  # profile-0 NDUs both dialects decode differently (nnr.dialect)
        outputs: list[OutputTensor] = []
        pending_g: tuple[CodedTensor, npt.NDArray[np.generic], int] | None = None
        for unit_index, h, tensors in coded:
            names = [t.name for t in tensors]
            values: dict[str, npt.NDArray[np.generic]] = {}
            for t in tensors:
                try:
                    values[t.name] = _dequantize(t)
                except NNRError as e:
                    raise e.locate(unit_index=unit_index, unit_type="NNR_NDU", bit_offset=t.bit_offset)
            if self.reconstruct_lsa:
                ls = next((t for t in tensors if t.role == BlockRole.LS), None)
                tgt = next((t for t in tensors if t.role in (BlockRole.WEIGHT, BlockRole.DC_G)), None)
                if ls is not None and tgt is not None:
                    values[tgt.name] = apply_local_scaling(values[tgt.name], values.pop(ls.name))
            for t in tensors:
                if t.name not in values:
                    continue
                if t.role == BlockRole.DC_G and self.recompose_decomposition:
                    pending_g = (t, values[t.name], unit_index)
                    continue
                if t.role == BlockRole.DC_H and self.recompose_decomposition:
                    if pending_g is None:
                        raise MalformedStreamError(f"decomposed tensor H {t.name!r} without a preceding G",
                                                   unit_index=unit_index, element="compressed_parameter_types")
                    g, gv, _ = pending_g
                    pending_g = None
                    wname = wg if (wg := weight_of(g.name, BlockRole.DC_G)) is not None else g.name
                    w = recompose(gv, values[t.name], list(h.tensor_dimensions))
                    outputs.append(OutputTensor(wname, w, [g, t], BlockRole.WEIGHT, names, unit_index))
                    continue
                outputs.append(OutputTensor(t.name, values[t.name], [t], t.role, names, unit_index))
        if pending_g is not None:
            g, gv, ui = pending_g
            raise MalformedStreamError(f"decomposed tensor G {g.name!r} without its H", unit_index=ui,
                                       element="compressed_parameter_types")
        return outputs

    def _stream_end(self, coded: list[tuple[int, CompressedDataUnitHeader, list[CodedTensor]]]) -> None:
        # HDSP history: union of non-zero positions over decoded updates (quantization.md §10)
        if self.mps is None or not self.mps.mps_parent_signalling_enabled_flag:
            return
        st = self.state
        for _, _, tensors in coded:
            for t in tensors:
                if t.levels is not None:
                    st.tensors[t.name] = st.with_history(t.name, t.levels)

    # -- state record ----------------------------------------------------------------------------

    def state_record(self) -> dict[str, npt.NDArray[np.generic]]:
        """The session's state as plain numeric arrays (layout: docs/incremental.rst).

        :meth:`load_state_record` on a new ``Decoder`` (same options) continues the session:
        later streams decode to exactly the same arrays.
        """
        rec = self.state.to_record(SessionKind.DECODER)
        reflist = self.reflist or []
        utf8, lengths = pack_strings(reflist)
        i64 = np.int64
        rec.update({
            "decoder.general_profile_idc": np.array([-1 if self.general_profile_idc is None
                                                     else self.general_profile_idc], dtype=i64),
            "decoder.mps_unit": np.frombuffer(self._mps_unit or b"", dtype=np.uint8).copy(),
            "decoder.reflist_present": np.array([int(self.reflist is not None)], dtype=i64),
            "decoder.reflist.utf8": utf8,
            "decoder.reflist.length": lengths,
            "decoder.streams_decoded": np.array([self.streams_decoded], dtype=i64),
        })
        return rec

    def load_state_record(self, rec: Mapping[str, npt.NDArray[np.generic]]) -> None:
        """Restore a state written by :meth:`state_record` (a malformed record: NNRUsageError)."""
        state, x = IncrementalState.from_record(rec, SessionKind.DECODER, _DECODER_KEYS)
        for k in ("decoder.general_profile_idc", "decoder.reflist_present", "decoder.streams_decoded"):
            if x[k].size != 1:
                raise NNRUsageError(f"state record: {k!r} must hold one value")
        gpi = int(x["decoder.general_profile_idc"][0])
        if gpi not in (-1, 0, 1):
            raise NNRUsageError(f"state record: general_profile_idc {gpi} is not 0 or 1")
        reflist = unpack_strings(x["decoder.reflist.utf8"], x["decoder.reflist.length"], "reflist")
        present = int(x["decoder.reflist_present"][0])
        if present not in (0, 1) or (not present and reflist):
            raise NNRUsageError("state record: 'decoder.reflist_present' does not match the reflist")
        streams = int(x["decoder.streams_decoded"][0])
        if streams < 0:
            raise NNRUsageError("state record: 'decoder.streams_decoded' is negative")
        mps_unit = x["decoder.mps_unit"].tobytes() or None
        mps = None
        if mps_unit is not None:
            if gpi < 0:
                raise NNRUsageError("state record: an MPS without a general_profile_idc")
            mps = _read_mps_unit(mps_unit, gpi)
        self.state = state
        held = {n: _held_elements(t) for n, t in state.tensors.items()}  # what it held: within its budget
        self._budget = _Budget(sum(held.values()) // (8 * BINS_PER_BIT) + 1, held)
        self.general_profile_idc = None if gpi < 0 else gpi
        self.mps, self._mps_unit = mps, mps_unit
        self.reflist = reflist if present else None
        self.streams_decoded = streams


_DECODER_KEYS: dict[str, type[np.generic]] = {
    "decoder.general_profile_idc": np.int64,
    "decoder.mps_unit": np.uint8,
    "decoder.reflist_present": np.int64,
    "decoder.reflist.utf8": np.uint8,
    "decoder.reflist.length": np.int64,
    "decoder.streams_decoded": np.int64,
}


def _read_mps_unit(data: bytes, gpi: int) -> ModelParameterSet:
    """The MPS of a state record: the NNR_MPS unit as it was coded."""
    try:
        size = peek_unit_size(data, 0, len(data), 0)
        r = BitReader(data, 0, size, unit_index=0)
        h = read_unit_header(r)
        if size != len(data) or h.nnr_unit_type != NNRUnitType.NNR_MPS:
            raise NNRUsageError("state record: 'decoder.mps_unit' is not one NNR_MPS unit")
        return ModelParameterSet.read(r, UnitContext(general_profile_idc=gpi))
    except NNRError as e:
        raise NNRUsageError(f"state record: 'decoder.mps_unit' does not decode: {e}") from None


@dataclass
class _Budget:
    """Elements described by the NDUs of the stream being decoded, and what the session holds
    (per tensor) against the stream bytes it has decoded."""

    session_bytes: int = 0
    held: dict[str, int] = field(default_factory=dict)
    stream_elements: int = 0
    stream_bytes: int = 0

    def for_stream(self, nbytes: int) -> _Budget:
        return _Budget(self.session_bytes + nbytes, dict(self.held), 0, nbytes)


def _held_elements(t: object) -> int:
    """Elements a session keeps for a tensor (its TCA base and history have the tensor's size)."""
    levels, history = getattr(t, "levels", None), getattr(t, "history", None)
    return max(0 if levels is None else int(levels.size), 0 if history is None else int(history.size))


@dataclass
class _PayloadJob:
    """An NDU whose payload is still to be decoded (everything the decoding needs)."""

    buf: bytes
    start: int
    end: int
    header: CompressedDataUnitHeader
    ctx: PayloadContext
    r: BitReader
    unit: DecodedUnit
    dialect: Dialect
    names: set[str] = field(default_factory=set)


def _run_payload_job(job: _PayloadJob) -> parallel.Job[tuple[list[CodedTensor], list[bool]]]:
    """On a worker: decode one payload; the levels travel as int32 arrays, not in the pickle."""
    tensors = decode_payload_rules(job.buf, job.start, job.end, job.header, job.ctx, job.r, job.dialect)
    arrays = [t.levels for t in tensors if t.levels is not None]
    has = [t.levels is not None for t in tensors]
    for t in tensors:
        t.levels = None
    return parallel.Job((tensors, has), arrays)


def _attach_levels(res: parallel.Job[tuple[list[CodedTensor], list[bool]]]) -> list[CodedTensor]:
    tensors, has = res.value
    arrays = iter(res.arrays)
    for t, h in zip(tensors, has):
        if h:
            t.levels = next(arrays).reshape(t.shape)
    return tensors


def _dequantize(t: CodedTensor) -> npt.NDArray[np.generic]:
    if t.raw is not None:
        return t.raw
    assert t.levels is not None
    if t.payload_type == PayloadType.NNR_PT_INT:
        return np.array(t.levels)  # the caller's own array; the levels stay the session's TCA base
    assert t.qp is not None
    if t.codebook is not None:
        return dequantize_codebook(t.levels, t.codebook.codebook, t.codebook.cb_zero_offset, t.qp, t.qp_density)
    return dequantize_uniform(t.levels, t.qp, t.qp_density)


def decode(data: StreamInput, *, workers: int = 1, dtype: object = None,
           dialect: Dialect | str = Dialect.AUTO) -> dict[str, npt.NDArray[np.generic]]:
    """Decode one NNR bitstream: tensor name -> array (float32 or int32), in stream order.

    ``workers``: decode the stream's NDUs on this many processes (0: one per core).
    ``dtype="original"`` returns each tensor in the dtype recorded by the encoder (float16,
    bfloat16, int64, ...; see :mod:`nnr.dtypes`); another dtype casts the float tensors.
    ``dialect``: the coding rules of general_profile_idc 0 streams (:class:`Decoder`).
    """
    return Decoder(workers=workers, dialect=dialect).decode(data, dtype=dtype)

