"""``nnr conformance [DIR] [--json FILE] [--decoder CMD] [--coverage] [-k NAME]``: run the conformance suite.

Exit codes: 0 every case passed, 1 a case failed, 2 the suite could not run (missing directory,
no case, unreadable or malformed ``case.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from nnr.cli.common import ProgressBar, Subcommand
from nnr.conformance import CaseFormatError, CaseResult, compute_coverage, load_cases, print_coverage, run_suite

HELP = "run the conformance suite"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", nargs="?", default="bitstreams",
                   help="folder of conformance cases (one sub-folder per case); default bitstreams")
    p.add_argument("--json", metavar="FILE", help="write a JSON report")
    p.add_argument("--decoder", metavar="CMD",
                   help="external decoder command (Fluster-style); see docs/conformance.md")
    p.add_argument("--coverage", action="store_true", help="print which cases exercise each feature and element")
    p.add_argument("-k", "--only", action="append", default=[], help="run only cases whose name contains this")
    pg = p.add_mutually_exclusive_group()
    pg.add_argument("--progress", dest="progress", action="store_true", default=None,
                    help="progress bar on stderr (default: when stderr is a terminal)")
    pg.add_argument("--no-progress", dest="progress", action="store_false")


class TablePrinter:
    """Prints the result table row by row as cases finish, and advances ``bar`` (cases done of
    all), erasing it before each row so that both can share a terminal."""

    def __init__(self, names: Sequence[str], out: TextIO, bar: ProgressBar | None = None) -> None:
        self.width = max([len(n) for n in names] + [4])
        self.out = out
        self.bar = bar
        self.total = len(names)
        self.done = 0
        self.out.write(f"{'case':<{self.width}}  {'kind':<8}  {'result':<6}  reason\n")
        self.out.flush()

    def __call__(self, r: CaseResult) -> None:
        reason = r.reason.replace("\n", " ")
        if self.bar is not None:
            self.bar.clear()
        self.out.write(f"{r.name:<{self.width}}  {r.kind:<8}  {r.result.upper():<6}  {reason}\n")
        self.out.flush()
        self.done += 1
        if self.bar is not None:
            self.bar(self.done, self.total)


def print_table(results: Sequence[CaseResult], out: TextIO) -> None:
    if not results:
        return
    tp = TablePrinter([r.name for r in results], out)
    for r in results:
        tp(r)


def run(args: argparse.Namespace) -> int:
    directory = getattr(args, "directory", "bitstreams")
    only = getattr(args, "only", None) or []
    decoder = getattr(args, "decoder", None)
    out = sys.stdout
    try:
        cases = load_cases(directory, only)
        if not cases:
            print(f"nnr conformance: no case in {directory}" + (f" matching {only}" if only else ""),
                  file=sys.stderr)
            return 2
        show = getattr(args, "progress", None)
        if show is None:
            show = sys.stderr.isatty()
        bar = ProgressBar(sys.stderr, "conformance", bool(show))
        suite = run_suite(cases, decoder, progress=TablePrinter([c.name for c in cases], out, bar))
    except CaseFormatError as e:
        print(f"nnr conformance: {e}", file=sys.stderr)
        return 2
    for r in suite.results:
        if not r.passed and r.detail and decoder is None:
            out.write(f"\n--- {r.name}\n{r.detail.rstrip()}\n")
    if getattr(args, "coverage", False):
        print_coverage(compute_coverage(cases), out)
    out.write(f"{suite.passed} passed, {suite.failed} failed\n")
    out.flush()
    if getattr(args, "json", None):
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(suite.to_json(), f, indent=1)
            f.write("\n")
    return 0 if suite.failed == 0 else 1


COMMAND = Subcommand("conformance", HELP, add_arguments, run)
