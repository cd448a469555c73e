"""The unit sequence of one stream: ``nnr_unit()`` after ``nnr_unit()`` (mirror of
:mod:`nnr.encoding.stream`; syntax.md §2).

Each unit comes from the one framing iterator (:class:`nnr.units.nnr_unit.Frames`); its structure
is read with the dispatch table and leaves what later units need in the session's unit context;
an aggregate's units are walked the same way; an NDU's payload is decoded here in order, or, with
workers, collected and decoded on the workers (earlier when a later NDU needs an earlier one's
result), then finished in order: the parameter update tree and the TCA base.  The walk returns
the units it read; the NDUs among them carry their tensors; :class:`DecodedStream` holds them
with the reconstructed tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr import parallel
from nnr.bitstream import BitReader
from nnr.decoding.payload import CodedTensor, CodedUnit, PayloadContext, layout_or_none
from nnr.decoding.session import Session
from nnr.decoding.settings import DecodeSettings
from nnr.decoding.reconstruction import OutputTensor, arrays_of
from nnr.decoding.dialect import decode_payload_rules, resolve_stream
from nnr.dialect import Dialect
from nnr.dtypes import DTYPE_OF_FORMAT, TensorInfo, decode_record
from nnr.errors import MalformedStreamError, MissingReferenceError, NNRError
from nnr.incremental import advance, continues_parent
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.dispatch import UnitStructure, structure_for
from nnr.units.layer_parameter_set import LayerParameterSet, LayerParameterSetHeader, LayerParameterSetUnit
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import AggregateUnitHeader, Frame, Frames, NNRUnitHeader
from nnr.units.start_unit import StartUnitHeader
from nnr.units.topology import QuantizationUnit, TopologyUnit
from nnr.units.types import NNRUnitType, TopologyStorageFormat, unit_type_name


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


def walk_units(units: list[DecodedUnit]) -> Iterator[DecodedUnit]:
    """The units in stream order, an aggregate's after it."""
    for u in units:
        yield u
        yield from walk_units(u.children)


def coded_units(units: list[DecodedUnit]) -> list[CodedUnit]:
    """The stream's NDUs with their tensors, in stream order; profile-0 NDUs both dialects decode
    differently settled by the stream's other NDUs (a stream has one writer: nnr.dialect)."""
    coded = [CodedUnit(u.index, u.ndu, u.tensors) for u in walk_units(units) if u.ndu is not None]
    resolve_stream(coded)
    return coded


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
        flat = list(walk_units(self.units))
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
        return arrays_of(self.outputs, info, {n: t.dtype for n, t in info.items()}, dtype)


@dataclass
class PayloadJob:
    """An NDU whose payload is still to be decoded (everything the decoding needs)."""

    frame: Frame
    start: int  # the payload's first byte
    header: CompressedDataUnitHeader
    ctx: PayloadContext
    r: BitReader
    unit: DecodedUnit
    dialect: Dialect
    names: set[str] = field(default_factory=set)

    def decode(self) -> list[CodedTensor]:
        return decode_payload_rules(self.frame.data, self.start, self.frame.end, self.header, self.ctx, self.r,
                                    self.dialect)


