"""Sphinx configuration of the nnr documentation.

Build: ``python3 -m sphinx -b html docs docs/_build/html`` (from the repository root).
The syntax table pages are generated from ``syntax/*.toml`` by ``docs/render_syntax.py``.
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)  # document the source tree, not an installed copy

import nnr  # noqa: E402

project = "nnr"
author = "the nnr developers"
copyright = "the nnr developers"
release = nnr.__version__
version = nnr.__version__

extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
root_doc = "index"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "alabaster"
html_title = f"nnr {release}"
