"""Build: compiles the hot modules with mypyc (set NNR_NO_MYPYC=1 for a pure-Python install).

The syntax tables have one home, the top-level ``syntax/`` folder; the build maps it into the
package as ``nnr/syntax/tables/`` (package data listed in pyproject.toml), where
:func:`nnr.syntax.default_syntax_dir` finds them in an installed copy.
"""

import glob
import os

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

PACKAGES = find_namespace_packages(include=["nnr", "nnr.*"], exclude=["*.__pycache__"]) + ["nnr.syntax.tables"]
PACKAGE_DIR = {"nnr.syntax.tables": "syntax"}

HOT_MODULES = [
    "nnr/cabac/engine.py",
    "nnr/cabac/contexts.py",
    "nnr/cabac/levels.py",
    "nnr/cabac/encoder.py",
    "nnr/cabac/enc_levels.py",
    "nnr/quantization/rate.py",
    "nnr/quantization/trellis.py",
    "nnr/quantization/rdoq.py",
]

PURE = bool(os.environ.get("NNR_NO_MYPYC"))


class BuildPy(build_py):
    """A pure build must not ship compiled modules a previous build left in build/ (they would
    shadow the .py files on import)."""

    def run(self) -> None:
        if PURE:
            for pattern in ("nnr/**/*.so", "nnr/**/*.pyd", "*__mypyc*.so", "*__mypyc*.pyd"):
                for f in glob.glob(os.path.join(self.build_lib, pattern), recursive=True):
                    os.remove(f)
        super().run()


ext_modules = []
if not PURE:
    from mypyc.build import mypycify

    ext_modules = mypycify(HOT_MODULES, opt_level="3", debug_level="0")

setup(packages=PACKAGES, package_dir=PACKAGE_DIR, ext_modules=ext_modules, cmdclass={"build_py": BuildPy})
