"""High-level syntax of a decoded stream as the dicts NNCodec's decoder returns.

NNCodec keeps each parsed NNR unit as a flat dict: syntax element name -> value (Python ints and
strings; float elements as one-element float32 arrays; the entries of the performance maps as
numpy arrays).  ``decompress(..., return_hls=True)`` returns the last MPS, LPS and TPL dicts;
``return_model_information=True`` returns the performance maps and per-tensor flags.  These
helpers build the same dicts from :mod:`nnr`'s unit objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnr.units.layer_parameter_set import LayerParameterSet, LayerParameterSetHeader
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import NNRUnitHeader
from nnr.units.performance_maps import (
    DecompositionPerformanceMap,
    PruningPerformanceMap,
    SparsificationPerformanceMap,
    UnificationPerformanceMap,
)
from nnr.units.topology import TopologyUnit
from nnr.units.types import QuantizationMethodFlags, TopologyStorageFormat

_QUANT = QuantizationMethodFlags.NNR_QSU | QuantizationMethodFlags.NNR_QCB

Dict = dict[str, Any]


def _f32(x: float) -> Any:
    """A float element as NNCodec reads it: a one-element float32 array."""
    return np.array([x], dtype=np.float32)


def _header(h: NNRUnitHeader, after_type: Dict | None = None) -> Dict:
    d: Dict = {"nnr_unit_size_flag": h.nnr_unit_size_flag, "nnr_unit_size": h.nnr_unit_size,
               "nnr_unit_type": h.nnr_unit_type}
    if after_type:
        d.update(after_type)
    d["independently_decodable_flag"] = h.independently_decodable_flag
    d["partial_data_counter_present_flag"] = h.partial_data_counter_present_flag
    if h.partial_data_counter_present_flag:
        d["partial_data_counter"] = h.partial_data_counter
    return d


def _class_matrix(rows: list[list[float]], dtype: Any) -> Any:
    width = max([1] + [len(r) for r in rows])
    m = np.zeros((len(rows), width), dtype=dtype)
    for i, r in enumerate(rows):
        m[i, : len(r)] = r
    return m


def sparsification_fields(pm: SparsificationPerformanceMap) -> Dict:
    e = pm.entries
    return {
        "spm_count_thresholds": len(e) + 1,
        "sparsification_threshold": np.array([x.sparsification_threshold for x in e], dtype=np.float32),
        "non_zero_ratio": np.array([x.non_zero_ratio for x in e], dtype=np.float32),
        "spm_nn_accuracy": np.array([x.spm_nn_accuracy for x in e], dtype=np.float32),
        "spm_count_classes": np.array([len(x.spm_nn_class_accuracy) for x in e], dtype=np.uint32),
        "spm_class_bitmask": np.array([x.spm_class_bitmask for x in e], dtype=np.uint32),
        "spm_nn_class_accuracy": _class_matrix([x.spm_nn_class_accuracy for x in e], np.float32),
    }


def pruning_fields(pm: PruningPerformanceMap) -> Dict:
    e = pm.entries
    return {
        "ppm_count_pruning_ratios": len(e) + 1,
        "pruning_ratio": np.array([x.pruning_ratio for x in e], dtype=np.float32),
        "ppm_nn_accuracy": np.array([x.ppm_nn_accuracy for x in e], dtype=np.float32),
        "ppm_count_classes": np.array([len(x.ppm_nn_class_accuracy) for x in e], dtype=np.uint32),
        "ppm_class_bitmask": np.array([x.ppm_class_bitmask for x in e], dtype=np.uint32),
        "ppm_nn_class_accuracy": _class_matrix([x.ppm_nn_class_accuracy for x in e], np.float32),
    }


def _dims_matrix(rows: list[list[int]]) -> Any:
    # NNCodec sizes the second dimension by the largest count (values stored: count - 1)
    width = max([1] + [len(r) + 1 for r in rows])
    m = np.zeros((len(rows), width), dtype=np.uint32)
    for i, r in enumerate(rows):
        m[i, : len(r)] = r
    return m


def unification_fields(pm: UnificationPerformanceMap) -> Dict:
    e = pm.entries
    return {
        "upm_count_thresholds": len(e) + 1,
        "count_reshaped_tensor_dimension": np.array([len(x.reshaped_tensor_dimensions) + 1 for x in e],
                                                    dtype=np.uint32),
        "reshaped_tensor_dimensions": _dims_matrix([x.reshaped_tensor_dimensions for x in e]),
        "count_super_block_dimension": np.array([len(x.super_block_dimensions) + 1 for x in e], dtype=np.uint32),
        "super_block_dimensions": _dims_matrix([x.super_block_dimensions for x in e]),
        "count_block_dimension": np.array([len(x.block_dimensions) + 1 for x in e], dtype=np.uint32),
        "block_dimensions": _dims_matrix([x.block_dimensions for x in e]),
        "unification_threshold": np.array([x.unification_threshold for x in e], dtype=np.float32),
        "upm_nn_accuracy": np.array([x.upm_nn_accuracy for x in e], dtype=np.float32),
        "upm_count_classes": np.array([len(x.upm_nn_class_accuracy) for x in e], dtype=np.uint32),
        "upm_class_bitmask": np.array([x.upm_class_bitmask for x in e], dtype=np.uint32),
        "upm_nn_class_accuracy": _class_matrix([x.upm_nn_class_accuracy for x in e], np.float32),
    }


def decomposition_fields(pm: DecompositionPerformanceMap) -> Dict:
    e = pm.entries
    return {
        "dpm_count_thresholds": len(e) + 1,
        "mse_threshold": np.array([x.mse_threshold for x in e], dtype=np.float32),
        "dpm_nn_accuracy": np.array([x.dpm_nn_accuracy for x in e], dtype=np.float32),
        "nn_reduction_ratio": np.array([x.nn_reduction_ratio for x in e], dtype=np.float32),
        "dpm_count_classes": np.array([len(x.dpm_nn_class_accuracy) for x in e], dtype=np.uint32),
        "dpm_nn_class_accuracy": _class_matrix([x.dpm_nn_class_accuracy for x in e], np.float32),
    }


def mps_dict(h: NNRUnitHeader, m: ModelParameterSet, general_profile_idc: int) -> Dict:
    d = _header(h)
    d["general_profile_idc"] = general_profile_idc
    d["topology_carriage_flag"] = m.topology_carriage_flag
    d["mps_sparsification_flag"] = int(m.sparsification_performance_map is not None)
    d["mps_pruning_flag"] = int(m.pruning_performance_map is not None)
    d["mps_unification_flag"] = int(m.unification_performance_map is not None)
    d["mps_decomposition_performance_map_flag"] = int(m.decomposition_performance_map is not None)
    d["mps_quantization_method_flags"] = int(m.mps_quantization_method_flags)
    d["mps_topology_indexed_reference_flag"] = m.mps_topology_indexed_reference_flag
    if general_profile_idc == 1:
        d["base_model_id_present_flag"] = int(m.base_model_id is not None)
        d["validation_set_performance_present_flag"] = int(m.validation_set_performance is not None)
        d["metric_type_performance_map_valid_flag"] = m.metric_type_performance_map_valid_flag
        d["mps_parent_signalling_enabled_flag"] = m.mps_parent_signalling_enabled_flag
        if m.mps_parent_signalling_enabled_flag:
            d["nnr_pre_flag"] = m.nnr_pre_flag
        else:
            d["nnr_reserved_zero_1bit"] = 0
        d["nnr_reserved_zero_2bits"] = 0
        if m.base_model_id is not None:
            d["base_model_id"] = m.base_model_id
        if m.validation_set_performance is not None or m.metric_type_performance_map_valid_flag:
            d["performance_metric_type"] = m.performance_metric_type or ""
    else:
        d["nnr_reserved_zero_7bits"] = 0
    if m.mps_quantization_method_flags & _QUANT:
        d["mps_qp_density"] = m.mps_qp_density
        d["mps_quantization_parameter"] = m.mps_quantization_parameter
    d.update(performance_map_fields(m))
    if general_profile_idc == 1 and m.validation_set_performance is not None:
        d["validation_set_performance"] = _f32(m.validation_set_performance)
    return d


def performance_map_fields(p: ModelParameterSet | LayerParameterSet) -> Dict:
    d: Dict = {}
    if p.sparsification_performance_map is not None:
        d.update(sparsification_fields(p.sparsification_performance_map))
    if p.pruning_performance_map is not None:
        d.update(pruning_fields(p.pruning_performance_map))
    if p.unification_performance_map is not None:
        d.update(unification_fields(p.unification_performance_map))
    if isinstance(p, ModelParameterSet) and p.decomposition_performance_map is not None:
        d.update(decomposition_fields(p.decomposition_performance_map))
    return d


def performance_maps(p: ModelParameterSet | LayerParameterSet) -> Dict:
    """The ``performance_maps['mps' | 'lps']`` entries of NNCodec's model information."""
    d: Dict = {}
    if p.sparsification_performance_map is not None:
        d["sparsification_performance_map"] = sparsification_fields(p.sparsification_performance_map)
    if p.pruning_performance_map is not None:
        d["pruning_performance_map"] = pruning_fields(p.pruning_performance_map)
    if p.unification_performance_map is not None:
        d["unification_performance_map"] = unification_fields(p.unification_performance_map)
    if isinstance(p, ModelParameterSet) and p.decomposition_performance_map is not None:
        d["decomposition_performance_map"] = decomposition_fields(p.decomposition_performance_map)
    return d


