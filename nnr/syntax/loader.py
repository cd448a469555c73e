"""Loading and validating the syntax tables (``index.toml`` and one ``<structure>.toml`` per structure).

The tables' one home is the top-level ``syntax/`` folder of the source tree; the build maps it
into the package as ``nnr/syntax/tables/`` (package data, see ``setup.py``), so an installed copy
finds its own tables.  ``NNR_SYNTAX_DIR`` overrides both.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from nnr.syntax.expressions import compile_expr, parse_control, parse_descriptor, squash_space
from nnr.syntax.model import (
    CALL_RE,
    STATUS_MARKS,
    TOP_STRUCTURE,
    Row,
    Section,
    Syntax,
    Table,
    TraceAlias,
    build_tree,
    walk_blocks,
)

PACKAGED_SYNTAX_DIR = Path(__file__).resolve().parent / "tables"  # an installed copy: package data
SOURCE_SYNTAX_DIR = Path(__file__).resolve().parent.parent.parent / "syntax"  # the source tree's syntax/


def default_syntax_dir() -> Path:
    """``$NNR_SYNTAX_DIR``, else the tables shipped in the package, else the source tree's ``syntax/``."""
    env = os.environ.get("NNR_SYNTAX_DIR")
    if env:
        return Path(env)
    if (PACKAGED_SYNTAX_DIR / "index.toml").is_file():
        return PACKAGED_SYNTAX_DIR
    return SOURCE_SYNTAX_DIR


def load(directory: str | os.PathLike[str] | None = None) -> Syntax:
    """Load ``index.toml`` and every ``<structure>.toml`` of the directory."""
    d = Path(directory) if directory is not None else default_syntax_dir()
    if not (d / "index.toml").is_file():
        raise FileNotFoundError(f"no syntax tables at {d} (index.toml missing); reinstall nnr or set NNR_SYNTAX_DIR")
    with open(d / "index.toml", "rb") as f:
        idx = tomllib.load(f)
    sections = [Section(s["title"], s.get("clause", ""), tuple(s["structures"])) for s in idx.get("section", [])]
    tables: dict[str, Table] = {}
    for p in sorted(d.glob("*.toml")):
        if p.name == "index.toml":
            continue
        t = load_table(p)
        tables[t.name] = t
    return Syntax(d, idx.get("title", ""), idx.get("notes", ""), sections, dict(idx.get("descriptors", {})),
                  dict(idx.get("status", {})), tables)


def load_table(path: Path) -> Table:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    name = raw["name"]
    rows = []
    for i, r in enumerate(raw.get("row", [])):
        rows.append(
            Row(
                structure=name,
                position=i,
                element=r.get("element"),
                call=r.get("call"),
                descriptor=r.get("descriptor"),
                cond=tuple(r.get("cond", [])),
                semantics=r.get("semantics", ""),
                status=r.get("status", ""),
                traced=bool(r.get("traced", True)),
                traced_as=r.get("traced_as"),
                traced_descriptor=r.get("traced_descriptor"),
                suffix=r.get("suffix", ""),
            )
        )
    aliases = tuple(TraceAlias(a["loop"], a["name"], a["descriptor"], a.get("note", "")) for a in raw.get("trace_alias", []))
    return Table(
        name=name,
        parameters=tuple(raw.get("parameters", [])),
        clause=raw.get("clause", ""),
        status=raw.get("status", ""),
        code=raw.get("code", ""),
        see_also=tuple(raw.get("see_also", [])),
        traced=bool(raw.get("traced", True)),
        persistent=bool(raw.get("persistent", False)),
        summary=" ".join(raw.get("summary", "").split()),
        rows=tuple(rows),
        aliases=aliases,
        path=path,
    )


_ROW_KEYS = {"element", "call", "descriptor", "cond", "semantics", "status", "traced", "traced_as",
             "traced_descriptor", "suffix"}
_TABLE_KEYS = {"name", "parameters", "clause", "status", "code", "see_also", "traced", "persistent",
               "summary", "row", "trace_alias"}


