#!/usr/bin/env python3
"""Render the syntax tables of ``syntax/`` as reStructuredText pages for the Sphinx docs.

Writes ``docs/syntax_tables.rst`` (every structure as a table, laid out like the standard's syntax
tables) and ``docs/implementation.rst`` (autodoc entries for the code each structure names, so that
the tables link to it).  Both files are committed; ``tests/test_syntax_tables.py`` checks that they
are up to date.

Usage::

    python3 docs/render_syntax.py            # rewrite the pages
    python3 docs/render_syntax.py --check    # exit 1 if a page is out of date
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
from collections.abc import Iterable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from nnr import syntax as st  # noqa: E402

TABLES_PAGE = os.path.join(HERE, "syntax_tables.rst")
IMPL_PAGE = os.path.join(HERE, "implementation.rst")
MAX_DEPTH = 10


def esc(text: str) -> str:
    """Plain text for reST: escape inline markup characters."""
    out = []
    for ch in text:
        if ch in "\\*`|_":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def lit(text: str) -> str:
    """An inline literal (text never contains double backquotes)."""
    return f"``{text}``"


def heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def code_role(dotted: str) -> str:
    obj = st.resolve_code(dotted)
    if inspect.isclass(obj):
        return f":py:class:`{dotted}`"
    if "." in getattr(obj, "__qualname__", ""):
        return f":py:meth:`{dotted}`"
    return f":py:func:`{dotted}`"


def code_src(dotted: str) -> str:
    """A link to the code's documentation, then one to its highlighted source."""
    return f"{code_role(dotted)} (:nnr:src:`source <{dotted}>`)"


