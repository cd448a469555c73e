"""Hostile and careless input over every surface users touch (issue 17): a replay corpus.

Each reproducer builds its input in a scratch folder and runs one entry point: ``nnr.decode``
(also ``dtype="original"`` and ``.arrays()``), ``nnr.open``, a decoder session, the checkpoint
readers and writers, ``nnr.Encoder``, and the ``nnr`` command line.  :func:`limited` runs one in
a forked child under ``RLIMIT_AS`` and ``RLIMIT_CPU`` and classifies how it ended:

* ``ok``          -- a result (checked by the reproducer: nothing lost, nothing written outside)
* ``nnr_error``   -- an :class:`nnr.NNRError` with unit, element and bit offset
* ``usage_error`` -- an :class:`nnr.NNRUsageError` (a checkpoint file, an argument)
* ``cli_error``   -- the CLI printed one line and exited 1 (bad stream) or 2 (usage)
* ``foreign``     -- any other exception, an unlocated NNRError, a CLI "internal error"
* ``lost``        -- a result that lost a tensor or wrote outside the target
* ``memory`` / ``timeout`` / ``crash`` -- over the limits, or killed
* ``memory_per_byte`` -- ended as documented but grew the process by more than
  :data:`BYTES_PER_INPUT_BYTE` per input byte (beyond :data:`MEMORY_BASE`)

``python fuzz/surfaces.py`` replays the corpus; ``fuzz/run.py --surfaces`` mutates it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

import nnr
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.topology import TopologyUnit
from nnr.units.types import PayloadType, TopologyStorageFormat
from nnr.writer import StreamWriter

MEM_LIMIT = 2 << 30  # the bar: 2 GiB and 20 s of CPU per input
CPU_LIMIT = 20
BYTES_PER_INPUT_BYTE = 256 << 10  # memory per input byte an input may cost (docs/robustness.rst: ~170 KB)
MEMORY_BASE = 256 << 20  # growth always allowed (buffers, imports made on first use)

DOCUMENTED = {"ok", "nnr_error", "usage_error", "cli_error"}


def _noise(n: int) -> bytes:
    """Fixed garbage bytes (reproducers replay the same input every time)."""
    import random

    return random.Random(n).randbytes(n)


class Lost(AssertionError):
    """A reproducer's result lost a tensor or wrote outside its target."""


# -- streams -------------------------------------------------------------------------------------------


def raw_unit(name: str, values: np.ndarray) -> tuple[CompressedDataUnitHeader, bytes]:
    h = CompressedDataUnitHeader(nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_RAW_FLOAT,
                                 topology_elem_id=name, tensor_dimensions=list(values.shape))
    return h, values.astype("<f4").tobytes()


def stream(units: list[tuple[CompressedDataUnitHeader, bytes]], record: bytes | None = None, gpi: int = 1) -> bytes:
    s = StreamWriter()
    s.start_unit(gpi)
    s.model_parameter_set(ModelParameterSet(mps_qp_density=2))
    if record is not None:
        s.topology(TopologyUnit(int(TopologyStorageFormat.NNR_TPL_UNREC), 0, record + b"\x00"))
    for h, p in units:
        s.compressed_data_unit(h, p)
    return s.getvalue()


def record(entries: dict[str, Any]) -> bytes:
    return b"nnr.tensor_info/1\n" + json.dumps({"tensors": entries}).encode()


def split_units(data: bytes) -> list[bytes]:
    units = nnr.Decoder().decode_stream(data).units
    ends = [u.offset for u in units[1:]] + [len(data)]
    return [data[u.offset:e] for u, e in zip(units, ends)]


# -- the reproducers -----------------------------------------------------------------------------------
# Each takes a scratch folder and returns the bytes of input it was given (for memory per byte).

REPRODUCERS: dict[str, Callable[[str], int]] = {}


def reproducer(fn: Callable[[str], int]) -> Callable[[str], int]:
    REPRODUCERS[fn.__name__] = fn
    return fn


def _dup_stream() -> bytes:
    return stream([raw_unit("w", np.arange(4.0)), raw_unit("w", np.ones(4))])


@reproducer
def dup_name_decode(tmp: str) -> int:
    data = _dup_stream()
    nnr.decode(data)
    raise Lost("a tensor coded twice decoded without an error")


