"""The syntax tables of ``syntax/`` (one TOML file per syntax structure) and a trace checker.

The tables are data, written the way the standard prints its syntax tables: per structure, rows in
order, each an element (name, descriptor) or a call of a sub-structure, under the ``if`` / ``else`` /
``for`` / ``while`` lines that enclose it (``cond``, outermost first).  See ``syntax/README.md`` for
the file format.

:func:`check_trace` compares a decoder trace (:class:`nnr.bitstream.TraceEvent` list) with the
tables: every traced (structure, element, descriptor) must be in the table of its structure, the
structure path must follow the tables' calls, and the elements must come in table order.  The order
check runs the whole stream through a non-deterministic automaton built from the tables (loops may
repeat, ``if`` blocks may be skipped); ``if`` conditions that can be evaluated from element values
already traced (and the constants of :mod:`nnr.units.types`) are enforced, the others are treated as
"may or may not hold".

The tables' one home is the top-level ``syntax/`` folder of the source tree; the build maps it
into the package as ``nnr/syntax/tables/`` (package data, see ``setup.py``), so an installed copy
finds its own tables.  ``NNR_SYNTAX_DIR`` overrides both.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from pathlib import Path
from typing import Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from nnr.bitstream.reader import TraceEvent

STATUS_MARKS = ("V", "C", "U")
DESCRIPTOR_KINDS = ("u", "i", "ue", "ie", "flt", "st", "bs", "ae", "iae", "uae")
BUILTIN_CALLS = ("byte_alignment",)
TOP_STRUCTURE = "nnr_unit"  # a bitstream is a sequence of nnr_unit()
UNIT_START = ("nnr_unit_size", "nnr_unit_size_flag")  # first element of every NNR unit

_DESCRIPTOR_RE = re.compile(r"^([a-z_]+)\((.*)\)$")
_CONTROL_RE = re.compile(r"^(if|else\s+if|for|while)\s*\((.*)\)$|^(else)$")
_CALL_RE = re.compile(r"^([A-Za-z_]\w*)\s*\((.*)\)$")
_INDEX_RE = re.compile(r"\s*(\[[^\]]*\]\s*)+$")


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


# ---------------------------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of a syntax table: an element or a call, under its control lines."""

    structure: str
    position: int  # 0-based row number in the table
    element: str | None  # as printed, e.g. "tensor_dimensions[ j ]"
    call: str | None  # as printed, e.g. "integer_codebook()"
    descriptor: str | None
    cond: tuple[str, ...]
    semantics: str
    status: str
    traced: bool = True  # False: the decoder does not report this element
    traced_as: str | None = None  # a call the decoder reports as one element of this name
    traced_descriptor: str | None = None
    suffix: str = ""  # a call whose callee's element names the decoder suffixes

    @property
    def name(self) -> str:
        """Element name without index, or the callee's name."""
        if self.element is not None:
            return _INDEX_RE.sub("", self.element).strip()
        assert self.call is not None
        m = _CALL_RE.match(self.call.strip())
        return m.group(1) if m else self.call.strip()

    @property
    def args(self) -> list[str]:
        if self.call is None:
            return []
        m = _CALL_RE.match(self.call.strip())
        if not m or not m.group(2).strip():
            return []
        return [a.strip() for a in m.group(2).split(",")]

    @property
    def is_array(self) -> bool:
        return self.element is not None and "[" in self.element

    @property
    def is_builtin_call(self) -> bool:
        return self.call is not None and self.name in BUILTIN_CALLS

    @property
    def traced_name(self) -> str | None:
        """The element name the decoder reports for this row, before any suffix."""
        if self.element is not None:
            return self.name
        if self.is_builtin_call:
            return self.name
        return self.traced_as

    @property
    def traced_desc(self) -> str | None:
        if self.element is not None:
            return self.descriptor
        if self.is_builtin_call:
            return "byte_alignment()"
        return self.traced_descriptor


@dataclass(frozen=True)
class TraceAlias:
    """A loop the decoder reports as one summary element."""

    loop: str
    name: str
    descriptor: str
    note: str


@dataclass(frozen=True)
class Table:
    name: str
    parameters: tuple[str, ...]
    clause: str
    status: str
    code: str
    see_also: tuple[str, ...]
    traced: bool  # the decoder marks this structure with BitReader.structure()
    persistent: bool  # element values stay in force for later units
    summary: str
    rows: tuple[Row, ...]
    aliases: tuple[TraceAlias, ...]
    path: Path

    @property
    def signature(self) -> str:
        return f"{self.name}( {', '.join(self.parameters)} )" if self.parameters else f"{self.name}( )"

    def alias_for(self, line: str) -> TraceAlias | None:
        for a in self.aliases:
            if _norm(a.loop) == _norm(line):
                return a
        return None


