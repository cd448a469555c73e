"""Checkpoint files in and out: ``.safetensors``, Hugging Face folders, ``.npz``, ``.pt`` / ``.pth``.

* ``.safetensors`` is read and written here directly (an 8-byte header length, a JSON header,
  the raw little-endian data), so BF16 / F16 / F8 tensors need neither torch nor the
  safetensors package; BF16 and F8 tensors are read as float32 values and written back from
  float32 with round-to-nearest-even.
* A Hugging Face checkpoint folder holds ``model.safetensors`` or shards
  ``model-0000X-of-0000Y.safetensors`` with ``model.safetensors.index.json`` (``weight_map``:
  tensor name -> shard file).  Folders are written the same way, sharded at ``max_shard_bytes``
  (5 GB, as ``transformers`` does); other files of the folder (config, tokenizer) are not
  touched.
* ``.pt`` / ``.pth`` (a state dict saved by ``torch.save``; needs torch, loaded with
  ``weights_only=True``) and ``.npz`` (numpy; bfloat16 / float8 are written as float32 there).

:func:`read_checkpoint` returns numpy arrays (float32 where numpy lacks the dtype) and the
original dtype of every tensor; :func:`write_checkpoint` writes decoded tensors in the dtypes
it is given.  Bad paths raise :class:`nnr.NNRUsageError` with one clear line.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from nnr.dtypes import FLOAT_DTYPES, INT_DTYPES, NUMPY_LACKS, cast_to, dtype_name, from_float32_bits, to_float32
from nnr.errors import NNRUsageError

__all__ = ["HF_INDEX", "checkpoint_kind", "read_checkpoint", "write_checkpoint"]

HF_INDEX = "model.safetensors.index.json"
MAX_SHARD_BYTES = 5 * 10**9
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit
# A deflated .npz member may expand at most this much (plus NPZ_SLACK_BYTES over the whole
# archive): a zip bomb is refused before it is inflated (docs/robustness.rst).
NPZ_MAX_RATIO = 100
NPZ_SLACK_BYTES = 64 * 2**20

# safetensors dtype codes <-> our names (numpy's, plus bfloat16 / float8_*)
ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn",
             "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
             "U16": "uint16", "U32": "uint32", "U64": "uint64", "BOOL": "bool"}
ST_CODES = {v: k for k, v in ST_DTYPES.items()}
RAW: dict[str, np.dtype[Any]] = {"bfloat16": np.dtype("<u2"), "float8_e4m3fn": np.dtype("u1"), "float8_e5m2": np.dtype("u1")}

Arrays = dict[str, npt.NDArray[Any]]


def checkpoint_kind(path: str) -> str:
    """'nnc', 'safetensors', 'hf' (a folder), 'npz' or 'torch' — from the path; NNRUsageError
    for what is none of them."""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, HF_INDEX)) or os.path.exists(os.path.join(path, "model.safetensors")):
            return "hf"
        raise NNRUsageError(f"{path!r} is a directory without {HF_INDEX} or model.safetensors "
                            "(not a Hugging Face checkpoint folder)")
    ext = os.path.splitext(path)[1].lower()
    kinds = {".nnc": "nnc", ".nnr": "nnc", ".bin": "nnc", ".safetensors": "safetensors", ".npz": "npz",
             ".pt": "torch", ".pth": "torch"}
    if ext not in kinds:
        raise NNRUsageError(f"{path!r}: unknown file type {ext or '(no suffix)'!r} "
                            "(expected .nnc, .safetensors, .npz, .pt / .pth or a Hugging Face folder)")
    return kinds[ext]


# -- safetensors ------------------------------------------------------------------------------------


def _read_header(f: Any, path: str, size: int) -> tuple[dict[str, Any], int]:
    head = f.read(8)
    if len(head) < 8:
        raise NNRUsageError(f"{path!r} is not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER_BYTES or 8 + n > size:
        raise NNRUsageError(f"{path!r} is not a safetensors file (header length {n})")
    try:
        header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as e:
        raise NNRUsageError(f"{path!r}: the safetensors header names {e.args[0]!r} twice") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NNRUsageError(f"{path!r} is not a safetensors file (bad JSON header)") from None
    if not isinstance(header, dict):
        raise NNRUsageError(f"{path!r} is not a safetensors file (header is not an object)")
    return header, 8 + n


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (json keeps the last of a repeated key)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _safetensors_entries(path: str, header: dict[str, Any], data_bytes: int
                         ) -> list[tuple[str, str, list[int], int, int]]:
    """(name, dtype, shape, begin, end) of every tensor of a header, checked: known dtype, a list
    of non-negative ints as shape, data_offsets inside the data that fit the shape and do not
    overlap another tensor's."""
    out = []
    for name, entry in header.items():
        where = f"{path!r}: tensor {name!r}"
        if not isinstance(entry, dict):
            raise NNRUsageError(f"{where}: its header entry is not an object")
        code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(code, str) or code not in ST_DTYPES:
            raise NNRUsageError(f"{where}: unsupported dtype {str(code)[:40]!r}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise NNRUsageError(f"{where}: shape {str(shape)[:80]} is not a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_bytes):
            raise NNRUsageError(f"{where}: data_offsets {str(offsets)[:80]} are not a range inside the "
                                f"{data_bytes} data bytes")
        dt = ST_DTYPES[code]
        item = RAW[dt].itemsize if dt in RAW else np.dtype(dt).itemsize
        b, end = offsets
        if end - b != math.prod(shape) * item:  # Python ints: a hostile shape cannot wrap around
            raise NNRUsageError(f"{where}: data_offsets {b}..{end} do not fit shape {shape} of {code}")
        out.append((str(name), dt, [int(d) for d in shape], b, end))
    last_end, last = 0, ""
    for name, _, _, b, end in sorted(out, key=lambda e: (e[3], e[4])):
        if b < last_end:
            raise NNRUsageError(f"{path!r}: tensors {last!r} and {name!r} overlap (data offset {b})")
        if end > b:
            last_end, last = end, name
    return out


