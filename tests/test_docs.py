"""The documentation: a nitpicky Sphinx build (``-n -W``: every reference resolves, no warning) and
what a reader of the built site relies on -- an anchor per syntax element, source pages of every
module, a page per process, worked traces linked to the syntax tables.

Needs the ``docs`` extra (sphinx, furo, myst-parser): skipped without it, a failure under CI
(NNR_REQUIRE_EXTRAS=1, see tests/extras.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from extras import require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

require("sphinx")
require("furo")
require("myst_parser")

sys.path[:0] = [DOCS, os.path.join(DOCS, "_ext")]
import render_processes  # noqa: E402
import render_syntax  # noqa: E402
import render_traces  # noqa: E402

from nnr import syntax as st  # noqa: E402


def _build(src: str, out: str, *extra: str) -> tuple[int, str]:
    """Run sphinx-build in a fresh interpreter (the docs document the source tree, not the compiled
    package this test process may have imported); (exit status, its warnings)."""
    p = subprocess.run([sys.executable, "-m", "sphinx", "-n", "-W", "-E", "-q", "-b", "html", *extra, src, out],
                       capture_output=True, text=True, timeout=600)
    return p.returncode, p.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = str(tmp_path_factory.mktemp("html"))
    rc, err = _build(DOCS, out)
    assert rc == 0 and "WARNING" not in err and "ERROR" not in err, err
    return out


def _read(site: str, page: str) -> str:
    with open(os.path.join(site, page), encoding="utf-8") as f:
        return f.read()


def test_every_syntax_element_has_an_anchor_of_its_own(site: str) -> None:
    syn = st.load()
    page = _read(site, "_gen/elements.html")
    tables = _read(site, "syntax_tables.html")
    names = {r.name for t in syn.tables.values() for r in t.rows if r.element}
    assert len(names) >= 130
    for t in syn.tables.values():
        for r in t.rows:
            if r.element:
                assert f'id="element-{r.name}"' in page, r.name
                assert f'id="row-{t.name}-{r.name}"' in tables, (t.name, r.name)
    for name in ("sig_flag", "abs_level_greater_x", "row_skip_flag", "entry_point_dq_state", "nnr_unit_type",
                 "codebook_egk", "topology_elem_id", "dpm_nn_class_accuracy", "parent_node_payload_sha512"):
        # the entry links back to its row, to the code's reference page and to processes / examples
        entry = page.split(f'id="element-{name}"', 1)[1].split('class="nnr-element', 1)[0]
        assert "syntax_tables.html#row-" in entry, name
        assert "_gen/api/" in entry or "api/nnr." in entry, name


def test_source_pages_of_every_module(site: str) -> None:
    for mod in render_syntax.nnr_modules():
        path = os.path.join(site, "_modules", *mod.split(".")) + ".html"
        if not os.path.exists(path):
            path = os.path.join(site, "_modules", *mod.split("."), "__init__.html")
        ref = _read(site, f"_gen/api/{mod}.html")
        if 'class="viewcode-link"' not in ref:  # a module with nothing but its docstring
            continue
        assert os.path.exists(path), mod
    # the engine's two modules (compiled by mypyc): every class and function links to its source
    engine = _read(site, "_gen/api/nnr.cabac.estimator.html") + _read(site, "_gen/api/nnr.cabac.arith_decoder.html")
    assert engine.count('class="viewcode-link"') >= 10
    assert 'id="ArithmeticDecoder.decode_bin"' in _read(site, "_modules/nnr/cabac/arith_decoder.html")


def test_a_page_per_process_with_rule_code_elements_and_cases(site: str) -> None:
    keys = [p["key"] for p in render_processes.pages()]
    for k in ("nnr-units", "arithmetic-decoding", "probability-estimation", "context-selection", "binarization",
              "scans-entry-points", "dependent-quantization", "dequantization", "parameter-update-tree", "tca",
              "hdsp", "row-skipping", "decomposition-local-scaling"):
        assert k in keys
    for k in keys:
        page = _read(site, f"_gen/processes/{k}.html")
        assert f'id="process-{k}"' in page
        assert "_modules/nnr/" in page, k  # a source line link
        assert "elements.html#element-" in page, k
        assert "notes/" in page, k
    dq = _read(site, "_gen/processes/dependent-quantization.html")
    assert "next state if level odd" in dq  # the state table, included from the notes
    assert "DQ_SCAN1_A" in dq  # a conformance case


def test_worked_examples_link_every_element_to_its_row(site: str) -> None:
    for case, _ in render_traces.EXAMPLES:
        page = _read(site, f"_gen/traces/{case}.html")
        rows = re.findall(r'href="[^"]*syntax_tables\.html#row-([a-z0-9_]+)-([a-z0-9_]+)"', page)
        assert len(rows) >= 20, case
    bins = _read(site, f"_gen/traces/{render_traces.BIN_EXAMPLE}.html")
    assert "SIG[" in bins and "ECO_FLAG" in bins and "terminate" in bins
    assert bins.count("<tr") > 400


def test_tables_link_the_notes_and_the_code(site: str) -> None:
    tables = _read(site, "syntax_tables.html")
    assert "deepcabac.md §" not in re.sub(r"<a [^>]*>.*?</a>", "", tables)  # every citation is a link
    assert 'href="notes/deepcabac.html#' in tables
    assert "_gen/api/nnr.units.compressed_data_unit.html#nnr.units.compressed_data_unit.CompressedDataUnitHeader.read" in tables


def test_element_cases_are_up_to_date() -> None:
    with open(render_syntax.ELEMENT_CASES, encoding="utf-8") as f:
        stored = json.load(f)
    assert stored == render_syntax.compute_element_cases(), "run: python3 docs/render_syntax.py --coverage"


def test_an_unresolved_reference_fails_the_build_and_says_where_names_come_from(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path[:0] = [{os.path.join(DOCS, '_ext')!r}, {DOCS!r}, {ROOT!r}]\n"
        "extensions = ['sphinx.ext.autodoc', 'nnrdocs']\nnnr_generate = False\nhtml_theme = 'basic'\n")
    (src / "index.rst").write_text(
        "T\n=\n\n.. nnr:element:: sig_flag\n\n   x\n\n:nnr:elem:`sig_flag` :nnr:elem:`no_such_flag` "
        ":py:func:`nnr.decode` :py:func:`nnr.no_such_function`\n")
    rc, err = _build(str(src), str(tmp_path / "out"), "--keep-going")
    assert rc != 0
    assert "nnr:elem reference target not found: 'no_such_flag'" in err and "syntax/*.toml" in err, err
    assert "nnr.no_such_function" in err and "renamed, removed or made private" in err, err
    assert "sig_flag" not in err.replace("no_such_flag", "")


def test_no_dead_anchor_anywhere_on_the_site(site: str) -> None:
    """Every link to an anchor (``page.html#id``, ``#id``) lands on an element with that id:
    source links, back-links from the source pages, element, row, process and trace anchors."""
    ids: dict[str, set[str] | None] = {}
    dead: list[str] = []
    count = 0
    for dirpath, _dirs, files in os.walk(site):
        for f in files:
            if not f.endswith(".html"):
                continue
            path = os.path.join(dirpath, f)
            text = _read(site, os.path.relpath(path, site))
            for page, frag in re.findall(r'href="([^"#:]*\.html)?#([^"]+)"', text):
                target = os.path.normpath(os.path.join(dirpath, page)) if page else path
                if target not in ids:
                    ids[target] = (set(re.findall(r'id="([^"]+)"', _read(site, os.path.relpath(target, site))))
                                   if os.path.exists(target) else None)
                count += 1
                have = ids[target]
                if have is None or frag not in have:
                    dead.append(f"{os.path.relpath(path, site)} -> {page}#{frag}")
    assert count > 10000
    assert not dead, dead[:20]
