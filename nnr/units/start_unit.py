"""NNR start unit (NNR_STR): ``nnr_start_unit_header()``; its payload is empty (syntax.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

from nnr.bitstream import BitReader, BitWriter


@dataclass
class StartUnitHeader:
    """``nnr_start_unit_header()``."""

    general_profile_idc: int = 1

    @classmethod
    def read(cls, r: BitReader) -> StartUnitHeader:
        with r.structure("nnr_start_unit_header"):
            return cls(general_profile_idc=r.u(8, "general_profile_idc"))

    def write(self, w: BitWriter) -> None:
        w.u(8, self.general_profile_idc, "general_profile_idc")
