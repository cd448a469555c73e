"""Compressed data unit (NNR_NDU): ``nnr_compressed_data_unit_header()`` (syntax.md §8.1–§8.4).

Also ``integer_codebook()``, ``tensor_dimensions_list()`` and
``cabac_entry_point_list(numBlockRowsMinus1, dq_flag)``.  The payload (arithmetic codeword or
raw float tensor) is decoded by :mod:`nnr.decoding.payload`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from nnr.bitstream import BitReader, BitWriter
from nnr.block_layout import BlockRole, factor_role
from nnr.cabac.scan import num_block_rows
from nnr.errors import LimitExceededError, MalformedStreamError, MissingReferenceError, ReservedValueError, UnsupportedFeatureError
from nnr.units.context import UnitContext
from nnr.units.topology import read_topology_elements_ids_list, write_topology_elements_ids_list
from nnr.units.types import CompressedParameterTypes as CPT
from nnr.units.types import NNRUnitType, ParentNodeIdType, PayloadType

MAX_TENSOR_DIMENSIONS = 32  # far above any real tensor rank; bounds a corrupt count


@dataclass
class IntegerCodebook:
    """``integer_codebook()`` (syntax.md §8.3): strictly increasing integers."""

    codebook_egk: int
    codebook: list[int]
    cb_zero_offset: int  # CbZeroOffset = (size >> 1) + codebook_center_offset

    @classmethod
    def read(cls, r: BitReader, suffix: str = "") -> IntegerCodebook:
        with r.structure("integer_codebook"):
            egk = r.u(4, "codebook_egk" + suffix)
            size = r.ue(2, "codebook_size" + suffix)
            if size < 1:
                raise r.error(MalformedStreamError, "codebook_size is 0", "codebook_size" + suffix)
            if size > r.bits_left:  # every entry after the first costs at least one bit
                raise r.error(LimitExceededError, f"codebook_size {size} exceeds what the unit can hold",
                              "codebook_size" + suffix)
            zero = (size >> 1) + r.ie(2, "codebook_center_offset" + suffix)
            if not 0 <= zero < size:
                raise r.error(MalformedStreamError, f"CbZeroOffset {zero} outside 0..{size - 1}",
                              "codebook_center_offset" + suffix)
            cb = [0] * size
            cb[zero] = r.ie(7, "codebook_zero_value" + suffix)
            for j in range(zero - 1, -1, -1):
                cb[j] = cb[j + 1] - r.ue(egk, "codebook_delta_left" + suffix) - 1
            for j in range(zero + 1, size):
                cb[j] = cb[j - 1] + r.ue(egk, "codebook_delta_right" + suffix) + 1
            return cls(egk, cb, zero)

    def write(self, w: BitWriter, suffix: str = "") -> None:
        size = len(self.codebook)
        with w.structure("integer_codebook"):
            w.u(4, self.codebook_egk, "codebook_egk" + suffix)
            w.ue(2, size, "codebook_size" + suffix)
            w.ie(2, self.cb_zero_offset - (size >> 1), "codebook_center_offset" + suffix)
            z = self.cb_zero_offset
            w.ie(7, self.codebook[z], "codebook_zero_value" + suffix)
            for j in range(z - 1, -1, -1):
                w.ue(self.codebook_egk, self.codebook[j + 1] - self.codebook[j] - 1, "codebook_delta_left" + suffix)
            for j in range(z + 1, size):
                w.ue(self.codebook_egk, self.codebook[j] - self.codebook[j - 1] - 1, "codebook_delta_right" + suffix)


@dataclass
class EntryPoint:
    """One entry of ``cabac_entry_point_list()``: decoder state at the start of a block row."""

    value: int  # arithmetic decoder offset register (u(8))
    dq_state: int  # u(3) when dq_flag
    bit_offset: int  # bits of the previous block row (ue(11) for the first, then ie(7) deltas)


@dataclass
class OutOfBandParameters:
    """Values an NDU with ``input_parameters_present_flag == 0`` (or absent flags) leaves to the
    application (syntax.md §8.1 item 4).  Defaults are NNCodec's: cabac_unary_length_minus1 9,
    compressed_parameter_types 0."""

    tensor_dimensions: list[int] | None = None
    cabac_unary_length_minus1: int = 9
    compressed_parameter_types: int = 0
    decomposition_rank: int | None = None
    g_number_of_rows: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> OutOfBandParameters:
        """From NNCodec's per-tensor ``oob_dict`` entry (keys as the syntax element names)."""
        o = cls()
        dims = d.get("tensor_dimensions")
        if dims is not None:
            o.tensor_dimensions = [int(x) for x in dims]  # type: ignore[attr-defined]
        for key in ("cabac_unary_length_minus1", "compressed_parameter_types", "decomposition_rank",
                    "g_number_of_rows"):
            if d.get(key) is not None:
                setattr(o, key, int(d[key]))  # type: ignore[call-overload]
        return o


