"""Sphinx configuration of the nnr documentation.

Build (from the repository root; needs the ``docs`` extra: ``pip install -e '.[docs]'``)::

    python3 -m sphinx -n -W -b html docs docs/_build/html

``-n -W``: every cross-reference must resolve, every warning fails the build (tests/test_docs.py runs
exactly this).  The syntax table pages are generated from ``syntax/*.toml`` by ``docs/render_syntax.py``
(committed); the module reference, the element index, the process fields and the worked examples are
generated into ``docs/_gen/`` at build time (``docs/_ext/nnrdocs.py``).
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # document the source tree, not an installed copy (viewcode shows its source)
sys.path.insert(0, HERE)  # render_*.py
sys.path.insert(0, os.path.join(HERE, "_ext"))

import nnr  # noqa: E402

project = "nnr"
author = "the nnr developers"
copyright = "the nnr developers"
release = nnr.__version__
version = nnr.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "myst_parser", "nnrdocs"]
exclude_patterns = ["_build", "notes/README.md", "_gen/excerpts"]
root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

nitpicky = True
# Names outside nnr that signatures mention: no intersphinx (the build needs no network), so they are
# shown as code, not as links.  Everything under ``nnr`` must resolve.
nitpick_ignore_regex = [
    ("py:.*", r"(numpy|np|collections|os|typing|typing_extensions|mypy_extensions|torch|flwr|ast|mmap|"
              r"safetensors|argparse|concurrent\.futures|io|pathlib|Path|enum|types|bitarray|zipfile)(\..*)?"),
    ("py:.*", r"'.*"),  # pieces of a string annotation autodoc could not evaluate
    ("py:.*", r"(dict|list|tuple|set|frozenset|int|float|str|bytes|bytearray|bool|object|None|"
              r"memoryview|type|Exception|ValueError|TypeError|ArithmeticError|Ellipsis|slice|range)(\[.*)?"),
    ("py:.*", r"(nnr(\.\w+)*\.)?(T|K|V|OutOfBandLookup)"),  # type variables and aliases in signatures
]

toc_object_entries = False  # a toctree entry per documented object makes every page slow to build
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": False}
# optional extras the reference pages import: mocked only when not installed
autodoc_mock_imports = [m for m in ("torch", "flwr", "safetensors") if importlib.util.find_spec(m) is None]

myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # the notes start at '#' and number their own sections

html_theme = "furo"
html_title = f"nnr {release}"
html_static_path = ["_static"]
html_theme_options = {"navigation_with_keys": True}
