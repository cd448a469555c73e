"""Edition-1 streams: the two dialects of general_profile_idc 0 (nnr.dialect).

Golden data: bitstreams/ED1_* (streams NNCodec 0.3.1 wrote, the tensors its decoder returns) and
tests/data/ed1_encoder/ (streams nnr writes at general_profile_idc 0, hashed, with the tensors
NNCodec 0.3.1 decodes from them; make.py there rebuilds it).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnr
from nnr.cabac import dec_levels as _levels
from nnr.conformance.cases import decoder_options, load_case
from nnr.dialect import Dialect
from nnr.errors import AmbiguousDialectError, MalformedStreamError, NNRError, NNRUsageError

REPO = Path(__file__).resolve().parent.parent
BITSTREAMS = REPO / "bitstreams"
GOLDEN = REPO / "tests" / "data" / "ed1_encoder"


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _stream(case: str) -> bytes:
    return (BITSTREAMS / case / "stream_0.nnc").read_bytes()


def _expected(case: str) -> dict[str, np.ndarray]:
    with np.load(BITSTREAMS / case / "expected_0.npz") as z:
        return {k: z[k] for k in z.files}


def _same(got: dict[str, np.ndarray], exp: dict[str, np.ndarray]) -> bool:
    return list(got) == list(exp) and all(
        got[k].dtype == exp[k].dtype and got[k].shape == exp[k].shape and got[k].tobytes() == exp[k].tobytes()
        for k in exp)


def _ed1_cases() -> list[str]:
    return sorted(p.name for p in BITSTREAMS.glob("ED1_*") if load_case(str(p)).kind == "positive"
                  and not load_case(str(p)).meta.get("decode_call", {}).get("args", {}).get("dialect"))


# -- decoding NNCodec 0.3.1's streams --------------------------------------------------------------


@pytest.mark.parametrize("case", _ed1_cases())
def test_nncodec_0_3_1_streams_decode_bit_exactly(case: str) -> None:
    exp = _expected(case)
    opts = decoder_options(load_case(str(BITSTREAMS / case)))  # reconstruct_lsa / _bnf as 0.3.1 was called
    assert _same(nnr.Decoder(**opts).decode(_stream(case)), exp)  # dialect auto
    assert _same(nnr.Decoder(**opts, dialect="ed1").decode(_stream(case)), exp)


def test_auto_reports_the_rules_and_why() -> None:
    ds = nnr.Decoder().decode_stream(_stream("ED1_SCAN1_SINGLE_ROW_A"))
    t = [t for u in ds.units for t in u.tensors]
    assert {x.dialect for x in t} == {"ed1"}
    assert all(x.dialect_reason is not None and x.dialect_reason.startswith("auto: only these rules") for x in t)
    ds = nnr.Decoder().decode_stream((BITSTREAMS / "GPI0_INT_A" / "stream_0.nnc").read_bytes())
    assert {t.dialect for u in ds.units for t in u.tensors} == {"ed2"}
    ds = nnr.Decoder().decode_stream((BITSTREAMS / "FLOAT_NODQ_2D_A" / "stream_0.nnc").read_bytes())
    assert {t.dialect for u in ds.units for t in u.tensors} == {None}  # profile 1: one rule set only


def test_the_wrong_rules_fail_with_a_located_error() -> None:
    with pytest.raises(NNRError) as e:
        nnr.decode(_stream("ED1_SCAN1_SINGLE_ROW_A"), dialect="ed2")
    assert e.value.unit_index is not None and e.value.bit_offset is not None
    with pytest.raises(NNRError) as e:
        nnr.decode((BITSTREAMS / "GPI0_DQ_SCAN2_A" / "stream_0.nnc").read_bytes(), dialect=Dialect.ED1)
    assert e.value.unit_index is not None and e.value.bit_offset is not None


def test_ambiguous_stream_is_refused_under_auto() -> None:
    """A stream both rule sets decode without error, to different tensors (found by search among
    small tensors nnr wrote with the edition-1 rules; NNCodec 0.3.1 decodes it as expected_0)."""
    data = _stream("NEG_ED1_AMBIGUOUS_A")
    with pytest.raises(AmbiguousDialectError) as e:
        nnr.decode(data)
    assert e.value.element == "nnr_compressed_data_unit_payload" and e.value.unit_index is not None
    exp = _expected("NEG_ED1_AMBIGUOUS_A")
    assert _same(nnr.decode(data, dialect="ed1"), exp)
    assert not _same(nnr.decode(data, dialect="ed2"), exp)


def test_ambiguous_unit_settled_by_the_stream() -> None:
    """A 0.3.1 stream whose unit 6 both rule sets decode without error, to different tensors:
    its other NDUs decode only under the edition-1 rules, which settle it; decoded alone (nnr.open),
    nothing settles it."""
    case = "ED1_AMBIGUOUS_UNIT_SETTLED_BY_STREAM_A"
    ds = nnr.Decoder().decode_stream(_stream(case))
    assert _same(ds.arrays(), _expected(case))
    reasons = {u.index: u.tensors[0].dialect_reason for u in ds.units if u.tensors}
    assert reasons[6] == ("auto: both rule sets decode the NDU, to different tensors; the ed1 rules, which alone "
                          "decode unit(s) 3, 4, 5 of the stream")
    with nnr.open(_stream(case)) as lazy:
        name = ds.units[6].tensors[0].name
        with pytest.raises(AmbiguousDialectError):
            lazy.get_tensor(name)
    with nnr.open(_stream(case), dialect="ed1") as lazy:
        assert lazy.get_tensor(name).tobytes() == _expected(case)[name].tobytes()


def test_block_with_wrong_entry_points() -> None:
    """NNCodec 0.3.1 writes wrong entry points for a block with scan_order > 0 and several block
    rows (it cannot decode the stream itself): refused when entry points are checked; decoded
    sequentially without them, to exactly what 0.3.1's encoder coded."""
    data = _stream("NEG_ED1_BLOCK_ENTRY_POINTS_A")
    with pytest.raises(MalformedStreamError) as e:
        nnr.decode(data)
    assert e.value.element == "cabac_entry_point_list" and "verify_entry_points=False" in str(e.value)
    got = nnr.Decoder(verify_entry_points=False).decode(data)
    exp = _expected("NEG_ED1_BLOCK_ENTRY_POINTS_A")  # in the encoder's order, not the stream's
    assert _same({k: got[k] for k in exp}, exp) and sorted(got) == sorted(exp)