def open_safetensors(path: str) -> tuple[BinaryIO, dict[str, Any], int, int]:
    """A .safetensors file opened: (the file, its JSON header, where its data starts, its size).
    The header is read and size-checked; the caller closes the file."""
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        raise NNRUsageError(f"cannot read {path!r}: {e.strerror}") from None
    try:
        header, start = _read_header(f, path, size)
    except BaseException:
        f.close()
        raise
    return f, header, start, size


def read_safetensors(path: str) -> tuple[Arrays, dict[str, str], dict[str, str]]:
    """(arrays, original dtypes, ``__metadata__``) of a .safetensors file, in header order."""
    f, header, start, size = open_safetensors(path)
    with f:
        meta = header.pop("__metadata__", None) or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise NNRUsageError(f"{path!r}: __metadata__ is not an object of strings")
        arrays: Arrays = {}
        dtypes: dict[str, str] = {}
        for name, dt, shape, b, end in _safetensors_entries(path, header, size - start):
            raw: np.dtype[Any] = RAW[dt] if dt in RAW else np.dtype(dt).newbyteorder("<")
            f.seek(start + b)
            a = np.frombuffer(f.read(end - b), dtype=raw).reshape(shape)
            if dt in NUMPY_LACKS:
                a = to_float32(a, dt).reshape(shape)
            else:
                a = a.astype(a.dtype.newbyteorder("="))
            arrays[name] = a
            dtypes[name] = dt
    return arrays, dtypes, {str(k): str(v) for k, v in meta.items()}


def _tensor_bytes(name: str, v: npt.NDArray[Any], dt: str) -> bytes:
    if dt in NUMPY_LACKS:
        return from_float32_bits(np.asarray(v, dtype=np.float32), dt).astype(RAW[dt]).tobytes()
    a = np.asarray(v)
    if np.dtype(dt).kind in "iub" and a.dtype.kind == "f":
        a = np.rint(a)
    return np.ascontiguousarray(a.astype(np.dtype(dt).newbyteorder("<"))).tobytes()


def check_safetensors_name(name: str) -> None:
    """A tensor name a .safetensors header can hold as a tensor."""
    if name == "__metadata__":
        raise NNRUsageError("a tensor named '__metadata__' cannot be written to a .safetensors file (the name "
                            "is the header's metadata); write a .npz or .pt file")


