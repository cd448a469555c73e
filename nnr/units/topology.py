"""Topology unit (NNR_TPL) and ``topology_elements_ids_list()`` (syntax.md §6, §8.2).

``topology_data`` is read as all remaining payload bytes (``bs(v)``): NNCodec writes it as an
``st(v)`` string, which is the same bytes with a trailing 0x00 (its UNREC/PYT/TEF units carry the
single byte 0x00), and a binary topology (ONNX, NNEF) cannot be an ``st(v)`` string.
The pruning topology container's syntax is not in the available specification: its bytes are
kept unparsed (no tensor depends on them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from nnr.bitstream import BitReader, BitWriter
from nnr.errors import MalformedStreamError
from nnr.units.context import UnitContext
from nnr.units.types import NNRUnitType, TopologyStorageFormat


def read_topology_elements_ids_list(r: BitReader, topology_indexed_flag: int) -> tuple[list[str], list[int]]:
    """``topology_elements_ids_list(topologyIndexedFlag)``: names, or indices into a REFLIST."""
    with r.structure("topology_elements_ids_list"):
        count = r.ue(7, "count_topology_elements_minus2") + 2
        # each id costs at least one byte (st) or one bit (ue): reject counts the unit cannot hold
        if count > r.bits_left:
            raise r.error(MalformedStreamError, f"{count} topology elements cannot fit the unit",
                          "count_topology_elements_minus2")
        names: list[str] = []
        indices: list[int] = []
        if not topology_indexed_flag:
            r.byte_alignment()
            names = [r.st("topology_elem_id_list") for _ in range(count)]
        else:
            indices = [r.ue(7, "topology_elem_id_index_list") for _ in range(count)]
            r.byte_alignment()
        return names, indices


def write_topology_elements_ids_list(w: BitWriter, names: list[str], indices: list[int],
                                     topology_indexed_flag: int) -> None:
    """Writes ``topology_elements_ids_list(topologyIndexedFlag)``."""
    items = indices if topology_indexed_flag else names
    with w.structure("topology_elements_ids_list"):
        w.ue(7, len(items) - 2, "count_topology_elements_minus2")
        if not topology_indexed_flag:
            w.byte_alignment()
            for n in names:
                w.st(n, "topology_elem_id_list")
        else:
            for i in indices:
                w.ue(7, i, "topology_elem_id_index_list")
            w.byte_alignment()


@dataclass
class TopologyUnit:
    """``nnr_topology_unit_header()`` + ``nnr_topology_unit_payload()``."""

    topology_storage_format: int = TopologyStorageFormat.NNR_TPL_UNREC
    topology_compression_format: int = 0
    topology_data: bytes = b"\x00"  # other storage formats
    topology_elem_id_list: list[str] = field(default_factory=list)  # NNR_TPL_REFLIST

    unit_type: ClassVar[NNRUnitType] = NNRUnitType.NNR_TPL

    @classmethod
    def read(cls, r: BitReader, ctx: UnitContext) -> TopologyUnit:
        with r.structure("nnr_topology_unit_header"):
            t = cls()
            t.topology_storage_format = r.u(8, "topology_storage_format")
            t.topology_compression_format = r.u(8, "topology_compression_format")
        with r.structure("nnr_topology_unit_payload"):
            if t.topology_storage_format == TopologyStorageFormat.NNR_TPL_REFLIST:
                t.topology_elem_id_list, _ = read_topology_elements_ids_list(r, 0)
            elif t.topology_storage_format == TopologyStorageFormat.NNR_TPL_PRUN:
                t.topology_data = r.raw_bytes(r.bits_left // 8, "nnr_pruning_topology_container")
            else:
                t.topology_data = r.raw_bytes(r.bits_left // 8, "topology_data")
        return t

    def write(self, w: BitWriter, ctx: UnitContext) -> None:
        with w.structure("nnr_topology_unit_header"):
            w.u(8, self.topology_storage_format, "topology_storage_format")
            w.u(8, self.topology_compression_format, "topology_compression_format")
        with w.structure("nnr_topology_unit_payload"):
            if self.topology_storage_format == TopologyStorageFormat.NNR_TPL_REFLIST:
                write_topology_elements_ids_list(w, self.topology_elem_id_list, [], 0)
            elif self.topology_storage_format == TopologyStorageFormat.NNR_TPL_PRUN:
                w.raw_bytes(self.topology_data, "nnr_pruning_topology_container")
            else:
                w.raw_bytes(self.topology_data, "topology_data")

    def apply(self, ctx: UnitContext) -> None:
        if self.topology_storage_format == TopologyStorageFormat.NNR_TPL_REFLIST:
            ctx.reflist = self.topology_elem_id_list


@dataclass
class QuantizationUnit:
    """NNR_QNT: ``nnr_quantization_unit_header()`` + payload ``quantization_data`` (syntax.md §7).

    ``quantization_data`` is read as the remaining payload bytes (``bs(v)``), see the module
    docstring on ``topology_data``.
    """

    quantization_storage_format: int = 0
    quantization_compression_format: int = 0
    quantization_data: bytes = b""

    unit_type: ClassVar[NNRUnitType] = NNRUnitType.NNR_QNT

    @classmethod
    def read(cls, r: BitReader, ctx: UnitContext) -> QuantizationUnit:
        q = cls()
        with r.structure("nnr_quantization_unit_header"):
            q.quantization_storage_format = r.u(8, "quantization_storage_format")
            q.quantization_compression_format = r.u(8, "quantization_compression_format")
        with r.structure("nnr_quantization_unit_payload"):
            q.quantization_data = r.raw_bytes(r.bits_left // 8, "quantization_data")
        return q

    def write(self, w: BitWriter, ctx: UnitContext) -> None:
        with w.structure("nnr_quantization_unit_header"):
            w.u(8, self.quantization_storage_format, "quantization_storage_format")
            w.u(8, self.quantization_compression_format, "quantization_compression_format")
        with w.structure("nnr_quantization_unit_payload"):
            w.raw_bytes(self.quantization_data, "quantization_data")

    def apply(self, ctx: UnitContext) -> None:
        pass  # nothing later units depend on
