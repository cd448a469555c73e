"""Optional test dependencies (torch, flwr, ...): skip when missing, FAIL under CI.

``.ci/run`` installs the extras and exports ``NNR_REQUIRE_EXTRAS=1``; there a missing extra is a
broken CI set-up, not a reason to skip.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def required() -> bool:
    return os.environ.get("NNR_REQUIRE_EXTRAS", "") not in ("", "0")


def require(name: str) -> ModuleType:
    """Import ``name``; skip the test when it is missing, fail under NNR_REQUIRE_EXTRAS=1."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        if required():
            pytest.fail(f"NNR_REQUIRE_EXTRAS=1 but {name!r} does not import: {e}", pytrace=False)
        pytest.skip(f"{name} not installed", allow_module_level=True)
        raise  # unreachable


def require_program(path: str | None, what: str) -> str:
    """A program the test needs (e.g. flower-superlink): skip, or fail under NNR_REQUIRE_EXTRAS=1."""
    if path is None:
        if required():
            pytest.fail(f"NNR_REQUIRE_EXTRAS=1 but {what} is not installed", pytrace=False)
        pytest.skip(f"{what} not installed", allow_module_level=True)
        raise AssertionError  # unreachable
    return path