@reproducer
def dup_name_open(tmp: str) -> int:
    data = _dup_stream()
    with nnr.open(data) as f:
        f.get_tensor("w")
    raise Lost("nnr.open accepted a tensor coded twice")


@reproducer
def dup_name_in_aggregate_info(tmp: str) -> int:
    p = os.path.join(tmp, "d.nnc")
    with open(p, "wb") as f:
        f.write(_dup_stream())
    return cli(["info", p]) and len(_dup_stream())


def _record_stream(dtype: str, shape: list[int] | str = "same") -> bytes:
    v = np.arange(6, dtype=np.float32)
    return stream([raw_unit("w", v)], record({"w": {"dtype": dtype, "shape": [6] if shape == "same" else shape}}))


def _original_is_numeric(data: bytes) -> int:
    for get in (lambda: nnr.decode(data, dtype="original"), lambda: nnr.Decoder().decode_stream(data).arrays("original"),
                lambda: {"w": nnr.open(data).get_tensor("w", dtype="original")}):
        out = get()
        if out["w"].dtype.kind not in "fiub" or out["w"].size != 6:
            raise Lost(f"dtype='original' gave a {out['w'].dtype} array")
    return len(data)


for _dt in ("O", "U3", "M8", "V75000000", "[('a', '<f4')]", "float32,float32", "complex64"):
    def _rec(tmp: str, dt: str = _dt) -> int:
        return _original_is_numeric(_record_stream(dt))
    _rec.__name__ = "record_dtype_" + "".join(c if c.isalnum() else "_" for c in _dt)
    reproducer(_rec)


@reproducer
def record_shape_wraps_int64(tmp: str) -> int:
    data = _record_stream("float16", [1 << 62, 4, 6])
    out = nnr.decode(data, dtype="original")
    if out["w"].shape != (6,):
        raise Lost("a wrapped record shape reshaped the tensor")
    return len(data)


@reproducer
def record_shape_bool_float(tmp: str) -> int:
    data = _record_stream("float16", [True, 6.0])
    if nnr.decode(data, dtype="original")["w"].shape != (6,):
        raise Lost("a non-integer record shape was applied")
    return len(data)


def _size1_unit(name: str, size: int) -> tuple[CompressedDataUnitHeader, bytes]:
    """An NDU of ``size`` zeros coded with a size-1 codebook, as nnr.encode writes one (its
    header re-encoded with the larger tensor_dimensions: the payload does not depend on them)."""
    from dataclasses import replace

    data = nnr.encode({name: np.zeros(1000, np.float32)}, codebook_mode=1)
    u = nnr.Decoder().decode_stream(data).units[-1]
    assert u.ndu is not None
    start = u.offset + u.header.size_field_bytes + 1 + u.ndu.header_bits // 8
    return replace(u.ndu, tensor_dimensions=[size]), data[start:u.offset + u.header.nnr_unit_size]


def _size1_codebook(n_tensors: int, size: int) -> bytes:
    h, payload = _size1_unit("t000", size)
    from dataclasses import replace

    return stream([(replace(h, topology_elem_id=f"t{i:03d}"), payload) for i in range(n_tensors)])


@reproducer
def size1_codebook_many_units(tmp: str) -> int:
    data = _size1_codebook(64, 280_000)  # each unit within its payload budget: the stream-wide one holds
    nnr.decode(data)
    return len(data)


@reproducer
def size1_codebook_one_unit(tmp: str) -> int:
    data = _size1_codebook(1, 2_000_000)
    nnr.decode(data)
    return len(data)


@reproducer
def one_d_tensor_10m_elements(tmp: str) -> int:
    # a 10 KB payload claiming a 1-D tensor of 10,240,000 elements (every one coded)
    h = CompressedDataUnitHeader(topology_elem_id="w", tensor_dimensions=[10_240_000])
    payload = bytes([0x55, 0xAA] * 5000)
    data = stream([(h, payload)])
    nnr.decode(data)
    return len(data)


@reproducer
def one_d_tensor_int(tmp: str) -> int:
    h = CompressedDataUnitHeader(nnr_compressed_data_unit_payload_type=PayloadType.NNR_PT_INT, topology_elem_id="w",
                                 tensor_dimensions=[1_000_000])
    data = stream([(h, bytes(1000))])
    nnr.decode(data)
    return len(data)


