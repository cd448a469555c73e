"""Build: compiles the hot modules with mypyc (set NNR_NO_MYPYC=1 for a pure-Python install).

Without a C compiler the build falls back to the pure-Python package with a warning (the same
code, about 50x slower to decode); NNR_REQUIRE_MYPYC=1 makes a missing compiler an error.

The syntax tables have one home, the top-level ``syntax/`` folder; the build maps it into the
package as ``nnr/syntax/tables/`` (package data listed in pyproject.toml), where
:func:`nnr.syntax.default_syntax_dir` finds them in an installed copy.
"""

import glob
import os
import shutil
import sys

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

PACKAGES = find_namespace_packages(include=["nnr", "nnr.*"], exclude=["*.__pycache__"]) + ["nnr.syntax.tables"]
PACKAGE_DIR = {"nnr.syntax.tables": "syntax"}

HOT_MODULES = [
    "nnr/cabac/estimator.py",
    "nnr/cabac/arith_decoder.py",
    "nnr/cabac/arith_encoder.py",
    "nnr/cabac/dq.py",
    "nnr/cabac/scan.py",
    "nnr/cabac/contexts.py",
    "nnr/cabac/coding.py",
    "nnr/cabac/dec_levels.py",
    "nnr/cabac/enc_levels.py",
    "nnr/cabac/trial_model.py",
    "nnr/cabac/param_choice.py",
    "nnr/encoding/gtx0.py",
    "nnr/quantization/rate.py",
    "nnr/quantization/trellis.py",
    "nnr/quantization/rdoq.py",
]


def _have_c_compiler() -> bool:
    cc = os.environ.get("CC", "").split()
    return any(shutil.which(c) for c in ([cc[0]] if cc else []) + ["cc", "gcc", "clang"])


PURE = bool(os.environ.get("NNR_NO_MYPYC"))
if not PURE and not _have_c_compiler() and not os.environ.get("NNR_REQUIRE_MYPYC"):
    sys.stderr.write("WARNING: nnr: no C compiler found (cc, gcc, clang, $CC): installing the pure-Python "
                     "build, about 50x slower to decode.  Install a compiler and reinstall for the compiled "
                     "build, or set NNR_REQUIRE_MYPYC=1 to make this an error, NNR_NO_MYPYC=1 to silence it.\n")
    PURE = True


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
    if os.name != "nt":
        # mypyc's native functions have external linkage; under -fPIC gcc/clang then keep every
        # call between them an out-of-line call through the PLT.  Without semantic interposition
        # the compiler may inline the small ones (next_state, the context rules) into the loops.
        for ext in ext_modules:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + ["-fno-semantic-interposition"]

setup(packages=PACKAGES, package_dir=PACKAGE_DIR, ext_modules=ext_modules, cmdclass={"build_py": BuildPy})