@dataclass(frozen=True)
class Section:
    title: str
    clause: str
    structures: tuple[str, ...]


@dataclass
class Syntax:
    """All tables of a ``syntax/`` directory."""

    directory: Path
    title: str
    notes: str
    sections: list[Section]
    descriptors: dict[str, str]
    status: dict[str, str]
    tables: dict[str, Table]
    _nfa: _NFA | None = field(default=None, repr=False)
    _entries: dict[tuple[str, str], list[tuple[str, str, bool]]] | None = field(default=None, repr=False)
    _reach: dict[str, set[str]] | None = field(default=None, repr=False)

    def ordered(self) -> list[Table]:
        return [self.tables[n] for s in self.sections for n in s.structures if n in self.tables]

    def suffixes(self, structure: str) -> set[str]:
        """Name suffixes the decoder may give the elements of ``structure``."""
        out = {""}
        for t in self.tables.values():
            for r in t.rows:
                if r.call is not None and r.name == structure and r.suffix:
                    out.add(r.suffix)
        return out

    def callees(self, structure: str) -> set[str]:
        t = self.tables.get(structure)
        if t is None:
            return set()
        return {r.name for r in t.rows if r.call is not None and not r.is_builtin_call}

    def reachable(self, structure: str) -> set[str]:
        """Structures reachable from ``structure`` through one or more calls."""
        seen: set[str] = set()
        todo = list(self.callees(structure))
        while todo:
            s = todo.pop()
            if s in seen:
                continue
            seen.add(s)
            todo.extend(self.callees(s))
        return seen

    def nfa(self) -> _NFA:
        if self._nfa is None:
            self._nfa = _build_stream_nfa(self)
        return self._nfa

    def entry_index(self) -> dict[tuple[str, str], list[tuple[str, str, bool]]]:
        """(structure, traced name) -> [(descriptor, where, is_array)] over rows and trace aliases."""
        if self._entries is None:
            idx: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
            for t in self.tables.values():
                for sfx in sorted(self.suffixes(t.name)):
                    for r in t.rows:
                        if r.traced_name is None or r.traced_desc is None or (sfx and r.element is None):
                            continue
                        idx.setdefault((t.name, r.traced_name + sfx), []).append(
                            (r.traced_desc, f"row {r.position}", r.is_array))
                    for a in t.aliases:
                        idx.setdefault((t.name, a.name + sfx), []).append(
                            (a.descriptor, f"trace_alias of {a.loop!r}", True))
            self._entries = idx
        return self._entries

    def reach_map(self) -> dict[str, set[str]]:
        if self._reach is None:
            self._reach = {n: self.reachable(n) for n in self.tables}
        return self._reach


# ---------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------


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
                if not _CALL_RE.match(r.call or ""):
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
                if kind in ("if", "else if") and expr is not None and _compile_expr(expr) is None:
                    problems.append(f"{at}: condition {expr!r} is not an expression")
        try:
            tree = build_tree(t.rows)
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        loops = [_norm(n.line) for n in _walk_blocks(tree) if n.kind in ("for", "while")]
        for a in t.aliases:
            if loops.count(_norm(a.loop)) != 1:
                problems.append(f"{where}: trace_alias loop {a.loop!r} must be exactly one loop line of the table "
                                f"(found {loops.count(_norm(a.loop))})")
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


# ---------------------------------------------------------------------------------------------
# Descriptors, control lines and expressions
# ---------------------------------------------------------------------------------------------


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s)


def parse_descriptor(desc: str) -> tuple[str, str] | None:
    """``"u(15 + 16 * x)"`` -> ``("u", "15+16*x")``; ``byte_alignment()`` -> ``("byte_alignment", "")``."""
    d = _norm(desc)
    if d == "byte_alignment()":
        return ("byte_alignment", "")
    m = _DESCRIPTOR_RE.match(d)
    if not m or m.group(1) not in DESCRIPTOR_KINDS or not m.group(2):
        return None
    return (m.group(1), m.group(2))


def parse_control(line: str) -> tuple[str, str | None] | None:
    """``"if( a )"`` -> ``("if", "a")``; also ``else if``, ``else``, ``for``, ``while``."""
    m = _CONTROL_RE.match(line.strip())
    if not m:
        return None
    if m.group(3):
        return ("else", None)
    kind = re.sub(r"\s+", " ", m.group(1))
    return (kind, m.group(2).strip())


