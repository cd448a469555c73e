"""``nnr decode``: one stream, or a sequence of update streams decoded by one session."""

from __future__ import annotations

import argparse
import os

from nnr.cli.common import Subcommand, have_safetensors, write_tensors
from nnr.decoder import Decoder
from nnr.errors import NNRError

HELP = "decode one stream or a sequence of update streams"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help=".nnc streams, decoded in order by one decoder session")
    p.add_argument("-o", "--output", required=True,
                   help="output: a .npz / .safetensors file (one stream) or a directory (one file per stream)")
    p.add_argument("--format", choices=["npz", "safetensors", "both"], default=None,
                   help="output format (default: from the -o suffix, else npz, plus safetensors when installed)")
    p.add_argument("--no-verify-entry-points", action="store_true",
                   help="decode sequentially without checking cabac_entry_point_list against the decoding state")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="decode the NDUs of each stream on N processes (0: one per core; default 1)")


def run(args: argparse.Namespace) -> int:
    session = Decoder(verify_entry_points=not args.no_verify_entry_points, workers=args.jobs)
    out = args.output
    many = len(args.inputs) > 1
    fmt = args.format
    if fmt is None:
        if out.endswith(".safetensors"):
            fmt = "safetensors"
        elif out.endswith(".npz"):
            fmt = "npz"
        else:
            fmt = "both" if have_safetensors() else "npz"
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


COMMAND = Subcommand("decode", HELP, add_arguments, run)
