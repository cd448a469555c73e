"""Hostile and careless input (issue 11): every stream problem an NNRError with unit, element and
bit offset, found before anything large is allocated; every misuse an NNRUsageError naming the
argument; the encoder's streams decode to what it reports."""

import dataclasses
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import nnr
from nnr.bitstream import BitWriter
from nnr.units.compressed_data_unit import CompressedDataUnitHeader, IntegerCodebook
from nnr.units.context import UnitContext
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import write_unit
from nnr.units.types import CompressedParameterTypes as CPT
from nnr.units.types import NNRUnitType, PayloadType
from nnr.writer import StreamWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stream_with(header: CompressedDataUnitHeader, payload: bytes = bytes(16), mps: ModelParameterSet | None = None,
                gpi: int = 1) -> bytes:
    s = StreamWriter()
    s.start_unit(gpi)
    s.model_parameter_set(mps or ModelParameterSet(mps_qp_density=2))
    s.compressed_data_unit(header, payload)
    return s.getvalue()


def located(e: nnr.NNRError) -> bool:
    return e.unit_index is not None and e.element is not None and e.bit_offset is not None


def refused_small(data: bytes, cls: type = nnr.LimitExceededError, limit: int = 16 << 20,
                  **opts: object) -> nnr.NNRError:
    """Decoding fails with ``cls`` (located) and allocates less than ``limit`` on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(cls) as ei:
            nnr.Decoder(**opts).decode(data)  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, peak
    assert located(ei.value), str(ei.value)
    return ei.value


# -- sizes and counts, checked before allocation -------------------------------------------------------


@pytest.mark.parametrize("pt", [PayloadType.NNR_PT_FLOAT, PayloadType.NNR_PT_INT, PayloadType.NNR_PT_RAW_FLOAT])
@pytest.mark.parametrize("dims", [[0, 1 << 62], [1 << 62, 0], [3, 0, 1 << 40], [0, (1 << 64) + 5]])
def test_zero_dimension_beside_a_huge_one(pt, dims):
    h = CompressedDataUnitHeader(nnr_compressed_data_unit_payload_type=pt, topology_elem_id="w",
                                 tensor_dimensions=dims)
    e = refused_small(stream_with(h))
    assert e.element == "tensor_dimensions" and e.unit_index == 2


def test_row_skipping_cannot_amplify_a_tiny_payload():
    # 2^28 elements, every row skippable with one bin: a 16-byte payload cannot justify them
    h = CompressedDataUnitHeader(topology_elem_id="w", tensor_dimensions=[1 << 14, 1 << 14])
    e = refused_small(stream_with(h))
    assert e.element == "tensor_dimensions" and ("per payload byte" in e.reason or "per byte of the" in e.reason)
    # ... but a raised limit lets a stream decode that codes what it describes
    w = np.zeros((64, 4096), np.float32)
    w[3, 5] = 1.0
    data = nnr.encode({"w": w}, row_skipping=True)
    with pytest.raises(nnr.LimitExceededError):
        nnr.Decoder(max_expansion=1).decode(data)
    np.testing.assert_array_equal(nnr.decode(data)["w"] != 0, w != 0)


def test_size1_codebook_cannot_amplify_a_tiny_payload():
    h = CompressedDataUnitHeader(topology_elem_id="w", tensor_dimensions=[1 << 14, 1 << 14], codebook_present_flag=1,
                                 codebook=IntegerCodebook(codebook_egk=0, codebook=[0], cb_zero_offset=0))
    e = refused_small(stream_with(h))
    assert e.element == "tensor_dimensions"


def test_decomposition_rank_cannot_amplify():
    h = CompressedDataUnitHeader(topology_elem_id="w_G", tensor_dimensions=[1 << 10, 1 << 10],
                                 compressed_parameter_types=CPT.NNR_CPT_DC, decomposition_rank=1 << 24,
                                 g_number_of_rows=1 << 10)
    refused_small(stream_with(h))


def test_many_tiny_units_are_bounded():
    s = StreamWriter()
    s.start_unit(1)
    one = s.start_unit(1)
    data = s.getvalue() + one * 70_000
    e = refused_small(data, limit=64 << 20, max_units=1 << 16)  # ~570 bytes per unit parsed, for 4 stream bytes
    assert e.element == "nnr_unit" and e.unit_index == 1 << 16
    assert nnr.decoder.MAX_UNITS == nnr.limits.MAX_UNITS >= 90_000  # large MoE checkpoints: ~90K tensors
    assert len(nnr.Decoder().decode_stream(data).units) == 70_002


def test_decoder_options_are_checked():
    for kw in ({"max_tensor_elements": -1}, {"max_tensor_elements": 2.5}, {"max_expansion": "1"},
               {"reconstruct_lsa": "yes"}, {"verify_entry_points": None}, {"out_of_band": {"w": {"tensor_dimensions": "ab"}}},
               {"out_of_band": {"w": {"decomposition_rank": -3}}}, {"out_of_band": [1, 2]}, {"max_units": 0}):
        name = next(iter(kw))
        with pytest.raises(nnr.NNRUsageError, match=name):
            nnr.Decoder(**kw)  # type: ignore[arg-type]


# -- reconstruction ------------------------------------------------------------------------------------


def _units(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        n = 4 if data[pos] >> 7 else 2
        size = int.from_bytes(data[pos:pos + n], "big") & ((1 << (8 * n - 1)) - 1)
        out.append(data[pos:pos + size])
        pos += size
    return out


def _with_mps(data: bytes, **fields: int) -> bytes:
    ds = nnr.Decoder().decode_stream(data)
    mps = dataclasses.replace(ds.mps, **fields)
    w = BitWriter()
    mps.write(w, UnitContext(ds.general_profile_idc))
    us = _units(data)
    i = next(u.index for u in ds.units if u.mps is not None)
    us[i] = write_unit(NNRUnitType.NNR_MPS, w.getvalue())
    return b"".join(us)


def test_step_times_level_overflow_is_a_located_stream_error():
    w = np.linspace(-300, 300, 64, dtype=np.float32).reshape(8, 8)
    data = nnr.encode({"w": w}, qp=-38, use_dq=False, nonweight_qp=-38)
    # the tensor QP becomes 470: its step (about 2^115) fits float32, step x level does not
    bad = _with_mps(data, mps_quantization_parameter=508)
    with pytest.raises(nnr.MalformedStreamError) as ei:
        nnr.decode(bad)
    assert located(ei.value) and "finite float32" in ei.value.reason


def test_codebook_cast_overflow_is_a_located_stream_error():
    rng = np.random.default_rng(3)
    w = rng.choice([-2.0, 0.0, 1.0, 3.0], size=(8, 8)).astype(np.float32)
    data = nnr.encode({"w": w}, codebook_mode=1)
    assert nnr.Decoder().decode_stream(data).outputs[0].coded[0].codebook is not None
    # the tensor QP becomes 478: step 2^117.5 fits float32, the entry 4096 times it does not
    bad = _with_mps(data, mps_quantization_parameter=520)
    with pytest.raises(nnr.MalformedStreamError) as ei:
        nnr.decode(bad)
    assert located(ei.value)


def test_an_empty_stream_names_its_element():
    with pytest.raises(nnr.NNRError) as ei:
        nnr.decode(b"")
    assert located(ei.value)


def test_duplicate_names_in_a_block_are_a_stream_error():
    rng = np.random.default_rng(0)
    t = {"c.weight": rng.standard_normal((4, 3)).astype(np.float32), "c.bias": rng.standard_normal(4).astype(np.float32)}
    blocks = {"block_identifier": {"c.weight": "c", "c.bias": "c"},
              "parameter_type": {"c.weight": "weight", "c.bias": "bias"}}
    data = nnr.encode(t, block_id_and_param_type=blocks)
    ds = nnr.Decoder().decode_stream(data)
    u = next(u for u in ds.units if u.ndu is not None)
    assert u.ndu.nnr_compressed_data_unit_payload_type == PayloadType.NNR_PT_BLOCK
    h = dataclasses.replace(u.ndu, topology_elem_id_list=["c.weight", "c.weight"])
    w = BitWriter()
    h.write(w, UnitContext(1, ds.mps))
    us = _units(data)
    payload = us[u.index][3 + u.ndu.header_bits // 8:]
    us[u.index] = write_unit(NNRUnitType.NNR_NDU, w.getvalue() + payload)
    for lsa in (False, True):
        with pytest.raises(nnr.MalformedStreamError) as ei:
            nnr.Decoder(reconstruct_lsa=lsa).decode(b"".join(us))
        assert ei.value.element == "topology_elem_id" and located(ei.value)


# -- misuse --------------------------------------------------------------------------------------------

W = {"w": np.ones((4, 4), np.float32)}


@pytest.mark.parametrize("kw,name", [
    ({"use_dq": "False"}, "use_dq"), ({"lambda_scale": "1.5"}, "lambda_scale"), ({"row_skipping": "yes"}, "row_skipping"),
    ({"bitdepth": "x"}, "bit depth"), ({"int_quant_bw": True}, "bit depth"), ({"qp": 1.5}, "qp"),
    ({"block_id_and_param_type": {"block_identifier": [1], "parameter_type": {}}}, "block_identifier"),
    ({"tca": None}, "tca"), ({"bogus": 1}, "bogus"),
])
def test_encoder_settings_are_type_checked(kw, name):
    with pytest.raises(nnr.NNRUsageError, match=name):
        nnr.encode(W, **kw)


def test_encoder_inputs_are_checked():
    with pytest.raises(nnr.NNRUsageError, match="rectangular"):
        nnr.encode({"w": [[1.0, 2.0], [3.0]]})
    with pytest.raises(nnr.NNRUsageError, match="UTF-8"):
        nnr.encode({"w\udc80": np.ones(3, np.float32)})
    with pytest.raises(nnr.NNRUsageError, match="33 dimensions"):
        nnr.encode({"w": np.ones((1,) * 32 + (2,), np.float32)})
    with pytest.raises(nnr.NNRUsageError, match="progress"):
        nnr.encode(W, progress=5)  # type: ignore[arg-type]


def test_dropin_args_are_checked(tmp_path):
    from nnr.nncodec import nn, nnc, tensor

    x = np.ones((4, 4), np.float32)
    for args, name in [({"sparsity": 2.0}, "sparsity"), ({"sparsity": None}, "sparsity"),
                       ({"approx_method": "bogus"}, "approx_method"), ({"typo_key": 1}, "typo_key"),
                       ({"use_dq": "False"}, "use_dq"), ({"bitdepth": "x"}, "bitdepth")]:
        with pytest.raises(nnr.NNRUsageError, match=name):
            tensor.encode(x, args)
        with pytest.raises(nnr.NNRUsageError, match=name):
            nn.encode({"w": x}, args)
    for path in (str(tmp_path), str(tmp_path / "a\0b"), 5, str(tmp_path / "missing" / "x.nnc")):
        with pytest.raises(nnr.NNRUsageError, match="bitstream_path"):
            nnc.compress({"w": x}, bitstream_path=path)
    with pytest.raises(nnr.NNRUsageError):
        nnr.decode(str(tmp_path))
    with pytest.raises(nnr.NNRUsageError):
        nnr.decode(str(tmp_path / "a\0b"))
    with pytest.raises(nnr.NNRUsageError, match="block_id_and_param_type"):
        nnc.compress({"w": x}, block_id_and_param_type={"block_identifier": 3, "parameter_type": {}})


def test_hdsp_history_survives_a_shape_change():
    from nnr.nncodec import HdspTool, nnc

    tool = HdspTool(True)
    for shape in ((4, 4), (2, 8), (3, 3)):
        bs = nnc.compress({"w": np.ones(shape, np.float32)}, compress_differences=True, pre_signalling=True)
        out, _ = nnc.decompress(bs, hdsp_tool=tool, return_hls=True)
        assert out["w"].shape == shape


# -- the encoder's streams decode to what it reports -------------------------------------------------------


@pytest.mark.parametrize("bw", [3, 8])
def test_int_quant_bw_sequences_decode_to_the_encoders_levels(bw):
    bad = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        shape = tuple(int(x) for x in rng.integers(2, 9, size=2))
        enc = nnr.Encoder(int_quant_bw=bw, row_skipping=bool(seed % 2), scan_order=seed % 3)
        dec = nnr.Decoder()
        for _ in range(3):
            t = (rng.standard_normal(shape) * rng.choice([0.01, 1.0, 100.0])).astype(np.float32)
            data = enc.encode({"w": t})
            out = dec.decode(data)["w"]
            assert np.all(np.isfinite(out))
            bad += not np.array_equal(np.asarray(enc.state.levels("w")).reshape(-1),
                                      np.asarray(dec.state.levels("w")).reshape(-1))
    assert bad == 0


def test_quantize_only_agrees_with_the_stream_under_a_bit_depth():
    from nnr.nncodec import nnc

    for seed in range(10):
        rng = np.random.default_rng(seed)
        t = {"w": (rng.standard_normal((6, 7)) * 50).astype(np.float32)}
        kw = {"int_quant_bw": int(rng.integers(2, 10)), "use_dq": True}
        rec = nnc.compress(t, quantize_only=True, **kw)
        out = nnc.decompress(nnc.compress(t, **kw))
        np.testing.assert_array_equal(np.asarray(rec["w"], np.float32), out["w"])


# -- the command line ------------------------------------------------------------------------------------


def test_cli_writes_tensors_named_like_savez_arguments(tmp_path):
    t = {"file": np.arange(6, dtype=np.float32).reshape(2, 3), "allow_pickle": np.ones(4, np.float32),
         "x": np.arange(3, dtype=np.int32)}
    src = tmp_path / "m.nnc"
    src.write_bytes(nnr.encode(t))
    out = tmp_path / "x.npz"
    p = subprocess.run([sys.executable, "-m", "nnr", "decode", str(src), "-o", str(out)], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    with np.load(out) as z:
        assert sorted(z.files) == ["allow_pickle", "file", "x"]
        ref = nnr.decode(src.read_bytes())
        for k in t:
            np.testing.assert_array_equal(z[k], ref[k])


def test_cli_never_prints_a_traceback(tmp_path):
    h = CompressedDataUnitHeader(topology_elem_id="w", tensor_dimensions=[0, 1 << 62])
    bad = tmp_path / "bad.nnc"
    bad.write_bytes(stream_with(h))
    for cmd in (["decode", str(bad), "-o", str(tmp_path / "o.npz")], ["info", str(bad)], ["trace", str(bad)],
                ["decode", str(tmp_path), "-o", str(tmp_path / "o.npz")]):
        p = subprocess.run([sys.executable, "-m", "nnr", *cmd], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
        assert p.returncode in (1, 2), (cmd, p.stderr)
        assert "Traceback" not in p.stderr and p.stderr.startswith("nnr: "), (cmd, p.stderr)


HUGE_DIMS = os.path.join(os.path.dirname(__file__), "data", "hostile", "streaming_huge_dimensions.nnc")


@pytest.mark.parametrize("fmt", ["safetensors", "hf", "npz"])
def test_streaming_decode_sizes_no_file_from_unjustified_dimensions(fmt: str, tmp_path: os.PathLike[str]) -> None:
    """Fuzzer find (merge of the streaming decoder with the stream-wide budget): a 2,135-byte
    stream whose fourth NDU claims ~2^63 elements made ``nnr decode -o out/ --format safetensors``
    size its file from the headers (OverflowError, "internal error").  The headers are now held
    to the stream-wide work budget before anything is sized or written."""
    from nnr.cli import main
    from nnr.errors import LimitExceededError

    with open(HUGE_DIMS, "rb") as f:
        data = f.read()
    with pytest.raises(LimitExceededError, match="tensor_dimensions"):
        with nnr.open(data) as lazy:
            lazy.keys()
    out = os.path.join(tmp_path, "out")
    assert main(["decode", HUGE_DIMS, "-o", out + "/", "--format", fmt]) == 1
    assert not os.path.exists(out) or os.listdir(out) == []


def test_streaming_encoder_checks_safetensors_entries_as_the_reader(tmp_path: os.PathLike[str],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Merge reproducer: the streaming encoder indexed .safetensors headers with its own checks,
    where a shape whose int64 product wraps to 0 ([2^32, 2^32] with 0 data bytes) passed.  It now
    uses the reader's entry checks (Python-int products)."""
    import json
    import struct

    from nnr.cli import main

    header = json.dumps({"w": {"dtype": "F32", "shape": [2 ** 32, 2 ** 32], "data_offsets": [0, 0]}}).encode()
    src = os.path.join(tmp_path, "m.safetensors")
    with open(src, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
    out = os.path.join(tmp_path, "m.nnc")
    assert main(["encode", src, "-o", out]) == 2
    assert "do not fit shape" in capsys.readouterr().err
    assert not os.path.exists(out)
