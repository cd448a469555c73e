"""``nnr info``: the units, tensors, coding tools and sizes of a stream."""

from __future__ import annotations

import argparse
import fnmatch
import sys
from typing import Any

import numpy as np

from nnr.checkpoint import RAW
from nnr.cli.common import Subcommand, check_stream_path, dump_json
from nnr.decoder import DecodedStream, DecodedUnit, Decoder, read_input
from nnr.dialect import add_dialect_argument
from nnr.errors import NNRError, NNRUsageError
from nnr.units.types import CompressedParameterTypes, PayloadType

HELP = "units, tensors, tools and sizes of a stream"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="input",
                   help=".nnc stream; several: a base then its updates, decoded in order by one session")
    p.add_argument("--json", action="store_true", help="machine-readable output (with the file name)")
    add_dialect_argument(p)
    p.add_argument("-k", "--filter", metavar="PATTERN",
                   help="only tensors whose name contains PATTERN (or matches it as a glob: 'layers.*.weight')")


def _tools(u: DecodedUnit) -> list[str]:
    h = u.ndu
    if h is None:
        return []
    tools = [PayloadType(h.nnr_compressed_data_unit_payload_type).name]
    cpt = CompressedParameterTypes(h.compressed_parameter_types)
    for flag in (CompressedParameterTypes.NNR_CPT_DC, CompressedParameterTypes.NNR_CPT_LS,
                 CompressedParameterTypes.NNR_CPT_BN, CompressedParameterTypes.NNR_CPT_BI):
        if cpt & flag:
            tools.append(str(flag.name))
    if h.dq_flag and h.nnr_compressed_data_unit_payload_type != PayloadType.NNR_PT_INT:
        tools.append("dependent quantization")
    if h.codebook_present_flag:
        tools.append(f"codebook({len(h.codebook.codebook) if h.codebook else '?'})")
    if h.scan_order:
        tools.append(f"block scan {4 << h.scan_order}x{4 << h.scan_order}")
    if h.cabac_entry_point_list:
        tools.append(f"{len(h.cabac_entry_point_list)} entry points")
    if h.parent_node_id_present_flag:
        tools.append("parent node")
    if h.temporal_context_modeling_flag:
        tools.append("TCA")
    if any(t.side.hist_dep_sig_prob_enabled_flag for t in u.tensors):
        tools.append("HDSP")
    if any(t.side.row_skip_enabled_flag for t in u.tensors):
        tools.append("row skipping")
    return tools


def info_dict(stream: DecodedStream, size: int) -> dict[str, Any]:
    """What ``nnr info --json`` prints for a decoded stream of ``size`` bytes."""
    units: list[dict[str, Any]] = []

    def add(u: DecodedUnit) -> None:
        d: dict[str, Any] = {"index": u.index, "offset": u.offset, "size": u.header.nnr_unit_size, "type": u.type_name}
        if u.start_unit is not None:
            d["general_profile_idc"] = u.start_unit.general_profile_idc
        if u.mps is not None:
            d["mps_qp_density"] = u.mps.mps_qp_density
            d["mps_quantization_parameter"] = u.mps.mps_quantization_parameter
            d["mps_parent_signalling_enabled_flag"] = u.mps.mps_parent_signalling_enabled_flag
            d["mps_topology_indexed_reference_flag"] = u.mps.mps_topology_indexed_reference_flag
        if u.topology is not None:
            d["topology_storage_format"] = u.topology.topology_storage_format
        if u.ndu is not None:
            h = u.ndu
            d["header_bytes"] = h.header_bits // 8
            d["tools"] = _tools(u)
            rules = next((t for t in u.tensors if t.dialect is not None), None)
            if rules is not None:  # general_profile_idc 0: the coding rules followed, and why
                d["dialect"] = {"rules": rules.dialect, "reason": rules.dialect_reason}
            if h.node_id_present_flag:
                d["node"] = {"device_id": h.device_id, "parameter_id": h.parameter_id, "put_node_depth": h.put_node_depth}
            d["tensors"] = [
                {"name": t.name, "role": t.role, "shape": t.shape, "qp": t.qp, "dq_flag": t.dq_flag,
                 "nonzero": int(np.count_nonzero(t.levels)) if t.levels is not None else None}
                for t in u.tensors
            ]
        units.append(d)
        for c in u.children:
            add(c)

    for u in stream.units:
        add(u)
    original = stream.original()
    arrays = stream.arrays()
    outputs = []
    for t in stream.outputs:
        v = arrays[t.name]
        o: dict[str, Any] = {"name": t.name, "shape": list(v.shape), "dtype": str(t.value.dtype),
                             "original_dtype": original[t.name].dtype if t.name in original else str(v.dtype)}
        o.update(_stats(v))
        outputs.append(o)
    params = sum(int(np.prod(o["shape"], dtype=np.int64)) for o in outputs)
    raw = sum(int(np.prod(o["shape"], dtype=np.int64)) * _itemsize(o["original_dtype"]) for o in outputs)
    return {
        "bytes": size,
        "general_profile_idc": stream.general_profile_idc,
        "units": units,
        "outputs": outputs,
        "totals": {"tensors": len(outputs), "parameters": params, "raw_bytes": raw, "coded_bytes": size,
                   "ratio": raw / size if size else None, "bits_per_parameter": 8 * size / params if params else None},
    }


