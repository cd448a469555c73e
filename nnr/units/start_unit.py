"""NNR start unit (NNR_STR): ``nnr_start_unit_header()``; its payload is empty (syntax.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nnr.bitstream import BitReader, BitWriter
from nnr.errors import ReservedValueError
from nnr.units.context import UnitContext
from nnr.units.types import NNRUnitType


@dataclass
class StartUnitHeader:
    """``nnr_start_unit_header()``."""

    unit_type: ClassVar[NNRUnitType] = NNRUnitType.NNR_STR

    general_profile_idc: int = 1

    @classmethod
    def read(cls, r: BitReader, ctx: UnitContext) -> StartUnitHeader:
        with r.structure("nnr_start_unit_header"):
            gpi = r.u(8, "general_profile_idc")
        if gpi > 1:
            raise r.error(ReservedValueError, f"general_profile_idc {gpi} is not defined (0 or 1)",
                          "general_profile_idc", r.pos - 8)
        return cls(general_profile_idc=gpi)

    def write(self, w: BitWriter, ctx: UnitContext) -> None:
        with w.structure("nnr_start_unit_header"):
            w.u(8, self.general_profile_idc, "general_profile_idc")

    def apply(self, ctx: UnitContext) -> None:
        ctx.start(self.general_profile_idc)