def _to_python(expr: str) -> str:
    e = expr.replace("&&", " and ").replace("||", " or ")
    return re.sub(r"!(?!=)", " not ", e)


def _compile_expr(expr: str) -> ast.expr | None:
    try:
        return ast.parse(_to_python(expr).strip(), mode="eval").body
    except SyntaxError:
        return None


def _constants() -> dict[str, int]:
    from nnr.units import types

    out: dict[str, int] = {}
    for obj in vars(types).values():
        if isinstance(obj, type) and issubclass(obj, (IntEnum, IntFlag)) and obj not in (IntEnum, IntFlag):
            for m in obj:
                if m.name is not None:
                    out[m.name] = int(m.value)
    return out


Value = Union[int, None]
Lookup = Callable[[str], Value]


def evaluate(node: ast.expr, lookup: Lookup) -> Value:
    """Three-valued evaluation: an int (booleans as 0/1), or None when not determinable."""
    if isinstance(node, ast.Constant):
        return int(node.value) if isinstance(node.value, (int, bool)) else None
    if isinstance(node, ast.Name):
        return lookup(node.id)
    if isinstance(node, ast.UnaryOp):
        v = evaluate(node.operand, lookup)
        if isinstance(node.op, ast.Not):
            return None if v is None else int(not v)
        if isinstance(node.op, ast.USub):
            return None if v is None else -v
        return None
    if isinstance(node, ast.BoolOp):
        vals = [evaluate(v, lookup) for v in node.values]
        if isinstance(node.op, ast.And):
            if any(v is not None and not v for v in vals):
                return 0
            return None if any(v is None for v in vals) else 1
        if any(v is not None and v for v in vals):
            return 1
        return None if any(v is None for v in vals) else 0
    if isinstance(node, ast.BinOp):
        a, b = evaluate(node.left, lookup), evaluate(node.right, lookup)
        if a is None or b is None:
            return None
        ops: dict[type, Callable[[int, int], int]] = {
            ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
            ast.LShift: lambda x, y: x << y, ast.RShift: lambda x, y: x >> y,
            ast.BitAnd: lambda x, y: x & y, ast.BitOr: lambda x, y: x | y,
        }
        fn = ops.get(type(node.op))
        return None if fn is None else fn(a, b)
    if isinstance(node, ast.Compare):
        left = evaluate(node.left, lookup)
        result: Value = 1
        for op, comp in zip(node.ops, node.comparators):
            right = evaluate(comp, lookup)
            if left is None or right is None:
                result = None if result != 0 else 0
            else:
                cmp: dict[type, Callable[[int, int], bool]] = {
                    ast.Eq: lambda x, y: x == y, ast.NotEq: lambda x, y: x != y, ast.Lt: lambda x, y: x < y,
                    ast.LtE: lambda x, y: x <= y, ast.Gt: lambda x, y: x > y, ast.GtE: lambda x, y: x >= y,
                }
                fn2 = cmp.get(type(op))
                if fn2 is None:
                    result = None if result != 0 else 0
                elif not fn2(left, right):
                    result = 0
            left = right
        return result
    return None  # calls, subscripts, ...


# ---------------------------------------------------------------------------------------------
# Rows -> tree of blocks
# ---------------------------------------------------------------------------------------------


@dataclass
class Block:
    """A control line and the rows / blocks under it."""

    line: str
    kind: str  # if, else if, else, for, while
    expr: str | None
    children: list[Node]


@dataclass
class Chain:
    """``if`` block followed by its ``else if`` / ``else`` blocks."""

    branches: list[Block]


Node = Union[Row, Block, Chain]


def build_tree(rows: Sequence[Row], depth: int = 0) -> list[Node]:
    """Group consecutive rows sharing the control line at ``depth`` into blocks; chain if/else."""
    flat: list[Row | Block] = []
    i = 0
    while i < len(rows):
        r = rows[i]
        if len(r.cond) <= depth:
            flat.append(r)
            i += 1
            continue
        line = r.cond[depth]
        j = i
        while j < len(rows) and len(rows[j].cond) > depth and rows[j].cond[depth] == line:
            j += 1
        parsed = parse_control(line)
        if parsed is None:
            raise ValueError(f"control line {line!r} not understood")
        flat.append(Block(line, parsed[0], parsed[1], build_tree(rows[i:j], depth + 1)))
        i = j
    out: list[Node] = []
    for n in flat:
        if isinstance(n, Block) and n.kind in ("else if", "else"):
            prev = out[-1] if out else None
            if not isinstance(prev, Chain) or prev.branches[-1].kind == "else":
                raise ValueError(f"{n.line!r} does not follow an if block")
            prev.branches.append(n)
        elif isinstance(n, Block) and n.kind == "if":
            out.append(Chain([n]))
        else:
            out.append(n)
    return out