def write_safetensors(path: str, arrays: Mapping[str, npt.NDArray[Any]], dtypes: Mapping[str, str] | None = None,
                      metadata: Mapping[str, str] | None = None) -> None:
    """A .safetensors file of ``arrays``, each in ``dtypes[name]`` (default: its own dtype)."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    blobs: list[bytes] = []
    pos = 0
    for name, v in arrays.items():
        check_safetensors_name(name)
        dt = (dtypes or {}).get(name) or str(np.asarray(v).dtype)
        if dt not in ST_CODES:
            raise NNRUsageError(f"tensor {name!r}: safetensors has no dtype {dt!r}")
        blob = _tensor_bytes(name, v, dt)
        header[name] = {"dtype": ST_CODES[dt], "shape": list(np.shape(v)), "data_offsets": [pos, pos + len(blob)]}
        blobs.append(blob)
        pos += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)

    def write(f: BinaryIO) -> None:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)

    replace_file(path, write)


def replace_file(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Write a file through a new temporary file in the same folder, renamed over ``path`` at the
    end: a symlink at ``path`` is replaced, never followed out of the target folder, and an
    interrupted write leaves the old file (or none), not a truncated one."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".nnr-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    m = os.umask(0o022)
    os.umask(m)
    return m


# -- Hugging Face folders ---------------------------------------------------------------------------


def read_hf_folder(path: str) -> tuple[Arrays, dict[str, str]]:
    index = os.path.join(path, HF_INDEX)
    if not os.path.exists(index):
        arrays, dtypes, _ = read_safetensors(os.path.join(path, "model.safetensors"))
        return arrays, dtypes
    try:
        with open(index, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_HEADER_BYTES:
                raise NNRUsageError(f"{index!r} is larger than {MAX_HEADER_BYTES} bytes")
            weight_map = json.loads(f.read().decode("utf-8"), object_pairs_hook=_unique_keys)["weight_map"]
    except _DuplicateKey as e:
        raise NNRUsageError(f"{index!r} names {e.args[0]!r} twice") from None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise NNRUsageError(f"cannot read {index!r}: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise NNRUsageError(f"{index!r}: weight_map is not an object of shard file names")
    shards: list[str] = []
    for shard in weight_map.values():
        if shard not in shards:
            shards.append(shard)
    arrays = {}
    dtypes = {}
    for shard in sorted(shards):
        if os.path.basename(shard) != shard or shard in ("", ".", ".."):
            raise NNRUsageError(f"{index!r}: shard {shard!r} is not a file in the folder")
        a, d, _ = read_safetensors(os.path.join(path, shard))
        twice = next((n for n in a if n in arrays), None)
        if twice is not None:
            raise NNRUsageError(f"{index!r}: tensor {twice!r} is in two shards (the second: {shard!r})")
        arrays.update(a)
        dtypes.update(d)
    missing = [n for n in weight_map if n not in arrays]
    if missing:
        raise NNRUsageError(f"{index!r} maps {missing[0]!r} to a shard that does not hold it")
    return arrays, dtypes


def write_hf_folder(path: str, arrays: Mapping[str, npt.NDArray[Any]], dtypes: Mapping[str, str],
                    max_shard_bytes: int = MAX_SHARD_BYTES) -> list[str]:
    """``model.safetensors``, or shards + index when larger than ``max_shard_bytes``."""
    os.makedirs(path, exist_ok=True)

    def nbytes(name: str) -> int:
        dt = dtypes.get(name) or str(arrays[name].dtype)
        item = RAW[dt].itemsize if dt in RAW else np.dtype(dt).itemsize
        return int(arrays[name].size) * item

    groups: list[list[str]] = [[]]
    size = 0
    for name in arrays:
        n = nbytes(name)
        if groups[-1] and size + n > max_shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += n
    meta = {"format": "pt"}
    if len(groups) == 1:
        f = os.path.join(path, "model.safetensors")
        write_safetensors(f, arrays, dtypes, meta)
        _remove_stale(path, [f])
        return [f]
    files = []
    weight_map: dict[str, str] = {}
    for i, g in enumerate(groups):
        shard = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        write_safetensors(os.path.join(path, shard), {n: arrays[n] for n in g}, dtypes, meta)
        files.append(os.path.join(path, shard))
        weight_map.update({n: shard for n in g})
    index = json.dumps({"metadata": {"total_size": sum(nbytes(n) for n in arrays)},
                        "weight_map": dict(sorted(weight_map.items()))}, indent=2) + "\n"
    replace_file(os.path.join(path, HF_INDEX), lambda fi: fi.write(index.encode()))
    files.append(os.path.join(path, HF_INDEX))
    _remove_stale(path, files)
    return files


_CHECKPOINT_FILE = re.compile(r"model(-\d{5}-of-\d{5})?\.safetensors|" + re.escape(HF_INDEX))


def _remove_stale(path: str, written: list[str]) -> None:
    """Remove the files of an earlier checkpoint in the folder that this one did not overwrite
    (``model.safetensors``, shards, the index), as ``save_pretrained`` does: a stale index or
    shard would otherwise be read instead of (or beside) what was just written."""
    keep = {os.path.basename(f) for f in written}
    for name in os.listdir(path):
        if name not in keep and _CHECKPOINT_FILE.fullmatch(name) and os.path.isfile(os.path.join(path, name)):
            os.remove(os.path.join(path, name))


# -- torch and npz ----------------------------------------------------------------------------------


def _torch() -> Any:
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise NNRUsageError(".pt / .pth checkpoints need torch (pip install torch)") from None
    return torch


_TENSOR_DTYPES = frozenset(FLOAT_DTYPES + INT_DTYPES)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def read_torch(path: str) -> tuple[Arrays, dict[str, str]]:
    torch = _torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise NNRUsageError(f"cannot read {path!r}: {e.strerror or _one_line(e)}") from None
    except Exception as e:  # noqa: BLE001 -- torch.load raises anything on a foreign file
        if "Unsupported global" in str(e) or "GLOBAL" in str(e):
            raise NNRUsageError(f"{path!r} holds pickled Python objects (a whole nn.Module?), not a state dict of "
                                "tensors: save model.state_dict() instead (nnr never unpickles code)") from None
        raise NNRUsageError(f"cannot read {path!r}: not a torch checkpoint ({type(e).__name__}: "
                            f"{_one_line(e)})") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise NNRUsageError(f"{path!r} does not hold a state dict of tensors")

    arrays: Arrays = {}
    dtypes: dict[str, str] = {}
    for k, v in obj.items():
        name = str(k)
        if name in arrays:  # keys 1 and "1"
            raise NNRUsageError(f"{path!r}: two keys of the state dict read as the name {name!r}")
        dt = dtype_name(v)
        if dt not in _TENSOR_DTYPES or v.layout != torch.strided:
            raise NNRUsageError(f"{path!r}: tensor {name!r} has dtype {dt} / layout {v.layout}, "
                                "which nnr does not code")
        try:
            t = v.detach().cpu()
            arrays[name] = (t.float() if dt in NUMPY_LACKS else t).numpy()
        except (RuntimeError, TypeError, NotImplementedError) as e:
            raise NNRUsageError(f"{path!r}: tensor {name!r} cannot be read: {_one_line(e)}") from None
        dtypes[name] = dt
    return arrays, dtypes


def write_torch(path: str, arrays: Mapping[str, npt.NDArray[Any]], dtypes: Mapping[str, str]) -> None:
    torch = _torch()
    sd = {}
    for k, v in arrays.items():
        dt = dtypes.get(k) or str(v.dtype)
        t = torch.from_numpy(np.ascontiguousarray(v))
        target = getattr(torch, dt, None)
        if target is not None and t.dtype != target:
            t = t.round().to(target) if (not target.is_floating_point and t.is_floating_point()) else t.to(target)
        sd[k] = t
    replace_file(path, lambda f: torch.save(sd, f))


def _npz_members(path: str, z: zipfile.ZipFile) -> list[str]:
    """Member names of an .npz (without ``.npy``), checked: no name twice, no zip bomb."""
    infos = z.infolist()
    names = [i.filename for i in infos]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise NNRUsageError(f"{path!r}: the archive holds member {n!r} twice")
        seen.add(n)
    packed = sum(i.compress_size for i in infos)
    unpacked = sum(i.file_size for i in infos)
    if unpacked > NPZ_MAX_RATIO * packed + NPZ_SLACK_BYTES:
        raise NNRUsageError(f"{path!r}: {packed} compressed bytes claim to inflate to {unpacked} (more than "
                            f"{NPZ_MAX_RATIO}x): refused as a zip bomb (nnr.checkpoint.NPZ_MAX_RATIO)")
    return [n[:-4] if n.endswith(".npy") else n for n in names]


def _npz_array(path: str, name: str, a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A member as a native-endian numeric array (big-endian members are converted)."""
    if a.dtype.fields is not None or a.dtype.kind not in "fiub" or a.dtype.name not in _TENSOR_DTYPES:
        raise NNRUsageError(f"{path!r}: member {name!r} has dtype {a.dtype.str}, not a tensor dtype nnr codes")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def read_npz(path: str) -> tuple[Arrays, dict[str, str]]:
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise NNRUsageError(f"cannot read {path!r}: {_one_line(e)}") from None
    if not hasattr(z, "files"):
        raise NNRUsageError(f"{path!r} is a single array, not a .npz archive of named tensors")
    arrays: Arrays = {}
    try:
        names = _npz_members(path, z.zip)
        for k in names:
            arrays[k] = _npz_array(path, k, z[k])
    except NNRUsageError:
        raise
    except Exception as e:  # noqa: BLE001 -- zipfile / zlib / numpy's header parser raise many kinds
        raise NNRUsageError(f"cannot read {path!r}: {type(e).__name__}: {_one_line(e)}") from None
    finally:
        z.close()
    return arrays, {k: str(v.dtype) for k, v in arrays.items()}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_member_name(name: str) -> None:
    """A tensor name that is safe as a zip member name (``<name>.npy``): no absolute path, no
    ``..`` component, no backslash or control character (the archive would be a zip-slip for the
    next tool that extracts it)."""
    parts = name.split("/")
    if (name.startswith("/") or "\\" in name or ".." in parts or _CONTROL.search(name)
            or re.match(r"[A-Za-z]:", name)):
        raise NNRUsageError(f"tensor name {name!r} is not a safe .npz member name (a path outside the archive); "
                            "write a .safetensors or .pt file")


