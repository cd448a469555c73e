"""``nnr_compressed_data_unit_payload()`` of one NDU: its tensors coded (mirror of
:mod:`nnr.decoding.payload`).

Per tensor, in coding order: the QP offset (PT_FLOAT, PT_BLOCK), then the levels
(:func:`nnr.encoding.layer.encode_layer`); after the last tensor the terminating bin.
PT_RAW_FLOAT carries float32 values instead (:func:`raw_payload`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnr.bitstream import BitWriter
from nnr.bitstream.bintrace import BinTracer
from nnr.cabac.arith_encoder import ArithmeticEncoder
from nnr.cabac.coding import qp_offset_bits
from nnr.cabac.enc_levels import TensorEncodeInfo, encode_codeword_end, encode_iae, entry_points
from nnr.encoding.approx import Approximation, QuantMethod, Quantized
from nnr.encoding.layer import LayerCoding, encode_layer
from nnr.encoding.settings import EncodeSettings
from nnr.encoding.split import SplitCoding
from nnr.errors import NNRUsageError
from nnr.incremental import IncrementalState, continues_parent
from nnr.units.compressed_data_payload import CodedSpan, trace_coded_tensor
from nnr.units.compressed_data_unit import CompressedDataUnitHeader, EntryPoint
from nnr.units.types import PayloadType


def base_levels(state: IncrementalState, name: str, q: Quantized, h: CompressedDataUnitHeader) -> list[int]:
    """The TCA base of a tensor, whose node must continue the state's (the PUT check)."""
    bad = continues_parent(state.get(name), h.device_id, h.parameter_id, h.put_node_depth)
    if bad is not None:
        raise NNRUsageError(f"{name!r}: {bad.reason} (incremental state)")
    arr = state.levels(name)
    assert arr is not None
    if arr.size != q.values.size:
        raise NNRUsageError(f"{name!r} has {q.values.size} elements, its previous update had {arr.size}")
    flat: list[int] = arr.reshape(-1).astype(np.int64).tolist()
    return flat


# a unit's payload, its entry points, per tensor where the decoder outputs other DQ indices than those coded
# (position, index, flat: TensorEncodeInfo.dq_decoded)
Payload = tuple[bytes, list[EntryPoint], dict[str, list[int]]]


@dataclass(frozen=True)
class PayloadTrace:
    """Who sees a payload being coded: ``trace`` its elements as the decoder traces them
    (:func:`nnr.decoding.payload.decode_payload`: per tensor qp_offset, then the side information
    and one summary of the levels), ``bins`` its bins (offsets in the codeword; the caller places
    them in the stream) as the decoder's bin trace of unit ``unit`` has them."""

    trace: BitWriter | None = None
    bins: BinTracer | None = None
    unit: int | None = None