@dataclass
class CompressedDataUnitHeader:
    """``nnr_compressed_data_unit_header()`` (the payload is :mod:`nnr.decoding.payload`'s)."""

    unit_type: ClassVar[NNRUnitType] = NNRUnitType.NNR_NDU

    nnr_compressed_data_unit_payload_type: int = PayloadType.NNR_PT_FLOAT
    nnr_multiple_topology_elements_present_flag: int = 0
    nnr_decompressed_data_format_present_flag: int = 0
    input_parameters_present_flag: int = 1
    topology_elem_id: str | None = None
    topology_elem_id_index: int | None = None
    topology_elem_id_list: list[str] = field(default_factory=list)
    topology_elem_id_index_list: list[int] = field(default_factory=list)
    # edition 2: parameter update tree
    node_id_present_flag: int = 0
    device_id: int = 0
    parameter_id: int | None = None
    put_node_depth: int | None = None
    parent_node_id_present_flag: int = 0
    parent_node_id_type: int = ParentNodeIdType.ICNN_NDU_ID
    temporal_context_modeling_flag: int = 0
    parent_device_id: int | None = None
    parent_node_payload_sha256: bytes | None = None
    parent_node_payload_sha512: bytes | None = None
    # quantization
    codebook_present_flag: int = 0
    codebook: IntegerCodebook | None = None
    dq_flag: int = 0
    nnr_decompressed_data_format: int | None = None
    tensor_dimensions_flag: int = 1
    cabac_unary_length_flag: int = 1
    compressed_parameter_types: int = 0
    decomposition_rank: int | None = None
    g_number_of_rows: int | None = None
    tensor_dimensions: list[int] = field(default_factory=list)
    cabac_unary_length_minus1: int = 10
    codebook_dc: IntegerCodebook | None = None
    first_tensor_dimension_shift: int = 0
    scan_order: int = 0
    cabac_entry_point_list: list[EntryPoint] = field(default_factory=list)
    # bookkeeping (not syntax)
    header_bits: int = 0

    @property
    def payload_type(self) -> PayloadType:
        return PayloadType(self.nnr_compressed_data_unit_payload_type)

    @property
    def count_tensor_dimensions(self) -> int:
        return len(self.tensor_dimensions)

    @property
    def ids(self) -> list[str]:
        """Topology element names (resolved from the REFLIST when indexed)."""
        if self.nnr_multiple_topology_elements_present_flag:
            return list(self.topology_elem_id_list)
        return [self.topology_elem_id or ""]

    def block_rows_minus1(self, name: str | None = None) -> int:
        """numBlockRowsMinus1 of ``cabac_entry_point_list`` (syntax.md §8.4)."""
        if self.scan_order <= 0 or self.count_tensor_dimensions <= 1:
            return 0

        def rows(h: int) -> int:
            return max(0, num_block_rows(h, self.scan_order) - 1)

        if self.compressed_parameter_types & CPT.NNR_CPT_DC:
            g = self.g_number_of_rows or 0
            r = self.decomposition_rank or 0
            if self.nnr_compressed_data_unit_payload_type == PayloadType.NNR_PT_BLOCK:
                return rows(g) + rows(r)
            # Non-block G / H: NNCodec tells them apart by their names (nnr.block_layout)
            n = name if name is not None else (self.topology_elem_id or "")
            return rows(g) if factor_role(n) == BlockRole.DC_G else rows(r)
        return rows(self.tensor_dimensions[0])

    @classmethod
    def read(cls, r: BitReader, ctx: UnitContext) -> CompressedDataUnitHeader:
        """Read the header; ``ctx.out_of_band(name)`` supplies values the stream leaves out, looked
        up by the unit's first topology element (as NNCodec does)."""
        general_profile_idc = ctx.gpi
        mps_topology_indexed_reference_flag = ctx.mps_topology_indexed_reference_flag
        mps_parent_signalling_enabled_flag = ctx.mps_parent_signalling_enabled_flag
        reflist = ctx.reflist
        out_of_band = ctx.out_of_band
        h = cls()
        start = r.pos
        with r.structure("nnr_compressed_data_unit_header"):
            pt = r.u(5, "nnr_compressed_data_unit_payload_type")
            if pt > PayloadType.NNR_PT_BLOCK:
                raise r.error(ReservedValueError, f"payload type {pt} is reserved",
                              "nnr_compressed_data_unit_payload_type", r.pos - 5)
            h.nnr_compressed_data_unit_payload_type = pt
            h.nnr_multiple_topology_elements_present_flag = r.u(1, "nnr_multiple_topology_elements_present_flag")
            h.nnr_decompressed_data_format_present_flag = r.u(1, "nnr_decompressed_data_format_present_flag")
            h.input_parameters_present_flag = r.u(1, "input_parameters_present_flag")
            if pt == PayloadType.NNR_PT_BLOCK and not h.nnr_multiple_topology_elements_present_flag:
                raise r.error(MalformedStreamError, "NNR_PT_BLOCK needs a topology_elements_ids_list",
                              "nnr_multiple_topology_elements_present_flag", r.pos - 3)
            if h.nnr_multiple_topology_elements_present_flag:
                names, indices = read_topology_elements_ids_list(r, mps_topology_indexed_reference_flag)
                if mps_topology_indexed_reference_flag:
                    h.topology_elem_id_index_list = indices
                    names = [_resolve(r, reflist, i, "topology_elem_id_index_list") for i in indices]
                h.topology_elem_id_list = names
            elif not mps_topology_indexed_reference_flag:
                h.topology_elem_id = r.st("topology_elem_id")
            else:
                h.topology_elem_id_index = r.ue(7, "topology_elem_id_index")
                h.topology_elem_id = _resolve(r, reflist, h.topology_elem_id_index, "topology_elem_id_index")
            if general_profile_idc == 1:
                h.node_id_present_flag = r.u(1, "node_id_present_flag")
                if h.node_id_present_flag:
                    h.device_id = r.ue(1, "device_id")
                    h.parameter_id = r.ue(5, "parameter_id")
                    h.put_node_depth = r.ue(4, "put_node_depth")
                if mps_parent_signalling_enabled_flag:
                    h.parent_node_id_present_flag = r.u(1, "parent_node_id_present_flag")
                    if h.parent_node_id_present_flag:
                        h.parent_node_id_type = r.u(2, "parent_node_id_type")
                        h.temporal_context_modeling_flag = r.u(1, "temporal_context_modeling_flag")
                        if h.parent_node_id_type == ParentNodeIdType.ICNN_NDU_ID:
                            h.parent_device_id = r.ue(1, "parent_device_id")
                            if not h.node_id_present_flag:
                                h.parameter_id = r.ue(5, "parameter_id")
                                h.put_node_depth = r.ue(4, "put_node_depth")
                        elif h.parent_node_id_type == ParentNodeIdType.ICNN_NDU_PL_SHA256:
                            h.parent_node_payload_sha256 = r.u(256, "parent_node_payload_sha256").to_bytes(32, "big")
                        elif h.parent_node_id_type == ParentNodeIdType.ICNN_NDU_PL_SHA512:
                            h.parent_node_payload_sha512 = r.u(512, "parent_node_payload_sha512").to_bytes(64, "big")
                        else:
                            raise r.error(ReservedValueError, "parent_node_id_type 3 is reserved",
                                          "parent_node_id_type", r.pos - 3)
            if pt in (PayloadType.NNR_PT_FLOAT, PayloadType.NNR_PT_BLOCK):
                h.codebook_present_flag = r.u(1, "codebook_present_flag")
                if h.codebook_present_flag:
                    h.codebook = IntegerCodebook.read(r)
            if pt != PayloadType.NNR_PT_RAW_FLOAT:
                h.dq_flag = r.u(1, "dq_flag")
            if h.nnr_decompressed_data_format_present_flag:
                h.nnr_decompressed_data_format = r.u(7, "nnr_decompressed_data_format")
            oob = (out_of_band(h.ids[0]) if out_of_band is not None else None) or OutOfBandParameters()
            h.tensor_dimensions_flag = 0
            h.cabac_unary_length_flag = 0
            h.compressed_parameter_types = oob.compressed_parameter_types
            h.cabac_unary_length_minus1 = oob.cabac_unary_length_minus1
            if h.input_parameters_present_flag:
                h.tensor_dimensions_flag = r.u(1, "tensor_dimensions_flag")
                h.cabac_unary_length_flag = r.u(1, "cabac_unary_length_flag")
                h.compressed_parameter_types = r.u(4, "compressed_parameter_types")
                if h.compressed_parameter_types & CPT.NNR_CPT_DC:
                    h.decomposition_rank = r.ue(3, "decomposition_rank")
                    h.g_number_of_rows = r.ue(3, "g_number_of_rows")
                if h.tensor_dimensions_flag:
                    with r.structure("tensor_dimensions_list"):
                        n = r.ue(1, "count_tensor_dimensions")
                        if n > MAX_TENSOR_DIMENSIONS:
                            raise r.error(LimitExceededError,
                                          f"count_tensor_dimensions {n} exceeds {MAX_TENSOR_DIMENSIONS}",
                                          "count_tensor_dimensions")
                        h.tensor_dimensions = [r.ue(7, "tensor_dimensions") for _ in range(n)]
                if pt != PayloadType.NNR_PT_BLOCK and h.nnr_multiple_topology_elements_present_flag:
                    raise r.error(UnsupportedFeatureError,
                                  "topology_tensor_dimension_mapping() (one tensor split over several "
                                  "topology elements) has no syntax in the available specification",
                                  "topology_tensor_dimension_mapping")
                if h.cabac_unary_length_flag:
                    h.cabac_unary_length_minus1 = r.u(8, "cabac_unary_length_minus1")
            if h.compressed_parameter_types & CPT.NNR_CPT_DC and h.decomposition_rank is None:
                h.decomposition_rank = oob.decomposition_rank
                h.g_number_of_rows = oob.g_number_of_rows
            if not h.tensor_dimensions_flag:
                if oob.tensor_dimensions is None:
                    raise r.error(MissingReferenceError,
                                  "tensor_dimensions are not in the stream and were not given out of band",
                                  "tensor_dimensions_flag")
                h.tensor_dimensions = list(oob.tensor_dimensions)
            if (pt == PayloadType.NNR_PT_BLOCK and h.compressed_parameter_types & CPT.NNR_CPT_DC
                    and h.codebook_present_flag):
                h.codebook_dc = IntegerCodebook.read(r, "_dc")
            if h.count_tensor_dimensions > 1:
                if general_profile_idc == 1:
                    h.first_tensor_dimension_shift = r.ue(1, "first_tensor_dimension_shift")
                    if h.first_tensor_dimension_shift:
                        # Its reordering semantics are not in the available specification and
                        # NNCodec ignores the value; refuse rather than return a wrongly ordered tensor.
                        raise r.error(UnsupportedFeatureError,
                                      f"first_tensor_dimension_shift {h.first_tensor_dimension_shift} "
                                      "(tensor dimension reordering) is not supported", "first_tensor_dimension_shift")
                h.scan_order = r.u(4, "scan_order")
                if h.scan_order > 4:
                    raise r.error(ReservedValueError, f"scan_order {h.scan_order} is reserved", "scan_order", r.pos - 4)
                if h.scan_order > 0:
                    h.cabac_entry_point_list = _read_entry_points(r, h.block_rows_minus1(), h.dq_flag)
            r.byte_alignment()
        h.header_bits = r.pos - start
        return h

    def write(self, w: BitWriter, ctx: UnitContext) -> None:
        gpi = ctx.gpi
        indexed = ctx.mps_topology_indexed_reference_flag
        pt = self.nnr_compressed_data_unit_payload_type
        with w.structure("nnr_compressed_data_unit_header"):
            w.u(5, pt, "nnr_compressed_data_unit_payload_type")
            w.u(1, self.nnr_multiple_topology_elements_present_flag, "nnr_multiple_topology_elements_present_flag")
            w.u(1, self.nnr_decompressed_data_format_present_flag, "nnr_decompressed_data_format_present_flag")
            w.u(1, self.input_parameters_present_flag, "input_parameters_present_flag")
            if self.nnr_multiple_topology_elements_present_flag:
                write_topology_elements_ids_list(w, self.topology_elem_id_list, self.topology_elem_id_index_list,
                                                 indexed)
            elif not indexed:
                w.st(self.topology_elem_id or "", "topology_elem_id")
            else:
                w.ue(7, self.topology_elem_id_index or 0, "topology_elem_id_index")
            if gpi == 1:
                w.u(1, self.node_id_present_flag, "node_id_present_flag")
                if self.node_id_present_flag:
                    w.ue(1, self.device_id, "device_id")
                    w.ue(5, self.parameter_id or 0, "parameter_id")
                    w.ue(4, self.put_node_depth or 0, "put_node_depth")
                if ctx.mps_parent_signalling_enabled_flag:
                    w.u(1, self.parent_node_id_present_flag, "parent_node_id_present_flag")
                    if self.parent_node_id_present_flag:
                        w.u(2, self.parent_node_id_type, "parent_node_id_type")
                        w.u(1, self.temporal_context_modeling_flag, "temporal_context_modeling_flag")
                        if self.parent_node_id_type == ParentNodeIdType.ICNN_NDU_ID:
                            w.ue(1, self.parent_device_id or 0, "parent_device_id")
                            if not self.node_id_present_flag:
                                w.ue(5, self.parameter_id or 0, "parameter_id")
                                w.ue(4, self.put_node_depth or 0, "put_node_depth")
                        elif self.parent_node_id_type == ParentNodeIdType.ICNN_NDU_PL_SHA256:
                            w.u(256, int.from_bytes(self.parent_node_payload_sha256 or bytes(32), "big"),
                                "parent_node_payload_sha256")
                        else:
                            w.u(512, int.from_bytes(self.parent_node_payload_sha512 or bytes(64), "big"),
                                "parent_node_payload_sha512")
            if pt in (PayloadType.NNR_PT_FLOAT, PayloadType.NNR_PT_BLOCK):
                w.u(1, self.codebook_present_flag, "codebook_present_flag")
                if self.codebook_present_flag and self.codebook is not None:
                    self.codebook.write(w)
            if pt != PayloadType.NNR_PT_RAW_FLOAT:
                w.u(1, self.dq_flag, "dq_flag")
            if self.nnr_decompressed_data_format_present_flag:
                w.u(7, self.nnr_decompressed_data_format or 0, "nnr_decompressed_data_format")
            if self.input_parameters_present_flag:
                w.u(1, self.tensor_dimensions_flag, "tensor_dimensions_flag")
                w.u(1, self.cabac_unary_length_flag, "cabac_unary_length_flag")
                w.u(4, self.compressed_parameter_types, "compressed_parameter_types")
                if self.compressed_parameter_types & CPT.NNR_CPT_DC:
                    w.ue(3, self.decomposition_rank or 0, "decomposition_rank")
                    w.ue(3, self.g_number_of_rows or 0, "g_number_of_rows")
                if self.tensor_dimensions_flag:
                    with w.structure("tensor_dimensions_list"):
                        w.ue(1, len(self.tensor_dimensions), "count_tensor_dimensions")
                        for d in self.tensor_dimensions:
                            w.ue(7, d, "tensor_dimensions")
                if self.cabac_unary_length_flag:
                    w.u(8, self.cabac_unary_length_minus1, "cabac_unary_length_minus1")
            if (pt == PayloadType.NNR_PT_BLOCK and self.compressed_parameter_types & CPT.NNR_CPT_DC
                    and self.codebook_present_flag and self.codebook_dc is not None):
                self.codebook_dc.write(w, "_dc")
            if self.count_tensor_dimensions > 1:
                if gpi == 1:
                    w.ue(1, self.first_tensor_dimension_shift, "first_tensor_dimension_shift")
                w.u(4, self.scan_order, "scan_order")
                if self.scan_order > 0:
                    _write_entry_points(w, self.cabac_entry_point_list, self.dq_flag)
            w.byte_alignment()

    def apply(self, ctx: UnitContext) -> None:
        pass  # an NDU leaves nothing in force for the units after it


