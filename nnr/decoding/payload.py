"""Decoding of ``nnr_compressed_data_unit_payload()`` (syntax.md §8.5, deepcabac.md §1, §4, §5).

For each tensor of an NDU, in coding order: the QP offset (PT_FLOAT, PT_BLOCK), then the levels
(:func:`nnr.cabac.dec_levels.decode_tensor_levels`); after the last tensor the terminating bin.
PT_RAW_FLOAT carries float32 values instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from nnr.bitstream import BitReader
from nnr.cabac.arith_decoder import ArithmeticDecoder
from nnr.block_layout import BlockRole, block_coding_order, block_id_order
from nnr.cabac.coding import coding_unit, qp_offset_bits, tensor_coding
from nnr.cabac.dec_levels import LevelBuffer, TensorSideInfo, decode_codeword_end, decode_tensor_levels
from nnr.cabac.scan import num_block_rows
from nnr.decoding.split import decode_rows, level_array, row_decodable
from nnr.errors import LimitExceededError, MalformedStreamError, MissingReferenceError, NNRError, TruncatedStreamError
from nnr.limits import MAX_TENSOR_ELEMENTS
from nnr.units.compressed_data_payload import CodedSpan, trace_coded_tensor
from nnr.units.compressed_data_unit import CompressedDataUnitHeader, IntegerCodebook
from nnr.units.types import CompressedParameterTypes as CPT
from nnr.units.types import PayloadType

BINS_PER_BIT = 128  # safe upper bound of context-coded bins per payload bit
# Elements a payload may describe without coding each one (skipped rows, a size-1 codebook):
# at most this many per payload byte (counting EXPANSION_SLACK_BYTES more than it has).  Bounds
# what a tiny stream can make the decoder allocate (docs/robustness.rst); Decoder(max_expansion=...)
# sets it.
EXPANSION_PER_BYTE = 1 << 13
EXPANSION_SLACK_BYTES = 32


def stream_element_limit(nbytes: int, max_expansion: int) -> int:
    """Elements the NDUs of an ``nbytes``-byte stream may describe together: ``max_expansion``
    per byte (with the slack) plus what its bits could code one by one (docs/robustness.rst)."""
    return max_expansion * (nbytes + EXPANSION_SLACK_BYTES) + 8 * BINS_PER_BIT * nbytes


@dataclass
class CodedTensor:
    """One tensor of an NDU as decoded from the payload, before reconstruction."""

    name: str
    role: BlockRole
    shape: list[int]
    payload_type: int
    levels: npt.NDArray[np.int32] | None = None  # integer levels (DQ-mapped)
    raw: npt.NDArray[np.float32] | None = None  # PT_RAW_FLOAT
    qp: int | None = None
    qp_density: int = 0
    dq_flag: int = 0
    codebook: IntegerCodebook | None = None
    side: TensorSideInfo = field(default_factory=TensorSideInfo)
    tca: bool = False
    bit_offset: int | None = None  # where the tensor's coded data starts (for later errors)
    dialect: str | None = None  # general_profile_idc 0: the coding rules used (nnr.dialect), and why
    dialect_reason: str | None = None
    dialect_alternative: CodedTensor | None = None  # the ed2 reading of an ambiguous NDU, until settled

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class CodedUnit(NamedTuple):
    """The tensors one NDU decoded to (what reconstruction and the session take from a stream)."""

    unit_index: int
    header: CompressedDataUnitHeader
    tensors: list[CodedTensor]


@dataclass
class PayloadContext:
    """What the payload decoding needs besides the header."""

    general_profile_idc: int
    qp_density: int
    quantization_parameter: int
    base: Mapping[str, list[int]]  # TCA: last decoded levels per tensor name
    history: Mapping[str, list[int]]  # HDSP: ever-non-zero positions per tensor name
    verify_entry_points: bool = True
    max_elements: int = MAX_TENSOR_ELEMENTS
    max_expansion: int = EXPANSION_PER_BYTE
    workers: int = 1  # block rows of a tensor with entry points decoded on this many processes
    ed1: bool = False  # the edition-1 reference software's coding rules (nnr.dialect)


Layout = list[tuple[str, BlockRole, list[int]]]  # (name, role, shape) of each tensor of an NDU, coding order


def layout_or_none(h: CompressedDataUnitHeader) -> Layout | None:
    """:func:`tensor_layout`, or None where the header does not give it (the payload decoding
    reports why, in order)."""
    try:
        return tensor_layout(h)
    except NNRError:
        return None


def tensor_layout(h: CompressedDataUnitHeader) -> Layout:
    """(name, role, shape) of each tensor of the unit, in coding order (syntax.md §8.2)."""
    dims = list(h.tensor_dimensions)
    pt = h.nnr_compressed_data_unit_payload_type
    cpt = h.compressed_parameter_types
    g, r = h.g_number_of_rows or 0, h.decomposition_rank or 0
    if pt != PayloadType.NNR_PT_BLOCK:
        name = h.ids[0]
        if cpt & CPT.NNR_CPT_DC:
            if name.endswith("_G"):
                return [(name, BlockRole.DC_G, [g, r])]
            _check_decomposition(g, dims)
            return [(name, BlockRole.DC_H, [r, math.prod(dims) // g])]
        return [(name, BlockRole.TENSOR, dims)]
    ids = h.ids
    roles = block_id_order(cpt)
    if len(ids) != len(roles):
        raise MalformedStreamError(
            f"topology_elements_ids_list has {len(ids)} ids, compressed_parameter_types {cpt} needs {len(roles)}",
            element="count_topology_elements_minus2",
        )
    if not dims:
        raise MalformedStreamError("NNR_PT_BLOCK without tensor dimensions", element="tensor_dimensions")
    if cpt & CPT.NNR_CPT_DC:
        _check_decomposition(g, dims)
    name_of = dict(zip(roles, ids))
    shape_of = {BlockRole.WEIGHT: dims, BlockRole.DC_G: [g, r], BlockRole.DC_H: [r, math.prod(dims) // max(g, 1)]}
    return [(name_of[role], role, list(shape_of.get(role, [dims[0]]))) for role in block_coding_order(cpt)]


def check_tensor_size(name: str, shape: list[int], max_elements: int) -> None:
    """A tensor's dimensions, checked in Python ints before anything is sized from them.

    A zero dimension makes the element count 0 but not the other dimensions harmless (they size
    rows, blocks and entry points), so the product of the non-zero dimensions is bounded too.
    """
    if any(d < 0 for d in shape):
        raise MalformedStreamError(f"negative dimension in {shape}", element="tensor_dimensions")
    span = math.prod(d for d in shape if d)
    if span > max_elements:
        n = math.prod(shape)
        shown = shape if len(str(shape)) < 200 else f"{len(shape)} dimensions"
        raise LimitExceededError(
            f"tensor {name!r} {shown} spans {span} elements ({n} coded), more than the limit {max_elements}",
            element="tensor_dimensions")


def _check_decomposition(g_number_of_rows: int, dims: list[int]) -> None:
    """G has g_number_of_rows rows and H prod(dims) / g_number_of_rows columns: it must divide."""
    if g_number_of_rows == 0 or math.prod(dims) % g_number_of_rows:
        raise MalformedStreamError(
            f"g_number_of_rows {g_number_of_rows} does not divide the {math.prod(dims)} elements of {dims}",
            element="g_number_of_rows")


def _codebook_of(h: CompressedDataUnitHeader, role: BlockRole) -> IntegerCodebook | None:
    """The codebook a tensor's levels index: the unit's, or for H of a decomposed block the second."""
    if not h.codebook_present_flag:
        return None
    if role == BlockRole.DC_H and h.nnr_compressed_data_unit_payload_type == PayloadType.NNR_PT_BLOCK:
        return h.codebook_dc
    if role in (BlockRole.TENSOR, BlockRole.WEIGHT, BlockRole.DC_G, BlockRole.DC_H):
        return h.codebook
    return None


def _entry_points_for(h: CompressedDataUnitHeader, role: BlockRole, shape: list[int]) -> list[int]:
    eps = h.cabac_entry_point_list
    if h.scan_order == 0 or len(shape) < 2:
        return []
    rows_g = max(0, num_block_rows(h.g_number_of_rows or 0, h.scan_order) - 1)
    if role == BlockRole.DC_H and h.nnr_compressed_data_unit_payload_type == PayloadType.NNR_PT_BLOCK:
        sel = eps[rows_g:]
    else:
        sel = eps[: max(0, num_block_rows(shape[0], h.scan_order) - 1)]
    flat: list[int] = []
    for e in sel:
        flat += [e.value, e.dq_state, e.bit_offset]
    return flat


def decode_payload(
    data: bytes,
    start: int,
    end: int,
    h: CompressedDataUnitHeader,
    ctx: PayloadContext,
    r: BitReader,
) -> list[CodedTensor]:
    """Decode the payload ``data[start:end]`` of one NDU into its tensors (coding order)."""
    layout = tensor_layout(h)
    pt = h.nnr_compressed_data_unit_payload_type
    tensors: list[CodedTensor] = []
    payload_bits = 8 * (end - start)
    seen: set[str] = set()
    for name, role, shape in layout:
        check_tensor_size(name, shape, ctx.max_elements)
        if name in seen:
            raise MalformedStreamError(f"tensor {name!r} appears twice in the unit's topology_elem_id list",
                                       element="topology_elem_id")
        seen.add(name)
        tensors.append(CodedTensor(name, role, list(shape), pt))

    if pt == PayloadType.NNR_PT_RAW_FLOAT:
        pos = start
        for t in tensors:
            nbytes = 4 * t.size
            if pos + nbytes > end:
                raise r.error(TruncatedStreamError, f"raw float tensor needs {nbytes} bytes, {end - pos} remain",
                              "raw_float32_parameter", 8 * pos)
            t.bit_offset = 8 * pos
            t.raw = np.frombuffer(data, dtype="<f4", count=t.size, offset=pos).astype(np.float32).reshape(t.shape)
            pos += nbytes
        if pos != end:
            raise r.error(MalformedStreamError, f"{end - pos} byte(s) after the raw float tensor",
                          "raw_float32_parameter", 8 * pos)
        return tensors

    # A context-coded bin costs at least ~0.011 bits (the most skewed probability state), so a
    # payload of b bits codes at most ~90·b bins.  Every coded element costs a bin, every row a
    # bin when row skipping may apply; only a size-1 codebook codes nothing at all.
    max_bins = BINS_PER_BIT * payload_bits + 64
    # Elements the payload need not code one by one (skipped rows, a size-1 codebook) still
    # cost memory and time: at most max_expansion per payload byte (docs/robustness.rst).
    max_uncoded = ctx.max_expansion * (end - start + EXPANSION_SLACK_BYTES)
    for t in tensors:
        height = t.shape[0] if t.shape else 1
        width = t.size // height if height else 0
        units = t.size
        cb = _codebook_of(h, t.role)
        if ctx.general_profile_idc == 1 and cb is not None and len(cb.codebook) == 1:
            units = 0
        if units and ctx.general_profile_idc == 1 and width > 1 and t.size > width:
            units = height  # row skipping may code each row with one bin
        if units > max_bins:
            raise LimitExceededError(
                f"tensor {t.name!r} ({t.shape}) cannot be coded in a {end - start}-byte payload",
                element="tensor_dimensions",
            )
        if t.size > max_bins + max_uncoded:
            raise LimitExceededError(
                f"tensor {t.name!r} ({t.shape}, {t.size} elements) from a {end - start}-byte payload: more than "
                f"{ctx.max_expansion} elements per payload byte (Decoder(max_expansion=...) raises the limit)",
                element="tensor_dimensions",
            )

    dec = ArithmeticDecoder(data, start, end)
    if not dec.state_valid():
        raise r.error(MalformedStreamError, "arithmetic decoder initial offset >= 510",
                      "nnr_compressed_data_unit_payload", 8 * start)
    unit = coding_unit(h, ctx.general_profile_idc, ctx.ed1, ctx.verify_entry_points, max_bins)
    num_gtx = unit.num_gtx
    bins = r.bin_tracer
    for t in tensors:
        bit0 = 8 * start + int(dec.bit_position())
        t.bit_offset = bit0
        if bins is not None:  # the bin trace: attached for the tensors it selects
            dec.set_tracer(bins.begin_tensor(r.unit_index, t.name, num_gtx, 8 * start, dec))
        if pt in (PayloadType.NNR_PT_FLOAT, PayloadType.NNR_PT_BLOCK):
            nbits = qp_offset_bits(ctx.qp_density)
            if dec.traced and dec.tracer is not None:
                dec.tracer.name_bypass("qp_offset")
            v = int(dec.decode_bypass_bins(nbits))
            if v >= 1 << (nbits - 1):
                v -= 1 << nbits
            t.qp = ctx.quantization_parameter + v
            t.qp_density = ctx.qp_density
            t.dq_flag = h.dq_flag
            r.trace_value("qp_offset", f"iae({nbits})", bit0, v, nbits)
        t.codebook = _codebook_of(h, t.role)
        codebook = None if t.codebook is None else (len(t.codebook.codebook), t.codebook.cb_zero_offset)
        base = None
        if unit.tca:
            base = flat_if_sized(ctx.base, t.name, t.size)
            if base is None and t.name in ctx.base:
                raise MalformedStreamError(f"{t.name!r} has {t.size} elements, its parent a different number",
                                           element="temporal_context_modeling_flag")
            if base is None:
                raise MissingReferenceError(
                    f"temporal_context_modeling_flag is 1 but no earlier update of {t.name!r} was decoded "
                    "by this session", element="temporal_context_modeling_flag")
            t.tca = True
        history = flat_if_sized(ctx.history, t.name, t.size)
        out = LevelBuffer()
        tc = tensor_coding(t.shape, unit, codebook, base, history, _entry_points_for(h, t.role, t.shape))
        t.dq_flag = int(tc.dq)
        # the row decoder reads each tensor's preamble by NNCodec 2.1.3's rules only
        by_rows = not ctx.ed1 and row_decodable(tc, bins is not None or r.tracer is not None)
        try:
            if by_rows:  # block rows apart, from their entry points (nnr.decoding.split): the same levels
                t.levels = decode_rows(dec, tc, t.side, ctx.workers).reshape(t.shape)
            else:
                decode_tensor_levels(dec, out, tc, t.side)
        except NNRError as e:
            raise e.locate(bit_offset=8 * start + int(dec.bit_position()), element="nnr_compressed_data_unit_payload")
        if not by_rows:
            t.levels = level_array(out).reshape(t.shape)
        del out  # the int32 array is all that is kept
        if r.tracer is not None:
            b, side = 8 * start, t.side
            trace_coded_tensor(r, t.name, t.levels, t.size, side,
                               CodedSpan(b + int(side.bit_start), b + int(side.bit_row_skip), b + int(side.bit_params),
                                         b + int(side.bit_params), b + int(side.bit_levels), b + int(side.bit_end)))
    t_end = int(dec.bit_position())
    if bins is not None:
        dec.set_tracer(bins.begin_end(r.unit_index, 8 * start, dec))
    try:
        decode_codeword_end(dec)
    except NNRError as e:
        raise e.locate(bit_offset=8 * start + int(dec.bit_position()))
    consumed = int(dec.bytes_consumed())
    if consumed != end - start:
        raise r.error(MalformedStreamError,
                      f"the arithmetic codeword ends after {consumed} byte(s) but the unit's payload has {end - start}",
                      "nnr_unit_size", 8 * (start + consumed))
    # the terminating bin, with the stop bit and padding after it up to the end of the unit
    r.trace_value("terminate_bin", "ae(v)", 8 * start + t_end, 1, payload_bits - t_end)
    return tensors


def flat_if_sized(view: Mapping[str, list[int]], name: str, size: int) -> list[int] | None:
    """``view[name]`` as the level decoder takes it (a flat list) if it has ``size`` elements:
    the size is checked on the array first, so a mismatch converts nothing."""
    sized = getattr(view, "size_of", None)
    if sized is not None:
        n = sized(name)
        return view[name] if n == size else None
    v = view.get(name)
    return v if v is not None and len(v) == size else None
