"""What an installed copy of nnr carries: its own syntax tables, the ``nnr`` command, ``python -m nnr``.

The tables' one home is the top-level ``syntax/`` folder; the build maps it into the package as
``nnr/syntax/tables/``.  These tests start a fresh interpreter outside the checkout, importing the
same ``nnr`` this test run imports (the installed build under ``pytest``, the source tree under
``python -m pytest``), with ``NNR_SYNTAX_DIR`` unset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nnr

ROOT = Path(__file__).resolve().parent.parent
SOURCE_TABLES = ROOT / "syntax"
NNR_DIR = Path(nnr.__file__).resolve().parent
INSTALLED = NNR_DIR != ROOT / "nnr"  # not the source tree (a venv may live inside the checkout)

# the worked example of the notes (syntax.md, general_profile_idc 1)
EXAMPLE = ("00040201 0008068100400080 00060e000000 "
           "002a16097700d041c120e102a080 d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f "
           "001c16096200d0c1c3830a80 b4d800073800965da803641000b59908")

PROBE = """
import json, sys
import nnr
from nnr import syntax
syn = syntax.load()
events = []
nnr.Decoder().decode_stream(bytes.fromhex("".join(sys.argv[1].split())), tracer=events.append)
report = syntax.check_trace(events, syn)
print(json.dumps({"nnr": nnr.__file__, "directory": str(syn.directory), "problems": syntax.validate(syn),
                  "trace_problems": report.problems, "events": report.events,
                  "files": {p.name: p.read_text(encoding="utf-8") for p in sorted(syn.directory.iterdir())
                            if p.suffix == ".toml"}}))
"""


def _outside_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NNR_SYNTAX_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(NNR_DIR.parent)  # the nnr under test, whichever it is
    return env


def test_tables_found_and_checked_without_environment(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-c", PROBE, EXAMPLE], cwd=tmp_path, env=_outside_env(),
                       capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert Path(out["nnr"]).resolve().parent == NNR_DIR
    expected_dir = NNR_DIR / "syntax" / "tables" if INSTALLED else SOURCE_TABLES
    assert Path(out["directory"]).resolve() == expected_dir.resolve()
    assert out["problems"] == []
    assert out["trace_problems"] == [] and out["events"] > 50
    # the shipped copy is the source tree's syntax/, file for file
    source = {f.name: f.read_text(encoding="utf-8") for f in sorted(SOURCE_TABLES.glob("*.toml"))}
    assert sorted(out["files"]) == sorted(source)
    assert out["files"] == source


def test_command_and_module_entry_points(tmp_path: Path) -> None:
    """``python -m nnr`` (and, installed, the ``nnr`` script) run the CLI package's main."""
    commands = [[sys.executable, "-m", "nnr"]]
    script = Path(sys.executable).parent / "nnr"
    if INSTALLED and script.is_file():
        commands.append([str(script)])
    for cmd in commands:
        p = subprocess.run(cmd + ["info", str(tmp_path / "missing.nnc")], cwd=tmp_path, env=_outside_env(),
                           capture_output=True, text=True, timeout=300, check=False)
        assert p.returncode == 2, (cmd, p.stdout, p.stderr)
        assert p.stderr.startswith("nnr: cannot read ") and "Traceback" not in p.stderr, (cmd, p.stderr)
        p = subprocess.run(cmd + ["--help"], cwd=tmp_path, env=_outside_env(), capture_output=True, text=True,
                           timeout=300, check=False)
        assert p.returncode == 0
        assert "{decode,encode,info,trace,conformance,diff,sweep}" in p.stdout, (cmd, p.stdout)  # every subcommand
