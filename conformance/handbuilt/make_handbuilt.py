#!/usr/bin/env python3
"""Deterministic generator of the hand-built positive conformance cases ``bitstreams/HB_*_A/``.

Syntax NNCodec cannot write (aggregate, quantization and layer-parameter-set units, performance
maps, indexed topology references, SHA parent ids, raw float payloads, decompressed data format,
partial data counter, other topology formats) written by our writer around the arithmetic
codewords of the worked example of syntax.md §9 (an NNCodec 2.1.3 stream).

The expected outputs are *not* produced by a decoder: they are the values the notes list for
the worked example (syntax.md §9), the formula of quantization.md §1 applied to its levels for
another QP, or the raw float32 values written.  The cases are marked
"cross_checked": false (no other implementation decodes these units).

    python3 conformance/handbuilt/make_handbuilt.py           # -> bitstreams/HB_*/
    python3 conformance/handbuilt/make_handbuilt.py --check   # regenerate in memory and compare
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "conformance", "generate"))

import numpy as np  # noqa: E402
from npzio import npz_bytes  # noqa: E402

from nnr.units.compressed_data_unit import CompressedDataUnitHeader  # noqa: E402
from nnr.units.layer_parameter_set import LayerParameterSet  # noqa: E402
from nnr.units.model_parameter_set import ModelParameterSet  # noqa: E402
from nnr.units.performance_maps import (  # noqa: E402
    DecompositionEntry, DecompositionPerformanceMap, PruningEntry, PruningPerformanceMap, SparsificationEntry,
    SparsificationPerformanceMap, UnificationEntry, UnificationPerformanceMap,
)
from nnr.units.topology import QuantizationUnit, TopologyUnit  # noqa: E402
from nnr.units.types import ParentNodeIdType, PayloadType, TopologyStorageFormat  # noqa: E402
from nnr.writer import StreamWriter  # noqa: E402

SCRIPT = "conformance/handbuilt/make_handbuilt.py"

# syntax.md §9: the arithmetic codewords of the NDUs of "w" (float32[3,4], DQ, QP -38) and "b"
# (float32[3], QP -75), gpi 1, qp_density 2, and the values the notes list for them.
W_PAYLOAD = bytes.fromhex("d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f")
B_PAYLOAD = bytes.fromhex("b4d800073800965da803641000b59908")
W_VALUES = np.array([[0.087890625, 0.0205078125, 0.0498046875, 0.11279296875],
                     [0.09375, -0.0498046875, 0.04833984375, -0.0087890625],
                     [-0.005859375, 0.0205078125, 0.005859375, 0.07177734375]], dtype=np.float32)
B_VALUES = np.array([0.007610321044921875, 0.0012159347534179688, 0.004439353942871094], dtype=np.float32)
B_LEVELS = [3192, 510, 1862]
B_QP_OFFSET = -75  # coded in B_PAYLOAD


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def step(qp: int, qp_density: int) -> float:
    """quantization.md §1, written out: (k + QP mod k) * 2^(floor(QP / k) - qp_density)."""
    k = 2 ** qp_density
    return (k + qp % k) * 2.0 ** (qp // k - qp_density)


def w_header(**kw: object) -> CompressedDataUnitHeader:
    h = CompressedDataUnitHeader(
        nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_FLOAT, topology_elem_id="w",
        node_id_present_flag=1, device_id=0, parameter_id=0, put_node_depth=0, dq_flag=1,
        tensor_dimensions=[3, 4], cabac_unary_length_minus1=10)
    for k, v in kw.items():
        setattr(h, k, v)
    return h


def b_header(**kw: object) -> CompressedDataUnitHeader:
    return w_header(**{"topology_elem_id": "b", "parameter_id": 1, "tensor_dimensions": [3], **kw})


def start(mps: ModelParameterSet | None = None) -> StreamWriter:
    s = StreamWriter()
    s.start_unit(1)
    s.model_parameter_set(mps or ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2))
    return s


EXAMPLE = {"w": W_VALUES, "b": B_VALUES}


@dataclass
class Case:
    name: str
    description: str
    features: list[int]
    build: Callable[[], tuple[bytes, dict[str, np.ndarray]]]


def agg() -> tuple[bytes, dict[str, np.ndarray]]:
    s = start()
    a = s.compressed_data_unit(w_header(), W_PAYLOAD)
    b = s.compressed_data_unit(b_header(), B_PAYLOAD)
    s.aggregate([a, b])
    return s.getvalue(), EXAMPLE


def qnt() -> tuple[bytes, dict[str, np.ndarray]]:
    s = start()
    s.quantization(QuantizationUnit(3, 0, bytes(range(16))))
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    return s.getvalue(), EXAMPLE


def lps() -> tuple[bytes, dict[str, np.ndarray]]:
    s = start()
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    s.layer_parameter_set(LayerParameterSet(
        lps_qp_density=2, lps_quantization_parameter=5,
        sparsification_performance_map=SparsificationPerformanceMap([
            SparsificationEntry(f32(0.25), f32(0.5), f32(0.7), 3, [f32(0.6), f32(0.8)])])))
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    b = np.array(B_LEVELS, dtype=np.float32) * np.float32(step(5 + B_QP_OFFSET, 2))
    return s.getvalue(), {"w": W_VALUES, "b": b}


def reflist() -> tuple[bytes, dict[str, np.ndarray]]:
    s = start(ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2, mps_topology_indexed_reference_flag=1))
    s.topology(TopologyUnit(topology_storage_format=TopologyStorageFormat.NNR_TPL_REFLIST,
                            topology_elem_id_list=["other", "b", "w"]))
    s.compressed_data_unit(w_header(topology_elem_id=None, topology_elem_id_index=2), W_PAYLOAD)
    s.compressed_data_unit(b_header(topology_elem_id=None, topology_elem_id_index=1), B_PAYLOAD)
    return s.getvalue(), EXAMPLE


def sha_parent(kind: int) -> Callable[[], tuple[bytes, dict[str, np.ndarray]]]:
    def build() -> tuple[bytes, dict[str, np.ndarray]]:
        s = start(ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2, mps_parent_signalling_enabled_flag=1,
                                    nnr_pre_flag=1))
        s.compressed_data_unit(w_header(), W_PAYLOAD)
        digest = hashlib.sha256(W_PAYLOAD).digest() if kind == 1 else hashlib.sha512(W_PAYLOAD).digest()
        field = "parent_node_payload_sha256" if kind == 1 else "parent_node_payload_sha512"
        s.compressed_data_unit(b_header(parent_node_id_present_flag=1, parent_node_id_type=kind, **{field: digest}),
                               B_PAYLOAD)
        return s.getvalue(), EXAMPLE
    return build


def raw_float() -> tuple[bytes, dict[str, np.ndarray]]:
    values = np.array([[1.5, -0.0, 3.4e38], [np.inf, -np.inf, 1e-45], [np.pi, -2.0, 7.0]], dtype=np.float32)
    s = start()
    s.compressed_data_unit(w_header(nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT,
                                    topology_elem_id="raw", tensor_dimensions=[3, 3]), values.astype("<f4").tobytes())
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    return s.getvalue(), {"raw": values, "b": B_VALUES}


def decompressed_format() -> tuple[bytes, dict[str, np.ndarray]]:
    s = start()
    s.compressed_data_unit(w_header(nnr_decompressed_data_format_present_flag=1, nnr_decompressed_data_format=1),
                           W_PAYLOAD)
    s.compressed_data_unit(b_header(nnr_decompressed_data_format_present_flag=1, nnr_decompressed_data_format=1),
                           B_PAYLOAD)
    return s.getvalue(), EXAMPLE


def partial_counter() -> tuple[bytes, dict[str, np.ndarray]]:
    s = start()
    s.compressed_data_unit(w_header(), W_PAYLOAD, partial_data_counter=0)
    s.compressed_data_unit(b_header(), B_PAYLOAD, partial_data_counter=1)
    return s.getvalue(), EXAMPLE


def perf_maps() -> tuple[bytes, dict[str, np.ndarray]]:
    mps = ModelParameterSet(
        topology_carriage_flag=1, mps_qp_density=2, base_model_id="example-base-model",
        performance_metric_type="top-1 accuracy", metric_type_performance_map_valid_flag=1,
        validation_set_performance=f32(0.7613),
        sparsification_performance_map=SparsificationPerformanceMap([
            SparsificationEntry(f32(0.01), f32(0.5), f32(0.75), 5, [f32(0.7), f32(0.8)])]),
        pruning_performance_map=PruningPerformanceMap([PruningEntry(f32(0.3), f32(0.74), 1, [f32(0.9)]),
                                                       PruningEntry(f32(0.5), f32(0.7), 0, [])]),
        unification_performance_map=UnificationPerformanceMap([
            UnificationEntry([3, 4], [2], [8, 8], f32(0.1), f32(0.72), 3, [f32(0.6), f32(0.65)])]),
        decomposition_performance_map=DecompositionPerformanceMap([
            DecompositionEntry(f32(1e-3), f32(0.73), f32(0.4), [f32(0.1), f32(0.2), f32(0.3)])]))
    s = start(mps)
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    s.compressed_data_unit(b_header(), B_PAYLOAD)
    return s.getvalue(), EXAMPLE


def topology(fmt: int, compression: int, data: bytes) -> Callable[[], tuple[bytes, dict[str, np.ndarray]]]:
    def build() -> tuple[bytes, dict[str, np.ndarray]]:
        s = start()
        s.topology(TopologyUnit(topology_storage_format=fmt, topology_compression_format=compression,
                                topology_data=data))
        s.compressed_data_unit(w_header(), W_PAYLOAD)
        s.compressed_data_unit(b_header(), B_PAYLOAD)
        return s.getvalue(), EXAMPLE
    return build


def long_sizes() -> tuple[bytes, dict[str, np.ndarray]]:
    s = StreamWriter()
    s.start_unit(1, long_size=True)
    s.model_parameter_set(ModelParameterSet(topology_carriage_flag=1, mps_qp_density=2), long_size=True)
    s.compressed_data_unit(w_header(), W_PAYLOAD, long_size=True)
    s.compressed_data_unit(b_header(), B_PAYLOAD, long_size=True)
    return s.getvalue(), EXAMPLE


CASES = [
    Case("HB_AGG_A", "The two NDUs of the worked example carried in one NNR_AGG aggregate unit with entry points "
         "(header layout [U], docs/deviations.rst).", [15, 17], agg),
    Case("HB_QNT_A", "An NNR_QNT quantization unit (storage format 3, 16 data bytes) before the NDUs; it does not "
         "change the output.", [14], qnt),
    Case("HB_LPS_A", "An NNR_LPS layer parameter set (with a sparsification performance map) between the NDUs: "
         "b is dequantized with lps_quantization_parameter 5 instead of the MPS's 0 (QP -70).", [7, 8], lps),
    Case("HB_REFLIST_A", "Indexed topology references: an NNR_TPL_REFLIST unit lists the names and the NDUs "
         "carry topology_elem_id_index.", [12], reflist),
    Case("HB_SHA256_PARENT_A", "Parent signalling with a SHA-256 parent node id (of w's payload) on b's NDU; "
         "nnr_pre_flag 1.", [6, 41], sha_parent(ParentNodeIdType.ICNN_NDU_PL_SHA256)),
    Case("HB_SHA512_PARENT_A", "Parent signalling with a SHA-512 parent node id on b's NDU.", [6, 41],
         sha_parent(ParentNodeIdType.ICNN_NDU_PL_SHA512)),
    Case("HB_RAW_FLOAT_A", "An NNR_PT_RAW_FLOAT tensor (inf, -0, subnormal, max float32) beside a coded one.",
         [18], raw_float),
    Case("HB_DECOMPRESSED_FORMAT_A", "nnr_decompressed_data_format present (TENSOR_FLOAT32) in both NDUs.", [21],
         decompressed_format),
    Case("HB_PARTIAL_DATA_COUNTER_A", "partial_data_counter present in the NDUs' unit headers (0 and 1); each "
         "unit decodes on its own.", [3], partial_counter),
    Case("HB_PERF_MAPS_A", "An MPS with every edition-2 field (base_model_id, performance_metric_type, "
         "validation_set_performance) and all four performance maps.", [5, 6, 7], perf_maps),
    Case("HB_TPL_ONNX_DFL_A", "A topology unit with storage format NNR_TPL_ONNX, compression NNR_DFL and binary "
         "data (kept as bytes).", [9, 10, 13], topology(TopologyStorageFormat.NNR_TPL_ONNX, 1,
                                                          bytes([0x78, 0x9C, 0, 1, 2, 255, 0, 17]))),
    Case("HB_TPL_PRUN_A", "A topology unit with a pruning topology container (kept as bytes).", [11],
         topology(TopologyStorageFormat.NNR_TPL_PRUN, 0, bytes(range(12)))),
    Case("HB_LONG_SIZE_A", "Every unit with the 31-bit nnr_unit_size form although it is small.", [1], long_sizes),
]


def case_files(c: Case) -> dict[str, bytes]:
    data, expected = c.build()
    tensors = [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype),
                "sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()} for k, v in expected.items()]
    meta = {
        "name": c.name, "description": c.description, "features": c.features, "kind": "positive",
        "cross_checked": False, "mode": "single",
        "generator": {"tool": "nnr-handbuilt", "version": "1", "call": f"{c.build.__name__}()", "args": {},
                      "input": None, "script": SCRIPT},
        "decode_call": {"call": "nnr.Decoder().decode", "args": {}},
        "streams": ["stream_0.nnc"],
        "expected": [{"stream": "stream_0.nnc", "tensors": tensors, "arrays": "expected_0.npz"}],
    }
    return {"case.json": (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode(), "stream_0.nnc": data,
            "expected_0.npz": npz_bytes(expected)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "bitstreams"))
    ap.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    a = ap.parse_args()
    bad = 0
    names = {c.name for c in CASES}
    for c in CASES:
        files = case_files(c)
        d = os.path.join(a.out, c.name)
        if a.check:
            for fn, content in files.items():
                p = os.path.join(d, fn)
                if not os.path.exists(p) or open(p, "rb").read() != content:
                    print(f"differs: {c.name}/{fn}")
                    bad += 1
            continue
        os.makedirs(d, exist_ok=True)
        for fn, content in files.items():
            with open(os.path.join(d, fn), "wb") as f:
                f.write(content)
    if not a.check:
        for d in os.listdir(a.out):
            if d.startswith("HB_") and d not in names:
                shutil.rmtree(os.path.join(a.out, d))
        print(f"{len(CASES)} hand-built case(s) written to {a.out}")
    elif not bad:
        print("CHECK OK")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