def validate(syntax: Syntax) -> list[str]:
    """Problems with the tables themselves (schema, calls, control lines, index)."""
    problems: list[str] = []
    listed = [n for s in syntax.sections for n in s.structures]
    for n in listed:
        if n not in syntax.tables:
            problems.append(f"index.toml lists {n!r} but there is no {n}.toml")
    for n in syntax.tables:
        c = listed.count(n)
        if c != 1:
            problems.append(f"{n}: listed {c} times in index.toml (must be exactly once)")
    for t in syntax.tables.values():
        where = t.path.name
        with open(t.path, "rb") as f:
            raw = tomllib.load(f)
        for k in raw:
            if k not in _TABLE_KEYS:
                problems.append(f"{where}: unknown key {k!r}")
        if t.path.stem != t.name:
            problems.append(f"{where}: file name does not match name = {t.name!r}")
        if t.status not in STATUS_MARKS:
            problems.append(f"{where}: status {t.status!r} is not one of {STATUS_MARKS}")
        if not t.code:
            problems.append(f"{where}: no code reference")
        if not t.summary:
            problems.append(f"{where}: no summary")
        for i, r in enumerate(raw.get("row", [])):
            for k in r:
                if k not in _ROW_KEYS:
                    problems.append(f"{where} row {i}: unknown key {k!r}")
        for r in t.rows:
            at = f"{where} row {r.position} ({r.element or r.call})"
            if (r.element is None) == (r.call is None):
                problems.append(f"{at}: needs exactly one of element / call")
                continue
            if r.status not in STATUS_MARKS:
                problems.append(f"{at}: status {r.status!r} is not one of {STATUS_MARKS}")
            if not r.semantics:
                problems.append(f"{at}: no semantics")
            if r.element is not None:
                if r.descriptor is None:
                    problems.append(f"{at}: element without descriptor")
                elif parse_descriptor(r.descriptor) is None:
                    problems.append(f"{at}: descriptor {r.descriptor!r} not understood")
                if not re.fullmatch(r"[A-Za-z_]\w*", r.name):
                    problems.append(f"{at}: bad element name {r.name!r}")
            else:
                if r.descriptor is not None:
                    problems.append(f"{at}: a call has no descriptor")
                if not CALL_RE.match(r.call or ""):
                    problems.append(f"{at}: call must look like name( args )")
                elif not r.is_builtin_call:
                    callee = syntax.tables.get(r.name)
                    if callee is None:
                        problems.append(f"{at}: calls {r.name!r}, which has no table")
                    elif len(r.args) != len(callee.parameters):
                        problems.append(f"{at}: {len(r.args)} argument(s), {r.name} takes {len(callee.parameters)}")
                if (r.traced_as is None) != (r.traced_descriptor is None):
                    problems.append(f"{at}: traced_as and traced_descriptor go together")
            for line in r.cond:
                parsed = parse_control(line)
                if parsed is None:
                    problems.append(f"{at}: control line {line!r} not understood")
                    continue
                kind, expr = parsed
                if kind in ("if", "else if") and expr is not None and compile_expr(expr) is None:
                    problems.append(f"{at}: condition {expr!r} is not an expression")
        try:
            tree = build_tree(t.rows)
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        loops = [squash_space(n.line) for n in walk_blocks(tree) if n.kind in ("for", "while")]
        for a in t.aliases:
            if loops.count(squash_space(a.loop)) != 1:
                problems.append(f"{where}: trace_alias loop {a.loop!r} must be exactly one loop line of the table "
                                f"(found {loops.count(squash_space(a.loop))})")
            if parse_descriptor(a.descriptor) is None:
                problems.append(f"{where}: trace_alias descriptor {a.descriptor!r} not understood")
    for n in syntax.tables:
        if n != TOP_STRUCTURE and n not in syntax.reachable(TOP_STRUCTURE):
            problems.append(f"{n}: not reachable from {TOP_STRUCTURE}()")
    return problems


def resolve_code(dotted: str) -> object:
    """The object a dotted name (module path, then attributes) refers to; raises if none."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        modname = ".".join(parts[:i])
        try:
            obj: object = importlib.import_module(modname)
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"no module in {dotted!r}")


def untraced_rows(syntax: Syntax) -> list[Row]:
    """Rows marked ``traced = false`` (the decoder does not report them)."""
    return [r for t in syntax.tables.values() for r in t.rows if not r.traced]
