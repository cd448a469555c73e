"""``nnr decode``: one stream, or a sequence of update streams decoded by one session.

``-o`` is taken as given: a ``.npz``, ``.safetensors`` or ``.pt`` file for one stream, or a
folder (several streams: one file per stream; ``--format hf``: a Hugging Face checkpoint
folder).  Tensors are written in the dtypes the stream records (bf16 stays bf16 in a
.safetensors file) unless ``--dtype`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from nnr import parallel
from nnr.checkpoint import MAX_SHARD_BYTES, check_not_over_input, write_checkpoint
from nnr.cli.common import ProgressBar, Subcommand, check_stream_path, overflowing, write_tensors
from nnr.decoder import Decoder
from nnr.dialect import add_dialect_argument
from nnr.dtypes import FLOAT_DTYPES, NUMPY_LACKS, cast_to
from nnr.errors import NNRError, NNRUsageError
from nnr.lazy import open_stream
from nnr.streaming import CheckpointLayout, decode_to_checkpoint

HELP = "decode one stream or a sequence of update streams"
FILE_KINDS = {".npz": "npz", ".safetensors": "safetensors", ".pt": "pt", ".pth": "pt"}


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30, "TIB": 2**40}


def _size(text: str) -> int:
    """A size in bytes: an integer, optionally with a unit (KB, MB, GB, TB; KiB, MiB, GiB, TiB)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _UNITS or float(m.group(1)) * _UNITS[unit] < 1:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2GB, 500MB, 100000)")
    return int(float(m.group(1)) * _UNITS[unit])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help=".nnc streams, decoded in order by one decoder session")
    p.add_argument("-o", "--output", required=True,
                   help="a .npz / .safetensors / .pt file (one stream), or a folder: one file per stream, or "
                        "with --format hf a Hugging Face checkpoint folder")
    p.add_argument("--format", choices=["npz", "safetensors", "both", "pt", "hf"], default=None,
                   help="what to write into a folder -o (default npz; hf: model.safetensors or shards + index)")
    p.add_argument("--max-shard-size", type=_size, metavar="SIZE",
                   help="with --format hf: shards of at most SIZE bytes (e.g. 2GB, 500MB, 100000; default 5GB, "
                   "as Hugging Face's save_pretrained)")
    p.add_argument("--dtype", default="original", choices=("original",) + FLOAT_DTYPES,
                   help="dtype of the float tensors written: 'original' (default) the dtypes the stream records, "
                        "else all float tensors in this dtype")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="decode and write only this tensor (repeatable; only the units holding it are decoded)")
    pg = p.add_mutually_exclusive_group()
    pg.add_argument("--progress", dest="progress", action="store_true", default=None,
                    help="progress bar on stderr (default: when stderr is a terminal)")
    pg.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--no-verify-entry-points", action="store_true",
                   help="decode sequentially without checking cabac_entry_point_list against the decoding state")
    add_dialect_argument(p)
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="decode the NDUs of each stream on N processes (0: one per core; default 1)")


def _dtypes(original: dict[str, str], arrays: dict[str, Any], choice: str) -> dict[str, str]:
    if choice == "original":
        return {k: v for k, v in original.items() if k in arrays}
    return {k: choice for k, v in arrays.items() if v.dtype.kind == "f"}


def _npz_arrays(arrays: dict[str, Any], dtypes: dict[str, str], path: str) -> dict[str, Any]:
    out = {}
    lacking = []
    for k, v in arrays.items():
        dt = dtypes.get(k)
        if dt in NUMPY_LACKS:
            lacking.append(k)
        elif dt and dt != str(v.dtype):
            v = cast_to(k, v, dt)
        out[k] = v
    if lacking:
        print(f"nnr: note: {path}: numpy has no {dtypes[lacking[0]]}; {len(lacking)} tensor(s) written as float32 "
              "(write a .safetensors file to keep it)", file=sys.stderr)
    return out


