"""Checking a trace (:class:`nnr.bitstream.TraceEvent` list) against the syntax tables.

Every traced (structure, element, descriptor) must be in the table of its structure, the structure
path must follow the tables' calls, and the elements must come in table order.  The order check
runs the whole stream through a non-deterministic automaton built from the tables (loops may
repeat, ``if`` blocks may be skipped); ``if`` conditions that can be evaluated from element values
already traced (and the constants of :mod:`nnr.units.types`) are enforced, the others are treated
as "may or may not hold".
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nnr.bitstream.trace import TraceEvent
from nnr.syntax.expressions import Value, compile_expr, descriptor_matches, enum_constants, evaluate
from nnr.syntax.loader import load
from nnr.syntax.model import TOP_STRUCTURE, Chain, Node, Row, Syntax, Table, TraceAlias, build_tree

UNIT_START = ("nnr_unit_size", "nnr_unit_size_flag")  # first element of every NNR unit


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
class NFA:
    eps: list[list[tuple[_Guard | None, int]]] = field(default_factory=list)
    tok: list[tuple[_Token, int] | None] = field(default_factory=list)
    start: int = 0
    final: int = 0

    def new(self) -> int:
        self.eps.append([])
        self.tok.append(None)
        return len(self.eps) - 1


def stream_nfa(syntax: Syntax) -> NFA:
    """The automaton of a whole stream (``nnr_unit()`` repeated), built once per :class:`Syntax`."""
    if syntax._nfa is None:
        syntax._nfa = _build_stream_nfa(syntax)
    return syntax._nfa


def _build_stream_nfa(syntax: Syntax) -> NFA:
    nfa = NFA()
    s = nfa.new()
    e = nfa.new()
    top = syntax.tables[TOP_STRUCTURE]
    a, b = _compile_table(nfa, syntax, top, _Scope({}, "", top.name), (top.name,))
    nfa.eps[s].append((None, a))
    nfa.eps[b].append((None, s))
    nfa.eps[s].append((None, e))
    nfa.start, nfa.final = s, e
    return nfa


def _compile_table(nfa: NFA, syntax: Syntax, table: Table, scope: _Scope, stack: tuple[str, ...]) -> tuple[int, int]:
    return _compile_nodes(nfa, syntax, table, build_tree(table.rows), scope, stack)


def _compile_nodes(nfa: NFA, syntax: Syntax, table: Table, nodes: list[Node], scope: _Scope,
                   stack: tuple[str, ...]) -> tuple[int, int]:
    start = cur = nfa.new()
    for n in nodes:
        a, b = _compile_node(nfa, syntax, table, n, scope, stack)
        nfa.eps[cur].append((None, a))
        cur = b
    return start, cur


def _token(nfa: NFA, tok: _Token) -> tuple[int, int]:
    a, b = nfa.new(), nfa.new()
    nfa.tok[a] = (tok, b)
    return a, b


def _optional(nfa: NFA, frag: tuple[int, int]) -> tuple[int, int]:
    s, e = nfa.new(), nfa.new()
    nfa.eps[s] += [(None, frag[0]), (None, e)]
    nfa.eps[frag[1]].append((None, e))
    return s, e


def _alt(nfa: NFA, frags: list[tuple[int, int]]) -> tuple[int, int]:
    s, e = nfa.new(), nfa.new()
    for a, b in frags:
        nfa.eps[s].append((None, a))
        nfa.eps[b].append((None, e))
    return s, e


def _star(nfa: NFA, frag: tuple[int, int]) -> tuple[int, int]:
    s, e = nfa.new(), nfa.new()
    nfa.eps[s] += [(None, frag[0]), (None, e)]
    nfa.eps[frag[1]].append((None, s))
    return s, e


def _compile_node(nfa: NFA, syntax: Syntax, table: Table, n: Node, scope: _Scope,
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
                cond = (compile_expr(b.expr or ""), scope)
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


def _compile_row(nfa: NFA, syntax: Syntax, table: Table, r: Row, scope: _Scope,
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
        p: (compile_expr(a), scope) for p, a in zip(callee.parameters, r.args)
    }
    inner = _Scope(bindings, r.suffix or "", callee.name)
    frag = _compile_table(nfa, syntax, callee, inner, stack + (callee.name,))
    if r.traced_as is not None:
        tok = _Token(scope.structure, r.traced_as, r.traced_descriptor or "", scope, r)
        frag = _alt(nfa, [frag, _token(nfa, tok)])
    return frag


class _Env:
    """Values of the elements traced so far, for conditions and descriptor expressions."""

    def __init__(self, syntax: Syntax) -> None:
        self.syntax = syntax
        self.values: dict[str, tuple[str, object]] = {}  # name -> (structure, value)
        self.constants = enum_constants()

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


def _matches(tok: _Token, ev: TraceEvent, env: _Env) -> bool:
    return (ev.structure == tok.structure and ev.name == tok.name
            and descriptor_matches(tok.descriptor, ev.descriptor, lambda n: env.lookup(n, tok.scope)))


def _closure(nfa: NFA, states: Iterable[int], env: _Env) -> set[int]:
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

    nfa = stream_nfa(syn)
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