def _walk_blocks(nodes: Iterable[Node]) -> Iterable[Block]:
    for n in nodes:
        if isinstance(n, Chain):
            for b in n.branches:
                yield b
                yield from _walk_blocks(b.children)
        elif isinstance(n, Block):
            yield n
            yield from _walk_blocks(n.children)


# ---------------------------------------------------------------------------------------------
# Automaton over a whole stream
# ---------------------------------------------------------------------------------------------


@dataclass
class _Scope:
    """Parameter bindings and the element-name suffix of one inlined call."""

    bindings: dict[str, tuple[ast.expr | None, _Scope | None]]
    suffix: str
    structure: str


@dataclass
class _Token:
    structure: str
    name: str  # as the decoder reports it (suffix applied)
    descriptor: str
    scope: _Scope
    row: Row | None
    alias: TraceAlias | None = None

    def describe(self) -> str:
        return f"{self.structure}.{self.name} {self.descriptor}"


@dataclass
class _Guard:
    """Edge enabled unless one of ``not_true`` is definitely true or ``not_false`` definitely false."""

    not_true: list[tuple[ast.expr | None, _Scope]]
    not_false: tuple[ast.expr | None, _Scope] | None


@dataclass
class _NFA:
    eps: list[list[tuple[_Guard | None, int]]] = field(default_factory=list)
    tok: list[tuple[_Token, int] | None] = field(default_factory=list)
    start: int = 0
    final: int = 0

    def new(self) -> int:
        self.eps.append([])
        self.tok.append(None)
        return len(self.eps) - 1


def _build_stream_nfa(syntax: Syntax) -> _NFA:
    nfa = _NFA()
    s = nfa.new()
    e = nfa.new()
    top = syntax.tables[TOP_STRUCTURE]
    a, b = _compile_table(nfa, syntax, top, _Scope({}, "", top.name), (top.name,))
    nfa.eps[s].append((None, a))
    nfa.eps[b].append((None, s))
    nfa.eps[s].append((None, e))
    nfa.start, nfa.final = s, e
    return nfa


def _compile_table(nfa: _NFA, syntax: Syntax, table: Table, scope: _Scope, stack: tuple[str, ...]) -> tuple[int, int]:
    return _compile_nodes(nfa, syntax, table, build_tree(table.rows), scope, stack)


def _compile_nodes(nfa: _NFA, syntax: Syntax, table: Table, nodes: list[Node], scope: _Scope,
                   stack: tuple[str, ...]) -> tuple[int, int]:
    start = cur = nfa.new()
    for n in nodes:
        a, b = _compile_node(nfa, syntax, table, n, scope, stack)
        nfa.eps[cur].append((None, a))
        cur = b
    return start, cur


def _token(nfa: _NFA, tok: _Token) -> tuple[int, int]:
    a, b = nfa.new(), nfa.new()
    nfa.tok[a] = (tok, b)
    return a, b


def _optional(nfa: _NFA, frag: tuple[int, int]) -> tuple[int, int]:
    s, e = nfa.new(), nfa.new()
    nfa.eps[s] += [(None, frag[0]), (None, e)]
    nfa.eps[frag[1]].append((None, e))
    return s, e


def _alt(nfa: _NFA, frags: list[tuple[int, int]]) -> tuple[int, int]:
    s, e = nfa.new(), nfa.new()
    for a, b in frags:
        nfa.eps[s].append((None, a))
        nfa.eps[b].append((None, e))
    return s, e


def _star(nfa: _NFA, frag: tuple[int, int]) -> tuple[int, int]:
    s, e = nfa.new(), nfa.new()
    nfa.eps[s] += [(None, frag[0]), (None, e)]
    nfa.eps[frag[1]].append((None, s))
    return s, e