def _plan(args: argparse.Namespace) -> tuple[str, bool]:
    """(format, output is a folder) from -o and --format; refuses what would surprise."""
    out = args.output
    many = len(args.inputs) > 1
    ext = os.path.splitext(out)[1].lower()
    folder = many or os.path.isdir(out) or out.endswith(("/", os.sep)) or args.format == "hf"
    if folder:
        if os.path.exists(out) and not os.path.isdir(out):
            raise NNRUsageError(f"-o {out!r}: a folder is needed here, and that path is a file")
        parent = os.path.dirname(os.path.normpath(out)) or "."
        if not os.path.isdir(parent):
            raise NNRUsageError(f"-o {out!r}: the folder {parent!r} does not exist")
        return args.format or "npz", True
    if ext not in FILE_KINDS:
        raise NNRUsageError(f"-o {out!r}: give a .npz, .safetensors or .pt file, or a folder (ending in '/')")
    if args.format is not None and args.format != FILE_KINDS[ext]:
        raise NNRUsageError(f"--format {args.format} contradicts -o {out!r}")
    parent = os.path.dirname(out) or "."
    if not os.path.isdir(parent):
        raise NNRUsageError(f"-o {out!r}: the folder {parent!r} does not exist")
    return FILE_KINDS[ext], False


def run(args: argparse.Namespace) -> int:
    for path in args.inputs:
        check_stream_path(path)
    fmt, folder = _plan(args)
    if args.max_shard_size is not None and fmt != "hf":
        raise NNRUsageError("--max-shard-size sizes the shards of a Hugging Face folder: add --format hf")
    if args.only and len(args.inputs) > 1:
        raise NNRUsageError("--only works on one stream")
    check_not_over_input(args.output, list(args.inputs))
    # one tensor at a time where nothing needs the whole model (a narrower --dtype is checked for
    # overflow on the in-memory path)
    if (len(args.inputs) == 1 and fmt in ("hf", "safetensors", "npz") and args.dtype in ("original", "float32")
            and _standalone(args)):
        return _run_streaming(args, fmt, folder)
    session = Decoder(verify_entry_points=not args.no_verify_entry_points, workers=args.jobs, dialect=args.dialect)
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    out = args.output
    if folder:
        os.makedirs(out, exist_ok=True)
    stems = _stems(args.inputs)
    for path, stem in zip(args.inputs, stems):
        try:
            if args.only:
                with open_stream(path, verify_entry_points=not args.no_verify_entry_points,
                                 dialect=args.dialect) as lazy:
                    _check_only(path, args.only, lazy)
                    arrays = {n: lazy.get_tensor(n) for n in args.only}
                    original = {n: lazy.dtypes[n] for n in args.only if n in lazy.dtypes}
            else:
                session.progress = ProgressBar(sys.stderr, f"decoding {os.path.basename(path)}", bool(show))
                ds = session.decode_stream(path)
                arrays = ds.arrays()
                original = {k: v.dtype for k, v in ds.original().items()}
        except NNRError as e:
            e.args = (f"{path}: {e}",)
            raise
        dtypes = _dtypes(original, arrays, args.dtype)
        for name, n in overflowing(arrays, dtypes).items():
            print(f"nnr: note: {path}: tensor {name!r}: {n} value(s) outside the finite range of {dtypes[name]} "
                  "(written as infinity, or saturated)", file=sys.stderr)
        if fmt == "hf":
            target = os.path.join(out, stem) if len(args.inputs) > 1 else out
            files = write_checkpoint(target, arrays, dtypes, folder=True,
                                     max_shard_bytes=args.max_shard_size or MAX_SHARD_BYTES)
        elif fmt == "pt":
            target = os.path.join(out, stem + ".pt") if folder else out
            files = write_checkpoint(target, arrays, dtypes)
        else:
            target = os.path.join(out, stem + ".npz") if folder else out
            files = []
            if fmt in ("npz", "both"):
                files += write_tensors(os.path.splitext(target)[0] + ".npz", _npz_arrays(arrays, dtypes, path), "npz")
            if fmt in ("safetensors", "both"):
                files += write_checkpoint(os.path.splitext(target)[0] + ".safetensors", arrays, dtypes)
        for f in files:
            print(f"{path} -> {f} ({len(arrays)} tensors)")
        if fmt == "hf":
            _config_hint(target)
    return 0


def _config_hint(folder: str) -> None:
    if not os.path.exists(os.path.join(folder, "config.json")):
        print(f"nnr: note: {folder} holds the weights only: copy the model's config.json (and tokenizer files) "
              "into it before from_pretrained", file=sys.stderr)


