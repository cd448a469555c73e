#!/usr/bin/env python3
"""One page per decoding process, for the Sphinx docs (written into ``docs/_gen/processes/`` at build
time by ``docs/_ext/nnrdocs.py``).

Each page is described by a ``[[page]]`` of ``docs/processes.toml``: its title, a summary, the
syntax elements it acts on, the code that implements it, the sections of the implementation notes
(``docs/notes/*.md``) that state its rule, and the features of the conformance suite
(``nnr/conformance/features.md``, the ``features`` of each ``bitstreams/*/case.json``) that exercise
it.  The page shows the summary and these links, then the rule itself: the notes' sections, with
their formulas and state tables, included verbatim.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from nnr import syntax as st  # noqa: E402

GEN = os.path.join(HERE, "_gen")
NOTES = os.path.join(HERE, "notes")
BITSTREAMS = os.path.join(ROOT, "bitstreams")
PROCESSES = os.path.join(HERE, "processes.toml")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def pages() -> list[dict[str, Any]]:
    """The ``[[page]]`` entries of docs/processes.toml, in order."""
    with open(PROCESSES, "rb") as f:
        return list(tomllib.load(f).get("page", []))


def element_processes() -> dict[str, list[tuple[str, str]]]:
    """Element -> [(page key, title)] of the process pages that act on it."""
    out: dict[str, list[tuple[str, str]]] = {}
    for p in pages():
        for e in p.get("elements", []):
            out.setdefault(e, []).append((p["key"], p["title"]))
    return out


def cases_by_feature() -> tuple[dict[int, list[str]], dict[str, list[str]]]:
    """(feature number -> positive cases, element -> negative cases that expect an error there)."""
    feats: dict[int, list[str]] = {}
    neg: dict[str, list[str]] = {}
    for name in sorted(os.listdir(BITSTREAMS)):
        path = os.path.join(BITSTREAMS, name, "case.json")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            c = json.load(f)
        if c.get("kind") == "negative":
            el = (c.get("expected_error") or {}).get("element")
            if el:
                neg.setdefault(el, []).append(c["name"])
            continue
        for n in c.get("features", []):
            feats.setdefault(int(n), []).append(c["name"])
    return feats, neg


def features() -> dict[int, str]:
    from nnr.conformance.coverage import find_features_md, parse_features

    path = find_features_md()
    if path is None:
        return {}
    with open(path, encoding="utf-8") as f:
        return dict(parse_features(f.read()))


_HEADING = re.compile(r"^(#+)\s+(\d+(?:\.\d+)?)\.?\s+(.*)$")


def note_section(note: str, num: str) -> tuple[str, str]:
    """(title, Markdown body) of section ``num`` of docs/notes/<note>.md, subsections included,
    their headings turned into bold lines (the body is included inside a page of its own)."""
    with open(os.path.join(NOTES, note + ".md"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = level = -1
    title = ""
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        if m and m.group(2) == num:
            start, level, title = i, len(m.group(1)), m.group(3)
            break
    if start < 0:
        raise KeyError(f"docs/processes.toml: no section {num} in docs/notes/{note}.md")
    body: list[str] = []
    fence = False
    for line in lines[start + 1:]:
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^(#+)\s+(.*)$", line)
        if m and len(m.group(1)) <= level:
            break
        if m:
            body.append(f"**{m.group(2)}**")
            continue
        body.append(line)
    while body and (not body[-1].strip() or set(body[-1].strip()) == {"-"}):
        body.pop()
    return title, "\n".join(body) + "\n"


def code_line(dotted: str) -> tuple[str, int]:
    """(file relative to the repository, first line) of the code a dotted name refers to."""
    obj = st.resolve_code(dotted)
    obj = inspect.unwrap(obj)  # type: ignore[arg-type]
    path = inspect.getsourcefile(obj) or ""  # type: ignore[arg-type]
    _, line = inspect.getsourcelines(obj)  # type: ignore[arg-type]
    return os.path.relpath(path, ROOT), line


def code_role(dotted: str) -> str:
    from render_syntax import code_role as role

    return role(dotted)


def lit(text: str) -> str:
    return f"``{text}``"


def render_page(p: dict[str, Any], feats: dict[int, list[str]], neg: dict[str, list[str]],
                names: dict[int, str]) -> tuple[str, list[tuple[str, str]]]:
    """The page of one process, and the note excerpts it includes ((file name, Markdown))."""
    key, title = p["key"], p["title"]
    lines = [".. This file is generated by docs/render_processes.py from docs/processes.toml; do not edit.", "",
             title, "=" * len(title), "", f".. nnr:process:: {key}", f"   :title: {title}", ""]
    lines += ["   " + line if line else "" for line in p["summary"].strip().splitlines()]
    lines.append("")
    if p.get("elements"):
        lines.append("   :Elements: " + ", ".join(f":nnr:elem:`{e}`" for e in p["elements"]))
    if p.get("code"):
        items = []
        for c in p["code"]:
            path, line = code_line(c)
            where = f"{path} line {line}" if line else path
            items.append(f"{code_role(c)} (:nnr:src:`{where} <{c}>`)")
        lines.append("   :Code: " + "; ".join(items))
    if p.get("notes"):
        refs = []
        for n in p["notes"]:
            note, num = n.split()
            refs.append(f":nnr:note:`{note}.md §{num} <{note} {num}>`")
        lines.append("   :Notes: " + ", ".join(refs))
    titles = {q["key"]: q["title"] for q in pages()}
    related = [f":nnr:proc:`{esc(titles[k])} <{k}>`" for k in p.get("see_also", [])]
    if related:
        lines.append("   :See also: " + ", ".join(related))
    cases: list[str] = sorted({c for n in p.get("features", []) for c in feats.get(n, [])})
    if p.get("features"):
        fl = "; ".join(f"#{n} {names.get(n, '')}".strip() for n in p["features"])
        shown = ", ".join(lit(c) for c in cases[:12]) + (f", … (+{len(cases) - 12})" if len(cases) > 12 else "")
        lines.append(f"   :Conformance: {len(cases)} positive cases exercise "
                     f"{'this feature' if len(p['features']) == 1 else 'these features'} "
                     f"(:doc:`/conformance`, features {esc(fl)}): {shown or 'none'}")
    bad = sorted({c for e in p.get("elements", []) for c in neg.get(e, [])})
    if bad:
        lines.append(f"   :Negative cases: {', '.join(lit(c) for c in bad)} (must be refused at these elements)")
    if p.get("examples"):
        lines.append("   :Examples: " + ", ".join(f":nnr:trace:`{e}`" for e in p["examples"]))
    lines.append("")
    excerpts = []
    if p.get("notes"):
        lines += ["The rule", "--------", "",
                  "As stated in the implementation notes (checked bit-exactly against NNCodec 2.1.3 where "
                  "marked [V]; the section numbers are the notes' own, not the standard's):", ""]
        for n in p["notes"]:
            note, num = n.split()
            sec_title, body = note_section(note, num)
            fname = f"{note}-{num}.md"
            excerpts.append((fname, body))
            head = f"{note}.md §{num} {sec_title}"
            lines += [".. rst-class:: nnr-excerpt-title", "", f":nnr:note:`{esc(head)} <{note} {num}>`", "",
                      f".. include:: ../excerpts/{fname}", "   :parser: myst_parser.sphinx_", ""]
    return "\n".join(lines).rstrip() + "\n", excerpts


def esc(text: str) -> str:
    out = []
    for ch in text:
        if ch in "\\*`|_<>":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def render_index(ps: list[dict[str, Any]]) -> str:
    lines = [".. This file is generated by docs/render_processes.py from docs/processes.toml; do not edit.", "",
             "Decoding processes", "==================", "",
             "One page per process of the standard, in decoding order: its rule (formulas, state tables), "
             "the syntax elements it acts on, the module and function that implement it (with a link to "
             "the source), and the conformance cases that exercise it.", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    lines += [f"   {p['key']}" for p in ps]
    lines.append("")
    lines += [".. list-table::", "   :header-rows: 1", "   :widths: 30 70", "", "   * - Process", "     - Summary"]
    for p in ps:
        first = " ".join(p["summary"].split()).split(". ")[0].rstrip(".") + "."
        lines += [f"   * - :nnr:proc:`{esc(p['title'])} <{p['key']}>`", f"     - {first}"]
    return "\n".join(lines) + "\n"


def write_generated() -> None:
    from render_syntax import write_if_changed

    ps = pages()
    feats, neg = cases_by_feature()
    names = features()
    for p in ps:
        text, excerpts = render_page(p, feats, neg, names)
        write_if_changed(os.path.join(GEN, "processes", p["key"] + ".rst"), text)
        for fname, body in excerpts:
            write_if_changed(os.path.join(GEN, "excerpts", fname), body)
    write_if_changed(os.path.join(GEN, "processes", "index.rst"), render_index(ps))