def _compile_node(nfa: _NFA, syntax: Syntax, table: Table, n: Node, scope: _Scope,
                  stack: tuple[str, ...]) -> tuple[int, int]:
    if isinstance(n, Row):
        return _compile_row(nfa, syntax, table, n, scope, stack)
    if isinstance(n, Chain):
        s, e = nfa.new(), nfa.new()
        prior: list[tuple[ast.expr | None, _Scope]] = []
        has_else = False
        for b in n.branches:
            a, z = _compile_nodes(nfa, syntax, table, b.children, scope, stack)
            if b.kind == "else":
                has_else = True
                nfa.eps[s].append((_Guard(list(prior), None), a))
            else:
                cond = (_compile_expr(b.expr or ""), scope)
                nfa.eps[s].append((_Guard(list(prior), cond), a))
                prior.append(cond)
            nfa.eps[z].append((None, e))
        if not has_else:
            nfa.eps[s].append((_Guard(list(prior), None), e))
        return s, e
    # for / while
    body = _compile_nodes(nfa, syntax, table, n.children, scope, stack)
    loop = _star(nfa, body)
    alias = table.alias_for(n.line)
    if alias is None:
        return loop
    tok = _Token(scope.structure, alias.name + scope.suffix, alias.descriptor, scope, None, alias)
    return _alt(nfa, [_token(nfa, tok), loop])


def _compile_row(nfa: _NFA, syntax: Syntax, table: Table, r: Row, scope: _Scope,
                 stack: tuple[str, ...]) -> tuple[int, int]:
    if r.element is not None or r.is_builtin_call:
        name = r.traced_name or r.name
        desc = r.traced_desc or ""
        frag = _token(nfa, _Token(scope.structure, name + (scope.suffix if r.element else ""), desc, scope, r))
        return frag if r.traced else _optional(nfa, frag)
    callee = syntax.tables[r.name]
    if callee.name in stack:  # nnr_unit inside an aggregate unit: matched by the stream's unit loop
        s = nfa.new()
        return s, s
    bindings: dict[str, tuple[ast.expr | None, _Scope | None]] = {
        p: (_compile_expr(a), scope) for p, a in zip(callee.parameters, r.args)
    }
    inner = _Scope(bindings, r.suffix or "", callee.name)
    frag = _compile_table(nfa, syntax, callee, inner, stack + (callee.name,))
    if r.traced_as is not None:
        tok = _Token(scope.structure, r.traced_as, r.traced_descriptor or "", scope, r)
        frag = _alt(nfa, [frag, _token(nfa, tok)])
    return frag


# ---------------------------------------------------------------------------------------------
# Checking a trace
# ---------------------------------------------------------------------------------------------


class _Env:
    """Values of the elements traced so far, for conditions and descriptor expressions."""

    def __init__(self, syntax: Syntax) -> None:
        self.syntax = syntax
        self.values: dict[str, tuple[str, object]] = {}  # name -> (structure, value)
        self.constants = _constants()

    def new_unit(self) -> None:
        self.values = {k: v for k, v in self.values.items()
                       if (t := self.syntax.tables.get(v[0])) is not None and t.persistent}

    def record(self, ev: TraceEvent, scalar: bool) -> None:
        if scalar:
            self.values[ev.name] = (ev.structure, ev.value)

    def lookup(self, name: str, scope: _Scope | None) -> Value:
        if scope is not None and name in scope.bindings:
            expr, outer = scope.bindings[name]
            return None if expr is None else evaluate(expr, lambda n: self.lookup(n, outer))
        names = [name + scope.suffix, name] if scope is not None and scope.suffix else [name]
        for n in names:
            if n in self.values:
                v = self.values[n][1]
                return int(v) if isinstance(v, (int, bool)) else None
        return self.constants.get(name)

    def truth(self, cond: tuple[ast.expr | None, _Scope]) -> Value:
        expr, scope = cond
        if expr is None:
            return None
        v = evaluate(expr, lambda n: self.lookup(n, scope))
        return None if v is None else int(bool(v))

    def enabled(self, g: _Guard | None) -> bool:
        if g is None:
            return True
        if any(self.truth(c) == 1 for c in g.not_true):
            return False
        return not (g.not_false is not None and self.truth(g.not_false) == 0)


def descriptor_matches(table_desc: str, traced_desc: str, lookup: Lookup | None = None) -> bool:
    """Same kind; a literal argument must be equal, an expression equal when it can be evaluated."""
    a, b = parse_descriptor(table_desc), parse_descriptor(traced_desc)
    if a is None or b is None or a[0] != b[0]:
        return False
    if a[1] in ("", "v") or a[1] == b[1]:
        return True
    if re.fullmatch(r"\d+", a[1]):
        return False
    if not re.fullmatch(r"\d+", b[1]):
        return False
    expr = _compile_expr(a[1])
    if expr is None or lookup is None:
        return True
    v = evaluate(expr, lookup)
    return v is None or v == int(b[1])


