"""``nnr encode``: tensors of a .npz / .safetensors file into a stream, as NNCodec 2.1.3 writes it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from functools import partial
from typing import Any

import numpy as np

from nnr import parallel
from nnr.checkpoint import RAW, check_not_over_input, checkpoint_kind, read_checkpoint, replace_file
from nnr.cli.common import ProgressBar, Subcommand
from nnr.decoder import CHECKPOINT_SUFFIXES
from nnr.encoder import encode
from nnr.errors import NNRUsageError
from nnr.streaming import TensorSource, encode_checkpoint, streamable_settings
from nnr.rate_control import relative_qps, search_qp

HELP = "encode a checkpoint (.safetensors, Hugging Face folder, .npz, .pt) into a stream"
DESCRIPTION = ("Encode the tensors of a checkpoint: a .safetensors file, a Hugging Face folder (model.safetensors "
               "or shards + model.safetensors.index.json), a .npz or a .pt / .pth state dict.  Float tensors "
               "(float32, bf16, fp16, fp8) are quantized from float32 (defaults: NNCodec's nnc.compress, QP -38, "
               "dependent quantization), integer tensors coded as integers; original dtypes and 0-d shapes are "
               "recorded, so 'nnr decode' restores them.")

PROGRESS_MIN_ELEMENTS = 1 << 20  # show a progress bar from about a million parameters on


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="checkpoint: .safetensors, Hugging Face folder, .npz or .pt / .pth")
    p.add_argument("-o", "--output", required=True, help="the .nnc stream to write (taken as given)")
    rc = p.add_mutually_exclusive_group()
    rc.add_argument("--qp", type=int, help="QP of weights (tensors with 2+ dimensions); default -38")
    rc.add_argument("--qp-rel", dest="qp_rel", type=int, metavar="R",
                    help="QP of each weight relative to its spread: step = std * 2**(R / 2**qp_density)")
    rc.add_argument("--target-bits-per-param", dest="target_bpp", type=float, metavar="BITS",
                    help="the finest weight QP whose stream needs at most BITS bits per parameter (searched)")
    rc.add_argument("--max-rel-error", dest="max_rel_error", type=float, metavar="E",
                    help="the coarsest weight QP with overall relative error ||w'-w||/||w|| <= E (searched)")
    p.add_argument("--qp-density", dest="qp_density", type=int, help="QP steps per octave: 2**qp_density (0..7); default 2")
    p.add_argument("--nonweight-qp", dest="nonweight_qp", type=int, help="QP of the other tensors; default -75")
    p.add_argument("--qp-per-tensor", dest="qp_per_tensor", action="append", metavar="NAME=QP",
                   help="QP of one tensor (repeatable)")
    dq = p.add_mutually_exclusive_group()
    dq.add_argument("--dq", dest="use_dq", action="store_true", default=None, help="dependent quantization (default)")
    dq.add_argument("--no-dq", dest="use_dq", action="store_false", help="uniform quantization without DQ")
    p.add_argument("--scan-order", dest="scan_order", type=int, choices=range(5),
                   help="0 row-major, 1..4 blocks of 8..64 with entry points")
    p.add_argument("--cabac-unary-length-minus1", "--cul", dest="cabac_unary_length_minus1", type=int,
                   help="greater-than flags minus 1 (0..255); default 10")
    p.add_argument("--codebook", dest="codebook_mode", type=int, choices=(0, 1, 2),
                   help="codebook quantization: 1 always, 2 where smaller than uniform")
    p.add_argument("--lambda-scale", dest="lambda_scale", type=float, help="rate-distortion optimised quantization")
    p.add_argument("--bitdepth", dest="int_quant_bw", type=int, help="limit levels to this many bits (1..31)")
    po = p.add_mutually_exclusive_group()
    po.add_argument("--param-opt", dest="param_opt", action="store_true", default=None,
                    help="choose probability-estimator parameter sets (default)")
    po.add_argument("--no-param-opt", dest="param_opt", action="store_false")
    p.add_argument("--row-skipping", dest="row_skipping", action="store_true", default=None,
                   help="skip all-zero rows (edition 2)")
    p.add_argument("--opt-qp", dest="opt_qp", action="store_true", default=None,
                   help="scale weight QPs by tensor size and spread")
    p.add_argument("--blocks", metavar="JSON", help="block_id_and_param_type as a JSON file")
    p.add_argument("--bnf", dest="bnf", action="store_true", default=None, help="fold batch norm (needs --blocks)")
    p.add_argument("--gpi", dest="general_profile_idc", type=int, choices=(0, 1),
                   help="general_profile_idc: 1 edition 2 (default), 0 edition 1")
    pg = p.add_mutually_exclusive_group()
    pg.add_argument("--progress", dest="progress", action="store_true", default=None,
                    help="progress bar (default: on a terminal, for 1M+ parameters or a codebook search)")
    pg.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="quantize and code the tensors on N processes (0: one per core; default 1); same bytes")
    p.add_argument("--split-min-elements", dest="split_min_elements", type=int, metavar="N",
                   help="code float tensors of N+ elements as block rows with entry points, split across the "
                        "processes both ways (default 1048576; 0: never, NNCodec's bytes)")


def encode_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The encoder settings given on the command line (only those given)."""
    s: dict[str, Any] = {}
    for name in ("qp", "qp_density", "nonweight_qp", "scan_order", "cabac_unary_length_minus1", "codebook_mode",
                 "lambda_scale", "int_quant_bw", "general_profile_idc", "device_id", "split_min_elements"):
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


