"""Large tensors split into block rows with entry points (nnr.encoding.split, nnr.cabac.rows,
nnr.decoding.split) and checkpoints streamed one tensor at a time (nnr.streaming).

Small tensors and small split thresholds keep these fast; the properties are those of the
issue: identical bytes and arrays for 1 and 2 workers, the split payload equal to the
sequential encoder's codeword for the same levels, split on by default in nnr's own API and
never in the NNCodec drop-in, streams from the streaming encoder equal to nnr.encode's, the
decoder's sink given one tensor at a time.
"""

from __future__ import annotations

import gc
import json
import os
import weakref

import numpy as np
import pytest

import nnr
from cabac_coding import coding
from nnr.cabac.enc_levels import encode_codeword_end, encode_iae, entry_points
from nnr.cabac.arith_encoder import ArithmeticEncoder
from nnr.encoding.layer import LayerCoding, encode_layer
from nnr.encoding.split import SPLIT_MIN_ELEMENTS, SPLIT_SCAN_ORDER, SplitCoding, encode_split_payload, quantize_split

RNG = np.random.default_rng(20)


def _weights(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 0.05).astype(np.float32)


@pytest.mark.parametrize("dq", [False, True])
@pytest.mark.parametrize("shape", [(200, 130), (130, 7), (65, 300)])
def test_split_payload_is_the_sequential_codeword(dq: bool, shape: tuple[int, int]) -> None:
    # rows coded apart and joined == encode_layer over the whole tensor, entry points included
    lv, qp = quantize_split(_weights(shape), -38, 2, dq, workers=1)
    lv2, qp2 = quantize_split(_weights(shape), -38, 2, dq, workers=2)
    assert qp == qp2 and np.array_equal(lv, lv2)
    for po in (False, True):
        data, eps, mism = encode_split_payload(lv, qp, SplitCoding(2, dq, 1, False, 11, po), 1)
        enc = ArithmeticEncoder()
        encode_iae(enc, 8, qp)
        info = encode_layer(enc, lv, LayerCoding(dq=dq, scan_order=SPLIT_SCAN_ORDER, gpi=1,
                                                 parent_node_id_present=False, num_gtx=11, param_opt=po))
        ref = encode_codeword_end(enc)
        assert data == ref
        assert [x for e in eps for x in (e.value, e.dq_state, e.bit_offset)] == entry_points(ref, info)
        assert mism == []
        assert encode_split_payload(lv, qp, SplitCoding(2, dq, 1, False, 11, po), 2) == (data, eps, mism)


def test_split_dq_rows_end_in_state_zero() -> None:
    # every entry point of a DQ tensor signals state 0 (each row's trellis ends there)
    lv, qp = quantize_split(_weights((300, 90), 3), -38, 2, True)
    _, eps, _ = encode_split_payload(lv, qp, SplitCoding(2, True, 1, False, 11, True))
    assert len(eps) == 300 // 64 and all(e.dq_state == 0 for e in eps)


def test_row_decoder_checks_every_entry_point() -> None:
    from nnr.cabac.arith_decoder import ArithmeticDecoder
    from nnr.cabac.dec_levels import TensorSideInfo
    from nnr.errors import MalformedStreamError
    from nnr.decoding.split import decode_rows

    lv, qp = quantize_split(_weights((300, 90), 3), -38, 2, True)
    data, eps, _ = encode_split_payload(lv, qp, SplitCoding(2, True, 1, False, 11, True))
    flat = [x for e in eps for x in (e.value, e.dq_state, e.bit_offset)]

    def run(points: list[int], workers: int) -> np.ndarray:
        dec = ArithmeticDecoder(data, 0, len(data))
        assert dec.decode_bypass_bins(8) == qp & 0xFF  # qp_offset
        tc = coding(300, 90, True, SPLIT_SCAN_ORDER, 1, 11, entry_points=points, verify=True)
        return decode_rows(dec, tc, TensorSideInfo(), workers)

    for workers in (1, 2):
        assert np.array_equal(run(flat, workers), lv.reshape(-1))
        for k in (3, 4, 5):  # entry point 1: value, DQ state, bit offset
            bad = list(flat)
            bad[k] += 1
            with pytest.raises(MalformedStreamError, match="entry point"):
                run(bad, workers)


TENSORS = {"a.weight": _weights((300, 200), 1), "b.weight": _weights((100, 70), 2), "b.bias": _weights((70,), 3)}


