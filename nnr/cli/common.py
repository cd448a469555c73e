"""Helpers shared by the subcommands: tensor files in and out, the progress bar."""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import numpy.typing as npt

from nnr import checkpoint
from nnr.decoder import CHECKPOINT_SUFFIXES
from nnr.errors import NNRUsageError


@dataclass(frozen=True)
class Subcommand:
    """One ``nnr`` subcommand: its parser arguments and what it runs (exit code)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None


def have_safetensors() -> bool:
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        return False
    return True


def write_npz(path: str, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
    """An .npz archive with one member ``<name>.npy`` per tensor (:func:`nnr.checkpoint.write_npz`)."""
    checkpoint.write_npz(path, arrays)


def write_tensors(path: str, arrays: dict[str, npt.NDArray[np.generic]], fmt: str) -> list[str]:
    """Write ``arrays`` as .npz and/or .safetensors (``fmt``: npz, safetensors, both); returns the files written."""
    written = []
    stem, ext = os.path.splitext(path)
    if fmt in ("npz", "both"):
        p = path if ext == ".npz" else stem + ".npz"
        write_npz(p, arrays)
        written.append(p)
    if fmt in ("safetensors", "both"):
        if not have_safetensors():
            raise NNRUsageError("writing .safetensors needs the 'safetensors' package (pip install safetensors)")
        from safetensors.numpy import save_file

        p = path if ext == ".safetensors" else stem + ".safetensors"
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, p)
        written.append(p)
    return written


class ProgressBar:
    """A one-line progress bar on a stream (stderr); silent when disabled."""

    def __init__(self, out: TextIO, label: str, enabled: bool, width: int = 30) -> None:
        self.out = out
        self.label = label
        self.enabled = enabled
        self.width = width
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        pct = int(100 * done / total) if total else 100
        if pct == self.last:
            return
        self.last = pct
        fill = self.width * pct // 100
        self.out.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {pct:3d}%")
        if done >= total:
            self.out.write("\n")
        self.out.flush()

    def clear(self) -> None:
        """Erase the bar's line (before other output to the same terminal); the next call draws it
        again."""
        if not self.enabled or self.last < 0:
            return
        self.out.write("\r" + " " * (len(self.label) + self.width + 8) + "\r")
        self.out.flush()
        self.last = -1


def check_stream_path(path: str) -> None:
    """One clear line for inputs that cannot be a stream (a directory, a checkpoint); a missing
    file is reported by the reader ("cannot read ...")."""
    if os.path.isdir(path):
        raise NNRUsageError(f"{path!r} is a directory, not an .nnc stream")
    if path.lower().endswith(CHECKPOINT_SUFFIXES):
        raise NNRUsageError(f"{path!r} is a checkpoint, not an .nnc stream (use 'nnr encode' to encode it)")


# -- what the CLI prints: no terminal escapes, strict JSON ---------------------------------------------

_UNSAFE = {c: f"\\x{c:02x}" for c in list(range(0x20)) + list(range(0x7f, 0xa0)) if c not in (0x09, 0x0a, 0x0d)}


class SafeText:
    """A text stream that shows control characters (terminal escape sequences in tensor names
    from a stream) as ``\\xNN`` instead of passing them to the terminal."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(text.translate(_UNSAFE))

    def __getattr__(self, name: str) -> object:
        return getattr(self._out, name)


def finite_json(value: object) -> object:
    """``value`` with non-finite floats as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (strict
    JSON has no NaN / Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    if isinstance(value, np.generic):
        return finite_json(value.item())
    return value


def dump_json(value: object, out: TextIO) -> None:
    """Strict JSON (non-finite numbers as strings: :func:`finite_json`), then a newline."""
    json.dump(finite_json(value), out, indent=2, allow_nan=False, default=str)
    out.write("\n")


def overflowing(arrays: dict[str, npt.NDArray[np.generic]], dtypes: dict[str, str]) -> dict[str, int]:
    """Per tensor, the finite values that do not fit the float dtype they are written in (they
    would become infinite)."""
    out: dict[str, int] = {}
    for k, dt in dtypes.items():
        v = arrays.get(k)
        if v is None or v.dtype.kind != "f" or dt not in ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"):
            continue
        top = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float8_e4m3fn": 448.0,
               "float8_e5m2": 57344.0}[dt]
        n = int(np.count_nonzero(np.isfinite(v) & (np.abs(v) > top)))
        if n:
            out[k] = n
    return out