def lps_dict(h: NNRUnitHeader, lh: LayerParameterSetHeader, p: LayerParameterSet) -> Dict:
    d = _header(h)
    d["lps_self_contained_flag"] = lh.lps_self_contained_flag
    d["nnr_reserved_zero_7bits"] = 0
    d["nnr_reserved_zero_1_bits"] = 0
    d["lps_sparsification_flag"] = int(p.sparsification_performance_map is not None)
    d["lps_pruning_flag"] = int(p.pruning_performance_map is not None)
    d["lps_unification_flag"] = int(p.unification_performance_map is not None)
    d["lps_quantization_method_flags"] = int(p.lps_quantization_method_flags)
    d["nnr_reserved_zero_1bit"] = 0
    if p.has_quantization:
        d["lps_qp_density"] = p.lps_qp_density
        d["lps_quantization_parameter"] = p.lps_quantization_parameter
    d.update(performance_map_fields(p))
    return d


def tpl_dict(h: NNRUnitHeader, t: TopologyUnit, mps_topology_indexed_reference_flag: int) -> Dict:
    d = _header(h, {"mps_topology_indexed_reference_flag": mps_topology_indexed_reference_flag})
    d["topology_storage_format"] = int(t.topology_storage_format)
    d["topology_compression_format"] = int(t.topology_compression_format)
    if t.topology_storage_format == TopologyStorageFormat.NNR_TPL_REFLIST:
        d["count_topology_elements_minus2"] = len(t.topology_elem_id_list) - 2
        d["topology_elem_id_list"] = list(t.topology_elem_id_list)
    elif t.topology_storage_format != TopologyStorageFormat.NNR_TPL_PRUN:
        raw = bytes(t.topology_data)
        nul = raw.find(b"\x00")
        d["topology_data"] = (raw if nul < 0 else raw[:nul]).decode("utf-8", "replace")
    return d
