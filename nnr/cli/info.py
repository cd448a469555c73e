"""``nnr info``: the units, tensors, coding tools and sizes of a stream."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from nnr.cli.common import Subcommand
from nnr.decoder import DecodedStream, DecodedUnit, Decoder, read_input
from nnr.units.types import CompressedParameterTypes, PayloadType

HELP = "units, tensors, tools and sizes of a stream"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input")
    p.add_argument("--json", action="store_true", help="machine-readable output")


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
    return {
        "bytes": size,
        "general_profile_idc": stream.general_profile_idc,
        "units": units,
        "outputs": [{"name": t.name, "shape": list(t.value.shape), "dtype": str(t.value.dtype)} for t in stream.outputs],
    }


def run(args: argparse.Namespace) -> int:
    data = read_input(args.input)
    stream = Decoder().decode_stream(data)
    d = info_dict(stream, len(data))
    if args.json:
        json.dump(d, sys.stdout, indent=2)
        print()
        return 0
    print(f"{args.input}: {len(data)} bytes, {len(d['units'])} NNR units, general_profile_idc {d['general_profile_idc']}")
    for u in d["units"]:
        line = f"  #{u['index']:<3} @{u['offset']:<8} {u['type']:<8} {u['size']:>9} B"
        if "tools" in u:
            line += "  " + ", ".join(u["tools"])
        print(line)
        for t in u.get("tensors", []):
            qp = f" qp {t['qp']}" if t["qp"] is not None else ""
            print(f"         {t['name']} [{t['role']}] {'x'.join(map(str, t['shape']))}{qp}, {t['nonzero']} non-zero")
    print("outputs:")
    for o in d["outputs"]:
        print(f"  {o['name']}: {o['dtype']} {tuple(o['shape'])}")
    return 0


COMMAND = Subcommand("info", HELP, add_arguments, run)