def run(args: argparse.Namespace) -> int:
    out = args.output
    if os.path.isdir(out):
        raise NNRUsageError(f"-o {out!r} is a directory; give the .nnc file to write")
    check_not_over_input(out, [args.input])
    if out.lower().endswith(CHECKPOINT_SUFFIXES):
        raise NNRUsageError(f"-o {out!r} names a checkpoint file; nnr encode writes an NNC stream: give a .nnc file")
    parent = os.path.dirname(out) or "."
    if not os.path.isdir(parent):
        raise NNRUsageError(f"-o {out!r}: the folder {parent!r} does not exist")
    if _streamable(args):
        return _run_streaming(args)
    tensors, dtypes = read_checkpoint(args.input)
    if not tensors:
        raise NNRUsageError(f"{args.input!r} holds no tensors")
    settings = encode_settings(args)
    if settings.get("bnf") and "block_id_and_param_type" not in settings:
        raise NNRUsageError("--bnf needs --blocks (batch-norm folding works on the blocks it describes)")
    unknown = [n for n in settings.get("qp_per_tensor") or {} if n not in tensors]
    if unknown:
        raise NNRUsageError(f"--qp-per-tensor names {unknown[0]!r}, which is not a tensor of {args.input!r}")
    if args.qp_rel is not None:
        rel = relative_qps(tensors, args.qp_rel, int(settings.get("qp_density", 2)))
        settings["qp_per_tensor"] = {**rel, **(settings.get("qp_per_tensor") or {})}
    elif args.target_bpp is not None or args.max_rel_error is not None:
        point = search_qp(tensors, target_bits_per_param=args.target_bpp, max_rel_error=args.max_rel_error,
                          encode=partial(encode, dtypes=dtypes, record_dtypes=True), **settings)
        settings["qp"] = point.qp
        if not args.quiet:
            print(f"chose QP {point.qp}: {point.bits_per_param:.3f} bits/parameter, relative error "
                  f"{point.rel_error:.4g}, SNR {point.snr_db:.2f} dB")
    total = sum(int(np.asarray(v).size) for v in tensors.values())
    slow = total >= PROGRESS_MIN_ELEMENTS or bool(settings.get("codebook_mode"))  # codebook search: slow
    show = args.progress if args.progress is not None else (slow and sys.stderr.isatty())
    bar = ProgressBar(sys.stderr, "encoding", bool(show))
    data = encode(tensors, progress=bar, workers=args.jobs, dtypes=dtypes, record_dtypes=True, **settings)
    replace_file(out, lambda f: f.write(data))
    if not args.quiet:
        raw = sum(int(np.asarray(v).size) * _itemsize(dtypes.get(k) or str(np.asarray(v).dtype))
                  for k, v in tensors.items())
        print(f"{args.input} -> {out} ({len(tensors)} tensors, {total} parameters, {raw} -> {len(data)} bytes, "
              f"ratio {raw / max(len(data), 1):.2f}, {8 * len(data) / max(total, 1):.3f} bits/parameter)")
    return 0


def _streamable(args: argparse.Namespace) -> bool:
    """A .safetensors file or Hugging Face folder with per-tensor settings: encoded one tensor at
    a time (nnr.streaming); QP searches and whole-model settings read everything first."""
    if not os.path.exists(args.input) or checkpoint_kind(args.input) not in ("safetensors", "hf"):
        return False
    if args.qp_rel is not None or args.target_bpp is not None or args.max_rel_error is not None:
        return False
    return streamable_settings(encode_settings(args))


def _run_streaming(args: argparse.Namespace) -> int:
    src = TensorSource(args.input)
    if not src.slots:
        raise NNRUsageError(f"{args.input!r} holds no tensors")
    settings = encode_settings(args)
    unknown = [n for n in settings.get("qp_per_tensor") or {} if n not in src.slots]
    if unknown:
        raise NNRUsageError(f"--qp-per-tensor names {unknown[0]!r}, which is not a tensor of {args.input!r}")
    total = sum(int(np.prod(sl.shape, dtype=np.int64)) for sl in src.slots.values())
    slow = total >= PROGRESS_MIN_ELEMENTS or bool(settings.get("codebook_mode"))
    show = args.progress if args.progress is not None else (slow and sys.stderr.isatty())
    bar = ProgressBar(sys.stderr, "encoding", bool(show))
    workers = parallel.resolve_workers(args.jobs, "-j")
    sizes: list[int] = []  # a new file renamed over -o at the end: no partial stream, no write through a symlink
    replace_file(args.output, lambda f: sizes.append(encode_checkpoint(src, f, workers=workers, progress=bar,
                                                                        **settings)))
    size = sizes[0]
    if not args.quiet:
        raw = sum(sl.nbytes for sl in src.slots.values())
        print(f"{args.input} -> {args.output} ({len(src.slots)} tensors, {total} parameters, {raw} -> {size} bytes, "
              f"ratio {raw / max(size, 1):.2f}, {8 * size / max(total, 1):.3f} bits/parameter)")
    return 0


def _itemsize(dtype: str) -> int:
    return RAW[dtype].itemsize if dtype in RAW else np.dtype(dtype).itemsize


COMMAND = Subcommand("encode", HELP, add_arguments, run, DESCRIPTION)
