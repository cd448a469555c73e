"""Model parameter set (NNR_MPS): ``nnr_model_parameter_set_unit_payload()`` (syntax.md §4).

The MPS header is empty.  Edition-2 fields are present when ``general_profile_idc == 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nnr.bitstream import BitReader, BitWriter
from nnr.units.performance_maps import (
    DecompositionPerformanceMap,
    PruningPerformanceMap,
    SparsificationPerformanceMap,
    UnificationPerformanceMap,
)
from nnr.units.context import UnitContext
from nnr.units.types import NNRUnitType, QuantizationMethodFlags

_QUANT = QuantizationMethodFlags.NNR_QSU | QuantizationMethodFlags.NNR_QCB


@dataclass
class ModelParameterSet:
    """``nnr_model_parameter_set_unit_payload()`` (the unit header is empty)."""

    unit_type: ClassVar[NNRUnitType] = NNRUnitType.NNR_MPS

    topology_carriage_flag: int = 0
    mps_quantization_method_flags: int = 1
    mps_topology_indexed_reference_flag: int = 0
    # edition 2
    mps_parent_signalling_enabled_flag: int = 0
    nnr_pre_flag: int = 0
    base_model_id: str | None = None
    performance_metric_type: str | None = None
    metric_type_performance_map_valid_flag: int = 0
    validation_set_performance: float | None = None
    # quantization
    mps_qp_density: int = 0
    mps_quantization_parameter: int = 0
    sparsification_performance_map: SparsificationPerformanceMap | None = None
    pruning_performance_map: PruningPerformanceMap | None = None
    unification_performance_map: UnificationPerformanceMap | None = None
    decomposition_performance_map: DecompositionPerformanceMap | None = None

    @classmethod
    def read(cls, r: BitReader, ctx: UnitContext) -> ModelParameterSet:
        general_profile_idc = ctx.gpi
        m = cls()
        with r.structure("nnr_model_parameter_set_unit_payload"):
            m.topology_carriage_flag = r.u(1, "topology_carriage_flag")
            spars = r.flag("mps_sparsification_flag")
            prun = r.flag("mps_pruning_flag")
            unif = r.flag("mps_unification_flag")
            decomp = r.flag("mps_decomposition_performance_map_flag")
            m.mps_quantization_method_flags = r.u(3, "mps_quantization_method_flags")
            m.mps_topology_indexed_reference_flag = r.u(1, "mps_topology_indexed_reference_flag")
            base_present = vsp_present = False
            if general_profile_idc == 1:
                base_present = r.flag("base_model_id_present_flag")
                vsp_present = r.flag("validation_set_performance_present_flag")
                m.metric_type_performance_map_valid_flag = r.u(1, "metric_type_performance_map_valid_flag")
                m.mps_parent_signalling_enabled_flag = r.u(1, "mps_parent_signalling_enabled_flag")
                if m.mps_parent_signalling_enabled_flag:
                    m.nnr_pre_flag = r.u(1, "nnr_pre_flag")
                else:
                    r.u(1, "nnr_reserved_zero_1bit")
                r.u(2, "nnr_reserved_zero_2bits")
                if base_present:
                    m.base_model_id = r.st("base_model_id")
                if vsp_present or m.metric_type_performance_map_valid_flag:
                    m.performance_metric_type = r.st("performance_metric_type")
            else:
                r.u(7, "nnr_reserved_zero_7bits")
            if m.mps_quantization_method_flags & _QUANT:
                m.mps_qp_density = r.u(3, "mps_qp_density")
                m.mps_quantization_parameter = r.i(13, "mps_quantization_parameter")
            if spars:
                m.sparsification_performance_map = SparsificationPerformanceMap.read(r)
            if prun:
                m.pruning_performance_map = PruningPerformanceMap.read(r)
            if unif:
                m.unification_performance_map = UnificationPerformanceMap.read(r)
            if decomp:
                m.decomposition_performance_map = DecompositionPerformanceMap.read(r)
            if general_profile_idc == 1 and vsp_present:
                m.validation_set_performance = r.flt("validation_set_performance")
            r.byte_alignment()
        return m

    def write(self, w: BitWriter, ctx: UnitContext) -> None:
        gpi = ctx.gpi
        with w.structure("nnr_model_parameter_set_unit_payload"):
            w.u(1, self.topology_carriage_flag, "topology_carriage_flag")
            w.flag(self.sparsification_performance_map is not None, "mps_sparsification_flag")
            w.flag(self.pruning_performance_map is not None, "mps_pruning_flag")
            w.flag(self.unification_performance_map is not None, "mps_unification_flag")
            w.flag(self.decomposition_performance_map is not None, "mps_decomposition_performance_map_flag")
            w.u(3, self.mps_quantization_method_flags, "mps_quantization_method_flags")
            w.u(1, self.mps_topology_indexed_reference_flag, "mps_topology_indexed_reference_flag")
            vsp_present = self.validation_set_performance is not None
            if gpi == 1:
                w.flag(self.base_model_id is not None, "base_model_id_present_flag")
                w.flag(vsp_present, "validation_set_performance_present_flag")
                w.u(1, self.metric_type_performance_map_valid_flag, "metric_type_performance_map_valid_flag")
                w.u(1, self.mps_parent_signalling_enabled_flag, "mps_parent_signalling_enabled_flag")
                if self.mps_parent_signalling_enabled_flag:
                    w.u(1, self.nnr_pre_flag, "nnr_pre_flag")
                else:
                    w.u(1, 0, "nnr_reserved_zero_1bit")
                w.u(2, 0, "nnr_reserved_zero_2bits")
                if self.base_model_id is not None:
                    w.st(self.base_model_id, "base_model_id")
                if vsp_present or self.metric_type_performance_map_valid_flag:
                    w.st(self.performance_metric_type or "", "performance_metric_type")
            else:
                w.u(7, 0, "nnr_reserved_zero_7bits")
            if self.mps_quantization_method_flags & _QUANT:
                w.u(3, self.mps_qp_density, "mps_qp_density")
                w.i(13, self.mps_quantization_parameter, "mps_quantization_parameter")
            for pm in (self.sparsification_performance_map, self.pruning_performance_map,
                       self.unification_performance_map, self.decomposition_performance_map):
                if pm is not None:
                    pm.write(w)
            if gpi == 1 and self.validation_set_performance is not None:
                w.flt(self.validation_set_performance, "validation_set_performance")
            w.byte_alignment()

    def apply(self, ctx: UnitContext) -> None:
        ctx.mps = self
