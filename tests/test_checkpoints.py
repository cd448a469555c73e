"""Real checkpoints in and out (issue 10): torch state dicts with BatchNorm, 0-d and integer
buffers; bf16 / fp16 / fp8 tensors; .safetensors files and sharded Hugging Face folders through
``nnr encode`` / ``nnr decode``; lazy per-tensor access.  The tests make their own checkpoints."""

from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np
import pytest

import nnr
from nnr.cli import main
from nnr.dtypes import from_float32_bits, to_float32

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from extras import require  # noqa: E402


def cnn(torch):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                            torch.nn.Conv2d(8, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 4 * 4, 10))
    m.train()
    for _ in range(3):
        m(torch.randn(4, 3, 8, 8))
    return m.eval()


def test_batchnorm_cnn_state_dict_round_trip_strict():
    torch = require("torch")
    import nnr.torch

    m = cnn(torch)
    sd = m.state_dict()
    assert sd["1.num_batches_tracked"].dtype == torch.int64 and sd["1.num_batches_tracked"].shape == ()
    data = nnr.torch.encode(m)
    fresh = cnn(torch)
    for b in (fresh[1], fresh[4]):
        b.num_batches_tracked.zero_()
    assert str(nnr.torch.load_state_dict(fresh, data, strict=True)) == "<All keys matched successfully>"
    got = fresh.state_dict()
    assert list(got) == list(sd)
    for k, v in sd.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
    assert int(got["1.num_batches_tracked"]) == 3 and int(got["4.num_batches_tracked"]) == 3
    # plain nnr.decode: a dict that load_state_dict(strict=True) accepts too
    d = nnr.decode(data)
    assert d["1.num_batches_tracked"].shape == () and d["1.num_batches_tracked"].dtype == np.int32
    assert nnr.decode(data, dtype="original")["1.num_batches_tracked"].dtype == np.int64
    m.load_state_dict({k: torch.from_numpy(v) for k, v in d.items()}, strict=True)
    # float tensors decode to the quantized values: within half a step of the originals
    step = 2.0 ** (-38 / 4)
    assert float((got["0.weight"] - sd["0.weight"]).abs().max()) <= step / 2 + 1e-6


def test_record_leaves_float32_streams_alone():
    w = np.linspace(-1, 1, 48, dtype=np.float32).reshape(6, 8)
    plain = nnr.encode({"w": w})
    from nnr.nncodec import nnc

    assert plain == bytes(nnc.compress({"w": w}))  # no record, no decompressed format
    assert nnr.decode(plain, dtype="original")["w"].dtype == np.float32
    # inputs NNCodec converts (float16, int64) keep NNCodec's bytes unless recording is asked for
    h = w.astype(np.float16)
    assert nnr.encode({"w": h}) == bytes(nnc.compress({"w": h}))
    assert nnr.encode({"w": h}, record_dtypes=True) != nnr.encode({"w": h})


def test_fp16_int64_recorded_in_ndu_header():
    from nnr.decoder import Decoder

    w = np.linspace(-1, 1, 48).astype(np.float16).reshape(6, 8)
    data = nnr.encode({"w": w, "n": np.array([5, 6], np.int64)}, record_dtypes=True)
    ds = Decoder().decode_stream(data)
    fmts = [u.ndu.nnr_decompressed_data_format for u in ds.units if u.ndu is not None]
    assert fmts == [8, 7]  # TENSOR_FLOAT16, TENSOR_INT64
    from nnr.dtypes import decode_record

    assert all(decode_record(u.topology.topology_data) is None for u in ds.units if u.topology is not None)
    out = nnr.decode(data, dtype="original")
    assert out["w"].dtype == np.float16 and out["n"].dtype == np.int64
    assert out["n"].tolist() == [5, 6]


def test_bf16_bits_round_to_nearest_even():
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e38, 1e-40], np.float32)
    bits = from_float32_bits(x, "bfloat16")
    # 1.00390625 is halfway between 1.0 and 1.0078125: ties to even (1.0)
    assert bits.tolist() == [0x3F80, 0x3F80, 0x3F82, 0xC020, 0x7F62, 0x0001]
    assert to_float32(bits, "bfloat16").tolist()[:4] == [1.0, 1.0, 1.015625, -2.5]
    # float8 codes as torch 2.13 converts these values (subnormals included)
    x = np.array([0.0, 1.0, 448.0, -0.3, 0.0107421875, 3.3e-3, 1e-5], np.float32)
    e4 = from_float32_bits(x, "float8_e4m3fn")
    assert e4.tolist() == [0, 56, 126, 170, 6, 2, 0]
    assert from_float32_bits(x, "float8_e5m2").tolist() == [0, 60, 95, 181, 34, 27, 1]
    assert to_float32(e4, "float8_e4m3fn").tolist()[:4] == [0.0, 1.0, 448.0, -0.3125]