@reproducer
def session_many_tiny_updates(tmp: str) -> int:
    d = nnr.Decoder()
    total = 0
    h, payload = _size1_unit("t0000", 250_000)
    from dataclasses import replace

    for i in range(1000):  # each a new name: the session budget bounds what it keeps
        data = stream([(replace(h, topology_elem_id=f"t{i:04d}"), payload)])
        total += len(data)
        try:
            d.decode(data)
        except nnr.LimitExceededError:
            if i < 10:
                raise
            return total
    return total


@reproducer
def history_copied_per_update_ndu(tmp: str) -> int:
    enc = nnr.Encoder()
    base = enc.encode({"w": np.linspace(-1, 1, 250_000, dtype=np.float32)})
    one = split_units(nnr.Encoder(tca=False).encode({"w": np.ones(1, np.float32)}))
    upd = b"".join(one[:-1]) + one[-1] * 2500
    d = nnr.Decoder()
    d.decode(base)
    d.decode(upd)
    return len(base) + len(upd)


@reproducer
def workers_many_ndus(tmp: str) -> int:
    data = stream([raw_unit(f"t{i}", np.ones(1)) for i in range(20_000)])
    out = nnr.Decoder(workers=2).decode(data)
    if len(out) != 20_000:
        raise Lost(f"{len(out)} of 20000 tensors")
    return len(data)


@reproducer
def open_skips_unit_limit(tmp: str) -> int:
    s = StreamWriter()
    s.start_unit(1)
    one = s.start_unit(1)
    data = s.getvalue() + one * (nnr.limits.MAX_UNITS + 2)
    nnr.open(data)
    return len(data)


@reproducer
def load_state_record_huge_shape(tmp: str) -> int:
    d = nnr.Decoder()
    d.decode(nnr.Encoder().encode({"w": np.ones((2, 3), np.float32)}))
    rec = d.state_record()
    rec["levels.shape"] = np.array([0, 1 << 62], dtype=np.int64)
    rec["levels.data"] = np.zeros(0, np.int32)
    rec["history.size"] = np.array([0], dtype=np.int64)
    rec["history.data"] = np.zeros(0, np.uint8)
    nnr.Decoder().load_state_record(rec)
    return 64


# -- checkpoint files ----------------------------------------------------------------------------------


def _safetensors(path: str, header: Any, data: bytes = b"", raw_header: bytes | None = None) -> int:
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return 8 + len(text) + len(data)


def _read(path: str) -> int:
    from nnr.checkpoint import read_checkpoint

    arrays, _ = read_checkpoint(path)
    return sum(int(v.nbytes) for v in arrays.values())


