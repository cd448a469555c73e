"""Checkpoints at scale: encoding and decoding one tensor at a time, in bounded memory.

* :func:`encode_checkpoint` reads a ``.safetensors`` file or a Hugging Face folder (shards +
  index, bf16 included) one tensor at a time — only that tensor's bytes are read — and writes
  each NNR unit to the output file as soon as it is coded.  With ``workers`` > 1 the tensors
  are coded on worker processes (each reads its own tensors), large tensors block row by block
  row on all of them (:mod:`nnr.encoding.split`); the units are written in stream order.  The
  stream is the one :func:`nnr.encode` writes for the same tensors and settings (dtypes
  recorded); settings that need the whole model at once (``opt_qp``, ``bnf``, blocks,
  ``int_quant_bw``, update streams, out-of-band dimensions) are refused here — the in-memory
  path has them.
* :func:`decode_to_checkpoint` decodes a stream into a ``.safetensors`` file or a Hugging Face
  folder without holding the model: the safetensors headers are computed first from the units'
  headers (names, shapes, recorded dtypes), the files are created at their final size, and each
  tensor is decoded and written in place (``os.pwrite``), then let go; with ``workers`` > 1
  the units are decoded on worker processes that write their tensors themselves.

Peak memory is set by the largest tensor (its float32 values, its int32 levels and the
working memory of one block row), not by the model: see ``benchmarks/bench_scale.py``.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from nnr import parallel
from nnr.cabac.scan import matrix_shape
from nnr.checkpoint import (
    HF_INDEX,
    MAX_SHARD_BYTES,
    RAW,
    ST_CODES,
    _remove_stale,
    _safetensors_entries,
    _tensor_bytes,
    _umask,
    check_safetensors_name,
    open_safetensors,
    replace_file,
)
from nnr.dtypes import NUMPY_LACKS, TensorInfo, to_float32
from nnr.encoder import _limits, _settings
from nnr.encoding.approx import (
    Quantized,
    QuantMethod,
    _approx_codebook,
    _approx_uniform,
    assign_qps,
    init_approximation,
)
from nnr.encoding.inputs import prepare_tensors_with_info
from nnr.encoding.model import ModelInfo
from nnr.encoding.payload import encode_payload, raw_payload, split_coding
from nnr.encoding.settings import EncodeSettings
from nnr.encoding.split import SPLIT_MIN_ELEMENTS, encode_split_payload, split_tensors
from nnr.encoding.stream import _check_qp, _header, plan_units, write_stream_head
from nnr.errors import NNRUsageError
from nnr.lazy import open_stream
from nnr.quantization import quant_layer
from nnr.units.compressed_data_unit import EntryPoint
from nnr.units.types import PayloadType
from nnr.writer import StreamWriter

__all__ = ["CheckpointLayout", "TensorSource", "decode_tensors", "decode_to_checkpoint", "encode_checkpoint", "streamable_settings"]

Progress = Callable[[int, int], None]

WRITE_ELEMENTS = 1 << 20  # a decoded tensor is converted and written this many elements at a time


# -- reading a checkpoint one tensor at a time -----------------------------------------------------


@dataclass
class _Slot:
    path: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute file offset of the data
    nbytes: int


class TensorSource:
    """The tensors of a ``.safetensors`` file or Hugging Face folder, indexed from the headers
    alone; :meth:`load` reads one tensor's bytes.  Order and dtypes are those of
    :func:`nnr.checkpoint.read_checkpoint`."""

    def __init__(self, path: str) -> None:
        self.slots: dict[str, _Slot] = {}
        if os.path.isdir(path):
            index = os.path.join(path, HF_INDEX)
            if not os.path.exists(index):
                self._index_file(os.path.join(path, "model.safetensors"))
                return
            try:
                with open(index) as f:
                    weight_map = json.load(f)["weight_map"]
                shards = sorted({str(v) for v in weight_map.values()})
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
                raise NNRUsageError(f"cannot read {index!r}: {e}") from None
            for shard in shards:
                if os.path.basename(shard) != shard:
                    raise NNRUsageError(f"{index!r}: shard {shard!r} is not a file in the folder")
                self._index_file(os.path.join(path, shard))
            missing = [n for n in weight_map if n not in self.slots]
            if missing:
                raise NNRUsageError(f"{index!r} maps {missing[0]!r} to a shard that does not hold it")
        else:
            self._index_file(path)

    def _index_file(self, path: str) -> None:
        """The tensors of one .safetensors file, from its header alone (entries checked as
        :func:`nnr.checkpoint.read_safetensors` checks them)."""
        f, header, start, size = open_safetensors(path)
        f.close()
        header.pop("__metadata__", None)
        for name, dt, shape, b, end in _safetensors_entries(path, header, size - start):
            if name in self.slots:
                raise NNRUsageError(f"{path!r}: tensor {name!r} is also in {self.slots[name].path!r}")
            self.slots[name] = _Slot(path, dt, tuple(shape), start + b, end - b)

    def names(self) -> list[str]:
        return list(self.slots)

    def dtypes(self) -> dict[str, str]:
        return {n: s.dtype for n, s in self.slots.items()}

    def load(self, name: str) -> npt.NDArray[Any]:
        """One tensor (float32 where numpy lacks its dtype), read alone."""
        s = self.slots[name]
        raw: np.dtype[Any] = RAW[s.dtype] if s.dtype in RAW else np.dtype(s.dtype).newbyteorder("<")
        a = np.empty(s.nbytes // max(raw.itemsize, 1), dtype=raw)
        with open(s.path, "rb") as f:
            f.seek(s.start)
            got = f.readinto(a.data.cast("B")) if a.nbytes else 0
        if got != s.nbytes:
            raise NNRUsageError(f"{s.path!r}: tensor {name!r} is truncated")
        a = a.reshape(s.shape)
        if s.dtype in NUMPY_LACKS:
            return to_float32(a, s.dtype).reshape(s.shape)
        return a.astype(a.dtype.newbyteorder("="), copy=False)


# -- encoding ----------------------------------------------------------------------------------------

_WHOLE_MODEL = ("opt_qp", "bnf", "block_id_and_param_type", "int_quant_bw", "compress_differences", "tca",
                "pre_signalling", "out_of_band")


def streamable_settings(settings: dict[str, Any]) -> bool:
    """Whether :func:`encode_checkpoint` takes these settings (else encode in memory)."""
    return not any(settings.get(k) for k in _WHOLE_MODEL)


def encode_checkpoint(source: TensorSource, out: BinaryIO, *, workers: int = 1, progress: Progress | None = None,
                      **settings: Any) -> int:
    """Encode the tensors of ``source`` into ``out``, one tensor at a time (module doc); returns
    the bytes written.  Settings as :func:`nnr.encode` (``split_min_elements`` default on)."""
    kw = _settings(settings)
    limits = _limits(kw)  # the stream is one the decoders accept (nnr.encoder.DecoderLimits)
    kw.setdefault("split_min_elements", SPLIT_MIN_ELEMENTS)
    if not streamable_settings(kw):
        raise NNRUsageError(f"these settings need the whole model in memory ({', '.join(_WHOLE_MODEL)}): "
                            "use nnr.encode")
    s = EncodeSettings.from_kwargs(kw)
    names = source.names()
    if not names:
        raise NNRUsageError("no tensors to encode")
    # stand-ins with the shapes and dtypes but no data: the model description, QPs, the record
    stand: dict[str, Any] = {}
    info: dict[str, Any] = {}
    for n in names:
        sl = source.slots[n]
        if 0 in sl.shape:
            raise NNRUsageError(f"tensor {n!r} is empty (shape {list(sl.shape)})")
        probe = np.zeros((1,) * len(sl.shape), dtype=np.float32 if sl.dtype in NUMPY_LACKS else np.dtype(sl.dtype))
        p, i = prepare_tensors_with_info({n: probe}, {n: sl.dtype}, True)
        stand[n] = np.broadcast_to(p[n].reshape(-1)[:1].reshape(()), sl.shape or (1,))
        if n in i:
            info[n] = TensorInfo(i[n].dtype, sl.shape)
    limits.check_input(stand)
    m = ModelInfo.from_tensors(stand)
    a = init_approximation(stand, m, s)
    a.tensor_info = info
    assign_qps(a, s)
    plans = plan_units(a, s.out_of_band)
    w = StreamWriter()
    write_stream_head(w, a, s, plans)
    written = 0
    for u in w.units:
        out.write(u)
        written += len(u)
    total = 2 * sum(int(stand[n].size) for n in names)
    done_elems = 0
    qfn = quant_layer
    sizes = [sum(int(stand[n].size) for n in p.names) for p in plans]
    # tensors too large for the others to keep the workers busy: block rows on all workers, here
    big = {k for k, c in enumerate(sizes) if workers > 1 and c * workers > sum(sizes)}

    def unit(k: int, row_workers: int) -> tuple[Any, bytes]:
        return _encode_unit(a, s, plans[k], source, qfn, row_workers)

    results: list[Any] = []
    small = [k for k in range(len(plans)) if k not in big]
    if workers > 1 and len(small) > 1:
        jobs = parallel.run(lambda i: parallel.Job(unit(small[i], 1)), [sizes[k] for k in small], workers)
        results = [None] * len(plans)
        for k, r in zip(small, jobs):
            results[k] = r
    for k in range(len(plans)):
        res = results[k] if results else None
        h, payload = res.value if isinstance(res, parallel.Job) else unit(k, workers if k in big else 1)
        data = w.compressed_data_unit(h, payload)
        w.units.clear()
        out.write(data)
        written += len(data)
        if results:
            results[k] = None  # let it go
        if progress is not None:
            done_elems += 2 * sizes[k]
            progress(done_elems, total)
    limits.check_output(stand, names, written)
    return written


def _encode_unit(a: Any, s: Any, p: Any, source: TensorSource, qfn: Any, workers: int) -> tuple[Any, bytes]:
    """One NDU of the stream (header, payload): its tensors read, quantized and coded (large
    ones block row by block row on ``workers``), then let go."""
    eps: list[EntryPoint]
    stand = {n: a.params[n] for n in p.names}
    for n in p.names:
        arr, _ = prepare_tensors_with_info({n: source.load(n)}, None, False)
        a.params[n] = arr[n]
    try:
        split = split_tensors(a, s, False, workers, only=p.names)
        for n in p.names:  # as nnr.encoding.approx.approximate, for this unit's tensors
            if n not in a.out:
                v = a.params[n]
                if a.model.role(n) is None:
                    if np.issubdtype(v.dtype, np.integer):
                        raise NNRUsageError(f"integer tensor {n!r} has parameter type {a.model.types.get(n)!r}, "
                                            "which NNCodec cannot code")
                    a.out[n] = Quantized(QuantMethod.RAW, np.ascontiguousarray(v, dtype=np.float32))
                elif v.dtype == np.int32:
                    a.out[n] = Quantized(QuantMethod.INTEGER, np.ascontiguousarray(v))
                    a.dq[n] = 0
                else:
                    a.out[n] = _approx_codebook(a, s, qfn, n) if s.codebook_mode else _approx_uniform(a, s, qfn, n)
                    a.dq[n] = a.out[n].dq
            _check_qp(a, s, n, a.out[n])
        h = _header(a, s, p, None)
        ph, pw = matrix_shape(p.dims)
        if h.scan_order > 0 and not (pw > 1 and ph > 1):
            h.scan_order = 0  # a single row or column: as write_stream
        if h.nnr_compressed_data_unit_payload_type == PayloadType.NNR_PT_RAW_FLOAT:
            payload, eps = raw_payload(a, p.names), []
        elif len(p.names) == 1 and p.names[0] in split and h.scan_order > 0:
            q = a.out[p.names[0]]
            payload, eps, _ = encode_split_payload(q.values, q.qp, split_coding(a, s, h, q), workers)
        else:
            payload, eps, _ = encode_payload(a, s, p.names, h, None, False)
        if h.scan_order > 0:
            h.cabac_entry_point_list = eps
        return h, payload
    finally:
        a.params.update(stand)
        for n in p.names:
            a.out.pop(n, None)


# -- decoding ----------------------------------------------------------------------------------------


def decode_tensors(stream: object, sink: Callable[[str, npt.NDArray[Any]], None], *, dtype: object = None,
                   workers: int = 1, verify_entry_points: bool = True) -> int:
    """Decode a stream (path or bytes) tensor by tensor into ``sink(name, array)``, in stream
    order, holding one tensor at a time (the decoder keeps no reference once ``sink`` returns);
    ``dtype`` as :func:`nnr.decode`; ``workers``: each tensor's block rows (if coded with entry
    points) on this many processes.  Returns the number of tensors.  Units that update an
    earlier stream need an :class:`nnr.Decoder` session (:class:`nnr.NNRUsageError`)."""
    if not callable(sink):
        raise NNRUsageError(f"sink must be a callable sink(name, array), got {sink!r}")
    workers = parallel.resolve_workers(workers)
    with open_stream(stream, verify_entry_points=verify_entry_points) as lazy:
        names = lazy.keys()
        for n in names:
            sink(n, lazy.get_tensor(n, dtype=dtype, workers=workers))
    return len(names)


@dataclass(frozen=True)
class CheckpointLayout:
    """What :func:`decode_to_checkpoint` writes: one ``.safetensors`` file, or (``folder``) a
    Hugging Face folder in shards of at most ``max_shard_bytes``, tensors in ``dtype``
    ("original": the dtypes the stream records)."""

    folder: bool = False
    dtype: str = "original"
    max_shard_bytes: int = MAX_SHARD_BYTES


def decode_to_checkpoint(stream: str, target: str, layout: CheckpointLayout, *, workers: int = 1,
                         only: list[str] | None = None, verify_entry_points: bool = True, dialect: str = "auto",
                         progress: Progress | None = None) -> tuple[list[str], int]:
    """Decode the stream at path ``stream`` into ``target`` as ``layout`` says, one tensor at a
    time (module doc); the files written and the number of tensors.  ``only``: these tensors alone."""
    folder, dtype, max_shard_bytes = layout.folder, layout.dtype, layout.max_shard_bytes
    temps: list[tuple[str, str]] = []  # (written here, renamed to at the end)
    try:
        with open_stream(stream, verify_entry_points=verify_entry_points, dialect=dialect) as lazy:
            names = [n for n in lazy.keys() if only is None or n in only]
            shapes, kinds = _layout(lazy, names, dtype)
            nbytes = {n: int(np.prod(shapes[n], dtype=np.int64)) * _itemsize(kinds[n]) for n in names}
            groups: list[list[str]] = [[]]
            size = 0
            for n in names:
                if folder and groups[-1] and size + nbytes[n] > max_shard_bytes:
                    groups.append([])
                    size = 0
                groups[-1].append(n)
                size += nbytes[n]
            files: list[str] = []
            where: dict[str, tuple[str, int]] = {}
            if folder:
                os.makedirs(target, exist_ok=True)
                paths = ([os.path.join(target, "model.safetensors")] if len(groups) == 1 else
                         [os.path.join(target, f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors")
                          for i in range(len(groups))])
            else:
                paths = [target]
            meta = {"format": "pt"} if folder else None
            for path, g in zip(paths, groups):
                header: dict[str, Any] = {"__metadata__": meta} if meta else {}
                pos = 0
                for n in g:
                    check_safetensors_name(n)
                    header[n] = {"dtype": ST_CODES[kinds[n]], "shape": list(shapes[n]), "data_offsets": [pos, pos + nbytes[n]]}
                    pos += nbytes[n]
                text = json.dumps(header, separators=(",", ":")).encode()
                text += b" " * (-len(text) % 8)
                # a new file renamed over ``path`` at the end (as nnr.checkpoint.replace_file): a symlink
                # there is replaced, never written through
                fd, tmp = tempfile.mkstemp(prefix=".nnr-", suffix=".tmp", dir=os.path.dirname(path) or ".")
                temps.append((tmp, path))
                with os.fdopen(fd, "wb") as f:
                    f.write(struct.pack("<Q", len(text)))
                    f.write(text)
                    f.truncate(8 + len(text) + pos)
                base = 8 + len(text)
                for n in g:
                    where[n] = (tmp, base + header[n]["data_offsets"][0])
                files.append(path)
            if folder and len(groups) > 1:
                index = {"metadata": {"total_size": sum(nbytes.values())},
                         "weight_map": dict(sorted({n: os.path.basename(p) for p, g in zip(paths, groups)
                                                    for n in g}.items()))}
                replace_file(os.path.join(target, HF_INDEX),
                             lambda fi: fi.write(json.dumps(index, indent=2).encode() + b"\n"))
                files.append(os.path.join(target, HF_INDEX))
            if folder:
                _remove_stale(target, files)

            sizes = [int(np.prod(shapes[n], dtype=np.int64)) for n in names]
            # a tensor larger than the others together: here, its block rows on all the workers
            big = {i for i, c in enumerate(sizes) if workers > 1 and c * workers > sum(sizes)}

            def one(i: int) -> parallel.Job[None]:
                n = names[i]
                v = lazy.get_tensor(n, workers=workers if i in big else 1)
                if tuple(v.shape) != shapes[n]:
                    raise NNRUsageError(f"tensor {n!r} decodes to shape {list(v.shape)}, its unit header says "
                                        f"{list(shapes[n])}")
                path, off = where[n]
                flat = v.reshape(-1)
                item = _itemsize(kinds[n])
                fd = os.open(path, os.O_WRONLY)
                try:  # in pieces: the dtype conversion's temporaries stay small
                    for i in range(0, max(flat.size, 1), WRITE_ELEMENTS):
                        os.pwrite(fd, _tensor_bytes(n, flat[i:i + WRITE_ELEMENTS], kinds[n]), off + i * item)
                finally:
                    os.close(fd)
                return parallel.Job(None)

            total = sum(sizes)
            rest = [i for i in range(len(names)) if i not in big]
            done: dict[int, Any] = {}
            if workers > 1 and len(rest) > 1:
                done = dict(zip(rest, parallel.run(lambda k: one(rest[k]), [sizes[i] for i in rest], workers)))
            count = 0
            for i in range(len(names)):
                if not isinstance(done.get(i), parallel.Job):
                    one(i)
                count += sizes[i]
                if progress is not None:
                    progress(count, total)
        for tmp, path in temps:
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.remove(tmp)
        raise
    return files, len(names)


def _itemsize(dtype: str) -> int:
    return RAW[dtype].itemsize if dtype in RAW else np.dtype(dtype).itemsize


def _layout(lazy: Any, names: list[str], dtype: str) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Shape and output dtype of every tensor, from the units' headers and nnr's record (a
    tensor whose shape the headers do not give is decoded once to learn it)."""
    shapes: dict[str, tuple[int, ...]] = {}
    kinds: dict[str, str] = {}
    for n in names:
        got = lazy.shape_of(n)
        if got is None:  # dimensions not in the headers: decode it once to learn them
            v = lazy.get_tensor(n)
            got = (tuple(v.shape), str(v.dtype))
            del v
        shape, decoded = got
        orig = lazy.dtypes.get(n)
        if dtype == "original":
            kind = orig or decoded
        else:
            kind = dtype if decoded.startswith("float") else decoded
        if kind not in ST_CODES:
            raise NNRUsageError(f"tensor {n!r}: safetensors has no dtype {kind!r}")
        shapes[n] = tuple(shape)
        kinds[n] = kind
    return shapes, kinds
