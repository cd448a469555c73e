"""The data model of the syntax tables: rows, tables, the whole syntax, and rows grouped into blocks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

from nnr.syntax.expressions import parse_control, squash_space

if TYPE_CHECKING:
    from nnr.syntax.checker import NFA

STATUS_MARKS = ("V", "C", "U")
BUILTIN_CALLS = ("byte_alignment",)
TOP_STRUCTURE = "nnr_unit"  # a bitstream is a sequence of nnr_unit()

CALL_RE = re.compile(r"^([A-Za-z_]\w*)\s*\((.*)\)$")
_INDEX_RE = re.compile(r"\s*(\[[^\]]*\]\s*)+$")


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
        m = CALL_RE.match(self.call.strip())
        return m.group(1) if m else self.call.strip()

    @property
    def args(self) -> list[str]:
        if self.call is None:
            return []
        m = CALL_RE.match(self.call.strip())
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
            if squash_space(a.loop) == squash_space(line):
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
    _nfa: NFA | None = field(default=None, repr=False)  # built and cached by nnr.syntax.checker
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


def walk_blocks(nodes: Iterable[Node]) -> Iterable[Block]:
    for n in nodes:
        if isinstance(n, Chain):
            for b in n.branches:
                yield b
                yield from walk_blocks(b.children)
        elif isinstance(n, Block):
            yield n
            yield from walk_blocks(n.children)
