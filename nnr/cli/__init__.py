"""The ``nnr`` command: decode, encode, info, trace, conformance.

One module per subcommand (``nnr/cli/<name>.py``, each exporting ``COMMAND``, a
:class:`~nnr.cli.common.Subcommand`); helpers they share are in :mod:`nnr.cli.common`.  A new
subcommand is a new module plus one entry in :data:`COMMANDS`.

Exit codes: 0 success, 1 a bad stream (or a failed conformance case), 2 usage or environment
problems, 3 an internal error.  Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Sequence

import numpy as np

import nnr
from nnr.cli import conformance, decode, diff, encode, info, sweep, trace
from nnr.cli.common import SafeText, Subcommand
from nnr.errors import NNRError, NNRUsageError

COMMANDS: tuple[Subcommand, ...] = (decode.COMMAND, encode.COMMAND, info.COMMAND, trace.COMMAND, conformance.COMMAND,
                                    diff.COMMAND, sweep.COMMAND)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnr", description="ISO/IEC 15938-17 Neural Network Coding (NNC/NNR) tool")
    p.add_argument("--version", action="version", version=f"nnr {nnr.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for c in COMMANDS:
        c.add_arguments(sub.add_parser(c.name, help=c.help, description=c.description))
    p.set_defaults(_subparsers=sub.choices)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for i in range(len(argv) - 1):  # "--qp -44..-30": a range, not an option
        if argv[i] == "--qp" and re.fullmatch(r"-?\d+\.\.-?\d+", argv[i + 1]):
            argv[i:i + 2] = [f"--qp={argv[i + 1]}", ""]
    argv = [a for a in argv if a != ""]
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # report with the subcommand's usage, not the top-level one
        parser._defaults["_subparsers"][args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    command = next(c for c in COMMANDS if c.name == args.command)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeText(out), SafeText(err)
    try:
        # numpy's RuntimeWarnings (with source lines) are not for the user: what matters is reported
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return _run(command, args)
    finally:
        sys.stdout, sys.stderr = out, err


def _run(command: Subcommand, args: argparse.Namespace) -> int:
    try:
        return command.run(args)
    except NNRError as e:
        print(f"nnr: error: {e}", file=sys.stderr)
        return 1
    except NNRUsageError as e:
        print(f"nnr: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("nnr: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # the environment (files, disks), not the stream
        print(f"nnr: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 -- a bug in nnr: still one line, never a traceback
        print(f"nnr: internal error ({type(e).__name__}: {e}); please report it with the input", file=sys.stderr)
        return 3