def _resolve(r: BitReader, reflist: list[str] | None, index: int, element: str) -> str:
    if reflist is None:
        raise r.error(MissingReferenceError, "indexed topology reference but no NNR_TPL_REFLIST unit precedes it",
                      element)
    if index >= len(reflist):
        raise r.error(MalformedStreamError, f"index {index} outside the {len(reflist)}-entry REFLIST", element)
    return reflist[index]


def _read_entry_points(r: BitReader, count: int, dq_flag: int) -> list[EntryPoint]:
    with r.structure("cabac_entry_point_list"):
        if count > r.bits_left:  # each entry costs at least 9 bits
            raise r.error(LimitExceededError, f"{count} entry points cannot fit the unit", "cabac_entry_point_list")
        eps: list[EntryPoint] = []
        prev = 0
        for j in range(count):
            value = r.u(8, "entry_point_value")
            dq_state = r.u(3, "entry_point_dq_state") if dq_flag else 0
            if j == 0:
                off = r.ue(11, "entry_point_bit_offset")
            else:
                off = prev + r.ie(7, "entry_point_bit_offset_delta")
            eps.append(EntryPoint(value, dq_state, off))
            prev = off
        return eps


def _write_entry_points(w: BitWriter, eps: list[EntryPoint], dq_flag: int) -> None:
    with w.structure("cabac_entry_point_list"):
        prev = 0
        for j, ep in enumerate(eps):
            w.u(8, ep.value, "entry_point_value")
            if dq_flag:
                w.u(3, ep.dq_state, "entry_point_dq_state")
            if j == 0:
                w.ue(11, ep.bit_offset, "entry_point_bit_offset")
            else:
                w.ie(7, ep.bit_offset - prev, "entry_point_bit_offset_delta")
            prev = ep.bit_offset