def _bf16_safetensors(path, torch=None):
    """A bf16 checkpoint written by the safetensors package when present, else by hand."""
    rng = np.random.default_rng(3)
    vals = {"model.embed.weight": rng.standard_normal((50, 16)) * 0.02,
            "model.layers.0.mlp.weight": rng.standard_normal((32, 16)) * 0.02,
            "model.norm.weight": 1 + rng.standard_normal(16) * 0.05}
    bits = {k: from_float32_bits(v.astype(np.float32), "bfloat16") for k, v in vals.items()}
    header = {}
    blob = b""
    for k, b in bits.items():
        header[k] = {"dtype": "BF16", "shape": list(b.shape), "data_offsets": [len(blob), len(blob) + b.nbytes]}
        blob += b.astype("<u2").tobytes()
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)
    return {k: to_float32(b, "bfloat16") for k, b in bits.items()}


def test_bf16_safetensors_through_the_cli(tmp_path, capsys):
    src = tmp_path / "m.safetensors"
    vals = _bf16_safetensors(src)
    nnc_path = tmp_path / "m.nnc"
    assert main(["encode", str(src), "-o", str(nnc_path), "-q"]) == 0
    out = tmp_path / "out.safetensors"
    assert main(["decode", str(nnc_path), "-o", str(out)]) == 0
    st = require("safetensors")
    torch = require("torch")
    from safetensors.torch import load_file

    got = load_file(str(out))
    assert {k: v.dtype for k, v in got.items()} == {k: torch.bfloat16 for k in vals}
    for k, v in vals.items():
        assert tuple(got[k].shape) == v.shape
        assert float((got[k].float().numpy() - v).__abs__().max()) < 0.01
    # --dtype float32 writes float32
    out32 = tmp_path / "out32.safetensors"
    assert main(["decode", str(nnc_path), "-o", str(out32), "--dtype", "float32"]) == 0
    assert {str(v.dtype) for v in load_file(str(out32)).values()} == {"torch.float32"}
    del st


def test_sharded_hf_folder_in_and_out(tmp_path):
    torch = require("torch")
    require("safetensors")
    from safetensors.torch import load_file, save_file

    m = cnn(torch)
    sd = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in m.state_dict().items()}
    names = list(sd)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shards = [names[:5], names[5:]]
    weight_map = {}
    for i, part in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({k: sd[k].contiguous() for k in part}, str(folder / fn))
        weight_map.update({k: fn for k in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 0},
                                                                     "weight_map": weight_map}))
    stream = tmp_path / "ckpt.nnc"
    assert main(["encode", str(folder), "-o", str(stream), "-q"]) == 0
    out = tmp_path / "restored"
    assert main(["decode", str(stream), "-o", str(out), "--format", "hf"]) == 0
    got = load_file(str(out / "model.safetensors"))
    assert sorted(got) == sorted(names)
    assert {k: v.dtype for k, v in got.items()} == {k: v.dtype for k, v in sd.items()}
    assert got["1.num_batches_tracked"].shape == () and int(got["1.num_batches_tracked"]) == 3
    fresh = cnn(torch)
    fresh.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in got.items()}, strict=True)
    # written as shards when larger than the shard size
    from nnr.checkpoint import read_checkpoint, write_checkpoint

    arrays, dtypes = read_checkpoint(str(out))
    files = write_checkpoint(str(tmp_path / "sharded"), arrays, dtypes, folder=True, max_shard_bytes=600)
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    assert len(files) > 2 and sorted(index["weight_map"]) == sorted(names)
    again, dtypes2 = read_checkpoint(str(tmp_path / "sharded"))
    assert dtypes2 == dtypes
    assert all(np.array_equal(again[k], arrays[k]) for k in names)


def test_pt_checkpoint_through_the_cli(tmp_path):
    torch = require("torch")
    m = cnn(torch)
    torch.save(m.state_dict(), str(tmp_path / "m.pt"))
    assert main(["encode", str(tmp_path / "m.pt"), "-o", str(tmp_path / "m.nnc"), "-q"]) == 0
    assert main(["decode", str(tmp_path / "m.nnc"), "-o", str(tmp_path / "back.pt")]) == 0
    back = torch.load(str(tmp_path / "back.pt"), weights_only=True)
    fresh = cnn(torch)
    fresh.load_state_dict(back, strict=True)
    assert back["1.num_batches_tracked"].dtype == torch.int64


