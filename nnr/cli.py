"""The ``nnr`` command: decode, encode, info, trace, conformance.

Exit codes: 0 success, 1 a bad stream (or a failed conformance case), 2 usage or environment
problems.  Errors about a stream are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nnr.errors import NNRError, NNRUsageError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnr", description="ISO/IEC 15938-17 Neural Network Coding (NNC/NNR) tool")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("decode", help="decode one stream or a sequence of update streams")
    d.add_argument("inputs", nargs="+", help=".nnc streams, decoded in order by one decoder session")
    d.add_argument("-o", "--output", required=True,
                   help="output: a .npz / .safetensors file (one stream) or a directory (one file per stream)")
    d.add_argument("--format", choices=["npz", "safetensors", "both"], default=None,
                   help="output format (default: from the -o suffix, else npz, plus safetensors when installed)")
    d.add_argument("--no-verify-entry-points", action="store_true",
                   help="decode sequentially without checking cabac_entry_point_list against the decoding state")

    e = sub.add_parser("encode", help="encode tensors (.npz / .safetensors) into a stream, as NNCodec 2.1.3 does",
                       description="Encode the tensors of a .npz or .safetensors file.  Float tensors are quantized "
                                   "(defaults: NNCodec's nnc.compress, QP -38, dependent quantization), integer "
                                   "tensors coded as integers.")
    e.add_argument("input", help=".npz or .safetensors file of named tensors")
    e.add_argument("-o", "--output", required=True, help="the .nnc stream to write")
    e.add_argument("--qp", type=int, help="QP of weights (tensors with 2+ dimensions); default -38")
    e.add_argument("--qp-density", dest="qp_density", type=int, help="QP steps per octave: 2**qp_density (0..7); default 2")
    e.add_argument("--nonweight-qp", dest="nonweight_qp", type=int, help="QP of the other tensors; default -75")
    e.add_argument("--qp-per-tensor", dest="qp_per_tensor", action="append", metavar="NAME=QP",
                   help="QP of one tensor (repeatable)")
    dq = e.add_mutually_exclusive_group()
    dq.add_argument("--dq", dest="use_dq", action="store_true", default=None, help="dependent quantization (default)")
    dq.add_argument("--no-dq", dest="use_dq", action="store_false", help="uniform quantization without DQ")
    e.add_argument("--scan-order", dest="scan_order", type=int, choices=range(5),
                   help="0 row-major, 1..4 blocks of 8..64 with entry points")
    e.add_argument("--cabac-unary-length-minus1", "--cul", dest="cabac_unary_length_minus1", type=int,
                   help="greater-than flags minus 1 (0..255); default 10")
    e.add_argument("--codebook", dest="codebook_mode", type=int, choices=(0, 1, 2),
                   help="codebook quantization: 1 always, 2 where smaller than uniform")
    e.add_argument("--lambda-scale", dest="lambda_scale", type=float, help="rate-distortion optimised quantization")
    e.add_argument("--bitdepth", dest="int_quant_bw", type=int, help="limit levels to this many bits (1..31)")
    po = e.add_mutually_exclusive_group()
    po.add_argument("--param-opt", dest="param_opt", action="store_true", default=None,
                    help="choose probability-estimator parameter sets (default)")
    po.add_argument("--no-param-opt", dest="param_opt", action="store_false")
    e.add_argument("--row-skipping", dest="row_skipping", action="store_true", default=None,
                   help="skip all-zero rows (edition 2)")
    e.add_argument("--opt-qp", dest="opt_qp", action="store_true", default=None,
                   help="scale weight QPs by tensor size and spread")
    e.add_argument("--blocks", metavar="JSON", help="block_id_and_param_type as a JSON file")
    e.add_argument("--bnf", dest="bnf", action="store_true", default=None, help="fold batch norm (needs --blocks)")
    e.add_argument("--gpi", dest="general_profile_idc", type=int, choices=(0, 1),
                   help="general_profile_idc: 1 edition 2 (default), 0 edition 1")
    pg = e.add_mutually_exclusive_group()
    pg.add_argument("--progress", dest="progress", action="store_true", default=None,
                    help="progress bar (default: on a terminal, for 1M+ parameters)")
    pg.add_argument("--no-progress", dest="progress", action="store_false")
    e.add_argument("-q", "--quiet", action="store_true", help="no summary line")

    i = sub.add_parser("info", help="units, tensors, tools and sizes of a stream")
    i.add_argument("input")
    i.add_argument("--json", action="store_true", help="machine-readable output")

    t = sub.add_parser("trace", help="every syntax element with bit offset, descriptor and value")
    t.add_argument("input")
    t.add_argument("-o", "--output", help="write the trace to a file instead of stdout")

    c = sub.add_parser("conformance", help="run the conformance suite")
    c.add_argument("directory", nargs="?", default="bitstreams")
    c.add_argument("--json", metavar="FILE", help="write a JSON report")
    c.add_argument("--decoder", metavar="CMD",
                   help="external decoder command (Fluster-style); see docs/conformance.md")
    c.add_argument("--coverage", action="store_true", help="print which cases exercise each feature and element")
    c.add_argument("-k", "--only", action="append", default=[], help="run only cases whose name contains this")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "decode":
            from nnr.tools.commands import cmd_decode

            return cmd_decode(args)
        if args.command == "encode":
            from nnr.tools.commands import cmd_encode

            return cmd_encode(args)
        if args.command == "info":
            from nnr.tools.commands import cmd_info

            return cmd_info(args)
        if args.command == "trace":
            from nnr.tools.commands import cmd_trace

            return cmd_trace(args)
        from nnr.conformance.runner import cmd_conformance

        return cmd_conformance(args)
    except NNRError as e:
        print(f"nnr: error: {e}", file=sys.stderr)
        return 1
    except NNRUsageError as e:
        print(f"nnr: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