def write_npz(path: str, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    """An .npz archive (what ``np.savez`` writes) with one member ``<name>.npy`` per tensor.

    Members are written directly: ``np.savez(path, **arrays)`` would take tensors named
    ``file`` or ``allow_pickle`` for its own keyword arguments.
    """
    for name in arrays:
        check_member_name(name)

    def write(f: BinaryIO) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
            for name, value in arrays.items():
                with z.open(name + ".npy", "w", force_zip64=True) as m:
                    np.lib.format.write_array(m, np.asanyarray(value), allow_pickle=False)

    replace_file(path, write)


# -- any ---------------------------------------------------------------------------------------------


def check_not_over_input(output: str, inputs: list[str]) -> None:
    """Refuse an output that is one of the inputs (also through a symlink), or lies inside an
    input folder: it would overwrite what is being read."""
    out = os.path.realpath(output)
    for i in inputs:
        src = os.path.realpath(i)
        inside = os.path.isdir(src) and os.path.commonpath([out, src]) == src
        if out == src or inside:
            raise NNRUsageError(f"-o {output!r} would overwrite the input {i!r}: give another output")



def read_checkpoint(path: str) -> tuple[Arrays, dict[str, str]]:
    """Tensors (numpy; float32 where numpy lacks the dtype) and original dtypes of a checkpoint
    (.safetensors, Hugging Face folder, .npz, .pt / .pth)."""
    if not os.path.exists(path):
        raise NNRUsageError(f"{path!r} does not exist")
    kind = checkpoint_kind(path)
    if kind == "nnc":
        raise NNRUsageError(f"{path!r} is an NNR stream, not a checkpoint (use 'nnr decode' to read it)")
    if os.path.isdir(path) and kind != "hf":
        raise NNRUsageError(f"{path!r} is a directory")
    try:
        if kind == "safetensors":
            a, d, _ = read_safetensors(path)
            return a, d
        if kind == "hf":
            return read_hf_folder(path)
        if kind == "npz":
            return read_npz(path)
        return read_torch(path)
    except (NNRUsageError, MemoryError, KeyboardInterrupt):
        raise
    except OSError as e:
        raise NNRUsageError(f"cannot read {path!r}: {e.strerror or _one_line(e)}") from None
    except Exception as e:  # noqa: BLE001 -- whatever a reader missed: one line naming the file
        raise NNRUsageError(f"cannot read {path!r}: {type(e).__name__}: {_one_line(e)}") from None


def write_checkpoint(path: str, arrays: Mapping[str, npt.NDArray[Any]], dtypes: Mapping[str, str] | None = None,
                     *, folder: bool = False, max_shard_bytes: int = MAX_SHARD_BYTES) -> list[str]:
    """Write decoded tensors (``dtypes``: per tensor, the dtype to write; default their own) as
    the file type of ``path`` (a Hugging Face folder with ``folder=True``); the files written."""
    d = dict(dtypes or {})
    if folder:
        return write_hf_folder(path, arrays, d, max_shard_bytes)
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise NNRUsageError(f"cannot write {path!r}: the folder {parent!r} does not exist")
    if os.path.isdir(path):
        raise NNRUsageError(f"cannot write {path!r}: it is a directory")
    kind = checkpoint_kind(path)
    if kind == "safetensors":
        write_safetensors(path, arrays, d)
    elif kind == "npz":
        out = {}
        for k, v in arrays.items():
            dt = d.get(k)
            if dt and dt not in NUMPY_LACKS and dt != str(v.dtype):

                v = cast_to(k, v, dt)
            out[k] = v
        write_npz(path, out)
    elif kind == "torch":
        write_torch(path, arrays, d)
    else:
        raise NNRUsageError(f"cannot write tensors to {path!r}: give a .safetensors, .npz or .pt file, or a folder")
    return [path]
