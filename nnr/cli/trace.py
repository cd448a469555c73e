"""``nnr trace``: every syntax element of a stream with bit offset, descriptor and value."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from nnr.bitstream import TraceEvent
from nnr.cli.common import Subcommand
from nnr.decoder import Decoder, read_input

HELP = "every syntax element with bit offset, descriptor and value"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="input",
                   help=".nnc stream; several: a base then its updates, traced in order by one decoder session")
    p.add_argument("-o", "--output", help="write the trace to a file instead of stdout")


def format_event(e: TraceEvent) -> str:
    """One line of the trace: bit offset, structure, element, descriptor, value."""
    v = e.value
    if e.name == "byte_alignment" and isinstance(v, int):
        v = format(v, f"0{e.bit_length}b")  # the alignment bits as bits, e.g. 1000
    elif isinstance(v, bytes):
        v = v.hex()
    elif isinstance(v, list) and len(v) > 64:
        v = f"{v[:64]}... ({len(v)} values)"
    return f"{e.bit_offset:>10}  {e.structure:<40} {e.name:<44} {e.descriptor:<17} {v}"


def run(args: argparse.Namespace) -> int:
    from nnr.cli.common import check_stream_path
    from nnr.errors import NNRError, NNRUsageError

    for path in args.inputs:
        check_stream_path(path)
    if args.output:
        try:
            out: TextIO = open(args.output, "w")
        except OSError as e:
            raise NNRUsageError(f"cannot write {args.output!r}: {e.strerror}") from None
    else:
        out = sys.stdout
    try:
        session = Decoder()

        def tracer(e: TraceEvent) -> None:
            out.write(format_event(e) + "\n")

        for path in args.inputs:
            if len(args.inputs) > 1:
                out.write(f"# {path}\n")
            out.write(f"{'bit':>10}  {'structure':<40} {'element':<44} {'descriptor':<17} value\n")
            try:
                session.decode_stream(read_input(path), tracer=tracer)
            except NNRError as e:
                e.args = (f"{path}: {e}",)
                raise
    finally:
        if args.output:
            out.close()
    return 0


COMMAND = Subcommand("trace", HELP, add_arguments, run)
