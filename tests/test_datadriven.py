"""Data-driven tools (IOQ, LSA, FT) against NNCodec 2.1.3's streams.

tests/data/datadriven/expected.json holds, per case, the SHA-256 of the stream NNCodec 2.1.3
wrote with the deterministic executer of tests/datadriven_executer.py (made by
tests/data_gen/gen_datadriven.py), the executer calls it made, the caller's
block_id_and_param_type after the call and, for streams with local scaling, the SHA-256 of every
tensor NNCodec decodes with ``reconstruct_lsa=True``.  nnr alone runs here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import pathlib
import sys
import warnings
from typing import Any

import numpy as np
import pytest

import nnr
from nnr.encoding.datadriven import DataDrivenStep
from nnr.nncodec import nnc

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from datadriven_executer import LinearExecuter, model, params_of, torch_module  # noqa: E402
from extras import require  # noqa: E402

MANIFEST: dict[str, Any] = json.loads(
    (pathlib.Path(__file__).parent / "data" / "datadriven" / "expected.json").read_text())


def array_hash(v: np.ndarray) -> str:
    return hashlib.sha256(f"{v.dtype.str}{v.shape}".encode() + np.ascontiguousarray(v).tobytes()).hexdigest()


def run_dropin(case: dict[str, Any]) -> tuple[bytes, LinearExecuter, Any]:
    kw = {k: v for k, v in case.items() if k not in ("model", "executer")}
    params, spec = params_of(case["model"])
    ex = LinearExecuter(model()[0], **case.get("executer", {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bs = nnc.compress(params, block_id_and_param_type=spec, model_executer=ex, **kw)
    return bytes(bs), ex, spec


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if "case" in MANIFEST[n]))
def test_dropin_writes_nncodec_bytes(name: str) -> None:
    exp = MANIFEST[name]
    bs, ex, spec = run_dropin(exp["case"])
    assert (len(bs), hashlib.sha256(bs).hexdigest()) == (exp["size"], exp["sha256"])
    assert ex.calls == exp["calls"]
    assert spec == exp["spec_after"]
    if "reconstruct_lsa" in exp:  # NNCodec's decoder applies the scaling to nnr's values
        dec = nnc.decompress(bs, reconstruct_lsa=True)
        assert {k: array_hash(v) for k, v in dec.items()} == exp["reconstruct_lsa"]


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if "module" in MANIFEST[n]))
def test_dropin_compress_model_writes_nncodec_bytes(name: str) -> None:
    """compress_model on a torch module: blocks guessed as NNCodec guesses them."""
    require("torch")
    exp = MANIFEST[name]
    ex = LinearExecuter(model()[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bs, spec = nnc.compress_model(torch_module(), model_executer=ex, return_bitstream=True,
                                      return_model_data=True, verbose=False, **exp["module"])
    assert (len(bs), hashlib.sha256(bytes(bs)).hexdigest()) == (exp["size"], exp["sha256"])
    assert ex.calls == exp["calls"]
    assert spec == exp["spec_after"]


def _native(case: dict[str, Any], **extra: Any) -> bytes:
    kw = {k: v for k, v in case.items() if k not in ("model", "executer")}
    params, spec = params_of(case["model"])
    ex = LinearExecuter(model()[0], **case.get("executer", {}))
    return nnr.encode(params, block_id_and_param_type=spec, evaluate=lambda p: ex.eval_model(p)["acc"],
                      tune=lambda p, t, lsa, ft: ex.tune_model(p, t, lsa, ft), **kw, **extra)


@pytest.mark.parametrize("name", ["ioq_lsa_qp-32_nodq", "lsa_ft_qp-44_dq", "ioq_lsa_ft_bnf"])
def test_native_api_same_bytes(name: str) -> None:
    exp = MANIFEST[name]
    seen: list[tuple[DataDrivenStep, int, int]] = []
    data = _native(exp["case"], tool_progress=lambda step, done, total: seen.append((step, done, total)))
    assert hashlib.sha256(data).hexdigest() == exp["sha256"]
    ioq = [s for s in seen if s[0] == DataDrivenStep.IOQ]
    tune = [s for s in seen if s[0] == DataDrivenStep.TUNE]
    if exp["case"].get("ioq"):
        assert ioq == [(DataDrivenStep.IOQ, i, 19) for i in range(1, 20)]  # 3 + 2 tensors x 8 offsets
    assert tune == [(DataDrivenStep.TUNE, 0, 1), (DataDrivenStep.TUNE, 1, 1)]


def test_native_encoder_session_same_tensors() -> None:
    """A session stream (with its own headers) carries the tensors of NNCodec's LSA stream."""
    exp = MANIFEST["lsa_qp-38_dq"]
    params, spec = params_of("blocks")
    ex = LinearExecuter(model()[0])
    enc = nnr.Encoder(compress_differences=False, tca=False, block_id_and_param_type=spec,
                      tune=lambda p, t, lsa, ft: ex.tune_model(p, t, lsa, ft))
    data = enc.encode(params, lsa=True, qp=-38)
    assert ex.calls == exp["calls"]
    dec = nnc.decompress(bytearray(data), reconstruct_lsa=True)
    assert {k: array_hash(v) for k, v in dec.items()} == exp["reconstruct_lsa"]


