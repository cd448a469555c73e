"""Implementations of ``nnr decode``, ``nnr info`` and ``nnr trace``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from nnr.bitstream import TraceEvent
from nnr.decoder import DecodedStream, DecodedUnit, Decoder, read_input
from nnr.errors import NNRError, NNRUsageError
from nnr.units.types import CompressedParameterTypes, PayloadType


def _have_safetensors() -> bool:
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        return False
    return True


def write_tensors(path: str, arrays: dict[str, npt.NDArray[np.generic]], fmt: str) -> list[str]:
    """Write ``arrays`` as .npz and/or .safetensors; returns the files written."""
    written = []
    stem, ext = os.path.splitext(path)
    if fmt in ("npz", "both"):
        p = path if ext == ".npz" else stem + ".npz"
        np.savez(p, **arrays)  # type: ignore[arg-type]
        written.append(p)
    if fmt in ("safetensors", "both"):
        if not _have_safetensors():
            raise NNRUsageError("writing .safetensors needs the 'safetensors' package (pip install safetensors)")
        from safetensors.numpy import save_file

        p = path if ext == ".safetensors" else stem + ".safetensors"
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, p)
        written.append(p)
    return written


def cmd_decode(args: argparse.Namespace) -> int:
    session = Decoder(verify_entry_points=not args.no_verify_entry_points)
    out = args.output
    many = len(args.inputs) > 1
    fmt = args.format
    if fmt is None:
        if out.endswith(".safetensors"):
            fmt = "safetensors"
        elif out.endswith(".npz"):
            fmt = "npz"
        else:
            fmt = "both" if _have_safetensors() else "npz"
    if many or os.path.isdir(out):
        os.makedirs(out, exist_ok=True)
    for path in args.inputs:
        try:
            arrays = session.decode(path)
        except NNRError as e:
            e.args = (f"{path}: {e}",)
            raise
        if many or os.path.isdir(out):
            target = os.path.join(out, os.path.splitext(os.path.basename(path))[0] + ".npz")
        else:
            target = out
        for f in write_tensors(target, arrays, fmt):
            print(f"{path} -> {f} ({len(arrays)} tensors)")
    return 0


# -- info -------------------------------------------------------------------------------------------


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


def cmd_info(args: argparse.Namespace) -> int:
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


# -- trace ------------------------------------------------------------------------------------------


def format_event(e: TraceEvent) -> str:
    v = e.value
    if isinstance(v, bytes):
        v = v.hex()
    elif isinstance(v, list) and len(v) > 64:
        v = f"{v[:64]}... ({len(v)} values)"
    return f"{e.bit_offset:>10}  {e.structure:<40} {e.name:<44} {e.descriptor:<17} {v}"


def cmd_trace(args: argparse.Namespace) -> int:
    data = read_input(args.input)
    out: TextIO = open(args.output, "w") if args.output else sys.stdout
    try:
        out.write(f"{'bit':>10}  {'structure':<40} {'element':<44} {'descriptor':<17} value\n")

        def tracer(e: TraceEvent) -> None:
            out.write(format_event(e) + "\n")

        Decoder().decode_stream(data, tracer=tracer)
    finally:
        if args.output:
            out.close()
    return 0


# -- encode -----------------------------------------------------------------------------------------

PROGRESS_MIN_ELEMENTS = 1 << 20  # show a progress bar from about a million parameters on


def read_tensors(path: str) -> dict[str, npt.NDArray[Any]]:
    """Tensors of a .npz or .safetensors file, in file order."""
    if path.endswith(".safetensors"):
        if not _have_safetensors():
            raise NNRUsageError("reading .safetensors needs the 'safetensors' package (pip install safetensors)")
        from safetensors.numpy import load_file

        try:
            return dict(load_file(path))
        except (OSError, ValueError) as e:
            raise NNRUsageError(f"cannot read {path!r}: {e}") from None
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise NNRUsageError(f"cannot read {path!r}: {e}") from None
    if not hasattr(z, "files"):
        raise NNRUsageError(f"{path!r} is a single array, not a .npz archive of named tensors")
    try:
        return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise NNRUsageError(f"cannot read {path!r}: {e}") from None
    finally:
        z.close()


class ProgressBar:
    """A one-line progress bar on a stream (stderr); silent when disabled."""

    def __init__(self, out: TextIO, label: str, enabled: bool, width: int = 30) -> None:
        self.out = out
        self.label = label
        self.enabled = enabled
        self.width = width
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        pct = int(100 * done / total) if total else 100
        if pct == self.last:
            return
        self.last = pct
        fill = self.width * pct // 100
        self.out.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {pct:3d}%")
        if done >= total:
            self.out.write("\n")
        self.out.flush()


def encode_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The encoder settings given on the command line (only those given)."""
    s: dict[str, Any] = {}
    for name in ("qp", "qp_density", "nonweight_qp", "scan_order", "cabac_unary_length_minus1", "codebook_mode",
                 "lambda_scale", "int_quant_bw", "general_profile_idc", "device_id"):
        v = getattr(args, name, None)
        if v is not None:
            s[name] = v
    for name in ("use_dq", "param_opt", "row_skipping", "opt_qp", "bnf"):
        v = getattr(args, name, None)
        if v is not None:
            s[name] = v
    if getattr(args, "blocks", None):
        try:
            with open(args.blocks) as f:
                s["block_id_and_param_type"] = json.load(f)
        except (OSError, ValueError) as e:
            raise NNRUsageError(f"cannot read the block description {args.blocks!r}: {e}") from None
    if getattr(args, "qp_per_tensor", None):
        q: dict[str, int] = {}
        for item in args.qp_per_tensor:
            name, sep, value = item.rpartition("=")
            if not sep or not name:
                raise NNRUsageError(f"--qp-per-tensor takes NAME=QP, got {item!r}")
            try:
                q[name] = int(value)
            except ValueError:
                raise NNRUsageError(f"--qp-per-tensor {item!r}: {value!r} is not an integer") from None
        s["qp_per_tensor"] = q
    return s


def cmd_encode(args: argparse.Namespace) -> int:
    from nnr.encoder import encode

    tensors = read_tensors(args.input)
    settings = encode_settings(args)
    total = sum(int(np.asarray(v).size) for v in tensors.values())
    show = args.progress if args.progress is not None else (total >= PROGRESS_MIN_ELEMENTS and sys.stderr.isatty())
    bar = ProgressBar(sys.stderr, "encoding", bool(show))
    data = encode(tensors, progress=bar, **settings)
    out = args.output
    with open(out, "wb") as f:
        f.write(data)
    if not args.quiet:
        print(f"{args.input} -> {out} ({len(tensors)} tensors, {total} parameters, {len(data)} bytes)")
    return 0
