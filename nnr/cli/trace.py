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
    p.add_argument("input")
    p.add_argument("-o", "--output", help="write the trace to a file instead of stdout")


def format_event(e: TraceEvent) -> str:
    """One line of the trace: bit offset, structure, element, descriptor, value."""
    v = e.value
    if isinstance(v, bytes):
        v = v.hex()
    elif isinstance(v, list) and len(v) > 64:
        v = f"{v[:64]}... ({len(v)} values)"
    return f"{e.bit_offset:>10}  {e.structure:<40} {e.name:<44} {e.descriptor:<17} {v}"


def run(args: argparse.Namespace) -> int:
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


COMMAND = Subcommand("trace", HELP, add_arguments, run)
