"""Sphinx extension of the nnr docs: the ``nnr`` domain (syntax elements, table rows, processes,
note sections, worked examples) and the pages generated at build time.

Objects of the domain and the roles that link to them:

* ``:nnr:elem:`sig_flag``` -- an element's entry in the element index (``elements.html#element-sig_flag``);
* ``:nnr:row:`nnr_unit_header.nnr_unit_type``` -- an element's row in its syntax table;
* ``:nnr:proc:`arithmetic-decoding``` -- a process page;
* ``:nnr:note:`deepcabac 6.2``` -- a numbered section of the implementation notes (``docs/notes/*.md``);
* ``:nnr:trace:`SPEC_EXAMPLE_GPI1_A``` -- a worked example (annotated trace of a real stream).

The anchors keep the element names as they are spelled (``id="element-sig_flag"``), so a reader can
type ``elements.html#element-<name>``.  An unresolved ``nnr:`` reference fails a nitpicky build with
a message that says where the names come from.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterator
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.domains import Domain, ObjType
from sphinx.roles import XRefRole
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode

logger = logging.getLogger(__name__)

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(HERE)

# object type -> (anchor prefix, where the names come from: for the failure message)
KINDS = {
    "element": ("element", "syntax elements of syntax/*.toml (and trace aliases): see elements.html"),
    "row": ("row", "table rows '<structure>.<element>' of syntax/*.toml"),
    "process": ("process", "process pages: the 'key' of [[page]] in docs/processes.toml"),
    "note": ("note", "numbered sections of docs/notes/*.md: '<note> <number>', e.g. 'deepcabac 6.2'"),
    "trace": ("trace", "worked examples: the case names of docs/render_traces.py EXAMPLES"),
}


def _register(env: Any, objtype: str, name: str, anchor: str, title: str) -> None:
    objs = env.get_domain("nnr").data["objects"]
    objs.setdefault((objtype, name), (env.docname, anchor, title))


class NNRDomain(Domain):
    """Syntax elements, table rows, processes, note sections and worked examples."""

    name = "nnr"
    label = "NNR"
    object_types = {
        "element": ObjType("syntax element", "elem"),
        "row": ObjType("syntax table row", "row"),
        "process": ObjType("process", "proc"),
        "note": ObjType("note section", "note"),
        "trace": ObjType("worked example", "trace"),
    }
    roles = {r: XRefRole() for r in ("elem", "row", "proc", "note", "trace")}
    initial_data: dict[str, Any] = {"objects": {}}
    data_version = 1

    def clear_doc(self, docname: str) -> None:
        objs = self.data["objects"]
        for k in [k for k, v in objs.items() if v[0] == docname]:
            del objs[k]

    def merge_domaindata(self, docnames: Any, otherdata: dict[str, Any]) -> None:
        for k, v in otherdata["objects"].items():
            if v[0] in docnames:
                self.data["objects"][k] = v

    def resolve_xref(self, env: Any, fromdocname: str, builder: Any, typ: str, target: str,
                     node: pending_xref, contnode: nodes.Element) -> nodes.Element | None:
        for objtype in self.objtypes_for_role(typ) or ():
            hit = self.data["objects"].get((objtype, target))
            if hit is not None:
                return make_refnode(builder, fromdocname, hit[0], hit[1], contnode, hit[2])
        return None

    def resolve_any_xref(self, env: Any, fromdocname: str, builder: Any, target: str,
                         node: pending_xref, contnode: nodes.Element) -> list[tuple[str, nodes.Element]]:
        return []

    def get_objects(self) -> Iterator[tuple[str, str, str, str, str, int]]:
        for (objtype, name), (doc, anchor, _title) in self.data["objects"].items():
            if objtype in ("element", "process"):
                yield name, name, objtype, doc, anchor, 1


def rowdef_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
                options: dict[str, Any] | None = None, content: Any = None) -> tuple[list[nodes.Node], list[Any]]:
    """``:nnr:rowdef:`structure|element name|as printed``` -- an element cell of a syntax table:
    anchored ``row-<structure>-<name>``, linking to the element's index entry."""
    env = inliner.document.settings.env
    structure, elem, printed = text.split("|", 2)
    anchor = f"row-{structure}-{elem}"
    _register(env, "row", f"{structure}.{elem}", anchor, f"{elem} in {structure}( )")
    ref = pending_xref("", nodes.literal(printed, printed), refdomain="nnr", reftype="elem",
                       reftarget=elem, refexplicit=True, refwarn=True)
    ref["classes"].append("nnr-elem")
    wrap = nodes.inline("", "", ref, ids=[anchor])
    return [wrap], []