def _hundred(n=100):
    rng = np.random.default_rng(11)
    t = {f"layer{i:03d}.weight": (rng.standard_normal((8, 8)) * 0.05).astype(np.float32) for i in range(n - 1)}
    t["big.weight"] = (rng.standard_normal((256, 256)) * 0.05).astype(np.float32)
    return t


def test_lazy_open_decodes_only_the_unit(monkeypatch):
    from nnr.decoding import dialect as dialect_module  # the decoder decodes payloads through its dialect rules

    tensors = _hundred()
    data = nnr.encode(tensors)
    full = nnr.decode(data)
    decoded = []
    real = dialect_module.decode_payload

    def spy(buf, start, end, h, ctx, r):
        out = real(buf, start, end, h, ctx, r)
        decoded.extend(t.name for t in out)
        return out

    monkeypatch.setattr(dialect_module, "decode_payload", spy)
    with nnr.open(data) as f:
        assert f.keys() == list(tensors)
        assert decoded == []  # opening decodes no payload
        w = f.get_tensor("layer042.weight")
        assert decoded == ["layer042.weight"]
        assert np.array_equal(w, full["layer042.weight"])
        assert np.array_equal(f.get_tensor("big.weight"), full["big.weight"])
        with pytest.raises(nnr.NNRUsageError, match="no tensor"):
            f.get_tensor("nope")


def test_lazy_open_file_and_dtypes(tmp_path):
    p = tmp_path / "m.nnc"
    p.write_bytes(nnr.encode({"w": np.ones((4, 4), np.float16), "n": np.array(9, np.int64)}, record_dtypes=True))
    with nnr.open(str(p)) as f:
        assert f.get_tensor("n").shape == () and int(f.get_tensor("n")) == 9
        assert f.get_tensor("n", dtype="original").dtype == np.int64
        assert f.get_tensor("w", dtype="original").dtype == np.float16
    assert main(["decode", str(p), "--only", "n", "-o", str(tmp_path / "n.npz")]) == 0
    z = np.load(tmp_path / "n.npz")
    assert list(z.keys()) == ["n"] and z["n"].dtype == np.int64


def test_lazy_refuses_update_units():
    enc = nnr.Encoder()
    w = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    enc.encode({"w": w})
    upd = enc.encode({"w": w * 0.5})
    with nnr.open(upd) as f:
        with pytest.raises(nnr.NNRUsageError, match="update of an earlier stream"):
            f.get_tensor("w")


@pytest.mark.parametrize("argv, message", [
    (["decode", "{d}", "-o", "{t}/x.npz"], "is a directory"),
    (["decode", "{t}/m.nnc", "-o", "{t}/missing/x.npz"], "does not exist"),
    (["decode", "{t}/m.npz", "-o", "{t}/x.npz"], "is a checkpoint, not an .nnc stream"),
    (["encode", "{t}/m.nnc", "-o", "{t}/y.nnc"], "is an NNR stream, not a checkpoint"),
    (["encode", "{t}/m.npz", "-o", "{t}/missing/y.nnc"], "does not exist"),
    (["encode", "{t}/nothere.npz", "-o", "{t}/y.nnc"], "does not exist"),
    (["decode", "{t}/m.nnc", "-o", "{t}/x.bin"], "give a .npz, .safetensors or .pt file"),
])
def test_bad_paths_one_line(tmp_path, capsys, argv, message):
    np.savez(tmp_path / "m.npz", w=np.ones((2, 2), np.float32))
    (tmp_path / "m.nnc").write_bytes(nnr.encode({"w": np.ones((2, 2), np.float32)}))
    args = [a.format(t=tmp_path, d=tmp_path) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_omitted_update_tensor_warns():
    enc = nnr.Encoder()
    w = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    base = enc.encode({"w": w, "z": w})
    with pytest.warns(nnr.encoder.OmittedTensorWarning, match="'z'"):
        upd = enc.encode({"w": w * 0.5, "z": np.zeros_like(w)})
    session = nnr.Decoder()
    session.decode(base)
    assert list(session.decode(upd)) == ["w"]


@pytest.mark.parametrize("args, message", [
    ({"approx_method": "bogus"}, "approx_method"),
    ({"sparsity": 2.0}, "sparsity"),
    ({"sparsity": -0.1}, "sparsity"),
    ({"sparsity": "0.5"}, "must be a number"),
    ({"qp": -32.5}, "must be an integer"),
])
def test_dropin_refuses_args_nncodec_ignores(args, message):
    from nnr.nncodec import nn, tensor

    w = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    with pytest.raises(nnr.NNRUsageError, match=message):
        nn.encode({"w": w}, args={**args, "verbose": False}, epoch=1)
    with pytest.raises(nnr.NNRUsageError, match=message):
        tensor.encode(w, args=args)