_ST_CASES: dict[str, tuple[Any, bytes]] = {
    "dup_keys": (None, b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],'
                       b'"data_offsets":[4,8]}}'),
    "overlap": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b""),
    "shape_string": ({"a": {"dtype": "F32", "shape": "12", "data_offsets": [0, 8]}}, b""),
    "shape_float": ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, b""),
    "shape_bool": ({"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}, b""),
    "shape_wraps": ({"a": {"dtype": "F32", "shape": [1 << 62, 4, 0], "data_offsets": [0, 0]},
                     "b": {"dtype": "F32", "shape": [1 << 62, 4], "data_offsets": [0, 0]}}, b""),
    "dtype_list": ({"a": {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}}, b""),
    "offsets_negative": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, b""),
    "offsets_strings": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]}}, b""),
    "entry_list": ({"a": [1, 2]}, b""),
    "metadata_list": ({"__metadata__": [1], "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b""),
    "deep_json": (None, b"[" * 100_000 + b"]" * 100_000),
    "header_array": (None, b"[1, 2]"),
}

for _k, (_h, _raw) in _ST_CASES.items():
    def _st(tmp: str, h: Any = _h, raw: bytes = _raw) -> int:
        p = os.path.join(tmp, "m.safetensors")
        n = _safetensors(p, h, bytes(16), raw if raw else None)
        _read(p)
        raise Lost("a malformed safetensors header was accepted")
    _st.__name__ = "safetensors_" + _k
    reproducer(_st)


@reproducer
def hf_index_weight_map_list(tmp: str) -> int:
    with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
        json.dump({"weight_map": ["a", "b"]}, f)
    _read(tmp)
    raise Lost("accepted")


@reproducer
def hf_index_shard_escapes(tmp: str) -> int:
    with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
        json.dump({"weight_map": {"a": "../x.safetensors"}}, f)
    _read(tmp)
    raise Lost("accepted")


@reproducer
def hf_index_deep_json(tmp: str) -> int:
    with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
        f.write("{" + '"a":{' * 50_000 + "}" * 50_001)
    _read(tmp)
    raise Lost("accepted")


@reproducer
def hf_tensor_in_two_shards(tmp: str) -> int:
    from nnr.checkpoint import write_safetensors

    for s in ("s1.safetensors", "s2.safetensors"):
        write_safetensors(os.path.join(tmp, s), {"a": np.ones(2, np.float32)})
    with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
        json.dump({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}, f)
    _read(tmp)
    raise Lost("a tensor in two shards was accepted")


def _npz(path: str, members: dict[str, bytes], deflate: bool = False) -> int:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return os.path.getsize(path)


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array(b, a, allow_pickle=True)
    return b.getvalue()


@reproducer
def npz_bomb(tmp: str) -> int:
    p = os.path.join(tmp, "b.npz")
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("w.npy", "w", force_zip64=True) as m:
            n = 300 << 20
            np.lib.format.write_array_header_1_0(m, {"descr": "<f4", "fortran_order": False, "shape": (n // 4,)})
            chunk = bytes(1 << 20)
            for _ in range(n >> 20):
                m.write(chunk)
    _read(p)
    raise Lost("a zip bomb was inflated")


@reproducer
def npz_garbage(tmp: str) -> int:
    p = os.path.join(tmp, "g.npz")
    with open(p, "wb") as f:
        f.write(b"PK\x03\x04" + _noise(200))
    _read(p)
    raise Lost("accepted")


@reproducer
def npz_object_member(tmp: str) -> int:
    p = os.path.join(tmp, "o.npz")
    _npz(p, {"o.npy": _npy(np.array([{"a": 1}], dtype=object))})
    _read(p)
    raise Lost("accepted")


@reproducer
def npz_structured_member(tmp: str) -> int:
    p = os.path.join(tmp, "s.npz")
    _npz(p, {"s.npy": _npy(np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]))})
    _read(p)
    raise Lost("accepted")


@reproducer
def npz_duplicate_member(tmp: str) -> int:
    p = os.path.join(tmp, "d.npz")
    with zipfile.ZipFile(p, "w") as z, contextlib.suppress(UserWarning):
        import warnings

        warnings.simplefilter("ignore")
        z.writestr("a.npy", _npy(np.ones(2, np.float32)))
        z.writestr("a.npy", _npy(np.zeros(2, np.float32)))
    _read(p)
    raise Lost("a member named twice was accepted")


@reproducer
def npz_big_endian(tmp: str) -> int:
    p = os.path.join(tmp, "be.npz")
    v = np.arange(5, dtype=">f4")
    np.savez(p, w=v)
    from nnr.checkpoint import read_checkpoint

    arrays, dtypes = read_checkpoint(p)
    if not np.array_equal(arrays["w"], v.astype("<f4")) or dtypes["w"] != "float32":
        raise Lost("big-endian member read wrongly")
    out = os.path.join(tmp, "be.nnc")
    if cli(["encode", p, "-o", out]) != 0:
        raise Lost("nnr encode refused a big-endian .npz")
    return os.path.getsize(p)


def _torch_file(path: str, obj: Any) -> None:
    import torch

    torch.save(obj, path)


@reproducer
def pt_garbage(tmp: str) -> int:
    p = os.path.join(tmp, "g.pt")
    with open(p, "wb") as f:
        f.write(b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01Ke" + _noise(64))
    _read(p)
    raise Lost("accepted")


@reproducer
def pt_zip_garbage(tmp: str) -> int:
    p = os.path.join(tmp, "z.pt")
    _npz(p, {"archive/data.pkl": b"\x80\x02" + _noise(100), "archive/version": b"3\n"})
    _read(p)
    raise Lost("accepted")


@reproducer
def pt_pickled_module(tmp: str) -> int:
    import torch

    p = os.path.join(tmp, "m.pt")
    _torch_file(p, torch.nn.Linear(3, 2))
    _read(p)
    raise Lost("accepted")


@reproducer
def pt_keys_1_and_str_1(tmp: str) -> int:
    import torch

    p = os.path.join(tmp, "k.pt")
    _torch_file(p, {1: torch.ones(2), "1": torch.zeros(2)})
    _read(p)
    raise Lost("keys 1 and '1' read as one tensor")


@reproducer
def pt_complex_tensor(tmp: str) -> int:
    import torch

    p = os.path.join(tmp, "c.pt")
    _torch_file(p, {"c": torch.ones(2, dtype=torch.complex64)})
    _read(p)
    raise Lost("accepted")


# -- writers: the target only ------------------------------------------------------------------------


def _victim(tmp: str) -> str:
    v = os.path.join(tmp, "victim.txt")
    with open(v, "w") as f:
        f.write("precious")
    return v


def _victim_intact(v: str) -> None:
    with open(v, "rb") as f:
        if f.read() != b"precious":
            raise Lost(f"{v} was overwritten through a symlink")


def _small_nnc(tmp: str, tensors: dict[str, np.ndarray] | None = None, name: str = "s.nnc") -> str:
    p = os.path.join(tmp, name)
    with open(p, "wb") as f:
        f.write(nnr.encode(tensors or {"w": np.ones((4, 4), np.float32), "b": np.zeros(4, np.float32)}))
    return p


for _fmt, _file in (("hf", "model.safetensors"), ("npz", "s.npz"), ("pt", "s.pt"), ("safetensors", "s.safetensors")):
    def _sym(tmp: str, fmt: str = _fmt, file: str = _file) -> int:
        src = _small_nnc(tmp)
        out = os.path.join(tmp, "out")
        os.makedirs(out)
        v = _victim(tmp)
        os.symlink(v, os.path.join(out, file))
        code = cli(["decode", src, "-o", out + "/", "--format", fmt])
        _victim_intact(v)
        if code == 0 and os.path.islink(os.path.join(out, file)):
            raise Lost("the output was written through the symlink")
        return os.path.getsize(src)
    _sym.__name__ = f"decode_symlink_in_target_{_fmt}"
    reproducer(_sym)


@reproducer
def encode_symlink_output(tmp: str) -> int:
    from nnr.checkpoint import write_safetensors

    src = os.path.join(tmp, "m.safetensors")
    write_safetensors(src, {"w": np.ones(4, np.float32)})
    v = _victim(tmp)
    os.symlink(v, os.path.join(tmp, "out.nnc"))
    cli(["encode", src, "-o", os.path.join(tmp, "out.nnc")])
    _victim_intact(v)
    return os.path.getsize(src)


@reproducer
def npz_member_name_traversal(tmp: str) -> int:
    src = _small_nnc(tmp, {"../../../../tmp/x": np.ones(3, np.float32)})
    out = os.path.join(tmp, "o.npz")
    code = cli(["decode", src, "-o", out])
    if code == 0:
        with zipfile.ZipFile(out) as z:
            if any(".." in n.split("/") or n.startswith("/") for n in z.namelist()):
                raise Lost("a path from the stream became an .npz member name")
    return os.path.getsize(src)


@reproducer
def metadata_tensor_name(tmp: str) -> int:
    src = _small_nnc(tmp, {"__metadata__": np.ones(3, np.float32), "w": np.ones(2, np.float32)})
    out = os.path.join(tmp, "o.safetensors")
    if cli(["decode", src, "-o", out]) == 0:
        from nnr.checkpoint import read_checkpoint

        if "__metadata__" not in read_checkpoint(out)[0]:
            raise Lost("the tensor '__metadata__' was written as header metadata")
    return os.path.getsize(src)


@reproducer
def decode_same_stem_two_inputs(tmp: str) -> int:
    for d, v in (("a", 1.0), ("b", 2.0)):
        os.makedirs(os.path.join(tmp, d))
        _small_nnc(os.path.join(tmp, d), {"w": np.full(4, v, np.float32)}, "upd.nnc")
    out = os.path.join(tmp, "out")
    code = cli(["decode", f"{tmp}/a/upd.nnc", f"{tmp}/b/upd.nnc", "-o", out + "/"])
    if code == 0 and len([f for f in os.listdir(out) if f.endswith(".npz")]) != 2:
        raise Lost(f"two inputs wrote {os.listdir(out)}")
    return 2 * os.path.getsize(f"{tmp}/a/upd.nnc")


for _ext in (".safetensors", ".pt", ".npz"):
    def _over(tmp: str, ext: str = _ext) -> int:
        from nnr.checkpoint import write_checkpoint

        src = os.path.join(tmp, "m" + ext)
        write_checkpoint(src, {"w": np.ones(4, np.float32)})
        before = open(src, "rb").read()
        cli(["encode", src, "-o", src])
        if open(src, "rb").read() != before:
            raise Lost("nnr encode overwrote its input")
        return len(before)
    _over.__name__ = "encode_over_input" + _ext.replace(".", "_")
    reproducer(_over)


@reproducer
def encode_into_input_hf_folder(tmp: str) -> int:
    from nnr.checkpoint import write_checkpoint

    write_checkpoint(tmp, {"w": np.ones(4, np.float32)}, folder=True)
    cli(["encode", tmp, "-o", os.path.join(tmp, "model.safetensors")])
    _read(tmp)
    return 64


# -- CLI output ------------------------------------------------------------------------------------------


def _nan_stream(tmp: str) -> str:
    p = os.path.join(tmp, "n.nnc")
    with open(p, "wb") as f:
        f.write(stream([raw_unit("w", np.array([np.nan, 1.0, np.inf]))]))
    return p


@reproducer
def info_json_strict(tmp: str) -> int:
    p = _nan_stream(tmp)
    cli(["info", "--json", p], check_json=True)
    return os.path.getsize(p)


@reproducer
def diff_json_identical(tmp: str) -> int:
    p = _small_nnc(tmp)
    cli(["diff", "--json", p, p], check_json=True)
    return os.path.getsize(p)


@reproducer
def diff_nan_snr(tmp: str) -> int:
    p = _nan_stream(tmp)
    q = os.path.join(tmp, "q.nnc")
    with open(q, "wb") as f:
        f.write(stream([raw_unit("w", np.array([1.0, 1.0, 1.0]))]))
    out = cli(["diff", "--json", p, q], check_json=True, want_stdout=True)
    snr = json.loads(out)["tensors"][0]["snr_db"]
    if snr in ("inf", float("inf")):
        raise Lost("SNR inf for a NaN error")
    return os.path.getsize(p)


@reproducer
def escape_in_names(tmp: str) -> int:
    p = _small_nnc(tmp, {"a\x1b]0;pwned\x07\x1b[2J": np.ones(3, np.float32), "b\x9b31m": np.ones(2, np.float32)})
    for argv in (["info", p], ["trace", p], ["diff", p, p]):
        out = cli(argv, want_stdout=True)
        if any(c in out for c in "\x1b\x07\x9b"):
            raise Lost(f"'nnr {argv[0]}' printed a terminal escape")
    return os.path.getsize(p)


@reproducer
def decode_float16_overflow(tmp: str) -> int:
    p = _small_nnc(tmp, {"w": np.array([1e6, 1.0, -7e4], np.float32)})
    err = cli(["decode", p, "-o", os.path.join(tmp, "o.npz"), "--dtype", "float16"], want_stderr=True)
    if "RuntimeWarning" in err or "outside the finite range" not in err:
        raise Lost(f"float16 overflow not reported: {err!r}")
    return os.path.getsize(p)


@reproducer
def pt_garbage_cli(tmp: str) -> int:
    p = os.path.join(tmp, "g.pt")
    with open(p, "wb") as f:
        f.write(_noise(300))
    cli(["encode", p, "-o", os.path.join(tmp, "o.nnc")])
    return 300


@reproducer
def hf_decode_config_hint(tmp: str) -> int:
    p = _small_nnc(tmp)
    err = cli(["decode", p, "-o", os.path.join(tmp, "hf") + "/", "--format", "hf"], want_stderr=True)
    if "config.json" not in err:
        raise Lost("no hint that config.json is needed")
    return os.path.getsize(p)


# -- sessions ------------------------------------------------------------------------------------------


@reproducer
def encoder_base_keeps_all_zero_tensor(tmp: str) -> int:
    rng = np.random.default_rng(0)
    base = {"w": rng.normal(size=(8, 4)).astype(np.float32), "pooler.dense.bias": np.zeros(8, np.float32)}
    enc, dec = nnr.Encoder(), nnr.Decoder()
    got = dec.decode(enc.encode(base))
    if set(got) != set(base):
        raise Lost(f"the base stream lost {set(base) - set(got)}")
    upd = dec.decode(enc.encode({"w": rng.normal(size=(8, 4)).astype(np.float32)}))
    if set(upd) != {"w"}:
        raise Lost("update decoded wrongly")
    return 64


# -- running one, limited ---------------------------------------------------------------------------------


class CLIFailure(Exception):
    pass


def cli(argv: list[str], *, check_json: bool = False, want_stdout: bool = False, want_stderr: bool = False) -> Any:
    """Run ``nnr argv`` in this process; an "internal error" (exit 3) or a traceback is foreign."""
    from nnr.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = err.getvalue()
    if code == 3 or "internal error" in text or "Traceback" in text:
        raise CLIFailure(f"nnr {argv[0]}: exit {code}: {text.strip()[:300]}")
    if code not in (0, 1, 2):
        raise CLIFailure(f"nnr {argv[0]}: exit {code}")
    if code == 0 and check_json:
        json.loads(out.getvalue(), parse_constant=lambda c: (_ for _ in ()).throw(CLIFailure(f"JSON with {c}")))
    if want_stdout:
        return out.getvalue()
    if want_stderr:
        return text
    return code


def classify(fn: Callable[[str], int]) -> dict[str, Any]:
    """Run one reproducer here (in a scratch folder) and classify its end."""
    tmp = tempfile.mkdtemp(prefix="nnr-surface-")
    before = set(os.listdir(tempfile.gettempdir()))
    try:
        n = fn(tmp)
        res = {"cls": "ok", "input_bytes": int(n or 0)}
    except Lost as e:
        res = {"cls": "lost", "msg": str(e)}
    except nnr.NNRError as e:
        located = e.unit_index is not None or e.element is not None or isinstance(e, nnr.fl.CorruptReplyError) \
            if "nnr.fl" in sys.modules else e.unit_index is not None or e.element is not None
        res = {"cls": "nnr_error" if located else "foreign", "msg": str(e)[:300]}
    except nnr.NNRUsageError as e:
        res = {"cls": "usage_error", "msg": str(e)[:300]}
    except CLIFailure as e:
        res = {"cls": "foreign", "msg": str(e)}
    except MemoryError:
        res = {"cls": "memory", "msg": "MemoryError"}
    except BaseException as e:  # noqa: BLE001
        res = {"cls": "foreign", "msg": f"{type(e).__name__}: {str(e)[:300]}", "tb": traceback.format_exc()[-2000:]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    leaked = set(os.listdir(tempfile.gettempdir())) - before
    if any(n in ("x", "x.npy") for n in leaked):
        res = {"cls": "lost", "msg": f"wrote outside the target: {sorted(leaked)}"}
    return res


def limited(fn: Callable[[str], int], mem: int = MEM_LIMIT, cpu: int = CPU_LIMIT, wall: float = 120.0) -> dict[str, Any]:
    """:func:`classify` in a forked child under RLIMIT_AS / RLIMIT_CPU; adds the child's peak
    memory growth and ``memory_per_byte`` when it exceeds the bound."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
            t0 = time.process_time()
            res = classify(fn)
            res["cpu"] = round(time.process_time() - t0, 3)
            res["peak_growth"] = max(0, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10) - base)
            os.write(w, json.dumps(res).encode())
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    deadline = time.time() + wall
    import select

    while True:
        ready, _, _ = select.select([r], [], [], max(0.0, deadline - time.time()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            return {"cls": "timeout", "msg": "wall clock"}
        c = os.read(r, 1 << 16)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
            return {"cls": "timeout", "msg": "SIGXCPU"}
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            return {"cls": "memory", "msg": "SIGKILL"}
        return {"cls": "crash", "msg": f"status {status}"}
    res: dict[str, Any] = json.loads(b"".join(chunks))
    n = int(res.get("input_bytes", 0) or 0)
    if res["cls"] in DOCUMENTED and n and res.get("peak_growth", 0) > MEMORY_BASE + BYTES_PER_INPUT_BYTE * n:
        res["cls"] = "memory_per_byte"
    return res


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(REPRODUCERS)
    bad = 0
    for name in names:
        res = limited(REPRODUCERS[name])
        ok = res["cls"] in DOCUMENTED
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name}: {res['cls']} cpu {res.get('cpu', '?')} s, "
              f"+{res.get('peak_growth', 0) >> 20} MiB  {res.get('msg', '')[:150]}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