def tracedef_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
                  options: dict[str, Any] | None = None, content: Any = None) -> tuple[list[nodes.Node], list[Any]]:
    """``:nnr:tracedef:`case|key|kind|target|as traced``` -- an element cell of a worked example:
    linked to ``:nnr:<kind>:`target``` (its table row or index entry); anchored
    ``trace-<case>-<key>`` when ``key`` is given (the first occurrence of the element on the page)."""
    env = inliner.document.settings.env
    case, key, kind, target, shown = text.split("|", 4)
    ref = pending_xref("", nodes.literal(shown, shown), refdomain="nnr", reftype=kind,
                       reftarget=target, refexplicit=True, refwarn=True)
    if not key:
        return [ref], []
    anchor = f"trace-{case}-{key}"
    _register(env, "trace", f"{case}.{key}", anchor, f"{key} in {case}")
    return [nodes.inline("", "", ref, ids=[anchor])], []


class _Def(SphinxDirective):
    """``.. nnr:<kind>:: name`` -- an anchored block (``<kind>-<name>``) holding its content."""

    objtype = ""
    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"title": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0].strip()
        anchor = f"{KINDS[self.objtype][0]}-{name}"
        title = self.options.get("title", name)
        _register(self.env, self.objtype, name, anchor, title)
        box = nodes.container(ids=[anchor], classes=[f"nnr-{self.objtype}"])
        self.state.nested_parse(self.content, self.content_offset, box)
        return [box]


class ElementDef(_Def):
    objtype = "element"


class TraceDef(_Def):
    objtype = "trace"


class ProcessDef(_Def):
    objtype = "process"


def src_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
             options: dict[str, Any] | None = None, content: Any = None) -> tuple[list[nodes.Node], list[Any]]:
    """``:nnr:src:`title <nnr.dotted.name>``` -- a link to the highlighted source of that object
    (the page sphinx.ext.viewcode writes, at the object's own anchor)."""
    import importlib
    import inspect

    from sphinx.util.nodes import split_explicit_title

    env = inliner.document.settings.env
    _has, title, target = split_explicit_title(text)
    parts = target.split(".")
    obj: Any = None
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for a in parts[i:]:
            obj = getattr(obj, a)
        break
    obj = inspect.unwrap(obj)
    mod = obj.__name__ if inspect.ismodule(obj) else obj.__module__
    anchor = "" if inspect.ismodule(obj) else "#" + obj.__qualname__
    up = "../" * env.docname.count("/")
    uri = f"{up}_modules/{mod.replace('.', '/')}.html{anchor}"
    ref = nodes.reference(rawtext, "", nodes.literal(title, title), refuri=uri, classes=["nnr-src"])
    return [ref], []


_NOTE_RE = re.compile(r"^(\d+(?:\.\d+)?)\.?\s")


def label_note_sections(app: Sphinx, doctree: nodes.document) -> None:
    """Register the numbered sections of docs/notes/*.md as ``:nnr:note:`<note> <number>```."""
    env = app.env
    if not env.docname.startswith("notes/"):
        return
    note = env.docname.split("/", 1)[1]
    _register(env, "note", note, doctree.next_node(nodes.section)["ids"][0] if doctree.next_node(nodes.section) else "", note)
    for sec in doctree.findall(nodes.section):
        title = sec.next_node(nodes.title)
        if title is None:
            continue
        m = _NOTE_RE.match(title.astext())
        if m and sec["ids"]:
            num = m.group(1)
            _register(env, "note", f"{note} {num}", sec["ids"][0], f"{note}.md §{num}")


_CITE_RE = re.compile(r"(?:\b(syntax|deepcabac|quantization|features)\.md\s+)?§(\d+(?:\.\d+)?)")


def _note_sections() -> dict[str, set[str]]:
    """note -> the section numbers its headings carry (docs/notes/<note>.md)."""
    out: dict[str, set[str]] = {}
    for note in ("syntax", "deepcabac", "quantization", "features"):
        path = os.path.join(DOCS, "notes", note + ".md")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                out[note] = set(re.findall(r"^#+\s+(\d+(?:\.\d+)?)\.?\s", f.read(), re.M))
    return out