def _itemsize(dtype: str) -> int:
    return RAW[dtype].itemsize if dtype in RAW else np.dtype(dtype).itemsize


def _stats(v: Any) -> dict[str, Any]:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.size == 0:
        return {}
    return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()), "std": float(a.std()),
            "sparsity": float(np.count_nonzero(a == 0) / a.size)}


def _matches(name: str, pattern: str | None) -> bool:
    if pattern is None:
        return True
    return pattern in name or fnmatch.fnmatchcase(name, pattern)


def _filtered(d: dict[str, Any], pattern: str | None) -> dict[str, Any]:
    if pattern is None:
        return d
    units = []
    for u in d["units"]:
        if "tensors" in u:
            kept = [t for t in u["tensors"] if _matches(t["name"], pattern)]
            if not kept:
                continue
            u = {**u, "tensors": kept}
        units.append(u)
    outputs = [o for o in d["outputs"] if _matches(o["name"], pattern)]
    if not outputs:
        raise NNRUsageError(f"--filter {pattern!r} matches no tensor of the stream")
    return {**d, "units": units, "outputs": outputs}


def _totals_line(t: dict[str, Any]) -> str:
    ratio = f"{t['ratio']:.2f}" if t["ratio"] is not None else "-"
    bpp = f"{t['bits_per_parameter']:.3f}" if t["bits_per_parameter"] is not None else "-"
    return (f"total: {t['tensors']} tensors, {t['parameters']} parameters, {t['raw_bytes']} raw bytes, "
            f"{t['coded_bytes']} coded bytes, ratio {ratio}, {bpp} bits/parameter")


def run(args: argparse.Namespace) -> int:
    session = Decoder(dialect=args.dialect)
    reports = []
    for path in args.inputs:
        check_stream_path(path)
        data = read_input(path)
        try:
            stream = session.decode_stream(data)
        except NNRError as e:
            e.args = (f"{path}: {e}",)
            raise
        reports.append({"file": path, **_filtered(info_dict(stream, len(data)), args.filter)})
    if args.json:
        dump_json(reports[0] if len(reports) == 1 else reports, sys.stdout)
        return 0
    for d in reports:
        _print(d)
    return 0


def _print(d: dict[str, Any]) -> None:
    print(f"{d['file']}: {d['bytes']} bytes, {len(d['units'])} NNR units, general_profile_idc {d['general_profile_idc']}")
    for u in d["units"]:
        line = f"  #{u['index']:<3} @{u['offset']:<8} {u['type']:<8} {u['size']:>9} B"
        if "tools" in u:
            line += "  " + ", ".join(u["tools"])
        print(line)
        if "dialect" in u:
            print(f"         coding rules {u['dialect']['rules']}: {u['dialect']['reason']}")
        for t in u.get("tensors", []):
            qp = f" qp {t['qp']}" if t["qp"] is not None else ""
            print(f"         {t['name']} [{t['role']}] {'x'.join(map(str, t['shape']))}{qp}, {t['nonzero']} non-zero")
    print("outputs:")
    for o in d["outputs"]:
        dt = o["dtype"] if o["original_dtype"] == o["dtype"] else f"{o['dtype']} (originally {o['original_dtype']})"
        stats = (f"  min {o['min']:.4g} max {o['max']:.4g} mean {o['mean']:.4g} std {o['std']:.4g} "
                 f"sparsity {100 * o['sparsity']:.1f}%") if "min" in o else ""
        print(f"  {o['name']}: {dt} {tuple(o['shape'])}{stats}")
    print(_totals_line(d["totals"]))


COMMAND = Subcommand("info", HELP, add_arguments, run)
