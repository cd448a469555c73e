"""Test configuration.

``pytest`` tests the installed package (the mypyc-compiled build ``pip install .`` makes);
``python -m pytest`` puts the working directory first on sys.path and so tests the source tree.
"""

import os

import nnr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BITSTREAMS = os.path.join(ROOT, "bitstreams")


def pytest_report_header(config):  # type: ignore[no-untyped-def]
    from nnr.cabac import dec_levels as levels

    compiled = not levels.__file__.endswith(".py")
    return f"nnr {nnr.__version__} from {os.path.dirname(nnr.__file__)} ({'mypyc-compiled' if compiled else 'pure Python'})"


# Property tests explore new examples on every run; CI (CI=true) replays a fixed derivation so
# that a submission's result does not depend on the draw (developers keep the random search).
from hypothesis import settings as _hsettings  # noqa: E402

_hsettings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    _hsettings.load_profile("ci")
