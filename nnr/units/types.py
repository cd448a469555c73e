"""Enumerations and constants of the NNR high-level syntax (syntax.md §2–§8)."""

from __future__ import annotations

from enum import IntEnum, IntFlag


class NNRUnitType(IntEnum):
    """``nnr_unit_type`` (u(6))."""

    NNR_STR = 0
    NNR_MPS = 1
    NNR_LPS = 2
    NNR_TPL = 3
    NNR_QNT = 4
    NNR_NDU = 5
    NNR_AGG = 6


class PayloadType(IntEnum):
    """``nnr_compressed_data_unit_payload_type`` (u(5))."""

    NNR_PT_INT = 0
    NNR_PT_FLOAT = 1
    NNR_PT_RAW_FLOAT = 2
    NNR_PT_BLOCK = 3


class CompressedParameterTypes(IntFlag):
    """``compressed_parameter_types`` bit mask (u(4))."""

    NONE = 0
    NNR_CPT_DC = 1  # low-rank decomposition G, H
    NNR_CPT_LS = 2  # local scaling
    NNR_CPT_BN = 4  # batch-norm beta, gamma, mean, variance
    NNR_CPT_BI = 8  # bias


class QuantizationMethodFlags(IntFlag):
    """``mps_quantization_method_flags`` / ``lps_quantization_method_flags`` (u(3))."""

    NONE = 0
    NNR_QSU = 1  # uniform scalar
    NNR_QCB = 2  # codebook


class TopologyStorageFormat(IntEnum):
    """``topology_storage_format`` (u(8))."""

    NNR_TPL_UNREC = 0
    NNR_TPL_NNEF = 1
    NNR_TPL_ONNX = 2
    NNR_TPL_PYT = 3
    NNR_TPL_TEF = 4
    NNR_TPL_PRUN = 5
    NNR_TPL_REFLIST = 6


class TopologyCompressionFormat(IntEnum):
    """``topology_compression_format`` (u(8))."""

    NNR_PT_RAW = 0
    NNR_DFL = 1


class ParentNodeIdType(IntEnum):
    """``parent_node_id_type`` (u(2))."""

    ICNN_NDU_ID = 0
    ICNN_NDU_PL_SHA256 = 1
    ICNN_NDU_PL_SHA512 = 2


class DecompressedDataFormat(IntEnum):
    """``nnr_decompressed_data_format`` (u(7)); values after NNCodec's enumeration [U]."""

    TENSOR_INT32 = 0
    TENSOR_FLOAT32 = 1
    TENSOR_INT2 = 2
    TENSOR_INT3 = 3
    TENSOR_INT4 = 4
    TENSOR_INT8 = 5
    TENSOR_INT16 = 6
    TENSOR_INT64 = 7
    TENSOR_FLOAT16 = 8
    TENSOR_FLOAT64 = 9


def unit_type_name(value: int) -> str:
    try:
        return NNRUnitType(value).name
    except ValueError:
        return f"nnr_unit_type {value}"