class UnitWalk:
    """The units of one stream, read in order into a session (:func:`decode_units`)."""

    def __init__(self, session: Session, settings: DecodeSettings, *, parallel_payloads: bool,
                 row_workers: int = 1, progress: Callable[[int, int], None] | None = None) -> None:
        self.session = session
        self.settings = settings
        self.row_workers = row_workers  # block rows of a unit decoded here on this many processes
        self.progress = progress
        # With workers, NDU payloads are collected while the units are parsed and decoded in
        # parallel later (or earlier, when a later NDU needs an earlier one's result).
        self.pending: list[PayloadJob] | None = [] if parallel_payloads else None
        self.pending_names: set[str] = set()
        self.coded_at: dict[str, int] = {}  # tensor name -> unit that coded it (in this stream)
        self.in_aggregate = False
        oob = settings.out_of_band
        session.ctx.out_of_band = oob.get if oob else None

    def units(self, frames: Frames) -> list[DecodedUnit]:
        units: list[DecodedUnit] = []
        for frame in frames:
            r = frame.reader()
            try:
                unit = self.unit(frame, r)
            except NNRError as e:
                raise e.locate(unit_index=frame.index, unit_type=r.unit_type, bit_offset=r.pos)
            units.append(unit)
            frames.skip(len(unit.children))
            if self.progress is not None and not self.in_aggregate:
                self.progress(frame.end, frames.end)
        return units

    def unit(self, frame: Frame, r: BitReader) -> DecodedUnit:
        """``nnr_unit()`` after its size and common header: the structure its type carries."""
        ctx = self.session.ctx
        h = frame.header
        with r.structure("nnr_unit"):
            u = DecodedUnit(frame.index, frame.offset, h)
            t = h.nnr_unit_type
            if t != NNRUnitType.NNR_STR and ctx.general_profile_idc is None:
                raise r.error(MissingReferenceError, "the first NNR unit of a session must be NNR_STR",
                              "nnr_unit_type", frame.type_bit)
            if t == NNRUnitType.NNR_AGG and self.in_aggregate:  # also bounds a corrupt stream's recursion
                raise r.error(MalformedStreamError, "an aggregate unit inside an aggregate unit",
                              "nnr_unit_type", frame.type_bit)
            if t == NNRUnitType.NNR_NDU and ctx.mps is None:
                raise r.error(MissingReferenceError, "an NNR_NDU needs a preceding NNR_MPS", "nnr_unit_type")
            u.structure = structure_for(t).read(r, ctx)
            u.structure.apply(ctx)
            if t == NNRUnitType.NNR_STR:
                self.session.mps_unit = None
            elif t == NNRUnitType.NNR_MPS:
                self.session.mps_unit = bytes(frame.data[frame.offset:frame.end])
            elif t == NNRUnitType.NNR_NDU:
                self.ndu(frame, r, u)
            elif u.aggregate is not None:
                u.children = self.aggregate(frame, r, u.aggregate)
            if r.pos != r.end_bit and t != NNRUnitType.NNR_NDU:
                raise r.error(MalformedStreamError, f"{(r.end_bit - r.pos) // 8} byte(s) left over at the end of the unit",
                              "nnr_unit_size")
        return u

    def aggregate(self, frame: Frame, r: BitReader, a: AggregateUnitHeader) -> list[DecodedUnit]:
        """The units an NNR_AGG carries, checked against its header."""
        first = r.pos // 8
        n = a.num_of_nnr_units_minus2 + 2
        self.in_aggregate = True
        try:
            children = self.units(Frames(frame.data, first, frame.end, frame.index + 1, frame.framing))
        finally:
            self.in_aggregate = False
        if len(children) != n:
            raise r.error(MalformedStreamError, f"aggregate unit announces {n} NNR units but carries {len(children)}",
                          "num_of_nnr_units_minus2", frame.type_bit + 17)
        if a.entry_points_present_flag:
            for k, (c, typ, ep) in enumerate(zip(children, a.nnr_unit_type, a.nnr_unit_entry_point)):
                if c.header.nnr_unit_type != typ or c.offset - first != ep:
                    raise r.error(MalformedStreamError, f"entry {k} says type {typ} at byte {ep}, the unit there is "
                                  f"{c.type_name} at byte {c.offset - first}", "nnr_unit_entry_point")
        r.skip_to_end()
        return children

    def ndu(self, frame: Frame, r: BitReader, u: DecodedUnit) -> None:
        """An NDU's payload: decoded now, or queued for the workers."""
        session, s = self.session, self.settings
        ctx = session.ctx
        mps, h, lps = ctx.mps, u.ndu, ctx.lps
        assert mps is not None and h is not None
        # a partial_data_counter numbers the pieces of a unit's data split over several units;
        # the notes give no reassembly rule, so each piece must decode on its own
        if lps is not None and lps.has_quantization:
            qp_density, qp = lps.lps_qp_density, lps.lps_quantization_parameter
        else:
            qp_density, qp = mps.mps_qp_density, mps.mps_quantization_parameter
        layout = layout_or_none(h)
        session.budget.charge_stream(layout, r, s.max_expansion)
        pctx = PayloadContext(
            general_profile_idc=ctx.general_profile_idc or 0, qp_density=qp_density, quantization_parameter=qp,
            base=session.state.tca_bases(), history=session.state.histories(),
            verify_entry_points=s.verify_entry_points, max_elements=s.max_tensor_elements,
            max_expansion=s.max_expansion, workers=self.row_workers)
        job = PayloadJob(frame, r.pos // 8, h, pctx, r, u, s.dialect)
        if self.pending is None:
            with r.structure("nnr_compressed_data_unit_payload"):
                tensors = job.decode()
            self.finish_ndu(job, tensors)
            return
        names = None if layout is None else {name for name, _, _ in layout}
        if names is None or not names.isdisjoint(self.pending_names):
            self.flush()  # this unit's TCA base or PUT node comes from a pending one
        job.names = names or set()
        self.pending_names |= job.names
        self.pending.append(job)

    def finish_ndu(self, job: PayloadJob, tensors: list[CodedTensor]) -> None:
        """After an NDU's payload: PUT bookkeeping, the TCA base, the unit's tensors."""
        r, u, h = job.r, job.unit, job.header
        for t in tensors:  # one policy for a name coded twice: the second is an error
            first = self.coded_at.get(t.name)
            if first is not None:
                raise MalformedStreamError(f"tensor {t.name!r} was already coded by unit {first}", unit_index=u.index,
                                           unit_type="NNR_NDU", element="topology_elem_id",
                                           bit_offset=8 * u.offset)
        for t in tensors:
            self.coded_at[t.name] = u.index
        r.skip_to_end()
        self.advance_put(h, tensors, r)
        st = self.session.state.tensors
        for t in tensors:  # one copy of the levels: the TCA base the state now keeps
            lv, ts = t.levels, st.get(t.name)
            if lv is not None and ts is not None and ts.levels is not None and ts.levels.size == lv.size:
                t.levels = ts.levels.reshape(t.shape)
        u.tensors = tensors

    def flush(self) -> None:
        """Decode the pending NDU payloads on the workers, then finish the units in order."""
        jobs = self.pending
        if not jobs:
            return
        self.pending = []
        self.pending_names = set()
        workers = self.settings.workers
        # a unit larger than the others together: here, its block rows on the workers (if it has
        # entry points: nnr.decoding.split), the others on the workers first
        sizes = [j.frame.end - j.start for j in jobs]
        big = {i for i, n in enumerate(sizes) if n * workers > sum(sizes)}
        for i in big:
            jobs[i].ctx = replace(jobs[i].ctx, workers=workers)
        rest = [i for i in range(len(jobs)) if i not in big]
        results: list[Any] = [parallel.FAILED] * len(jobs)
        try:
            for i, res in zip(rest, parallel.run(lambda k: _run_payload_job(jobs[rest[k]]), [sizes[i] for i in rest],
                                                 workers)):
                results[i] = res
        except NNRError:  # ran in this process: decode in order below, for the located error
            results = [parallel.FAILED] * len(jobs)
        for job, res in zip(jobs, results):
            try:
                if isinstance(res, parallel.Job):
                    tensors = _attach_levels(res)
                else:  # failed on a worker: decode here for the exact error (or a lost worker's result)
                    with job.r.structure("nnr_unit"), job.r.structure("nnr_compressed_data_unit_payload"):
                        tensors = job.decode()
                with job.r.structure("nnr_unit"):
                    self.finish_ndu(job, tensors)
            except NNRError as e:
                raise e.locate(unit_index=job.unit.index, unit_type=job.r.unit_type, bit_offset=job.r.pos)

    def advance_put(self, h: CompressedDataUnitHeader, tensors: list[CodedTensor], r: BitReader) -> None:
        """Parameter update tree: with TCA the node must continue its parent; then it becomes the
        tensor's node, its levels the TCA base."""
        st = self.session.state.tensors
        tca = bool(h.temporal_context_modeling_flag) and self.session.ctx.general_profile_idc == 1
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


def decode_units(frames: Frames, walk: UnitWalk) -> list[DecodedUnit]:
    """Every unit of a stream, its NDUs' payloads decoded (the last pending ones too)."""
    try:
        units = walk.units(frames)
    except NNRError:
        walk.flush()  # an earlier unit's payload error comes first, as in order
        raise
    walk.flush()
    if not units:
        raise MalformedStreamError("the stream holds no NNR unit", unit_index=0, element="nnr_unit", bit_offset=0)
    return units


def _run_payload_job(job: PayloadJob) -> parallel.Job[tuple[list[CodedTensor], list[bool]]]:
    """On a worker: decode one payload; the levels travel as int32 arrays, not in the pickle."""
    tensors = job.decode()
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
