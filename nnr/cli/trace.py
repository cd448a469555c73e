"""``nnr trace``: every syntax element of a stream with bit offset, descriptor and value; with
``--bins`` also every bin of the arithmetic-coded payloads (:mod:`nnr.bitstream.bintrace`)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from nnr.bitstream import TraceEvent
from nnr.bitstream.bintrace import BinEvent, BinTracer
from nnr.cli.common import Subcommand, check_stream_path
from nnr.decoder import Decoder, read_input
from nnr.dialect import add_dialect_argument, dialect_lines
from nnr.errors import NNRError, NNRUsageError

HELP = "every syntax element with bit offset, descriptor and value (--bins: every arithmetic-coded bin)"
DEFAULT_MAX_BINS = 10000

DESCRIPTION = f"""\
Every syntax element of the stream(s) with its bit offset, syntax structure, descriptor and
value.  With --bins, also every bin of the arithmetic-coded payloads, where it is decoded: its
bit offset (the arithmetic decoder's bit counter), syntax element, context model (flat index in
parentheses; "bypass" and "terminate" bins have none), the bin, the engine's range and 9-bit
offset register before it, and the unit, tensor, element position (row-major) and level it codes
(with dependent quantization "-> i": the reconstruction index).  --unit and --tensor select the
bins traced (and imply --bins); at most --max-bins bins are shown (default {DEFAULT_MAX_BINS},
0: no bound).  Tracing bins decodes the selected tensors on the general (slower) path."""


def _non_negative(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {v}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="input",
                   help=".nnc stream; several: a base then its updates, traced in order by one decoder session")
    p.add_argument("-o", "--output", help="write the trace to a file instead of stdout")
    add_dialect_argument(p)
    p.add_argument("--bins", action="store_true", help="also trace every bin of the arithmetic-coded payloads")
    p.add_argument("--unit", type=_non_negative, action="append", metavar="N",
                   help="trace the bins of NNR unit N only (as numbered in the trace and in errors; repeatable)")
    p.add_argument("--tensor", action="append", metavar="NAME", help="trace the bins of tensor NAME only (repeatable)")
    p.add_argument("--max-bins", type=_non_negative, metavar="K",
                   help=f"show at most K bins (default {DEFAULT_MAX_BINS}; 0: all)")


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


BIN_HEADER = f"{'bit':>10}  bin {'element':<32} {'context':<20} b range offset  unit tensor[position] level"


def format_bin(e: BinEvent) -> str:
    """One line of the bin trace (columns of BIN_HEADER)."""
    model = f"{e.model} ({e.context})" if e.context >= 0 else e.model
    off = "-" if e.offset is None else str(e.offset)
    where = f"u{e.unit}" if e.unit is not None else "u-"
    if e.tensor:
        where += f" {e.tensor}"
    if e.position is not None:
        where += f"[{e.position}] {e.level}"
        if e.value != e.level:
            where += f" -> {e.value}"
    return f"{e.bit_offset:>10}  bin {e.element:<32} {model:<20} {e.bin} {e.range:>5} {off:>6}  {where}"


def run(args: argparse.Namespace) -> int:
    for path in args.inputs:
        check_stream_path(path)
    bins_on = args.bins or args.unit is not None or args.tensor is not None
    if args.max_bins is not None and not bins_on:
        raise NNRUsageError("--max-bins bounds the bin trace: add --bins")
    if args.output:
        try:
            out: TextIO = open(args.output, "w")
        except OSError as e:
            raise NNRUsageError(f"cannot write {args.output!r}: {e.strerror}") from None
    else:
        out = sys.stdout
    try:
        session = Decoder(dialect=args.dialect)

        def tracer(e: TraceEvent) -> None:
            out.write(format_event(e) + "\n")

        def bin_sink(e: BinEvent) -> None:
            out.write(format_bin(e) + "\n")

        bins: BinTracer | None = None
        if bins_on:
            k = DEFAULT_MAX_BINS if args.max_bins is None else args.max_bins
            bins = BinTracer(bin_sink, units=args.unit, tensors=args.tensor, max_bins=k or None)
        for path in args.inputs:
            if len(args.inputs) > 1:
                out.write(f"# {path}\n")
            out.write(f"{'bit':>10}  {'structure':<40} {'element':<44} {'descriptor':<17} value\n")
            if bins is not None:
                out.write(BIN_HEADER + "\n")
            try:
                ds = session.decode_stream(read_input(path), tracer=tracer, bins=bins)
                out.write(dialect_lines(ds))
            except NNRError as e:
                e.args = (f"{path}: {e}",)
                raise
        if bins is not None:
            if bins.truncated:
                out.write(f"# bin trace stopped after {bins.count} bins (--max-bins; 0 shows all)\n")
            missing_units = sorted(set(args.unit or ()) - {u for u in bins.units_offered if u is not None})
            missing = sorted(set(args.tensor or ()) - bins.tensors_offered)
            if missing_units:
                raise NNRUsageError(f"--unit {missing_units[0]}: no arithmetic-coded payload in that unit "
                                    f"(units with one: {sorted(u for u in bins.units_offered if u is not None)})")
            if missing:
                raise NNRUsageError(f"--tensor {missing[0]!r}: no such coded tensor "
                                    f"(coded: {', '.join(sorted(bins.tensors_offered))})")
    finally:
        if args.output:
            out.close()
    return 0


COMMAND = Subcommand("trace", HELP, add_arguments, run, DESCRIPTION)