def test_tools_without_what_they_need() -> None:
    params, spec = params_of("blocks")
    with pytest.raises(nnr.NNRUsageError, match="model_executer"):
        nnc.compress(params, block_id_and_param_type=spec, lsa=True)
    with pytest.raises(nnr.NNRUsageError, match="model_executer"):
        nnc.compress(params, ioq=True)
    with pytest.raises(nnr.NNRUsageError, match="bnf_mapping"):
        nnc.compress(params, bnf_mapping=True, model_executer=LinearExecuter(model()[0]))
    with pytest.raises(nnr.NNRUsageError, match="evaluate"):
        nnr.encode(params, ioq=True)
    with pytest.raises(nnr.NNRUsageError, match="tune"):
        nnr.encode(params, block_id_and_param_type=spec, lsa=True, fine_tune=True)
    with pytest.raises(nnr.NNRUsageError, match="ioq must be True or False"):
        nnr.encode(params, ioq="yes", evaluate=lambda p: 0.0)
    with pytest.raises(nnr.NNRUsageError, match="evaluate must be"):
        nnr.Encoder(evaluate=3)


def test_native_refuses_bad_tune_results() -> None:
    plain, _ = params_of("plain")
    with pytest.raises(nnr.NNRUsageError, match="does not code"):
        nnr.encode(plain, lsa=True, tune=lambda p, t, lsa, ft: ({"fc1.weight_scaling": np.ones(16)}, {}))
    with pytest.raises(nnr.NNRUsageError, match="pair"):
        nnr.encode(plain, fine_tune=True, tune=lambda p, t, lsa, ft: None)
    with pytest.raises(nnr.NNRUsageError, match="NaN"):
        nnr.encode(plain, fine_tune=True, tune=lambda p, t, lsa, ft: ({}, {"fc1.bias": np.full(16, np.nan)}))
    with pytest.raises(nnr.NNRUsageError, match="16"):
        nnr.encode(plain, fine_tune=True, tune=lambda p, t, lsa, ft: ({}, {"fc1.bias": np.zeros(3)}))
    with pytest.raises(nnr.NNRUsageError, match="not have"):
        nnr.encode(plain, fine_tune=True, tune=lambda p, t, lsa, ft: ({}, {"nope": np.zeros(3)}))


def test_dropin_switches_off_what_the_executer_lacks() -> None:
    params, spec = params_of("blocks")
    ex = LinearExecuter(model()[0], evaluate=False, lsa=False, ft=False)
    with pytest.warns(UserWarning, match="has_eval"):
        bs = nnc.compress(params, block_id_and_param_type=copy.deepcopy(spec), model_executer=ex, ioq=True)
    assert ex.calls == []
    assert bytes(bs) == bytes(nnc.compress(params, block_id_and_param_type=copy.deepcopy(spec)))
