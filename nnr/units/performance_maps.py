"""Performance maps of the model / layer parameter sets (syntax.md §4.1).

``sparsification_performance_map()``, ``pruning_performance_map()``,
``unification_performance_map()`` and ``decomposition_performance_map()``.

Each map's first u(8) element counts entries, and the entries loop ``count - 1`` times, as in
NNCodec's parser (whether the standard's element is a count or a count-minus-one is [U]).
Deviation, documented: NNCodec loops the per-class accuracies of the unification map over the
value of ``upm_class_bitmask``; we loop over ``upm_count_classes`` like the three other maps,
which is what the syntax evidently intends.  NNCodec never writes any of these maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnr.bitstream import BitReader, BitWriter


@dataclass
class SparsificationEntry:
    sparsification_threshold: float
    non_zero_ratio: float
    spm_nn_accuracy: float
    spm_class_bitmask: int
    spm_nn_class_accuracy: list[float]


@dataclass
class SparsificationPerformanceMap:
    """``sparsification_performance_map()``."""

    entries: list[SparsificationEntry] = field(default_factory=list)

    @classmethod
    def read(cls, r: BitReader) -> SparsificationPerformanceMap:
        with r.structure("sparsification_performance_map"):
            count = r.u(8, "spm_count_thresholds")
            entries = []
            for _ in range(count - 1):
                thr = r.flt("sparsification_threshold")
                nzr = r.flt("non_zero_ratio")
                acc = r.flt("spm_nn_accuracy")
                ncls = r.u(8, "spm_count_classes")
                mask = r.ue(7, "spm_class_bitmask")
                cls_acc = [r.flt("spm_nn_class_accuracy") for _ in range(ncls)]
                entries.append(SparsificationEntry(thr, nzr, acc, mask, cls_acc))
            return cls(entries)

    def write(self, w: BitWriter) -> None:
        with w.structure("sparsification_performance_map"):
            w.u(8, len(self.entries) + 1, "spm_count_thresholds")
            for e in self.entries:
                w.flt(e.sparsification_threshold, "sparsification_threshold")
                w.flt(e.non_zero_ratio, "non_zero_ratio")
                w.flt(e.spm_nn_accuracy, "spm_nn_accuracy")
                w.u(8, len(e.spm_nn_class_accuracy), "spm_count_classes")
                w.ue(7, e.spm_class_bitmask, "spm_class_bitmask")
                for a in e.spm_nn_class_accuracy:
                    w.flt(a, "spm_nn_class_accuracy")


@dataclass
class PruningEntry:
    pruning_ratio: float
    ppm_nn_accuracy: float
    ppm_class_bitmask: int
    ppm_nn_class_accuracy: list[float]


@dataclass
class PruningPerformanceMap:
    """``pruning_performance_map()``."""

    entries: list[PruningEntry] = field(default_factory=list)

    @classmethod
    def read(cls, r: BitReader) -> PruningPerformanceMap:
        with r.structure("pruning_performance_map"):
            count = r.u(8, "ppm_count_pruning_ratios")
            entries = []
            for _ in range(count - 1):
                ratio = r.flt("pruning_ratio")
                acc = r.flt("ppm_nn_accuracy")
                ncls = r.u(8, "ppm_count_classes")
                mask = r.ue(7, "ppm_class_bitmask")
                cls_acc = [r.flt("ppm_nn_class_accuracy") for _ in range(ncls)]
                entries.append(PruningEntry(ratio, acc, mask, cls_acc))
            return cls(entries)

    def write(self, w: BitWriter) -> None:
        with w.structure("pruning_performance_map"):
            w.u(8, len(self.entries) + 1, "ppm_count_pruning_ratios")
            for e in self.entries:
                w.flt(e.pruning_ratio, "pruning_ratio")
                w.flt(e.ppm_nn_accuracy, "ppm_nn_accuracy")
                w.u(8, len(e.ppm_nn_class_accuracy), "ppm_count_classes")
                w.ue(7, e.ppm_class_bitmask, "ppm_class_bitmask")
                for a in e.ppm_nn_class_accuracy:
                    w.flt(a, "ppm_nn_class_accuracy")


@dataclass
class UnificationEntry:
    reshaped_tensor_dimensions: list[int]  # count_reshaped_tensor_dimension - 1 values
    super_block_dimensions: list[int]
    block_dimensions: list[int]
    unification_threshold: float
    upm_nn_accuracy: float
    upm_class_bitmask: int
    upm_nn_class_accuracy: list[float]


@dataclass
class UnificationPerformanceMap:
    """``unification_performance_map()``."""

    entries: list[UnificationEntry] = field(default_factory=list)

    @classmethod
    def read(cls, r: BitReader) -> UnificationPerformanceMap:
        with r.structure("unification_performance_map"):
            count = r.u(8, "upm_count_thresholds")
            entries = []
            for _ in range(count - 1):
                n = r.ue(1, "count_reshaped_tensor_dimension")
                reshaped = [r.ue(7, "reshaped_tensor_dimensions") for _ in range(n - 1)]
                r.byte_alignment()
                n = r.u(8, "count_super_block_dimension")
                sb = [r.u(8, "super_block_dimensions") for _ in range(n - 1)]
                n = r.u(8, "count_block_dimension")
                bd = [r.u(8, "block_dimensions") for _ in range(n - 1)]
                thr = r.flt("unification_threshold")
                acc = r.flt("upm_nn_accuracy")
                ncls = r.u(8, "upm_count_classes")
                mask = r.ue(7, "upm_class_bitmask")
                cls_acc = [r.flt("upm_nn_class_accuracy") for _ in range(ncls)]
                entries.append(UnificationEntry(reshaped, sb, bd, thr, acc, mask, cls_acc))
            return cls(entries)

    def write(self, w: BitWriter) -> None:
        with w.structure("unification_performance_map"):
            w.u(8, len(self.entries) + 1, "upm_count_thresholds")
            for e in self.entries:
                w.ue(1, len(e.reshaped_tensor_dimensions) + 1, "count_reshaped_tensor_dimension")
                for d in e.reshaped_tensor_dimensions:
                    w.ue(7, d, "reshaped_tensor_dimensions")
                w.byte_alignment()
                w.u(8, len(e.super_block_dimensions) + 1, "count_super_block_dimension")
                for d in e.super_block_dimensions:
                    w.u(8, d, "super_block_dimensions")
                w.u(8, len(e.block_dimensions) + 1, "count_block_dimension")
                for d in e.block_dimensions:
                    w.u(8, d, "block_dimensions")
                w.flt(e.unification_threshold, "unification_threshold")
                w.flt(e.upm_nn_accuracy, "upm_nn_accuracy")
                w.u(8, len(e.upm_nn_class_accuracy), "upm_count_classes")
                w.ue(7, e.upm_class_bitmask, "upm_class_bitmask")
                for a in e.upm_nn_class_accuracy:
                    w.flt(a, "upm_nn_class_accuracy")


@dataclass
class DecompositionEntry:
    mse_threshold: float
    dpm_nn_accuracy: float
    nn_reduction_ratio: float
    dpm_nn_class_accuracy: list[float]


@dataclass
class DecompositionPerformanceMap:
    """``decomposition_performance_map()``."""

    entries: list[DecompositionEntry] = field(default_factory=list)

    @classmethod
    def read(cls, r: BitReader) -> DecompositionPerformanceMap:
        with r.structure("decomposition_performance_map"):
            count = r.u(8, "dpm_count_thresholds")
            entries = []
            for _ in range(count - 1):
                mse = r.flt("mse_threshold")
                acc = r.flt("dpm_nn_accuracy")
                red = r.flt("nn_reduction_ratio")
                ncls = r.u(16, "dpm_count_classes")
                cls_acc = [r.flt("dpm_nn_class_accuracy") for _ in range(ncls)]
                entries.append(DecompositionEntry(mse, acc, red, cls_acc))
            return cls(entries)

    def write(self, w: BitWriter) -> None:
        with w.structure("decomposition_performance_map"):
            w.u(8, len(self.entries) + 1, "dpm_count_thresholds")
            for e in self.entries:
                w.flt(e.mse_threshold, "mse_threshold")
                w.flt(e.dpm_nn_accuracy, "dpm_nn_accuracy")
                w.flt(e.nn_reduction_ratio, "nn_reduction_ratio")
                w.u(16, len(e.dpm_nn_class_accuracy), "dpm_count_classes")
                for a in e.dpm_nn_class_accuracy:
                    w.flt(a, "dpm_nn_class_accuracy")