def _standalone(args: argparse.Namespace) -> bool:
    """Whether the one stream decodes tensor by tensor (else: a decoder session, in memory)."""
    try:
        with open_stream(args.inputs[0], verify_entry_points=not args.no_verify_entry_points,
                         dialect=args.dialect) as lazy:
            return lazy.standalone()
    except (NNRError, NNRUsageError):
        return False  # the session decodes it, or reports it located


def _check_only(path: str, only: list[str], lazy: Any) -> None:
    missing = [n for n in only if n not in lazy]
    if missing:
        raise NNRUsageError(f"{path}: no tensor {missing[0]!r} (the stream has {len(lazy)}; see 'nnr info')")


class _LazyArrays(Mapping[str, Any]):
    """The tensors of a lazily opened stream, each decoded when written (an .npz member at a
    time) and cast as the in-memory path casts them (:func:`_npz_arrays`)."""

    def __init__(self, lazy: Any, names: list[str], choice: str, workers: int, path: str) -> None:
        self.lazy, self.names, self.choice, self.workers = lazy, list(names), choice, workers
        self.lacking = [n for n in self.names if self._dtype(n, self._decoded(n)) in NUMPY_LACKS]
        if self.lacking:
            first = self._dtype(self.lacking[0], self._decoded(self.lacking[0]))
            print(f"nnr: note: {path}: numpy has no {first}; {len(self.lacking)} "
                  "tensor(s) written as float32 (write a .safetensors file to keep it)", file=sys.stderr)

    def _decoded(self, name: str) -> str:
        got = self.lazy.shape_of(name)
        return "float32" if got is None else str(got[1])

    def _dtype(self, name: str, decoded: str) -> str | None:
        if self.choice == "original":
            return self.lazy.dtypes.get(name)  # type: ignore[no-any-return]
        return self.choice if decoded.startswith("float") else None

    def __getitem__(self, name: str) -> Any:
        v = self.lazy.get_tensor(name, workers=self.workers)
        dt = self._dtype(name, str(v.dtype))
        if dt and dt not in NUMPY_LACKS and dt != str(v.dtype):
            v = cast_to(name, v, dt)
        return v

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _run_streaming(args: argparse.Namespace, fmt: str, folder: bool) -> int:
    """One stream into a .safetensors file, a Hugging Face folder or an .npz archive, one tensor
    at a time (nnr.streaming: the model is never held whole)."""
    path = args.inputs[0]
    out = args.output
    if fmt == "safetensors" and folder:
        out = os.path.join(out, os.path.splitext(os.path.basename(path))[0] + ".safetensors")
    workers = parallel.resolve_workers(args.jobs, "-j")
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar(sys.stderr, f"decoding {os.path.basename(path)}", bool(show))
    try:
        if args.only or fmt == "npz":
            with open_stream(path, verify_entry_points=not args.no_verify_entry_points,
                             dialect=args.dialect) as lazy:
                if args.only:
                    _check_only(path, args.only, lazy)
                if fmt == "npz":
                    target = os.path.join(out, os.path.splitext(os.path.basename(path))[0] + ".npz") if folder else out
                    arrays = _LazyArrays(lazy, args.only or lazy.keys(), args.dtype, workers, path)
                    files, count = write_tensors(target, arrays, "npz"), len(arrays)  # type: ignore[arg-type]
        if fmt != "npz":
            layout = CheckpointLayout(fmt == "hf", args.dtype, args.max_shard_size or MAX_SHARD_BYTES)
            files, count = decode_to_checkpoint(path, out, layout, workers=workers, only=args.only,
                                                verify_entry_points=not args.no_verify_entry_points,
                                                dialect=args.dialect, progress=bar)
    except NNRError as e:
        e.args = (f"{path}: {e}",)
        raise
    for f in files:
        print(f"{path} -> {f} ({count} tensors)")
    if fmt == "hf":
        _config_hint(out)
    return 0


def _stems(inputs: list[str]) -> list[str]:
    """Output names per input (its file name without suffix); inputs with the same file name
    (a/upd.nnc, b/upd.nnc) get -2, -3, ... so that no output overwrites another."""
    out: list[str] = []
    for path in inputs:
        stem = base = os.path.splitext(os.path.basename(path))[0]
        k = 1
        while stem in out:
            k += 1
            stem = f"{base}-{k}"
        out.append(stem)
    return out


COMMAND = Subcommand("decode", HELP, add_arguments, run)