@pytest.mark.parametrize("dq", [False, True])
def test_workers_give_identical_bytes_and_arrays(dq: bool) -> None:
    d1 = nnr.encode(TENSORS, split_min_elements=1000, use_dq=dq)
    assert nnr.encode(TENSORS, split_min_elements=1000, use_dq=dq, workers=2) == d1
    assert d1 != nnr.encode(TENSORS, split_min_elements=0, use_dq=dq)
    o1 = nnr.decode(d1)
    o2 = nnr.decode(d1, workers=2)
    with nnr.open(d1) as f:
        o3 = {n: f.get_tensor(n, workers=2) for n in f.keys()}
    for k in TENSORS:
        assert np.array_equal(o1[k], o2[k]) and np.array_equal(o1[k], o3[k])
    # the split tensor decodes on the sequential path to the same levels
    o4 = nnr.Decoder(verify_entry_points=False).decode(d1)
    assert np.array_equal(o1["a.weight"], o4["a.weight"])
    # quantization error as without splitting (DQ: within a few per cent, rows end in state 0)
    whole = nnr.decode(nnr.encode(TENSORS, split_min_elements=0, use_dq=dq))["a.weight"]
    rms = [float(np.sqrt(np.mean((x - TENSORS["a.weight"]) ** 2))) for x in (o1["a.weight"], whole)]
    assert rms[0] <= 1.03 * rms[1]


def _ndu(data: bytes):  # type: ignore[no-untyped-def]
    return [u.ndu for u in nnr.Decoder().decode_stream(data).units if u.ndu is not None][0]


FAST = {"use_dq": False, "qp": -20, "param_opt": False}  # coarse levels: a quick 1M-element encode


def test_split_on_by_default_above_the_threshold() -> None:
    rows = SPLIT_MIN_ELEMENTS // 1024 + 1  # just above, with 1024 columns
    w = _weights((rows, 1024), 4)
    ndu = _ndu(nnr.encode({"w": w}, **FAST))
    assert ndu.scan_order == SPLIT_SCAN_ORDER and len(ndu.cabac_entry_point_list) == (rows + 63) // 64 - 1
    below = _ndu(nnr.encode({"w": w[: rows - 2]}, **FAST))  # just below: NNCodec's row-major scan
    assert below.scan_order == 0 and not below.cabac_entry_point_list


