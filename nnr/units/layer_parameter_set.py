"""Layer parameter set (NNR_LPS): ``nnr_layer_parameter_set_unit_header()`` and payload (syntax.md §5).

NNCodec parses but cannot use LPS units.  Semantics implemented here: the LPS's qp_density and
quantization parameter replace the MPS values for the NDUs that follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from nnr.bitstream import BitReader, BitWriter
from nnr.units.performance_maps import (
    PruningPerformanceMap,
    SparsificationPerformanceMap,
    UnificationPerformanceMap,
)
from nnr.units.context import UnitContext
from nnr.units.types import NNRUnitType, QuantizationMethodFlags

_QUANT = QuantizationMethodFlags.NNR_QSU | QuantizationMethodFlags.NNR_QCB


@dataclass
class LayerParameterSetHeader:
    """``nnr_layer_parameter_set_unit_header()``."""

    lps_self_contained_flag: int = 0

    @classmethod
    def read(cls, r: BitReader) -> LayerParameterSetHeader:
        with r.structure("nnr_layer_parameter_set_unit_header"):
            f = r.u(1, "lps_self_contained_flag")
            r.u(7, "nnr_reserved_zero_7bits")
            return cls(f)

    def write(self, w: BitWriter) -> None:
        with w.structure("nnr_layer_parameter_set_unit_header"):
            w.u(1, self.lps_self_contained_flag, "lps_self_contained_flag")
            w.u(7, 0, "nnr_reserved_zero_7bits")


@dataclass
class LayerParameterSet:
    """``nnr_layer_parameter_set_unit_payload()``."""

    lps_quantization_method_flags: int = 1
    lps_qp_density: int = 0
    lps_quantization_parameter: int = 0
    sparsification_performance_map: SparsificationPerformanceMap | None = None
    pruning_performance_map: PruningPerformanceMap | None = None
    unification_performance_map: UnificationPerformanceMap | None = None

    @property
    def has_quantization(self) -> bool:
        return bool(self.lps_quantization_method_flags & _QUANT)

    @classmethod
    def read(cls, r: BitReader) -> LayerParameterSet:
        m = cls()
        with r.structure("nnr_layer_parameter_set_unit_payload"):
            r.u(1, "nnr_reserved_zero_1bit")
            spars = r.flag("lps_sparsification_flag")
            prun = r.flag("lps_pruning_flag")
            unif = r.flag("lps_unification_flag")
            m.lps_quantization_method_flags = r.u(3, "lps_quantization_method_flags")
            r.u(1, "nnr_reserved_zero_1bit")
            if m.has_quantization:
                m.lps_qp_density = r.u(3, "lps_qp_density")
                m.lps_quantization_parameter = r.i(13, "lps_quantization_parameter")
            if spars:
                m.sparsification_performance_map = SparsificationPerformanceMap.read(r)
            if prun:
                m.pruning_performance_map = PruningPerformanceMap.read(r)
            if unif:
                m.unification_performance_map = UnificationPerformanceMap.read(r)
            r.byte_alignment()
        return m

    def write(self, w: BitWriter) -> None:
        with w.structure("nnr_layer_parameter_set_unit_payload"):
            w.u(1, 0, "nnr_reserved_zero_1bit")
            w.flag(self.sparsification_performance_map is not None, "lps_sparsification_flag")
            w.flag(self.pruning_performance_map is not None, "lps_pruning_flag")
            w.flag(self.unification_performance_map is not None, "lps_unification_flag")
            w.u(3, self.lps_quantization_method_flags, "lps_quantization_method_flags")
            w.u(1, 0, "nnr_reserved_zero_1bit")
            if self.has_quantization:
                w.u(3, self.lps_qp_density, "lps_qp_density")
                w.i(13, self.lps_quantization_parameter, "lps_quantization_parameter")
            for pm in (self.sparsification_performance_map, self.pruning_performance_map,
                       self.unification_performance_map):
                if pm is not None:
                    pm.write(w)
            w.byte_alignment()


@dataclass
class LayerParameterSetUnit:
    """An NNR_LPS unit: ``nnr_layer_parameter_set_unit_header()`` + payload.

    The LPS's qp_density and quantization parameter replace the MPS values for the NDUs that
    follow it in its stream.
    """

    unit_type: ClassVar[NNRUnitType] = NNRUnitType.NNR_LPS

    header: LayerParameterSetHeader = field(default_factory=LayerParameterSetHeader)
    lps: LayerParameterSet = field(default_factory=LayerParameterSet)

    @classmethod
    def read(cls, r: BitReader, ctx: UnitContext) -> LayerParameterSetUnit:
        header = LayerParameterSetHeader.read(r)
        return cls(header, LayerParameterSet.read(r))

    def write(self, w: BitWriter, ctx: UnitContext) -> None:
        self.header.write(w)
        self.lps.write(w)

    def apply(self, ctx: UnitContext) -> None:
        ctx.lps = self.lps