def link_note_citations(app: Sphinx, doctree: nodes.document) -> None:
    """In the notes pages, "§2.5" (same note) and "syntax.md §8.2" become links to those sections."""
    docname = app.env.docname
    if not docname.startswith("notes/"):
        return
    here = docname.split("/", 1)[1]
    sections = _note_sections()
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or isinstance(parent, (nodes.literal, nodes.literal_block, nodes.title, nodes.reference)):
            continue
        value = text.astext()
        if "§" not in value:
            continue
        out: list[nodes.Node] = []
        pos = 0
        for m in _CITE_RE.finditer(value):
            note = m.group(1) or here
            if m.group(2) not in sections.get(note, set()):
                continue
            out.append(nodes.Text(value[pos:m.start()]))
            ref = pending_xref("", nodes.Text(m.group(0)), refdomain="nnr", reftype="note",
                               reftarget=f"{note} {m.group(2)}", refexplicit=True, refwarn=True)
            out.append(ref)
            pos = m.end()
        if out:
            out.append(nodes.Text(value[pos:]))
            parent.replace(text, out)


def warn_missing(app: Sphinx, domain: Domain, node: pending_xref) -> bool | None:
    """A clearer message for an unresolved reference (returns True when it emitted its own)."""
    typ, target = node["reftype"], node["reftarget"]
    if domain is not None and domain.name == "nnr":
        kinds = domain.objtypes_for_role(typ) or []
        where = "; ".join(KINDS[k][1] for k in kinds if k in KINDS)
        logger.warning("nnr:%s reference target not found: %r (names come from: %s)", typ, target, where,
                       location=node, type="ref", subtype="nnr")
        return True
    if domain is not None and domain.name == "py" and target.startswith("nnr"):
        logger.warning("py:%s reference target not found: %s (every public name of every nnr module is "
                       "documented on the generated reference pages: was it renamed, removed or made private? "
                       "Use its current dotted name, or plain ``literal`` text)", typ, target,
                       location=node, type="ref", subtype=typ)
        return True
    return None


def _import_dotted(dotted: str) -> Any:
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for a in parts[i:]:
            obj = getattr(obj, a)
        return obj
    raise ImportError(dotted)


_BUILTINS = set(dir(__import__("builtins")))


