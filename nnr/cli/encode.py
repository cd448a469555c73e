"""``nnr encode``: tensors of a .npz / .safetensors file into a stream, as NNCodec 2.1.3 writes it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from nnr.cli.common import ProgressBar, Subcommand, read_tensors
from nnr.encoder import encode
from nnr.errors import NNRUsageError

HELP = "encode tensors (.npz / .safetensors) into a stream, as NNCodec 2.1.3 does"
DESCRIPTION = ("Encode the tensors of a .npz or .safetensors file.  Float tensors are quantized "
               "(defaults: NNCodec's nnc.compress, QP -38, dependent quantization), integer "
               "tensors coded as integers.")

PROGRESS_MIN_ELEMENTS = 1 << 20  # show a progress bar from about a million parameters on


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help=".npz or .safetensors file of named tensors")
    p.add_argument("-o", "--output", required=True, help="the .nnc stream to write")
    p.add_argument("--qp", type=int, help="QP of weights (tensors with 2+ dimensions); default -38")
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
                    help="progress bar (default: on a terminal, for 1M+ parameters)")
    pg.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="quantize and code the tensors on N processes (0: one per core; default 1); same bytes")


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


def run(args: argparse.Namespace) -> int:
    tensors = read_tensors(args.input)
    settings = encode_settings(args)
    total = sum(int(np.asarray(v).size) for v in tensors.values())
    show = args.progress if args.progress is not None else (total >= PROGRESS_MIN_ELEMENTS and sys.stderr.isatty())
    bar = ProgressBar(sys.stderr, "encoding", bool(show))
    data = encode(tensors, progress=bar, workers=args.jobs, **settings)
    out = args.output
    with open(out, "wb") as f:
        f.write(data)
    if not args.quiet:
        print(f"{args.input} -> {out} ({len(tensors)} tensors, {total} parameters, {len(data)} bytes)")
    return 0


COMMAND = Subcommand("encode", HELP, add_arguments, run, DESCRIPTION)
