"""Assembling the NNR units of one stream from an :class:`~nnr.encoding.approx.Approximation`.

Unit sequence and header values are NNCodec 2.1.3's: NNR_STR, NNR_MPS (qp density, quantization
parameter 0, topology carriage flag 1), NNR_TPL for a known topology storage format (empty
topology data), then one NNR_NDU per single tensor and per block.  A block becomes one
NNR_PT_BLOCK unit when its members allow it (same DQ flag, no integer member, codebooks only on
the weight, the same method for both decomposition factors); otherwise each member gets its
own unit, still carrying the block's compressed_parameter_types.

Edition 2 (general_profile_idc 1): every NDU has a node id (device id, parameter id = the
tensor's position in the model, PUT node depth counted per tensor in the incremental state);
update streams (``compress_differences``) add a parent node id, temporal context adaptation
where the state holds the tensor's previous levels, and the HDSP flag chosen by coding the unit
both ways.  In update streams, units whose levels are all zero are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.cabac.scan import matrix_shape
from nnr import parallel
from nnr.bitstream import BitWriter, TraceEvent
from nnr.bitstream.bintrace import BinTracer
from nnr.block_layout import BlockRole
from nnr.dtypes import encode_record, record_entries, unit_format
from nnr.encoding.approx import Approximation, QuantMethod, Quantized
from nnr.encoding.model import Block
from nnr.encoding.payload import Payload, PayloadTrace, base_levels, encode_payload, raw_payload, split_coding
from nnr.encoding.split import encode_split_payload
from nnr.encoding.settings import EncodeSettings
from nnr.errors import NNRUsageError
from nnr.incremental import IncrementalState, advance, child_depth, continues_parent
from nnr.units.compressed_data_unit import CompressedDataUnitHeader, EntryPoint, IntegerCodebook
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.topology import TopologyUnit
from nnr.units.types import CompressedParameterTypes as CPT
from nnr.units.types import ParentNodeIdType, PayloadType, TopologyStorageFormat
from nnr.writer import StreamWriter




@dataclass
class UnitPlan:
    """One NDU to write: its tensors (coding order) and header values."""

    names: list[str]
    is_block: bool
    cpt: int
    dims: tuple[int, ...]  # tensor_dimensions (a block's: the weight's)
    key: str  # the tensor whose settings the header takes (weight / G for a block)
    block: Block | None = None
    parameter_id: int = 0


@dataclass
class StreamResult:
    data: bytes
    oob: dict[str, dict[str, Any]] = field(default_factory=dict)
    coded: list[str] = field(default_factory=list)  # tensors in the stream, coding order
    omitted: list[str] = field(default_factory=list)  # all-zero tensors left out of an update stream
    dq_index_mismatches: int = 0
    state: IncrementalState | None = None  # the session state after this stream (with a state given)
    hdsp_modes: dict[str, int] = field(default_factory=dict)  # HDSP tried both ways: 1 = chosen on
    trace: list[TraceEvent] = field(default_factory=list)  # every element written (write_stream(trace=True))


def _block_possible(a: Approximation, blk: Block, cpt: int) -> bool:
    members = blk.members(cpt)
    out = a.out
    if cpt & CPT.NNR_CPT_DC:
        g, h = out.get(blk.dc_g), out.get(blk.dc_h)
        if g is not None and h is not None and g.method != h.method:
            return False
    for role, n, _ in members:
        q = out[n]
        if role not in (BlockRole.WEIGHT, BlockRole.DC_G, BlockRole.DC_H) and q.method == QuantMethod.CODEBOOK:
            return False
    dqs = {int(a.dq.get(n, 0)) if out[n].method != QuantMethod.RAW else -1 for _, n, _ in members}
    if len(dqs) > 1:
        return False
    return not any(out[n].method == QuantMethod.INTEGER for _, n, _ in members)


def plan_units(a: Approximation, out_of_band: bool = False) -> list[UnitPlan]:
    m = a.model
    index = m.index
    plans: list[UnitPlan] = []
    for b, name in m.walk():
        if b is None:
            # NNCodec: the array's shape in band, the model's dimensions out of band
            dims = m.dims[name] if out_of_band else (tuple(a.params[name].shape) or (1,))
            plans.append(UnitPlan([name], False, 0, dims, name, parameter_id=index[name]))
            continue
        blk = m.block(b)
        cpt = a.cpt[b]
        members = blk.members(cpt)
        for _, n, _ in members:
            if n in a.out and a.out[n].method == QuantMethod.RAW and len(members) > 1:
                raise NNRUsageError(f"block {b!r}: member {n!r} has a parameter type NNCodec does not code")
        key = blk.dc_g if cpt & CPT.NNR_CPT_DC else blk.w
        if _block_possible(a, blk, cpt):
            plans.append(UnitPlan([n for _, n, _ in members], True, cpt, tuple(m.dims[blk.w]), key, blk,
                                  parameter_id=index[blk.w]))
        else:
            for _, n, dims in members:
                if n in index:
                    pid = index[n]
                elif n == blk.bi and blk.has_bn:
                    pid = index[blk.bn(BlockRole.BN_BETA)]
                elif n == blk.ls and blk.has_bn:
                    pid = index[blk.bn(BlockRole.BN_GAMMA)]
                elif n in (blk.dc_g, blk.dc_h):
                    pid = index[blk.w]
                else:
                    raise NNRUsageError(f"tensor {n!r} of block {b!r} is not in the model")
                plans.append(UnitPlan([n], False, cpt, tuple(dims), n, blk, parameter_id=pid))
    return plans


def _header(a: Approximation, s: EncodeSettings, p: UnitPlan, state: IncrementalState | None) -> CompressedDataUnitHeader:
    q = a.out[p.key]
    h = CompressedDataUnitHeader()
    if p.is_block:
        h.nnr_compressed_data_unit_payload_type = PayloadType.NNR_PT_BLOCK
    elif q.method.quantized:
        h.nnr_compressed_data_unit_payload_type = PayloadType.NNR_PT_FLOAT
    elif q.method == QuantMethod.INTEGER:
        h.nnr_compressed_data_unit_payload_type = PayloadType.NNR_PT_INT
    else:
        h.nnr_compressed_data_unit_payload_type = PayloadType.NNR_PT_RAW_FLOAT
    pt = h.nnr_compressed_data_unit_payload_type
    if pt != PayloadType.NNR_PT_RAW_FLOAT:
        h.dq_flag = int(a.dq.get(p.key, 0))
    h.nnr_multiple_topology_elements_present_flag = 1 if p.is_block else 0
    fmt = unit_format(a.tensor_info, p.names) if a.tensor_info else None
    h.nnr_decompressed_data_format_present_flag = 0 if fmt is None else 1
    h.nnr_decompressed_data_format = fmt
    h.input_parameters_present_flag = 1
    if p.is_block:
        assert p.block is not None
        h.topology_elem_id_list = p.block.id_list(p.cpt)
    else:
        h.topology_elem_id = p.names[0]
    h.compressed_parameter_types = p.cpt
    if p.cpt & CPT.NNR_CPT_DC:
        assert p.block is not None
        rank, rows = a.decomposition[p.block.block_id]
        h.decomposition_rank = rank
        h.g_number_of_rows = rows
    # dimensions and cabac_unary_length in band or out of band (NNCodec's rules)
    out_of_band = s.out_of_band
    dims_oob = out_of_band or (p.block is not None and bool(s.mps_parent_signalling_enabled_flag))
    h.tensor_dimensions = list(p.dims)
    h.tensor_dimensions_flag = 0 if dims_oob else 1
    h.cabac_unary_length_flag = 0 if out_of_band else 1
    h.cabac_unary_length_minus1 = s.cabac_unary_length_minus1
    if q.method == QuantMethod.CODEBOOK:
        h.codebook_present_flag = 1
        h.codebook = IntegerCodebook(q.cb_egk, list(q.codebook or []), q.cb_zero)
        if p.is_block and p.cpt & CPT.NNR_CPT_DC:
            assert p.block is not None
            qh = a.out[p.block.dc_h]
            if qh.method != QuantMethod.CODEBOOK:
                raise NNRUsageError("decomposed factors must use the same method")
            h.codebook_dc = IntegerCodebook(qh.cb_egk, list(qh.codebook or []), qh.cb_zero)
    if s.general_profile_idc == 1:
        h.node_id_present_flag = 1
        h.device_id = s.device_id
        # a tensor keeps the parameter_id of its first unit (an update may carry fewer tensors,
        # so its position in this stream's model is no id)
        known = state.get(p.key) if state is not None and state.keep_parameter_ids else None
        h.parameter_id = known.parameter_id if known is not None and known.parameter_id is not None else p.parameter_id
        h.put_node_depth = 0 if state is None else child_depth(state.get(p.key))
        if s.parent_node_id_present_flag:
            h.parent_node_id_present_flag = 1
            h.parent_node_id_type = ParentNodeIdType.ICNN_NDU_ID
            h.parent_device_id = 0
            h.temporal_context_modeling_flag = 1 if (
                s.tca and state is not None and state.levels(p.key) is not None) else 0
    if len(h.tensor_dimensions) > 1:
        h.scan_order = int(a.scan_order.get(p.key, 0))
    return h




def _check_qp(a: Approximation, s: EncodeSettings, name: str, q: Quantized) -> None:
    lo, hi = s.qp_limits
    if q.method.quantized and not lo <= q.qp <= hi:
        raise NNRUsageError(f"tensor {name!r} needs QP {q.qp}, which iae({6 + a.qp_density}) cannot signal "
                            f"({lo}..{hi}); use a larger qp_density")


def write_stream_head(w: StreamWriter, a: Approximation, s: EncodeSettings, plans: list[UnitPlan]) -> None:
    """The units before the NDUs (``plans``, :func:`plan_units`): NNR_STR, NNR_MPS, the topology
    units (with nnr's tensor-info record when ``a.tensor_info`` holds what the NDU headers cannot
    carry)."""
    gpi = s.general_profile_idc
    w.start_unit(gpi)
    mps = ModelParameterSet(topology_carriage_flag=1, mps_quantization_method_flags=1,
                            mps_parent_signalling_enabled_flag=s.mps_parent_signalling_enabled_flag,
                            nnr_pre_flag=1 if (s.pre_signalling and gpi == 1) else 0,
                            mps_qp_density=a.qp_density, mps_quantization_parameter=0)
    w.model_parameter_set(mps)
    if a.model.topology_storage_format is not None:
        w.topology(TopologyUnit(int(a.model.topology_storage_format), a.model.topology_compression_format, b"\x00"))
    if a.tensor_info:
        record = record_entries(a.tensor_info, [p.names for p in plans])
        if record:  # what nnr_decompressed_data_format cannot carry (nnr.dtypes)
            w.topology(TopologyUnit(int(TopologyStorageFormat.NNR_TPL_UNREC), 0, encode_record(record) + b"\x00"))


@dataclass(frozen=True)
class StreamWatch:
    """Who follows :func:`write_stream`: ``tick`` the elements of each unit written; ``trace``:
    record every element written in ``result.trace``, as a decoder's tracer sees it (the
    arithmetic-coded payload as per-tensor summaries); ``bins`` the bins of the payloads, as the
    decoder's bin trace (:mod:`nnr.bitstream.bintrace`) has them."""

    tick: Callable[[int], None] | None = None
    trace: bool = False
    bins: BinTracer | None = None


