"""What a stream is read from: bytes, a bytearray, a memoryview or a file path (mirror of
:mod:`nnr.encoding.inputs`).  A path naming a checkpoint or a directory is a misuse."""

from __future__ import annotations

import os
from typing import Union

from nnr.errors import NNRUsageError

StreamInput = Union[bytes, bytearray, memoryview, str, os.PathLike[str]]

MAX_STREAM_BYTES = 1 << 34  # 16 GiB: larger inputs are refused before reading

CHECKPOINT_SUFFIXES = (".npz", ".safetensors", ".pt", ".pth")  # tensor files, not streams


def check_not_checkpoint(path: str) -> None:
    """A path that names a checkpoint (by its suffix) is a misuse, not a bad stream."""
    if path.lower().endswith(CHECKPOINT_SUFFIXES):
        raise NNRUsageError(f"data: {path!r} is a checkpoint, not an .nnc stream "
                            "(nnr.checkpoint.read_checkpoint reads it, nnr.encode encodes it)")


def read_input(data: object) -> bytes:
    """Accept bytes, bytearray, memoryview or a path; anything else is an API misuse."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if isinstance(path, bytes) or "\0" in path:
            raise NNRUsageError(f"data: not a usable path: {path!r}")
        if os.path.isdir(path):
            raise NNRUsageError(f"data: {path!r} is a directory, not a stream file")
        check_not_checkpoint(path)
        try:
            size = os.path.getsize(path)
            if size > MAX_STREAM_BYTES:
                raise NNRUsageError(f"data: {path!r} is {size} bytes, larger than {MAX_STREAM_BYTES}")
            with open(path, "rb") as f:
                return f.read()
        except (OSError, UnicodeError) as e:
            raise NNRUsageError(f"cannot read {path!r}: {getattr(e, 'strerror', None) or e}") from None
    raise NNRUsageError(f"expected bytes, bytearray, memoryview or a path, got {type(data).__name__}")
