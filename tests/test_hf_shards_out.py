"""``nnr decode --format hf --max-shard-size``: a Hugging Face folder written in shards, read back
strictly (file layout, index, dtypes, values held to the decoder's output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nnr
from nnr.checkpoint import read_safetensors, write_safetensors
from nnr.cli import main


def test_sharded_folder_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(0, 0.05, (16, 16)).astype(np.float32)  # 1024 bytes
    b = rng.normal(0, 0.05, (16, 8)).astype(np.float32)  # 256 bytes as bfloat16
    src = tmp_path / "in.safetensors"
    write_safetensors(str(src), {"a.weight": a, "b.weight": b}, {"b.weight": "bfloat16"})
    nnc = tmp_path / "m.nnc"
    assert main(["encode", str(src), "-o", str(nnc), "-q"]) == 0
    out = tmp_path / "hf"
    assert main(["decode", str(nnc), "-o", str(out), "--format", "hf", "--max-shard-size", "1KB"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                     "model.safetensors.index.json"]
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert index == {"metadata": {"total_size": 1024 + 256},
                     "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                    "b.weight": "model-00002-of-00002.safetensors"}}
    decoded = nnr.decode(nnc.read_bytes())
    s1, d1, _ = read_safetensors(str(out / names[0]))
    s2, d2, _ = read_safetensors(str(out / names[1]))
    assert (list(s1), d1, list(s2), d2) == (["a.weight"], {"a.weight": "float32"}, ["b.weight"], {"b.weight": "bfloat16"})
    assert np.array_equal(s1["a.weight"], decoded["a.weight"])
    # bf16 holds the decoded float32 values rounded to bfloat16 (round to nearest even)
    bits = decoded["b.weight"].view(np.uint32).astype(np.uint64)
    rounded = (((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
    assert np.array_equal(np.asarray(s2["b.weight"], dtype=np.float32), rounded)
    capsys.readouterr()
    # the folder reads back as a checkpoint (nnr diff reads the shards through the index)
    assert main(["diff", str(nnc), str(out), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["tensors"]}
    assert rows["a.weight"]["max_abs_error"] == 0.0
    assert rows["b.weight"]["max_abs_error"] == float(np.max(np.abs(rounded.astype(np.float64) - decoded["b.weight"])))
    for args, msg in [(["-o", str(tmp_path / "x.npz"), "--max-shard-size", "1KB"], "add --format hf"),
                      (["-o", str(tmp_path / "y"), "--format", "hf", "--max-shard-size", "lots"], "not a size")]:
        capsys.readouterr()
        try:
            code = main(["decode", str(nnc), *args])
        except SystemExit as e:  # argparse: a bad value
            code = int(e.code or 0)
        err = capsys.readouterr().err
        assert code == 2 and msg in err, (args, err)


def test_api_refuses_checkpoints_as_streams(tmp_path: Path) -> None:
    """nnr.decode / nnr.Decoder / nnr.open given a checkpoint path: NNRUsageError, as the CLI."""
    from nnr.errors import NNRUsageError

    for name in ("m.npz", "m.safetensors", "m.pt", "M.PTH"):
        p = tmp_path / name
        p.write_bytes(b"PK\x03\x04 not a stream")
        for fn in (nnr.decode, nnr.Decoder().decode_stream, nnr.open):
            with pytest.raises(NNRUsageError, match=r"is a checkpoint, not an \.nnc stream"):
                fn(str(p))


def test_rewriting_a_folder_leaves_no_stale_shards(tmp_path: Path) -> None:
    """Writing a checkpoint into a folder that holds an earlier one: only the new files remain
    (a stale index would make readers load the old shards); other files are left alone."""
    rng = np.random.default_rng(6)
    src = tmp_path / "in.npz"
    np.savez(src, **{"a.weight": rng.normal(0, 0.05, (16, 16)).astype(np.float32),
                     "b.weight": rng.normal(0, 0.05, (16, 8)).astype(np.float32)})
    nnc = tmp_path / "m.nnc"
    assert main(["encode", str(src), "-o", str(nnc), "-q"]) == 0
    out = tmp_path / "hf"
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert main(["decode", str(nnc), "-o", str(out), "--format", "hf", "--max-shard-size", "1KB"]) == 0
    assert len(list(out.glob("model-*.safetensors"))) == 2
    assert main(["decode", str(nnc), "-o", str(out), "--format", "hf"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    assert main(["decode", str(nnc), "-o", str(out), "--format", "hf", "--max-shard-size", "1KB"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model-00001-of-00002.safetensors",
                                                     "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