def test_dropin_never_splits() -> None:
    from nnr.nncodec import nnc

    t = {"w": _weights((SPLIT_MIN_ELEMENTS // 1024 + 1, 1024), 5)}
    got = bytes(nnc.compress(t, return_bitstream=True, **FAST))
    assert got == nnr.encode(t, split_min_elements=0, **FAST)
    assert _ndu(got).scan_order == 0


# -- streaming checkpoints ------------------------------------------------------------------------


def _folder(tmp_path: os.PathLike[str]) -> tuple[str, dict[str, np.ndarray]]:
    from nnr.checkpoint import HF_INDEX, write_safetensors

    path = os.path.join(tmp_path, "hf")
    os.makedirs(path)
    arrays = {"embed.weight": _weights((260, 64), 6), "l0.weight": _weights((64, 64), 7),
              "l0.norm": 1 + _weights((64,), 8), "l1.weight": _weights((64, 48), 9), "count": np.array(3, np.int64)}
    shards = [["embed.weight"], ["l0.weight", "l0.norm"], ["l1.weight", "count"]]
    weight_map = {}
    for i, names in enumerate(shards):
        f = f"model-{i + 1:05d}-of-00003.safetensors"
        write_safetensors(os.path.join(path, f), {n: arrays[n] for n in names},
                          {n: ("bfloat16" if arrays[n].dtype == np.float32 else "int64") for n in names})
        weight_map.update({n: f for n in names})
    with open(os.path.join(path, HF_INDEX), "w") as fh:
        json.dump({"weight_map": weight_map}, fh)
    return path, arrays


def test_streaming_encode_equals_in_memory(tmp_path: os.PathLike[str]) -> None:
    from nnr.checkpoint import read_checkpoint
    from nnr.streaming import TensorSource, encode_checkpoint

    path, _ = _folder(tmp_path)
    tensors, dtypes = read_checkpoint(path)
    ref = nnr.encode(tensors, dtypes=dtypes, record_dtypes=True, split_min_elements=1000)
    for workers in (1, 2):
        out = os.path.join(tmp_path, f"s{workers}.nnc")
        with open(out, "wb") as f:
            n = encode_checkpoint(TensorSource(path), f, workers=workers, split_min_elements=1000)
        with open(out, "rb") as f:
            got = f.read()
        assert n == len(got) and got == ref


def test_cli_streaming_both_ways_identical_for_workers(tmp_path: os.PathLike[str]) -> None:
    from nnr.checkpoint import read_checkpoint, write_checkpoint
    from nnr.cli import main

    path, _ = _folder(tmp_path)
    outs = []
    for j in ("1", "2"):
        stream = os.path.join(tmp_path, f"j{j}.nnc")
        assert main(["encode", path, "-o", stream, "-j", j, "-q", "--split-min-elements", "1000"]) == 0
        hf = os.path.join(tmp_path, f"out{j}")
        assert main(["decode", stream, "-o", hf, "--format", "hf", "--max-shard-size", "20000", "-j", j,
                     "--no-progress"]) == 0
        files = sorted(os.listdir(hf))
        outs.append((open(stream, "rb").read(), {f: open(os.path.join(hf, f), "rb").read() for f in files}))
    assert outs[0] == outs[1]
    # the streamed folder is what the in-memory writer writes for the decoded tensors
    stream = os.path.join(tmp_path, "j1.nnc")
    ds = nnr.Decoder().decode_stream(stream)
    ref = os.path.join(tmp_path, "ref")
    write_checkpoint(ref, ds.arrays(), {k: v.dtype for k, v in ds.original().items()}, folder=True,
                     max_shard_bytes=20000)
    assert {f: open(os.path.join(ref, f), "rb").read() for f in sorted(os.listdir(ref))} == outs[0][1]
    back, dts = read_checkpoint(os.path.join(tmp_path, "out1"))
    assert dts["embed.weight"] == "bfloat16" and dts["count"] == "int64" and back["count"].shape == ()
    # a single .safetensors file too
    st = os.path.join(tmp_path, "one.safetensors")
    assert main(["decode", stream, "-o", st, "-j", "2", "--no-progress"]) == 0
    a, _ = read_checkpoint(st)
    assert all(np.array_equal(a[k], back[k]) for k in back)


def test_cli_npz_streaming(tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]) -> None:
    from nnr.cli import main

    path, _ = _folder(tmp_path)
    stream = os.path.join(tmp_path, "s.nnc")
    assert main(["encode", path, "-o", stream, "-q", "--split-min-elements", "1000"]) == 0
    ref = nnr.Decoder().decode_stream(stream).arrays()
    for j in ("1", "2"):
        out = os.path.join(tmp_path, f"o{j}.npz")
        assert main(["decode", stream, "-o", out, "-j", j, "--no-progress"]) == 0
        assert "numpy has no bfloat16; 4 tensor(s) written as float32" in capsys.readouterr().err
        with np.load(out) as z:
            assert sorted(z.files) == sorted(ref)
            for k in ref:
                assert np.array_equal(z[k], ref[k])
            assert z["count"].dtype == np.int64 and z["count"].shape == () and int(z["count"]) == 3
            assert z["embed.weight"].dtype == np.float32


def test_decoder_sink_gets_tensors_one_at_a_time() -> None:
    from nnr.streaming import decode_tensors

    data = nnr.encode(TENSORS, split_min_elements=1000)
    seen: list[str] = []
    previous: list[weakref.ref[np.ndarray]] = []

    def sink(name: str, array: np.ndarray) -> None:
        gc.collect()
        assert all(r() is None for r in previous)  # the decoder let the earlier tensors go
        seen.append(name)
        previous.append(weakref.ref(array))

    assert decode_tensors(data, sink) == 3
    assert seen == list(TENSORS)
    ref = nnr.decode(data)
    got: dict[str, np.ndarray] = {}
    decode_tensors(data, lambda n, a: got.__setitem__(n, a), workers=2)
    assert all(np.array_equal(got[k], ref[k]) for k in ref)


def test_edition1_rules_never_split() -> None:
    """Merge reproducer: the row coders write the tensor preamble by NNCodec 2.1.3's rules, so a
    general_profile_idc 0 stream (NNCodec 0.3.1's rules by default) is coded whole, and decodes
    under the edition-1 rules to what the unsplit encoder writes."""
    from nnr.dialect import Dialect

    got = nnr.encode(TENSORS, split_min_elements=1000, general_profile_idc=0, use_dq=True)
    assert got == nnr.encode(TENSORS, split_min_elements=0, general_profile_idc=0, use_dq=True)
    assert _ndu(got).scan_order == 0
    out = nnr.decode(got, dialect=Dialect.ED1)
    assert all(np.array_equal(out[k], nnr.decode(got)[k]) for k in TENSORS)
    # the 2.1.3-style profile-0 bytes still split
    ed2 = nnr.encode(TENSORS, split_min_elements=1000, general_profile_idc=0, use_dq=True, dialect="ed2")
    assert ed2 != nnr.encode(TENSORS, split_min_elements=0, general_profile_idc=0, use_dq=True, dialect="ed2")
    assert _ndu(ed2).scan_order == SPLIT_SCAN_ORDER