def test_dialect_arguments() -> None:
    with pytest.raises(NNRUsageError):
        nnr.Decoder(dialect="0.3.1")
    with pytest.raises(NNRUsageError):
        nnr.encode({"w": np.ones((2, 2), np.float32)}, dialect="ed1")  # profile 1 has one rule set
    with pytest.raises(NNRUsageError):
        nnr.encode({"w": np.ones((2, 2), np.float32)}, general_profile_idc=0, dialect="auto")
    w = {"w": np.linspace(-1, 1, 60, dtype=np.float32).reshape(6, 10)}
    a = nnr.encode(w, general_profile_idc=0, scan_order=1)
    assert a == nnr.encode(w, general_profile_idc=0, scan_order=1, dialect="ed1")
    b = nnr.encode(w, general_profile_idc=0, scan_order=1, dialect="ed2")
    assert a != b
    assert _same(nnr.decode(a), nnr.decode(b))


def test_cli_info_and_trace_show_the_rules(tmp_path: Path) -> None:
    p = BITSTREAMS / "ED1_SCAN1_SINGLE_ROW_A" / "stream_0.nnc"
    out = subprocess.run([sys.executable, "-m", "nnr", "info", str(p)], capture_output=True, text=True, check=True).stdout
    assert "coding rules ed1: auto: only these rules decode the NDU" in out
    out = subprocess.run([sys.executable, "-m", "nnr", "trace", "--dialect", "ed1", str(p)], capture_output=True,
                         text=True, check=True).stdout
    assert out.rstrip().splitlines()[-1].endswith("coding rules ed1 (edition-1 reference software rules "
                                                  "(NNCodec 0.3.1)): chosen by the caller")
    r = subprocess.run([sys.executable, "-m", "nnr", "info", "--dialect", "ed2", str(p)], capture_output=True, text=True)
    assert r.returncode != 0 and "NNR_NDU" in r.stderr


# -- nnr's general_profile_idc 0 streams, read by NNCodec 0.3.1 -----------------------------------


def _golden() -> list[dict]:
    return json.loads((GOLDEN / "cases.json").read_text())["cases"]


def test_encoder_golden_vectors_read_by_nncodec_0_3_1() -> None:
    """nnr's bytes are as recorded, and nnr's decoder returns what NNCodec 0.3.1 decoded from them."""
    cases = _golden()
    assert len(cases) >= 80
    if _levels.__file__.endswith(".py"):  # uncompiled (source-tree run): every 8th case; CI runs all
        cases = cases[::8]
    with np.load(GOLDEN / "inputs.npz") as z:
        inputs = {k: z[k] for k in z.files}
    for c in cases:
        tensors = {k.split("/", 1)[1]: v for k, v in inputs.items() if k.split("/", 1)[0] == c["name"]}
        data = nnr.encode(tensors, **c["settings"])
        assert hashlib.sha256(data).hexdigest() == c["sha256"], c["name"]
        got = nnr.decode(data, dialect="ed1")
        ref = c["nncodec_0_3_1"]
        assert list(got) == list(ref), c["name"]
        for k, v in got.items():
            assert (list(v.shape), str(v.dtype), _sha(v)) == (ref[k]["shape"], ref[k]["dtype"], ref[k]["sha256"]), \
                (c["name"], k)
