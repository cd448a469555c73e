"""Bad input to the encoder: a clear nnr.NNRUsageError, never a stream (nor a partial one)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nnr
from nnr.nncodec import new_approx_param_base, nnc, tensor

W = (np.random.RandomState(0).randn(8, 6) * 0.05).astype(np.float32)


def usage_error(match: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(nnr.NNRUsageError, match=match):
        fn(*args, **kwargs)


@pytest.mark.parametrize("api", ["encode", "compress", "session"])
def test_non_finite_values(api: str) -> None:
    for bad in (np.nan, np.inf, -np.inf):
        x = W.copy()
        x[3, 2] = bad
        if api == "encode":
            usage_error("NaN or infinite", nnr.encode, {"w": x})
        elif api == "compress":
            usage_error("NaN or infinite", nnc.compress, {"w": x})
        else:
            usage_error("NaN or infinite", nnr.Encoder().encode, {"w": x})
    usage_error("beyond the float32 range", nnr.encode, {"w": np.array([1e39, 0.0])})
    usage_error("NaN", nnr.encode, {"w": np.array([np.nan], np.float16)})


def test_shapes() -> None:
    # nnr.encode keeps 0-d tensors (coded with shape (1,), the shape recorded: issue 10,
    # tests/test_checkpoints.py); the drop-in compress refuses them
    usage_error("0-dimensional", nnc.compress, {"s": np.float32(1.5) * np.ones(())})
    usage_error("empty", nnr.encode, {"e": np.zeros((0,), np.float32)})
    usage_error("empty", nnr.encode, {"e": np.zeros((3, 0), np.float32)})
    usage_error("no tensors", nnr.encode, {})


def test_dtypes() -> None:
    usage_error("dtype bool", nnr.encode, {"b": np.ones(4, bool)})
    usage_error("dtype complex64", nnr.encode, {"c": np.ones(4, np.complex64)})
    usage_error("dtype <U1", nnr.encode, {"s": np.array(["a", "b"])})
    usage_error("dtype object", nnr.encode, {"o": np.array([object(), object()])})
    if np.dtype(np.longdouble).itemsize > 8:
        usage_error("not supported", nnr.encode, {"q": np.ones(3, np.longdouble)})
    usage_error("expected a numpy array", nnr.encode, {"d": {"x": 1}})
    usage_error("names must be strings", nnr.encode, {3: W})
    usage_error("cannot be coded", nnr.encode, {"a\x00b": W})
    usage_error("mapping", nnr.encode, [W])


def test_integers_beyond_int32() -> None:
    usage_error("outside the int32 range", nnr.encode, {"i": np.array([0, 2**31], np.int64)})
    usage_error("outside the int32 range", nnr.encode, {"i": np.array([-(2**31) - 1], np.int64)})
    usage_error("outside the int32 range", nnr.encode, {"u": np.array([2**32 - 1], np.uint32)})
    usage_error("outside the int32 range", nnr.encode, {"u": np.array([2**63], np.uint64)})
    usage_error("outside the int32 range", tensor.encode, np.array([[2**40, 1]], np.int64))
    # the extremes themselves are fine
    data = nnr.encode({"i": np.array([-(2**31), 2**31 - 1], np.int64)})
    assert nnr.decode(data)["i"].tolist() == [-(2**31), 2**31 - 1]


def test_qp_outside_what_iae_can_signal() -> None:
    # qp_density 2: iae(8), QPs -128..127
    usage_error(r"QP 200.*-128\.\.127", nnr.encode, {"w": W}, qp=200)
    usage_error(r"QP -129", nnr.encode, {"w": W}, qp=-129)
    usage_error(r"QP -40", nnr.encode, {"w": W}, qp=-40, qp_density=0)  # iae(6): -32..31
    usage_error(r"QP -300", nnr.encode, {"v": W[0]}, nonweight_qp=-300)
    usage_error(r"QP -200", nnr.encode, {"w": W}, qp_per_tensor={"w": -200})
    # qp - 2**(qp_density+1) for non-weights when nonweight_qp is None
    usage_error(r"QP -130", nnr.encode, {"v": W[0]}, qp=-122, nonweight_qp=None)
    # codebooks lower the QP by 2**qp_density when DQ was asked for
    usage_error(r"QP -132", nnr.encode, {"w": W}, qp=-128, codebook_mode=1)
    usage_error("outside -4096..4096", nnr.encode, {"w": W}, qp=10**6)
    # unused QPs are not checked: this stream has no non-weight tensor
    assert nnr.encode({"w": W}, nonweight_qp=-3000)


def test_bitdepth_range() -> None:
    for bw in (32, 40, -1):
        usage_error(r"int_quant_bw \(bit depth\) .* is outside 1\.\.31", nnr.encode, {"w": W}, int_quant_bw=bw)
    usage_error("bitdepth 32 is outside 1..31", tensor.encode, W, {"bitdepth": 32})
    usage_error("bit depth of 1", nnr.encode, {"w": W}, bitdepth=1)  # signed values need 2 bits
    u = np.abs(W)
    out = nnr.decode(nnr.encode({"w": u}, bitdepth=1))["w"]
    assert out.shape == W.shape and len(np.unique(out)) <= 2  # levels 0 and 1


def test_settings() -> None:
    usage_error("unknown encoder setting.*qpp", nnr.encode, {"w": W}, qpp=3)
    usage_error("qp_density 8 is outside 0..7", nnr.encode, {"w": W}, qp_density=8)
    usage_error("scan_order 5", nnr.encode, {"w": W}, scan_order=5)
    usage_error("cabac_unary_length_minus1 256", nnr.encode, {"w": W}, cabac_unary_length_minus1=256)
    usage_error("codebook_mode 3", nnr.encode, {"w": W}, codebook_mode=3)
    usage_error("general_profile_idc 2", nnr.encode, {"w": W}, general_profile_idc=2)
    usage_error("qp must be an integer", nnr.encode, {"w": W}, qp=-38.5)
    usage_error("lambda_scale", nnr.encode, {"w": W}, lambda_scale=float("nan"))
    usage_error("lambda_scale", nnr.encode, {"w": W}, lambda_scale=-1)
    usage_error("given twice", nnr.encode, {"w": W}, dq=True, use_dq=False)
    usage_error("qp_per_tensor must be a dict", nnr.encode, {"w": W}, qp_per_tensor=[1])
    usage_error(r"lsa need\(s\) model_executer", nnc.compress, {"w": W}, lsa=True)
    usage_error("args must be a dict", tensor.encode, W, ["qp"])


def test_keyword_types_name_every_setting() -> None:
    # the typed keywords of the public API (PEP 692) list exactly the settings EncodeSettings has
    from nnr.encoder import ALIASES, TOOL_FLAGS, EncodeKeywords, EncodeOptions, EncoderOptions
    from nnr.encoding import CompressOptions, compress
    from nnr.encoding.settings import EncodeSettings, SettingsKeywords
    from nnr.torch import EncodeModelOptions, Tuning

    assert set(SettingsKeywords.__optional_keys__) == set(EncodeSettings.names())
    limits = {"max_units", "max_tensor_elements", "max_expansion"}
    assert set(EncodeKeywords.__optional_keys__) == set(EncodeSettings.names()) | set(ALIASES) | set(TOOL_FLAGS) | limits
    shared = {"workers", "record_dtypes", "evaluate", "tune", "tool_progress", "model"}
    assert set(EncodeOptions.__optional_keys__) - set(EncodeKeywords.__optional_keys__) == shared | {"progress", "dtypes"}
    assert set(EncoderOptions.__optional_keys__) - set(EncodeKeywords.__optional_keys__) == shared | {"hdsp"}
    assert set(EncodeModelOptions.__optional_keys__) - set(EncodeKeywords.__optional_keys__) == set(
        Tuning.__optional_keys__) | {"loss", "metric", "progress", "workers", "dtypes", "record_dtypes"}
    assert not CompressOptions.__required_keys__
    # a keyword no TypedDict names is refused as Python refuses it
    with pytest.raises(TypeError, match="compress.. got an unexpected keyword argument 'wokers'"):
        compress({"w": W}, EncodeSettings(), wokers=2)  # type: ignore[call-arg]


def test_blocks() -> None:
    d = {"fc.weight": W, "fc.bias": W[:, 0].copy()}
    bad = {"block_identifier": {"fc.weight": "fc", "fc.bias": "fc"},
           "parameter_type": {"fc.weight": "weight", "fc.bias": "weight"}}  # two weights
    usage_error("does not describe valid blocks", nnr.encode, d, block_id_and_param_type=bad)
    # NNCodec's compress ignores a rejected description (and so does its drop-in)
    assert bytes(nnc.compress(d, block_id_and_param_type=bad)) == nnr.encode(d)
    usage_error("not in the model description", nnr.encode, {"x": W},
                model={"parameter_dimensions": {"w": [8, 6]}})
    usage_error("model must be", nnr.encode, {"w": W}, model=[1, 2])


def test_incremental_state_checks() -> None:
    usage_error("approx_param_base must be a dict", nnc.compress, {"w": W}, approx_param_base={"parameters": {}})
    base = new_approx_param_base()
    nnc.compress({"w": W}, compress_differences=True, tca=True, approx_param_base=base, update_base_param=True)
    usage_error("elements", nnc.compress, {"w": W[:4]}, compress_differences=True, tca=True, approx_param_base=base)
    base["parameter_id"]["w"] = 5
    usage_error("parameter_id 0 differs", nnc.compress, {"w": W}, compress_differences=True, tca=True,
                approx_param_base=base)
    base["parameter_id"]["w"] = 0
    usage_error("device_id 2 differs", nnc.compress, {"w": W}, compress_differences=True, tca=True,
                approx_param_base=base, device_id=2)


def test_errors_leave_no_file(tmp_path: Any) -> None:
    p = tmp_path / "x.nnc"
    x = W.copy()
    x[0, 0] = np.nan
    with pytest.raises(nnr.NNRUsageError):
        nnc.compress({"w": x}, bitstream_path=str(p))
    assert not p.exists()