def _matches(tok: _Token, ev: TraceEvent, env: _Env) -> bool:
    return (ev.structure == tok.structure and ev.name == tok.name
            and descriptor_matches(tok.descriptor, ev.descriptor, lambda n: env.lookup(n, tok.scope)))


def _closure(nfa: _NFA, states: Iterable[int], env: _Env) -> set[int]:
    seen: set[int] = set()
    todo = list(states)
    while todo:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        for g, t in nfa.eps[s]:
            if t not in seen and env.enabled(g):
                todo.append(t)
    return seen


def _rows_for(syntax: Syntax, ev: TraceEvent) -> list[tuple[str, str, bool]]:
    """(table descriptor, what, is_array) of every table entry the event's name can stand for."""
    return syntax.entry_index().get((ev.structure, ev.name), [])


@dataclass
class TraceReport:
    problems: list[str]
    events: int
    seen: set[tuple[str, str]]  # (structure, element name as traced)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_trace(events: Sequence[TraceEvent], syntax: Syntax | None = None, *, complete: bool = True,
                max_problems: int = 20) -> TraceReport:
    """Check a decoder trace of one stream against the tables.

    ``complete=False`` accepts a trace that stops early (a stream the decoder rejected): the
    elements read so far must still be a valid beginning of a stream.
    """
    syn = syntax or load()
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    env = _Env(syn)
    reach = syn.reach_map()

    def where(k: int, ev: TraceEvent) -> str:
        return f"event #{k} {'/'.join(ev.path) or '-'}: {ev.name} {ev.descriptor} at bit {ev.bit_offset}"

    scalar: list[bool] = []
    for k, ev in enumerate(events):
        seen.add((ev.structure, ev.name))
        cands = _rows_for(syn, ev)
        scalar.append(bool(cands) and not all(c[2] for c in cands))
        msg = None
        if ev.structure not in syn.tables:
            msg = f"structure {ev.structure!r} has no syntax table"
        elif not cands:
            msg = f"{ev.structure} has no element {ev.name!r}"
        elif not any(descriptor_matches(c[0], ev.descriptor) for c in cands):
            msg = f"{ev.structure}.{ev.name} is {' / '.join(sorted({c[0] for c in cands}))} in the table, traced as {ev.descriptor}"
        elif not ev.path or ev.path[0] != TOP_STRUCTURE or ev.path[-1] != ev.structure:
            msg = f"structure path {ev.path} does not start at {TOP_STRUCTURE} and end at {ev.structure}"
        else:
            for parent, child in zip(ev.path, ev.path[1:]):
                if child not in reach.get(parent, set()):
                    msg = f"{child} inside {parent}: no table calls lead from {parent} to {child}"
                    break
        if msg is not None and len(problems) < max_problems:
            problems.append(f"{where(k, ev)}: {msg}")
    if problems:
        return TraceReport(problems, len(events), seen)

    nfa = syn.nfa()
    current = _closure(nfa, [nfa.start], env)
    for k, ev in enumerate(events):
        if (ev.structure, ev.name) == UNIT_START:
            env.new_unit()
        nxt: set[int] = set()
        for s in current:
            t = nfa.tok[s]
            if t is not None and _matches(t[0], ev, env):
                nxt.add(t[1])
        if not nxt:
            expected = sorted({t[0].describe() for s in current if (t := nfa.tok[s]) is not None})
            before = ", ".join(f"{e.structure}.{e.name}" for e in events[max(0, k - 3):k])
            problems.append(
                f"{where(k, ev)}: not allowed here by the tables (after {before or 'start'}); "
                f"expected one of: {', '.join(expected) or 'nothing'}"
            )
            return TraceReport(problems, len(events), seen)
        env.record(ev, scalar[k])
        current = _closure(nfa, nxt, env)
    if complete and nfa.final not in current:
        expected = sorted({t[0].describe() for s in current if (t := nfa.tok[s]) is not None})
        problems.append(f"trace ends after {len(events)} event(s) but the tables require more: expected one of: "
                        f"{', '.join(expected)}")
    return TraceReport(problems, len(events), seen)


def untraced_rows(syntax: Syntax) -> list[Row]:
    """Rows marked ``traced = false`` (the decoder does not report them)."""
    return [r for t in syntax.tables.values() for r in t.rows if not r.traced]