def encode_payload(a: Approximation, s: EncodeSettings, names: list[str], h: CompressedDataUnitHeader,
                   state: IncrementalState | None, hdsp_on: bool, seen: PayloadTrace = PayloadTrace()) -> Payload:
    """``nnr_compressed_data_unit_payload()`` of the unit holding ``names``: its arithmetic
    codeword (the mirror of :func:`nnr.decoding.payload.decode_payload`), entry points and, per
    tensor, where the decoder outputs other DQ indices than those coded."""
    trace, bins, unit = seen.trace, seen.bins, seen.unit
    enc = ArithmeticEncoder()
    infos: list[TensorEncodeInfo] = []
    coded: list[str] = []
    pt = h.nnr_compressed_data_unit_payload_type
    gpi = s.general_profile_idc
    for n in names:
        q = a.out[n]
        if q.method == QuantMethod.RAW:
            continue
        if bins is not None:
            enc.set_tracer(bins.begin_tensor(unit, n, s.cabac_unary_length_minus1 + 1, 0, enc))
        if pt in (PayloadType.NNR_PT_FLOAT, PayloadType.NNR_PT_BLOCK):
            b0 = int(enc.bit_position())
            if enc.traced and enc.tracer is not None:
                enc.tracer.name_bypass("qp_offset")
            nbits = qp_offset_bits(a.qp_density)
            encode_iae(enc, nbits, q.qp)
            if trace is not None:  # the MPS's quantization parameter is 0: the offset is the QP
                trace.trace_value("qp_offset", f"iae({nbits})", b0, q.qp, nbits)
        cb_size = len(q.codebook or []) if (gpi == 1 and q.method == QuantMethod.CODEBOOK) else 0
        cb_zero = q.cb_zero if cb_size else 0
        tca_base = None
        if h.temporal_context_modeling_flag and gpi == 1 and state is not None:
            tca_base = base_levels(state, n, q, h)
        history = None
        if hdsp_on:
            assert state is not None
            harr = state.history(n)
            assert harr is not None
            if harr.size != q.values.size:
                raise NNRUsageError(f"the HDSP history of {n!r} has {harr.size} entries, the tensor {q.values.size}")
            history = harr.astype(np.int64).tolist()
        info = encode_layer(enc, q.values, LayerCoding(
            dq=bool(q.dq), scan_order=h.scan_order, gpi=gpi,
            parent_node_id_present=bool(h.parent_node_id_present_flag), num_gtx=s.cabac_unary_length_minus1 + 1,
            param_opt=s.param_opt, row_skip=bool(s.row_skipping) and gpi == 1, cb_size=cb_size, cb_zero=cb_zero,
            base=tca_base, history=history, hdsp=hdsp_on, ed1=s.ed1,
        ))
        infos.append(info)
        coded.append(n)
        if trace is not None:
            _trace_levels(trace, n, q, info, int(enc.bit_position()))
    t_end = int(enc.bit_position())
    if bins is not None:
        enc.set_tracer(bins.begin_end(unit, 0, enc) if infos else None)
    data = encode_codeword_end(enc)
    if trace is not None and infos:  # with the stop bit and padding, as the decoder reports it
        trace.trace_value("terminate_bin", "ae(v)", t_end, 1, 8 * len(data) - t_end)
    eps: list[EntryPoint] = []
    decoded: dict[str, list[int]] = {}
    for n, info in zip(coded, infos):
        flat = entry_points(data, info)
        for j in range(0, len(flat), 3):
            eps.append(EntryPoint(flat[j], flat[j + 1], flat[j + 2]))
        if info.dq_decoded:
            decoded[n] = list(info.dq_decoded)
    return (data if infos else b""), eps, decoded


def _trace_levels(w: BitWriter, name: str, q: Quantized, info: TensorEncodeInfo, end: int) -> None:
    """One tensor's side information and levels summarised as the decoder summarises them.
    Offsets are codeword positions (the decoder's bit counter); the encoder does not mark where
    the row_skip_flag bins end, so with row skipping the parameter_set_ids event starts where the
    row_skip_flag bins start."""
    at = int(info.bit_start) + int(info.hdsp_flag_coded) + int(info.row_skip_enabled_flag_coded)
    levels = int(info.bit_levels)
    trace_coded_tensor(w, name, q.values, int(q.values.size), info,
                       CodedSpan(int(info.bit_start), at, levels, at, levels, end))


def raw_payload(a: Approximation, names: list[str]) -> bytes:
    """The payload of an NNR_PT_RAW_FLOAT unit: its tensors as little-endian float32."""
    return b"".join(np.ascontiguousarray(a.out[n].values, dtype="<f4").tobytes() for n in names)


def split_coding(a: Approximation, s: EncodeSettings, h: CompressedDataUnitHeader, q: Quantized) -> SplitCoding:
    """How the unit of a split tensor (:mod:`nnr.encoding.split`) is coded."""
    return SplitCoding(a.qp_density, bool(q.dq), s.general_profile_idc, bool(h.parent_node_id_present_flag),
                       s.cabac_unary_length_minus1 + 1, s.param_opt)
