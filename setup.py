"""Build: compiles the hot modules with mypyc (set NNR_NO_MYPYC=1 for a pure-Python install).

The syntax tables have one home, the top-level ``syntax/`` folder; the build maps it into the
package as ``nnr/syntax/tables/`` (package data listed in pyproject.toml), where
:func:`nnr.syntax.default_syntax_dir` finds them in an installed copy.
"""

import os

from setuptools import find_namespace_packages, setup

PACKAGES = find_namespace_packages(include=["nnr", "nnr.*"], exclude=["*.__pycache__"]) + ["nnr.syntax.tables"]
PACKAGE_DIR = {"nnr.syntax.tables": "syntax"}

HOT_MODULES = [
    "nnr/cabac/engine.py",
    "nnr/cabac/levels.py",
    "nnr/cabac/encoder.py",
    "nnr/cabac/enc_levels.py",
    "nnr/quantization/rate.py",
    "nnr/quantization/trellis.py",
    "nnr/quantization/rdoq.py",
]

ext_modules = []
if not os.environ.get("NNR_NO_MYPYC"):
    from mypyc.build import mypycify

    ext_modules = mypycify(HOT_MODULES, opt_level="3", debug_level="0")

setup(packages=PACKAGES, package_dir=PACKAGE_DIR, ext_modules=ext_modules)