def write_stream(a: Approximation, s: EncodeSettings, *, state: IncrementalState | None = None,
                 hdsp: bool = False, put_nodes: bool = True,
                 workers: int = 1, split: frozenset[str] = frozenset(), watch: StreamWatch = StreamWatch()
                 ) -> StreamResult:
    """The NNR units of one stream.  ``state`` is the session's incremental state (not changed:
    the state after the stream is ``result.state``, its HDSP histories not yet updated); with
    ``hdsp``, units whose tensors all have a history are coded with and without HDSP and the
    shorter kept (``result.hdsp_modes``).  ``put_nodes=False`` uses only the state's histories
    (NNCodec without ``approx_param_base``: put_node_depth 0, no TCA, nodes not kept).
    ``workers`` > 1: the units' payloads (independent: every header and TCA base comes from the
    state at the start of the stream) are coded on that many processes first, the same bytes.
    ``watch``: who follows the writing (:class:`StreamWatch`: progress, element trace, bin trace;
    the same bytes).
    ``split``: tensors split into block rows (:mod:`nnr.encoding.split`): a unit holding one of
    them alone is coded here first, its block rows on the workers (the same bytes as coded
    whole)."""
    for name, q in a.out.items():
        _check_qp(a, s, name, q)
    gpi = s.general_profile_idc
    tick, trace, bins = watch.tick, watch.trace, watch.bins
    w = StreamWriter(trace=trace)
    plans = plan_units(a, s.out_of_band)
    write_stream_head(w, a, s, plans)
    res = StreamResult(b"")
    use_hdsp = gpi == 1 and hdsp and state is not None
    after = state.copy() if state is not None else None
    nodes = state if put_nodes else None
    # Headers first (cheap; a failure is raised after the units before it, as in order), then
    # the payloads (on workers, or one by one below), then the units in order.
    units: list[tuple[UnitPlan, CompressedDataUnitHeader, tuple[int, ...]]] = []
    failure: Exception | None = None
    try:
        for p in plans:
            h = _header(a, s, p, nodes)
            ph, pw = matrix_shape(p.dims)
            if h.scan_order > 0 and not (pw > 1 and ph > 1):
                # a single row or column is coded row-major anyway; NNCodec cannot write such a
                # unit (its entry-point list is missing), the row-major scan_order 0 describes it
                h.scan_order = 0
            coded = [n for n in p.names if a.out[n].method != QuantMethod.RAW]
            # an all-zero update is left out (NNCodec's rule); an nnr.Encoder session leaves it out
            # only for a tensor the receiver already holds: a base model's all-zero bias is coded
            first = state is not None and state.keep_parameter_ids and any(state.get(n) is None for n in p.names)
            if (s.mps_parent_signalling_enabled_flag and not first
                    and all(not np.any(a.out[n].values) for n in p.names)):
                res.omitted += p.names
                continue
            if s.out_of_band:
                for n in p.names:
                    res.oob[n] = {"compressed_parameter_types": p.cpt, "tensor_dimensions": list(p.dims),
                                  "count_tensor_dimensions": len(p.dims),
                                  "cabac_unary_length_minus1": s.cabac_unary_length_minus1}
            elif not h.tensor_dimensions_flag:
                for n in p.names:
                    res.oob[n] = {"tensor_dimensions": list(p.dims), "count_tensor_dimensions": len(p.dims)}
            if h.nnr_compressed_data_unit_payload_type == PayloadType.NNR_PT_RAW_FLOAT:
                modes: tuple[int, ...] = ()
            elif use_hdsp and state is not None and coded and all(state.history(n) is not None for n in p.names):
                modes = (0, 1)  # coded with and without HDSP, the shorter kept
            else:
                modes = (0,)
            units.append((p, h, modes))
    except Exception as e:  # noqa: BLE001 - re-raised below, after the units before it
        failure = e
    done: dict[tuple[int, int], parallel.Job[Payload] | parallel.Failed] = {}
    if split:
        for k, (p, h, modes) in enumerate(units):
            if len(p.names) == 1 and p.names[0] in split and modes == (0,) and h.scan_order > 0:
                q = a.out[p.names[0]]
                data, row_eps, decoded = encode_split_payload(q.values, q.qp, split_coding(a, s, h, q), workers)
                done[(k, 0)] = parallel.Job((data, row_eps, {p.names[0]: decoded} if decoded else {}))
    tasks = [(k, m) for k, (_, _, modes) in enumerate(units) for m in modes if (k, m) not in done]
    if workers > 1 and len(tasks) > 1:

        def job(i: int) -> parallel.Job[Payload]:
            k, m = tasks[i]
            return parallel.Job(encode_payload(a, s, units[k][0].names, units[k][1], state, m == 1))

        costs = [sum(int(a.out[n].values.size) for n in units[k][0].names) for k, _ in tasks]
        done.update(zip(tasks, parallel.run(job, costs, workers)))

    def payload_of(k: int, mode: int) -> Payload:
        r = done.get((k, mode), parallel.FAILED)
        if isinstance(r, parallel.Job):
            return r.value
        return encode_payload(a, s, units[k][0].names, units[k][1], state, mode == 1)

    for k, (p, h, modes) in enumerate(units):
        eps: list[EntryPoint] = []
        payload_events: list[TraceEvent] = []
        tw = BitWriter(tracer=payload_events.append) if trace else None
        unit_index = len(w.units)
        first_bin = len(bins.events) if bins is not None else 0
        mism: dict[str, list[int]] = {}
        if not modes:
            payload = raw_payload(a, p.names)
        elif len(modes) == 2:
            cands = [payload_of(k, m) for m in modes]
            best = 1 if len(cands[1][0]) < len(cands[0][0]) else 0
            for n in p.names:
                res.hdsp_modes[n] = best
            payload, eps, mism = cands[best]
            if tw is not None or bins is not None:  # trace the kept coding
                encode_payload(a, s, p.names, h, state, best == 1, PayloadTrace(tw, bins, unit_index))
        else:
            # traced: coded again here with the tracer (the same bytes)
            payload, eps, mism = (payload_of(k, 0) if tw is None and bins is None
                                  else encode_payload(a, s, p.names, h, state, False, PayloadTrace(tw, bins, unit_index)))
        res.dq_index_mismatches += sum(len(v) // 2 for v in mism.values())
        if h.scan_order > 0:
            h.cabac_entry_point_list = eps
        elif eps:
            raise NNRUsageError(f"unit of {p.names[0]!r}: entry points without a block scan")
        for n, fix in mism.items():
            # DQ indices of the wrong parity for their state (bit-depth clipping after the
            # trellis): the stream (NNCodec's bytes) decodes to neighbouring indices; what the
            # encoder reports and keeps as TCA base is what the decoder will output (the level
            # encoder says which)
            values = a.out[n].values.copy()
            flat = values.reshape(-1)
            flat[np.array(fix[0::2], dtype=np.int64)] = np.array(fix[1::2], dtype=flat.dtype)
            a.out[n] = replace(a.out[n], values=values)
        w.compressed_data_unit(h, payload, payload_events=payload_events)
        if bins is not None:  # the payload ends the unit: place its bins in the stream
            bins.place(first_bin, 8 * (sum(len(u) for u in w.units) - len(payload)))
        res.coded += p.names
        if tick is not None:
            tick(sum(int(a.out[n].values.size) for n in p.names))
        if after is not None and put_nodes:
            for n in p.names:
                # each tensor's depth counts its own updates (NNCodec's rule; equal to the
                # unit's put_node_depth for the tensor the header is taken from)
                prev = after.get(n)
                after.tensors[n] = advance(prev, h.device_id, h.parameter_id, child_depth(prev), _tca_levels(a.out[n]))
    if failure is not None:
        raise failure
    res.data = w.getvalue()
    if trace:
        res.trace = w.trace()
    res.state = after
    return res


def _tca_levels(q: Quantized) -> npt.NDArray[np.int32]:
    """What a coded tensor leaves as TCA base: its levels (a raw tensor has none; zeros of its
    shape stand in, so that its next unit carries the TCA flag as NNCodec's does)."""
    if q.method == QuantMethod.RAW:
        return np.zeros(q.values.shape, dtype=np.int32)
    return np.asarray(q.values, dtype=np.int32)


def levels_dict(a: Approximation) -> dict[str, npt.NDArray[Any]]:
    """NNCodec's ``approx_data['parameters']`` after approximation (what the HDSP history gets)."""
    out: dict[str, npt.NDArray[Any]] = {}
    for name, v in a.params.items():
        q = a.out.get(name)
        out[name] = q.values if q is not None else v
    return out
