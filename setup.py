"""Build: compiles the hot modules with mypyc (set NNR_NO_MYPYC=1 for a pure-Python install)."""

import os

from setuptools import setup

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

setup(ext_modules=ext_modules)