def resolve_alias(app: Sphinx, env: Any, node: pending_xref, contnode: nodes.Element) -> nodes.Element | None:
    """A Python reference to a re-exported name (``nnr.Decoder``, ``nnr.fl.nnc_mod``) or to a name
    imported into the referring module (``NNRUsageError`` in a docstring of ``nnr.incremental``):
    link it to where the object is documented, under its defining module."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    if target in _BUILTINS:
        return None
    mod = node.get("py:module") or ""
    candidates = []
    if not target.startswith("nnr"):
        if node.get("py:class"):
            candidates.append(f"{mod}.{node['py:class']}.{target}")
        parts = mod.split(".")
        candidates += [".".join(parts[:i] + [target]) for i in range(len(parts), 0, -1)]
        candidates += [f"nnr.errors.{target}"]
    candidates.append(target)
    py = env.get_domain("py")
    for cand in candidates:
        if not cand.startswith("nnr"):
            continue
        try:
            obj = _import_dotted(cand)
        except (ImportError, AttributeError, ValueError):
            # an instance attribute (set in __init__) named with its class: the class
            if "." not in target:
                continue
            try:
                obj = _import_dotted(cand.rsplit(".", 1)[0])
            except (ImportError, AttributeError, ValueError):
                continue
            if not inspect.isclass(obj):
                continue
        if isinstance(obj, property) and obj.fget is not None:
            obj = obj.fget
        name = getattr(obj, "__qualname__", None)
        module = getattr(obj, "__module__", None)
        if isinstance(name, str) and isinstance(module, str) and not inspect.ismodule(obj):
            entry = py.objects.get(f"{module}.{name}")
            if entry is not None:
                return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode,
                                    f"{module}.{name}")
        # module-level data (a table, a constant, a type alias): its module's reference page
        owner = cand.rsplit(".", 1)[0]
        m = py.modules.get(owner)
        if m is not None and not inspect.ismodule(obj):
            return make_refnode(app.builder, node["refdoc"], m.docname, m.node_id, contnode, cand)
    # a method named without its class in a module's docstring: the one object of that name there
    if mod and "." not in target:
        hits = [k for k in py.objects if k.startswith(mod + ".") and k.endswith("." + target)]
        if len(hits) == 1:
            e = py.objects[hits[0]]
            return make_refnode(app.builder, node["refdoc"], e.docname, e.node_id, contnode, hits[0])
    return None


_ABS_RE = re.compile(r"(?<![\w`|\\])\|([^|\s`][^|`\n]*?)\|(?![\w`|])")


def docstring_markup(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """nnr's docstrings write ``|x|`` for an absolute value and ``a *= b`` in formulas: plain text,
    not reST substitutions or emphasis; their citations of the notes become links."""
    from render_syntax import note_links

    literal = False
    for i, line in enumerate(lines):
        if literal and line.strip() and not line.startswith((" ", "\t")):
            literal = False
        line = _ABS_RE.sub(lambda m: f"\\|{m.group(1)}\\|", line)
        line = line.replace(" *= ", " \\*= ")
        if not literal and "``" not in line:
            line = note_links(line)  # "deepcabac.md §6.2" -> a link to that section of the notes
        lines[i] = line
        if line.rstrip().endswith("::"):
            literal = True


def _gen_api(docname: str) -> bool:
    return docname.startswith("_gen/api/")


def _patch_python_domain() -> None:
    """An object documented on a hand-written page (api.rst, encoding.rst, ...) and again on its
    module's generated reference page: the hand-written entry is the one references go to, and the
    duplicate is not an error.  Duplicates between two hand-written pages still fail the build."""
    from sphinx.domains.python import PythonDomain

    orig = PythonDomain.note_object
    if getattr(orig, "_nnr", False):
        return

    def note_object(self: Any, name: str, objtype: str, node_id: str, aliased: bool = False,
                    location: Any = None) -> None:
        other = self.objects.get(name)
        if other is not None and not other.aliased and not aliased:
            here, there = _gen_api(self.env.docname), _gen_api(other.docname)
            if here and not there:
                return
            if there and not here:
                del self.objects[name]
        orig(self, name, objtype, node_id, aliased=aliased, location=location)

    note_object._nnr = True  # type: ignore[attr-defined]
    PythonDomain.note_object = note_object  # type: ignore[method-assign]


def fix_viewcode_backlinks(app: Sphinx) -> list[Any]:
    """sphinx.ext.viewcode links each object of a source page back to the last page that documented
    it, at the anchor ``<module>.<name>``; an object documented under a re-exported name
    (``nnr.NNRError`` on api.rst) has no such anchor there.  Point those back-links to the page that
    has the anchor (its module's reference page)."""
    env = app.env
    py = env.get_domain("py")
    for modname, entry in getattr(env, "_viewcode_modules", {}).items():
        if not entry:
            continue
        _code, _tags, used, refname = entry
        for fullname in list(used):
            obj = py.objects.get(f"{refname}.{fullname}")
            if obj is not None:
                used[fullname] = obj.docname
            elif f"_gen/api/{modname}" in env.found_docs:
                used[fullname] = f"_gen/api/{modname}"
    return []


def generate(app: Sphinx) -> None:
    """Write the generated pages (docs/_gen/) before Sphinx reads the sources."""
    if not app.config.nnr_generate:
        return
    import render_processes
    import render_syntax
    import render_traces

    traced = render_traces.write_generated()
    render_processes.write_generated()
    render_syntax.write_generated(traced, render_processes.element_processes())


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("nnr_generate", True, "env")  # False: only the domain (tests/test_docs.py)
    app.add_domain(NNRDomain)
    app.add_role_to_domain("nnr", "rowdef", rowdef_role)
    app.add_role_to_domain("nnr", "tracedef", tracedef_role)
    app.add_role_to_domain("nnr", "src", src_role)
    app.add_directive_to_domain("nnr", "element", ElementDef)
    app.add_directive_to_domain("nnr", "process", ProcessDef)
    app.add_directive_to_domain("nnr", "trace", TraceDef)
    app.connect("builder-inited", generate)
    app.connect("doctree-read", label_note_sections)
    app.connect("doctree-read", link_note_citations)
    app.connect("warn-missing-reference", warn_missing)
    app.connect("missing-reference", resolve_alias)
    app.connect("html-collect-pages", fix_viewcode_backlinks, priority=400)  # before viewcode's
    app.connect("autodoc-process-docstring", docstring_markup)
    _patch_python_domain()
    app.add_css_file("nnr.css")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
