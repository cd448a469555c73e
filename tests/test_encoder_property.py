"""Property: nnr's encoder reports exactly what its streams decode to, in nnr's decoder and in
NNCodec 2.1.3's (issue 11).

Hypothesis draws batches of random small tensors, random valid settings (QP, QP density, DQ,
scan order, unary length, row skipping, parameter-set optimisation, codebooks, bit depths,
edition 1 / 2) and update sequences (TCA, HDSP); each stream is encoded by
``nnr.encoding.compress`` with the session state carried, its reconstruction taken from the
encoder (``quantize_only``'s dequantization of the levels it coded), and the stream decoded by
``nnr.Decoder`` (one session) and by NNCodec's ``nnc.decompress`` (its venv, via
``tests/data/encoder/nncodec_oracle.py``, one session).  Both must return exactly the encoder's
reconstruction (float32 bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnr
from nnr.encoding import EncodeSettings, compress
from nnr.encoding.datadriven import reconstruct as _reconstruct

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "data", "encoder", "nncodec_oracle.py")
NNC_PY = os.environ.get("NNCODEC_PYTHON", os.path.expanduser("~/.cache/nnr-peer/nnc-venv/bin/python"))


def _digest(a: np.ndarray) -> str:
    r = a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a.astype(np.int32)
    return hashlib.sha256(np.ascontiguousarray(r).tobytes()).hexdigest()


@st.composite
def case(draw: Any) -> dict[str, Any]:
    seed = draw(st.integers(0, 2**32 - 1))
    gpi = draw(st.sampled_from([1, 1, 1, 0]))
    seq = gpi == 1 and draw(st.booleans())
    kw: dict[str, Any] = {
        "qp": draw(st.integers(-50, -20)), "qp_density": draw(st.integers(1, 3)), "use_dq": draw(st.booleans()),
        "scan_order": draw(st.integers(0, 3)), "cabac_unary_length_minus1": draw(st.sampled_from([0, 3, 10])),
        "row_skipping": draw(st.booleans()) and gpi == 1, "param_opt": draw(st.booleans()),
        "codebook_mode": draw(st.sampled_from([0, 0, 1, 2])), "general_profile_idc": gpi,
        "int_quant_bw": draw(st.sampled_from([None, None, 2, 4, 8])),
    }
    if seq:
        kw.update(compress_differences=True, tca=draw(st.booleans()))
    shapes = draw(st.lists(st.lists(st.integers(1, 9), min_size=1, max_size=3), min_size=1, max_size=3))
    return {"seed": seed, "kw": kw, "shapes": [tuple(s) for s in shapes], "streams": draw(st.integers(2, 3)) if seq else 1,
            "hdsp": seq and draw(st.booleans())}


def encode_case(c: dict[str, Any]) -> tuple[list[bytes], list[dict[str, np.ndarray]]]:
    rng = np.random.default_rng(c["seed"])
    s = EncodeSettings.from_kwargs(c["kw"])
    state = None
    if c["streams"] > 1:
        from nnr.incremental import IncrementalState

        state = IncrementalState()
    streams, recs = [], []
    for _ in range(c["streams"]):
        t = {}
        for i, shape in enumerate(c["shapes"]):
            a = (rng.standard_normal(shape) * rng.choice([0.01, 0.3, 5.0])).astype(np.float32)
            a[rng.random(shape) < rng.random()] = 0.0
            t[f"t{i}"] = a
        res, a = compress(t, s, state=state, hdsp=c["hdsp"])
        if state is not None:
            state = res.state
        streams.append(res.data)
        rec = _reconstruct(a)
        recs.append({n: np.asarray(v, dtype=np.float32) for n, v in rec.items() if n in res.coded})
    return streams, recs


def nnr_decodes(streams: list[bytes], hdsp: bool) -> list[dict[str, np.ndarray]]:
    from nnr.nncodec import HdspTool, new_approx_param_base, nnc

    base = new_approx_param_base() if len(streams) > 1 else None
    tool = HdspTool(True) if hdsp else None
    out = []
    for s in streams:
        kw: dict[str, Any] = {}
        if base is not None:
            kw = dict(approx_param_base=base, update_base_param=True)
        if tool is not None:
            kw.update(hdsp_tool=tool, return_hls=True)
        r = nnc.decompress(bytearray(s), **kw)
        out.append(r[0] if isinstance(r, tuple) else r)
    return out


def nncodec_decodes(items: list[tuple[list[bytes], bool]]) -> list[Any]:
    req = [{"decode": [s.hex() for s in streams], "sequence": len(streams) > 1, "hdsp": hdsp} for streams, hdsp in items]
    p = subprocess.run([NNC_PY, ORACLE], input=json.dumps(req), capture_output=True, text=True, timeout=1800,
                       check=True)
    return json.loads(p.stdout)


def check_batch(cases: list[dict[str, Any]], peer: bool) -> None:
    encoded = []
    for c in cases:
        try:
            streams, recs = encode_case(c)
        except nnr.NNRUsageError:
            continue  # settings nnr refuses for this data (e.g. a 1-bit depth of signed data)
        encoded.append((c, streams, recs))
        for got, want in zip(nnr_decodes(streams, c["hdsp"]), recs):
            assert sorted(got) == sorted(want), c
            for n in want:
                np.testing.assert_array_equal(np.asarray(got[n], np.float32), want[n], err_msg=f"{n} {c}")
    if not peer or not encoded:
        return
    answers = nncodec_decodes([(streams, c["hdsp"]) for c, streams, _ in encoded])
    for (c, streams, recs), r in zip(encoded, answers):
        assert "error" not in r, (r, c)
        for got, want in zip(r["tensors"], recs):
            assert {name: digest for name, _, digest in got} == {n: _digest(v) for n, v in want.items()}, c


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.lists(case(), min_size=12, max_size=12))
def test_encoder_reconstruction_is_what_both_decoders_return(cases: list[dict[str, Any]]) -> None:
    check_batch(cases, peer=os.path.exists(NNC_PY))


@pytest.mark.parametrize("bw", [2, 8])
def test_bit_depth_sequences_agree_in_both_decoders(bw: int) -> None:
    cases = [{"seed": k, "kw": {"qp": -30, "use_dq": True, "int_quant_bw": bw, "compress_differences": True,
                                "tca": True, "row_skipping": bool(k % 2), "scan_order": k % 3},
              "shapes": [(6, 7), (5,)], "streams": 3, "hdsp": k % 4 == 0} for k in range(8)]
    check_batch(cases, peer=os.path.exists(NNC_PY))
