"""Writing NNR units: the symmetric counterpart of the unit readers (syntax.md §2–§8).

:class:`StreamWriter` assembles a bitstream from syntax structures, tracking what later units
depend on (``general_profile_idc``, the MPS flags).  The arithmetic-coded NDU payload is passed
in as bytes (produced by the DeepCABAC encoder, or taken from another stream).
"""

from __future__ import annotations

from nnr.bitstream import BitWriter
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.layer_parameter_set import LayerParameterSet, LayerParameterSetHeader
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import AggregateUnitHeader, write_unit
from nnr.units.start_unit import StartUnitHeader
from nnr.units.topology import QuantizationUnit, TopologyUnit
from nnr.units.types import NNRUnitType


class StreamWriter:
    """Builds a stream unit by unit; :meth:`getvalue` returns the bytes."""

    def __init__(self) -> None:
        self.units: list[bytes] = []
        self.general_profile_idc = 0
        self.mps = ModelParameterSet()

    def add(self, unit: bytes) -> bytes:
        self.units.append(unit)
        return unit

    def start_unit(self, general_profile_idc: int = 1, partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        self.general_profile_idc = general_profile_idc
        w = BitWriter()
        StartUnitHeader(general_profile_idc).write(w)
        return self.add(write_unit(NNRUnitType.NNR_STR, w.getvalue(), partial_data_counter=partial_data_counter, long_size=long_size))

    def model_parameter_set(self, mps: ModelParameterSet, partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        self.mps = mps
        w = BitWriter()
        mps.write(w, self.general_profile_idc)
        return self.add(write_unit(NNRUnitType.NNR_MPS, w.getvalue(), partial_data_counter=partial_data_counter, long_size=long_size))

    def layer_parameter_set(self, lps: LayerParameterSet, header: LayerParameterSetHeader | None = None,
                            partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        w = BitWriter()
        (header or LayerParameterSetHeader()).write(w)
        lps.write(w)
        return self.add(write_unit(NNRUnitType.NNR_LPS, w.getvalue(), partial_data_counter=partial_data_counter, long_size=long_size))

    def topology(self, tpl: TopologyUnit, partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        w = BitWriter()
        tpl.write_header(w)
        tpl.write_payload(w)
        return self.add(write_unit(NNRUnitType.NNR_TPL, w.getvalue(), partial_data_counter=partial_data_counter, long_size=long_size))

    def quantization(self, qnt: QuantizationUnit, partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        w = BitWriter()
        qnt.write_header(w)
        qnt.write_payload(w)
        return self.add(write_unit(NNRUnitType.NNR_QNT, w.getvalue(), partial_data_counter=partial_data_counter, long_size=long_size))

    def compressed_data_unit(self, header: CompressedDataUnitHeader, payload: bytes, partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        w = BitWriter()
        header.write(w, self.general_profile_idc, self.mps.mps_topology_indexed_reference_flag,
                     self.mps.mps_parent_signalling_enabled_flag if self.general_profile_idc == 1 else 0)
        return self.add(write_unit(NNRUnitType.NNR_NDU, w.getvalue() + payload, partial_data_counter=partial_data_counter, long_size=long_size))

    def aggregate(self, units: list[bytes], aggregate_unit_type: int = 0, entry_points: bool = True,
                  partial_data_counter: int | None = None, long_size: bool | None = None) -> bytes:
        """An NNR_AGG unit carrying ``units`` (removed from the top level if added before)."""
        for u in units:
            if u in self.units:
                self.units.remove(u)
        a = AggregateUnitHeader(aggregate_unit_type, int(entry_points), len(units) - 2)
        if entry_points:
            off = 0
            for u in units:
                a.nnr_unit_type.append(u[2 if u[0] < 128 else 4] >> 2)
                a.nnr_unit_entry_point.append(off)
                off += len(u)
        w = BitWriter()
        a.write(w)
        return self.add(write_unit(NNRUnitType.NNR_AGG, w.getvalue() + b"".join(units), partial_data_counter=partial_data_counter, long_size=long_size))

    def getvalue(self) -> bytes:
        return b"".join(self.units)
