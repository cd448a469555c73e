"""The ``nnr`` command: decode, encode, info, trace, conformance.

One module per subcommand (``nnr/cli/<name>.py``, each exporting ``COMMAND``, a
:class:`~nnr.cli.common.Subcommand`); helpers they share are in :mod:`nnr.cli.common`.  A new
subcommand is a new module plus one entry in :data:`COMMANDS`.

Exit codes: 0 success, 1 a bad stream (or a failed conformance case), 2 usage or environment
problems, 3 an internal error.  Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nnr.cli import conformance, decode, encode, info, trace
from nnr.cli.common import Subcommand
from nnr.errors import NNRError, NNRUsageError

COMMANDS: tuple[Subcommand, ...] = (decode.COMMAND, encode.COMMAND, info.COMMAND, trace.COMMAND, conformance.COMMAND)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnr", description="ISO/IEC 15938-17 Neural Network Coding (NNC/NNR) tool")
    sub = p.add_subparsers(dest="command", required=True)
    for c in COMMANDS:
        c.add_arguments(sub.add_parser(c.name, help=c.help, description=c.description))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = next(c for c in COMMANDS if c.name == args.command)
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
