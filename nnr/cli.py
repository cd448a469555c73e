"""The ``nnr`` command: decode, info, trace, conformance.

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
