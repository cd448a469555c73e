"""Helpers shared by the subcommands: tensor files in and out, the progress bar."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import numpy.typing as npt

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
    from nnr.checkpoint import write_npz as write

    write(path, arrays)


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
    import os

    if os.path.isdir(path):
        raise NNRUsageError(f"{path!r} is a directory, not an .nnc stream")
    from nnr.decoder import CHECKPOINT_SUFFIXES

    if path.lower().endswith(CHECKPOINT_SUFFIXES):
        raise NNRUsageError(f"{path!r} is a checkpoint, not an .nnc stream (use 'nnr encode' to encode it)")