class _Rows:
    """Rows of one rendered list-table: (syntax cell, descriptor, status, semantics)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, depth: int, syntax: str, descriptor: str = "", status: str = "", semantics: str = "") -> None:
        indent = f"|i{depth}|\\ " if depth else ""
        self.rows.append((indent + syntax, descriptor, status, semantics))


def _call_cell(r: st.Row, syn: st.Syntax) -> str:
    text = (r.call or "").replace("()", "( )")
    if r.is_builtin_call or r.name not in syn.tables:
        return lit(text)
    return f":ref:`{text} <syntax-{r.name}>`"


_NOTE_REF_RE = re.compile(r"\b(syntax|deepcabac|quantization|features)\.md((?:(?:\s|,|-|–|and)*§\d+(?:\.\d+)?)*)")
_SECTION_RE = re.compile(r"§(\d+(?:\.\d+)?)")


def note_links(text: str) -> str:
    """Escaped text with its citations of the notes ("deepcabac.md §6.2", "syntax.md §2-§8") as
    links to those sections (``:nnr:note:``) on the rendered notes pages."""
    def one(m: re.Match[str]) -> str:
        note = m.group(1)
        secs = _SECTION_RE.sub(lambda s: f":nnr:note:`§{s.group(1)} <{note} {s.group(1)}>`", m.group(2))
        return f":nnr:note:`{note}.md <{note}>`{secs}"
    return _NOTE_REF_RE.sub(one, text)


def _row_semantics(r: st.Row) -> str:
    s = note_links(esc(r.semantics))
    notes = []
    if r.suffix:
        notes.append(f"Decoder trace: the elements of this instance carry the suffix {lit(r.suffix)}.")
    if r.traced_as:
        notes.append(f"Decoder trace: one element {lit(r.traced_as)} {lit(r.traced_descriptor or '')}.")
    if not r.traced:
        notes.append("Decoder trace: not reported.")
    return " ".join([s] + notes) if notes else s


def _render_nodes(nodes: Iterable[st.Node], depth: int, out: _Rows, table: st.Table, syn: st.Syntax) -> None:
    for n in nodes:
        if isinstance(n, st.Row):
            if n.element is not None:
                cell = f":nnr:rowdef:`{n.structure}|{n.name}|{n.element}`"
                out.add(depth, cell, lit(n.descriptor or ""), n.status, _row_semantics(n))
            else:
                out.add(depth, _call_cell(n, syn), "", n.status, _row_semantics(n))
        elif isinstance(n, st.Chain):
            for b in n.branches:
                _render_block(b, depth, out, table, syn)
        else:
            _render_block(n, depth, out, table, syn)


def _render_block(b: st.Block, depth: int, out: _Rows, table: st.Table, syn: st.Syntax) -> None:
    braces = not (len(b.children) == 1 and isinstance(b.children[0], st.Row))
    alias = table.alias_for(b.line) if b.kind in ("for", "while") else None
    note = ""
    if alias is not None:
        note = f"Decoder trace: the whole loop as one element {lit(alias.name)} {lit(alias.descriptor)}, {esc(alias.note)}."
    out.add(depth, lit(b.line + (" {" if braces else "")), "", "", note)
    _render_nodes(b.children, depth + 1, out, table, syn)
    if braces:
        out.add(depth, lit("}"))


def render_table(table: st.Table, syn: st.Syntax) -> list[str]:
    lines = [f".. _syntax-{table.name}:", ""]
    lines += heading(lit(table.signature), "~")
    lines += [esc(table.summary), ""]
    status_text = syn.status.get(table.status, "")
    lines.append(f":Status: {table.status} ({esc(status_text)})" if status_text else f":Status: {table.status}")
    if table.clause:
        lines.append(f":Notes: {note_links(esc(table.clause))}")
    lines.append(f":Implemented by: {code_src(table.code)}")
    if table.see_also:
        lines.append(":See also: " + ", ".join(code_src(c) for c in table.see_also))
    if table.traced:
        lines.append(f":In traces: structure {lit(table.name)}")
    else:
        lines.append(":In traces: not marked; its elements appear in the enclosing structure")
    lines.append(f":Source: {lit('syntax/' + table.path.name)}")
    lines.append("")
    rows = _Rows()
    if table.rows:
        rows.add(0, lit(table.signature + " {"))
        _render_nodes(st.build_tree(table.rows), 1, rows, table, syn)
        rows.add(0, lit("}"))
    else:
        rows.add(0, lit(table.signature + " { }"), "", table.status, "No syntax elements in the available notes.")
    lines += [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 44 16 6 34",
        "   :class: syntax-table",
        "",
        "   * - Syntax",
        "     - Descriptor",
        "     - Status",
        "     - Semantics",
    ]
    for syntax, desc, status, sem in rows.rows:
        lines.append(f"   * - {syntax}")
        for cell in (desc, status, sem):
            lines.append(f"     - {cell}" if cell else "     -")
    lines.append("")
    return lines


def render_tables_page(syn: st.Syntax) -> str:
    lines = [
        ".. This file is generated by docs/render_syntax.py from syntax/*.toml; do not edit.",
        "",
    ]
    for d in range(1, MAX_DEPTH + 1):
        lines.append(f".. |i{d}| unicode:: " + " ".join(["0xA0"] * (4 * d)))
    lines.append("")
    lines += heading(esc(syn.title or "Syntax tables"), "=")
    lines += [
        "One table per syntax structure, rendered from the files in ``syntax/``.  Each row is an element "
        "with its descriptor, or a call of another structure (linked), under the ``if`` / ``for`` lines "
        "that enclose it.  Status marks: "
        + "; ".join(f"**{k}** {esc(v)}" for k, v in syn.status.items())
        + f".  Source of the notes: {esc(syn.notes)}.",
        "",
    ]
    lines += heading("Descriptors", "-")
    lines += [".. list-table::", "   :header-rows: 1", "   :widths: 20 80", "", "   * - Descriptor", "     - Meaning"]
    for k, v in syn.descriptors.items():
        lines += [f"   * - {lit(k)}", f"     - {esc(v)}"]
    lines.append("")
    for sec in syn.sections:
        lines += heading(esc(sec.title), "-")
        if sec.clause:
            lines += [f"Notes: {note_links(esc(sec.clause))}.", ""]
        for name in sec.structures:
            lines += render_table(syn.tables[name], syn)
    return "\n".join(lines).rstrip() + "\n"


def code_references(syn: st.Syntax) -> list[str]:
    """Every code reference of the tables, once, in table order."""
    seen: list[str] = []
    for t in syn.ordered():
        for c in (t.code, *t.see_also):
            if c not in seen:
                seen.append(c)
    return seen


PROCESSES = os.path.join(HERE, "processes.toml")


def _processes_file() -> dict[str, object]:
    with open(PROCESSES, "rb") as f:
        return tomllib.load(f)


def processes() -> list[tuple[str, str]]:
    """(process, code) of docs/processes.toml."""
    return [(p["name"], p["code"]) for p in _processes_file()["process"]]  # type: ignore[attr-defined]


def writer_overrides() -> dict[str, str]:
    """Structure -> writing code, where :func:`writer_of` cannot derive it (docs/processes.toml)."""
    return dict(_processes_file().get("writers", {}))  # type: ignore[call-overload]


def module_of(dotted: str) -> str:
    """The module that defines what a dotted code reference names."""
    obj = st.resolve_code(dotted)
    mod = getattr(obj, "__module__", None)
    return mod if isinstance(mod, str) else dotted.rsplit(".", 1)[0]


def writer_of(dotted: str) -> str | None:
    """The writing counterpart of a reading code reference (``X.read`` -> ``X.write``,
    ``read_foo`` -> ``write_foo``), when it exists."""
    head, _, last = dotted.rpartition(".")
    if "read" not in last:
        return None
    cand = f"{head}.{last.replace('read', 'write')}"
    try:
        st.resolve_code(cand)
    except (ImportError, AttributeError):
        return None
    return cand


def implementation_map(syn: st.Syntax) -> list[tuple[str, str, str, str | None]]:
    """(structure, module, reading code, writing code) for every syntax table, in document order."""
    over = writer_overrides()
    return [(t.name, module_of(t.code), t.code, over.get(t.name) or writer_of(t.code)) for t in syn.ordered()]


def _list_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1", ""]
    for r in [header, *rows]:
        out.append(f"   * - {r[0]}")
        out += [f"     - {c}" for c in r[1:]]
    return out + [""]


def render_map(syn: st.Syntax) -> list[str]:
    lines = heading("Map", "-")
    lines += [
        "For each syntax structure (``syntax/*.toml``) and each decoding and encoding process "
        "(``docs/processes.toml``), the one module that implements it.",
        "",
    ]
    rows = [[f":ref:`{n} <syntax-{n}>`", code_src(r), code_src(w) if w else "—"]
            for n, _m, r, w in implementation_map(syn)]
    lines += _list_table(["Syntax structure", "Reads (module.function)", "Writes"], rows)
    rows = [[esc(n), code_src(c)] for n, c in processes()]
    lines += _list_table(["Process", "Entry point (module.function)"], rows)
    lines += ["A page per decoding process, with its rule: :doc:`_gen/processes/index`.", ""]
    return lines


def render_implementation_page(syn: st.Syntax) -> str:
    refs = code_references(syn)
    by_module: dict[str, list[str]] = {}
    for c in refs:
        obj = st.resolve_code(c)
        mod = getattr(obj, "__module__", None) or c.rsplit(".", 1)[0]
        by_module.setdefault(mod, []).append(c)
    users: dict[str, list[str]] = {}
    for t in syn.ordered():
        for c in (t.code, *t.see_also):
            users.setdefault(c, []).append(t.name)
    lines = [
        ".. This file is generated by docs/render_syntax.py from syntax/*.toml; do not edit.",
        "",
    ]
    lines += heading("Implementing code", "=")
    lines += render_map(syn)
    lines += heading("Code named by the syntax tables", "-")
    lines += [
        "The functions, methods and classes the syntax tables name as their implementation "
        "(the ``code`` and ``see_also`` fields of ``syntax/*.toml``), by module, with the structures "
        "that name them.  Each is documented on its module's :doc:`reference page <reference>`.",
        "",
    ]
    for mod in sorted(by_module):
        lines += heading(lit(mod), "~")
        for c in by_module[mod]:
            used = ", ".join(f":ref:`{n} <syntax-{n}>`" for n in users[c])
            lines.append(f"* {code_src(c)}: {used}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


GEN = os.path.join(HERE, "_gen")
SKIP_MODULES = {"nnr.__main__"}  # runs the CLI on import


def nnr_modules() -> list[str]:
    """Every module of the nnr package (source tree), sorted."""
    import pkgutil

    import nnr

    mods = ["nnr"] + [m.name for m in pkgutil.walk_packages(nnr.__path__, "nnr.")]
    return sorted(m for m in mods if m not in SKIP_MODULES)


def render_module_page(mod: str) -> str:
    lines = [".. This file is generated by docs/render_syntax.py at build time; do not edit.", ""]
    lines += heading(lit(mod), "=")
    lines += [
        f".. automodule:: {mod}",
        "   :members:",
        "   :undoc-members:",
        "   :private-members:",
        "   :ignore-module-all:",
        "",
    ]
    return "\n".join(lines)


def write_if_changed(path: str, text: str) -> None:
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if old != text:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def write_generated(traced: dict[str, list[tuple[str, str]]] | None = None,
                    procs: dict[str, list[tuple[str, str]]] | None = None) -> None:
    """The pages written at build time into docs/_gen/: one reference page per module, the
    element index."""
    mods = nnr_modules()
    for mod in mods:
        write_if_changed(os.path.join(GEN, "api", mod + ".rst"), render_module_page(mod))
    syn = st.load()
    write_if_changed(os.path.join(GEN, "elements.rst"), render_elements_page(syn, traced or {}, procs or {}))


ELEMENT_CASES = os.path.join(HERE, "element_cases.json")


def element_cases() -> dict[str, dict[str, Any]]:
    """Element -> {"seen": number of cases, "examples": some, "nonzero": number, "nonzero_examples": some} of the conformance suite (docs/element_cases.json,
    written by ``python3 docs/render_syntax.py --coverage`` from ``nnr conformance --coverage``'s data)."""
    import json

    if not os.path.exists(ELEMENT_CASES):
        return {}
    with open(ELEMENT_CASES, encoding="utf-8") as f:
        return dict(json.load(f))


def compute_element_cases(bitstreams: str = os.path.join(ROOT, "bitstreams")) -> dict[str, dict[str, Any]]:
    from nnr.conformance.cases import load_cases
    from nnr.conformance.coverage import compute_coverage

    cov = compute_coverage(load_cases(bitstreams))
    return {n: {"seen": len(e.seen_in), "examples": sorted(e.seen_in)[:8],
                "nonzero": len(e.nonzero_in), "nonzero_examples": sorted(e.nonzero_in)[:8]}
            for n, e in sorted(cov.elements.items())}


def element_rows(syn: st.Syntax) -> dict[str, list[st.Row]]:
    """Element name -> its rows, in table order."""
    out: dict[str, list[st.Row]] = {}
    for t in syn.ordered():
        for r in t.rows:
            if r.element is not None:
                out.setdefault(r.name, []).append(r)
    return out


def trace_aliases(syn: st.Syntax) -> dict[str, tuple[st.Table, st.TraceAlias]]:
    """Names the decoder trace reports for a whole loop (``levels``, ``parameter_set_ids``)."""
    return {a.name: (t, a) for t in syn.ordered() for a in t.aliases}


def _cases_text(names: list[str], limit: int = 8) -> str:
    return ", ".join(lit(n) for n in names[:limit])


def render_elements_page(syn: st.Syntax, traced: dict[str, list[tuple[str, str]]],
                         procs: dict[str, list[tuple[str, str]]]) -> str:
    rows = element_rows(syn)
    aliases = {n: v for n, v in trace_aliases(syn).items() if n not in rows}
    cases = element_cases()
    writers = {n: w for n, _m, _r, w in implementation_map(syn)}
    suffixed: dict[str, tuple[str, str]] = {}  # "codebook_size_dc" -> ("codebook_size", "integer_codebook")
    for t in syn.ordered():
        for sfx in sorted(syn.suffixes(t.name)):
            for r in t.rows:
                if r.element is not None and r.name + sfx not in rows:
                    suffixed[r.name + sfx] = (r.name, t.name)
    names = sorted(set(rows) | set(aliases) | set(suffixed))
    lines = [".. This file is generated by docs/render_syntax.py at build time; do not edit.", ""]
    lines += heading("Syntax element index", "=")
    lines += [
        f"Every syntax element of the :doc:`syntax tables </syntax_tables>` ({len(rows)} elements of "
        f"{len(syn.tables)} structures) and the {len(aliases)} names the decoder trace gives a whole loop.  "
        "For each: its row in the table, descriptor and semantics, the code that reads and writes it "
        "(``[source]`` on the code's page), the processes that act on it, the conformance cases that "
        "carry it and a worked example where it occurs.  Anchors: ``elements.html#element-<name>``.",
        "",
    ]
    by_letter: dict[str, list[str]] = {}
    for n in names:
        by_letter.setdefault(n[0].upper(), []).append(n)
    lines += [".. rst-class:: nnr-element-jump", ""]
    for letter, ns in by_letter.items():
        lines.append(f"- **{letter}**: " + " · ".join(f":nnr:elem:`{n}`" for n in ns))
    lines.append("")
    for n in names:
        lines.append(f".. nnr:element:: {n}")
        lines.append("")
        if n in rows:
            rs = rows[n]
            descs = sorted({r.descriptor or "" for r in rs})
            lines.append(f"   **{esc(n)}** " + " ".join(lit(d) for d in descs if d))
            lines.append("")
            for r in rs:
                t = syn.tables[r.structure]
                cond = " → ".join(lit(c) for c in r.cond) or "unconditional"
                lines.append(f"   :Row: :nnr:row:`{r.element} in {r.structure}( ) <{r.structure}.{n}>` "
                             f"(:ref:`table <syntax-{r.structure}>`), {cond}")
                lines.append(f"   :Semantics: {note_links(esc(r.semantics))}")
                lines.append(f"   :Read by: {code_src(t.code)}")
                w = writers.get(t.name)
                if w:
                    lines.append(f"   :Written by: {code_src(w)}")
        elif n in suffixed:
            base, struct = suffixed[n]
            lines.append(f"   **{esc(n)}**")
            lines.append("")
            lines.append(f"   :Same as: :nnr:elem:`{base}`: the decoder trace names the elements of "
                         f"{lit(struct + '( )')} with this suffix where the structure is read a second time "
                         f"(see the call in :ref:`its caller <syntax-{struct}>`'s table)")
        else:
            t, a = aliases[n]
            lines.append(f"   **{esc(n)}** {lit(a.descriptor)}")
            lines.append("")
            lines.append(f"   :Trace alias: the loop {lit(a.loop)} of :ref:`{t.name}( ) <syntax-{t.name}>` as one "
                         f"trace element: {esc(a.note)}")
            lines.append(f"   :Read by: {code_src(t.code)}")
        if n in procs:
            lines.append("   :Processes: " + ", ".join(f":nnr:proc:`{esc(title)} <{k}>`" for k, title in procs[n]))
        c = cases.get(n)
        if c:
            text = f"carried by {c['seen']} cases of the suite"
            if c["nonzero"]:
                text += (f"; with a non-default value in {c['nonzero']}: "
                         f"{_cases_text(c['nonzero_examples'])}{' …' if c['nonzero'] > 8 else ''}")
            else:
                text += f" (always its default value), e.g. {_cases_text(c['examples'], 4)}"
            lines.append(f"   :Conformance: {text}")
        else:
            lines.append("   :Conformance: no per-element coverage (the decoder trace reports it inside a loop's "
                         "summary element, or no positive case carries it)")
        if n in traced:
            lines.append("   :Example: " + ", ".join(f":nnr:trace:`{case} <{case}.{n}>`" for case, _ in traced[n][:3]))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def pages(syn: st.Syntax | None = None) -> dict[str, str]:
    s = syn or st.load()
    return {TABLES_PAGE: render_tables_page(s), IMPL_PAGE: render_implementation_page(s)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that the pages are up to date")
    ap.add_argument("--coverage", action="store_true",
                    help="rewrite docs/element_cases.json from the conformance suite (bitstreams/)")
    args = ap.parse_args(argv)
    if args.coverage:
        import json

        with open(ELEMENT_CASES, "w", encoding="utf-8") as f:
            json.dump(compute_element_cases(), f, indent=0, sort_keys=True)
            f.write("\n")
        print("wrote " + os.path.relpath(ELEMENT_CASES, ROOT))
    stale = []
    for path, text in pages().items():
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            stale.append(path)
            if not args.check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    if args.check and stale:
        print("out of date (run python3 docs/render_syntax.py): " + ", ".join(os.path.relpath(p, ROOT) for p in stale))
        return 1
    for p in stale:
        print("wrote " + os.path.relpath(p, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
