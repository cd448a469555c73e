"""``nnr_unit_payload()`` dispatch: the one table from NNR unit type to the structure it carries.

The decoder reads a unit with ``UNIT_STRUCTURES[nnr_unit_type].read(r, ctx)``; the stream
writer (:class:`nnr.writer.StreamWriter`) writes a structure under its ``unit_type``, checked
against this table.  Every unit structure follows one convention (:class:`UnitStructure`):
``read(r, ctx)`` and ``write(w, ctx)`` mirror each other element for element, and
``apply(ctx)`` records what the unit leaves in force for the units after it.  The arithmetic-coded
NDU payload (:mod:`nnr.decoding.payload`) and the units an NNR_AGG carries are not part of the structures.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from nnr.bitstream import BitReader, BitWriter
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.context import UnitContext
from nnr.units.layer_parameter_set import LayerParameterSetUnit
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import AggregateUnitHeader
from nnr.units.start_unit import StartUnitHeader
from nnr.units.topology import QuantizationUnit, TopologyUnit
from nnr.units.types import NNRUnitType


class UnitStructure(Protocol):
    """The type-specific header (and, where it is plain syntax, payload) of an NNR unit."""

    unit_type: ClassVar[NNRUnitType]

    @classmethod
    def read(cls, r: BitReader, ctx: UnitContext) -> UnitStructure: ...

    def write(self, w: BitWriter, ctx: UnitContext) -> None: ...

    def apply(self, ctx: UnitContext) -> None: ...


UNIT_STRUCTURES: dict[NNRUnitType, type[UnitStructure]] = {
    NNRUnitType.NNR_STR: StartUnitHeader,
    NNRUnitType.NNR_MPS: ModelParameterSet,
    NNRUnitType.NNR_LPS: LayerParameterSetUnit,
    NNRUnitType.NNR_TPL: TopologyUnit,
    NNRUnitType.NNR_QNT: QuantizationUnit,
    NNRUnitType.NNR_NDU: CompressedDataUnitHeader,
    NNRUnitType.NNR_AGG: AggregateUnitHeader,
}


def structure_for(unit_type: int) -> type[UnitStructure]:
    """The structure of a (non-reserved) ``nnr_unit_type``."""
    return UNIT_STRUCTURES[NNRUnitType(unit_type)]
