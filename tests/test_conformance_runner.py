"""Tests of the conformance runner (nnr/conformance/, nnr/cli/conformance.py) and of the bitstreams/ suite."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnr
from nnr.cli import main as cli_main
from nnr.conformance import coverage, runner
from nnr.conformance import CaseFormatError, compute_coverage, load_cases, parse_features, run_case, run_suite

REPO = Path(__file__).resolve().parent.parent
BITSTREAMS = REPO / "bitstreams"

# syntax.md §9, general_profile_idc 1
EX1 = bytes.fromhex(
    "00040201" "0008068100400080" "00060e000000"
    "002a16097700d041c120e102a080" "d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f"
    "001c16096200d0c1c3830a80" "b4d800073800965da803641000b59908"
)
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _tensors(data: bytes) -> list[dict[str, Any]]:
    out = nnr.decode(data)
    return [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype), "sha256": _sha(v), "nncodec_dtype": str(v.dtype)}
            for k, v in out.items()]


def make_case(root: Path, name: str, streams: list[bytes], *, kind: str = "positive",
              expected_error: dict[str, Any] | None = None, features: list[int] | None = None,
              expected: list[dict[str, Any]] | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    names = [f"stream_{i}.nnc" for i in range(len(streams))]
    for n, s in zip(names, streams):
        (d / n).write_bytes(s)
    if expected is None:
        expected = [] if kind == "negative" else [
            {"stream": n, "tensors": _tensors(s), "arrays": None} for n, s in zip(names, streams)]
    meta: dict[str, Any] = {
        "name": name, "description": "test case", "features": features or [1, 17], "kind": kind,
        "cross_checked": False, "mode": "single" if len(streams) == 1 else "sequence",
        "generator": {"tool": "test", "version": "0", "call": "", "args": {}, "input": None, "script": ""},
        "decode_call": {}, "streams": names, "expected": expected,
    }
    if expected_error is not None:
        meta["expected_error"] = expected_error
    (d / "case.json").write_text(json.dumps(meta, indent=1))
    return d


def _error(cls: str, stream: str = "stream_0.nnc", unit_index: int | None = None,
           element: str | None = None) -> dict[str, Any]:
    return {"class": cls, "stream": stream, "unit_index": unit_index, "element": element}


def _one(root: Path, name: str) -> runner.CaseResult:
    (case,) = load_cases(str(root), [name])
    return run_case(case)


# -- positive cases ---------------------------------------------------------------------------------------


def test_positive_case_passes(tmp_path: Path) -> None:
    make_case(tmp_path, "POS_A", [EX1])
    r = _one(tmp_path, "POS_A")
    assert r.passed, r.reason
    assert r.kind == "positive" and r.result == "pass" and r.features == [1, 17]


def test_altered_sha256_fails_with_reason(tmp_path: Path) -> None:
    d = make_case(tmp_path, "POS_BAD_A", [EX1])
    meta = json.loads((d / "case.json").read_text())
    meta["expected"][0]["tensors"][1]["sha256"] = "0" * 64
    (d / "case.json").write_text(json.dumps(meta))
    r = _one(tmp_path, "POS_BAD_A")
    assert not r.passed
    assert "'b'" in r.reason and "sha256" in r.reason and "stream_0.nnc" in r.reason


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.reverse(), "order"),
    (lambda t: t.pop(), "unexpected"),
    (lambda t: t[0].update(shape=[4, 3]), "shape"),
    (lambda t: t[0].update(dtype="int32"), "dtype"),
])
def test_other_mismatches_fail(tmp_path: Path, edit: Any, words: str) -> None:
    d = make_case(tmp_path, "POS_M_A", [EX1])
    meta = json.loads((d / "case.json").read_text())
    edit(meta["expected"][0]["tensors"])
    (d / "case.json").write_text(json.dumps(meta))
    r = _one(tmp_path, "POS_M_A")
    assert not r.passed and words in r.reason


def test_positive_case_with_bad_stream_fails(tmp_path: Path) -> None:
    make_case(tmp_path, "POS_T_A", [EX1], expected=[{"stream": "stream_0.nnc", "tensors": _tensors(EX1)}])
    (tmp_path / "POS_T_A" / "stream_0.nnc").write_bytes(EX1[:-1])
    r = _one(tmp_path, "POS_T_A")
    assert not r.passed and "TruncatedStreamError" in r.reason


def test_sequence_case(tmp_path: Path) -> None:
    make_case(tmp_path, "SEQ_A", [EX1, EX1])
    assert _one(tmp_path, "SEQ_A").passed


# -- negative cases -----------------------------------------------------------------------------------------


def test_negative_case_right_class_passes(tmp_path: Path) -> None:
    make_case(tmp_path, "NEG_T_A", [EX1[:-1]], kind="negative",
              expected_error=_error("TruncatedStreamError", unit_index=4, element="nnr_unit_size"))
    r = _one(tmp_path, "NEG_T_A")
    assert r.passed, r.reason


def test_negative_case_subclass_accepted(tmp_path: Path) -> None:
    # general_profile_idc 2 raises ReservedValueError, a MalformedStreamError
    make_case(tmp_path, "NEG_S_A", [EX1[:3] + b"\x02" + EX1[4:]], kind="negative",
              expected_error=_error("MalformedStreamError", unit_index=0))
    assert _one(tmp_path, "NEG_S_A").passed


@pytest.mark.parametrize("err, words", [
    (_error("ReservedValueError"), "expected ReservedValueError"),
    (_error("TruncatedStreamError", unit_index=3), "expected unit 3"),
    (_error("TruncatedStreamError", element="nnr_unit_header"), "expected nnr_unit_header"),
])
def test_negative_case_wrong_expectation_fails(tmp_path: Path, err: dict[str, Any], words: str) -> None:
    make_case(tmp_path, "NEG_W_A", [EX1[:-1]], kind="negative", expected_error=err)
    r = _one(tmp_path, "NEG_W_A")
    assert not r.passed and words in r.reason


def test_negative_case_without_error_fails(tmp_path: Path) -> None:
    make_case(tmp_path, "NEG_N_A", [EX1], kind="negative", expected_error=_error("NNRError"))
    r = _one(tmp_path, "NEG_N_A")
    assert not r.passed and "without error" in r.reason


def test_negative_case_crash_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_case(tmp_path, "NEG_C_A", [EX1[:-1]], kind="negative", expected_error=_error("NNRError"))

    def boom(self: Any, data: Any, tracer: Any = None) -> Any:
        raise IndexError("list index out of range")
    monkeypatch.setattr(nnr.Decoder, "decode_stream", boom)
    r = _one(tmp_path, "NEG_C_A")
    assert not r.passed and "crash IndexError" in r.reason and "in boom" in r.reason
    assert "Traceback" in r.detail


def test_negative_sequence_error_in_named_stream(tmp_path: Path) -> None:
    ok = _error("TruncatedStreamError", stream="stream_1.nnc")
    make_case(tmp_path, "NEG_Q_A", [EX1, EX1[:-1]], kind="negative", expected_error=ok,
              expected=[{"stream": "stream_0.nnc", "tensors": _tensors(EX1)}])
    assert _one(tmp_path, "NEG_Q_A").passed
    # error expected in stream 0, but stream 0 decodes: fail
    make_case(tmp_path, "NEG_Q_B", [EX1, EX1[:-1]], kind="negative",
              expected_error=_error("TruncatedStreamError", stream="stream_0.nnc"))
    r = _one(tmp_path, "NEG_Q_B")
    assert not r.passed and "stream_0.nnc: decoded without error" in r.reason
    # the error comes in stream 0 while stream 1 was named: fail
    make_case(tmp_path, "NEG_Q_C", [EX1[:-1], EX1], kind="negative", expected_error=ok)
    r = _one(tmp_path, "NEG_Q_C")
    assert not r.passed and "expected to decode" in r.reason


# -- loading ----------------------------------------------------------------------------------------------------


def test_bad_case_json_is_a_format_error(tmp_path: Path) -> None:
    d = make_case(tmp_path, "X_A", [EX1])
    (d / "case.json").write_text("{not json")
    with pytest.raises(CaseFormatError):
        load_cases(str(tmp_path))
    (d / "case.json").write_text(json.dumps({"name": "X_A", "kind": "negative", "streams": ["stream_0.nnc"],
                                             "expected_error": {"class": "KeyError"}}))
    with pytest.raises(CaseFormatError, match="not an nnr.errors"):
        load_cases(str(tmp_path))
    with pytest.raises(CaseFormatError):
        load_cases(str(tmp_path / "missing"))


def test_only_filter(tmp_path: Path) -> None:
    make_case(tmp_path, "AAA_A", [EX1])
    make_case(tmp_path, "BBB_A", [EX1])
    assert [c.name for c in load_cases(str(tmp_path), ["BB"])] == ["BBB_A"]
    assert len(run_suite(str(tmp_path)).results) == 2


# -- command line: table, summary, JSON, exit codes ------------------------------------------------------------------


def test_cli_all_pass_exit_0_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite"
    make_case(suite, "POS_A", [EX1], features=[4, 17])
    make_case(suite, "NEG_A", [EX1[:-1]], kind="negative", expected_error=_error("TruncatedStreamError"))
    rep = tmp_path / "r.json"
    assert cli_main(["conformance", str(suite), "--json", str(rep)]) == 0
    out = capsys.readouterr().out
    assert SUMMARY.search(out).groups() == ("2", "0")  # type: ignore[union-attr]
    assert out.rstrip().splitlines()[-1] == "2 passed, 0 failed"
    assert re.search(r"^POS_A\s+positive\s+PASS", out, re.M)
    assert re.search(r"^NEG_A\s+negative\s+PASS", out, re.M)
    j = json.loads(rep.read_text())
    assert j["passed"] == 2 and j["failed"] == 0
    by = {c["name"]: c for c in j["cases"]}
    assert set(by["POS_A"]) == {"name", "result", "reason", "kind", "features", "seconds"}
    assert by["POS_A"]["result"] == "pass" and by["POS_A"]["features"] == [4, 17]
    assert by["NEG_A"]["kind"] == "negative" and "TruncatedStreamError" in by["NEG_A"]["reason"]
    assert isinstance(by["NEG_A"]["seconds"], float)


def test_cli_failure_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_case(tmp_path, "POS_A", [EX1])
    make_case(tmp_path, "NEG_A", [EX1], kind="negative", expected_error=_error("NNRError"))
    rep = tmp_path / "r.json"
    assert cli_main(["conformance", str(tmp_path), "--json", str(rep)]) == 1
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == "1 passed, 1 failed"
    assert re.search(r"^NEG_A\s+negative\s+FAIL\s+stream_0.nnc: decoded without error", out, re.M)
    j = json.loads(rep.read_text())
    assert (j["passed"], j["failed"]) == (1, 1)
    assert [c["result"] for c in j["cases"]] == ["fail", "pass"]  # sorted by name


def test_cli_could_not_run_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["conformance", str(tmp_path / "missing")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["conformance", str(empty)]) == 2
    make_case(tmp_path / "s", "POS_A", [EX1])
    assert cli_main(["conformance", str(tmp_path / "s"), "-k", "NOTHING"]) == 2
    (tmp_path / "s" / "POS_A" / "case.json").write_text("[]")
    assert cli_main(["conformance", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and "no case" in err


def test_cli_k_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_case(tmp_path, "POS_A", [EX1])
    make_case(tmp_path, "NEG_A", [EX1], kind="negative", expected_error=_error("NNRError"))
    assert cli_main(["conformance", str(tmp_path), "-k", "POS"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("1 passed, 0 failed")


# -- external decoders (--decoder) ---------------------------------------------------------------------------------------

FAKE = """
import os, sys, zipfile
sys.path.insert(0, {repo!r})
import numpy as np
import nnr
MODE = {mode!r}
out, streams = sys.argv[1], sys.argv[2:]
d = nnr.Decoder()
for s in streams:
    try:
        t = d.decode(s)
    except nnr.NNRError as e:
        if MODE != "accept_all":
            print("fake: " + str(e), file=sys.stderr)
            sys.exit(3)
        t = {{}}
    if MODE == "float64":
        t = {{k: v.astype(np.float64) for k, v in t.items()}}
    if MODE == "wrong":
        t = {{k: v + 1 for k, v in t.items()}}
    if MODE == "nofile":
        continue
    np.savez(os.path.join(out, os.path.splitext(os.path.basename(s))[0] + ".npz"), **t)
"""


def _fake_decoder(tmp_path: Path, mode: str) -> str:
    p = tmp_path / f"fake_{mode}.py"
    p.write_text(textwrap.dedent(FAKE.format(repo=str(REPO), mode=mode)))
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(p))} {{output}} {{inputs}}"


def test_external_command_expansion() -> None:
    argv = runner.external_command("dec --out={output} -i {inputs} x", ["a b.nnc", "c.nnc"], "/o")
    assert argv == ["dec", "--out=/o", "-i", "a b.nnc", "c.nnc", "x"]


@pytest.mark.parametrize("mode, ok, words", [
    ("good", True, ""),
    ("float64", True, ""),  # float arrays are compared as float32
    ("wrong", False, "sha256"),
    ("nofile", False, "wrote no stream_0.npz"),
])
def test_external_decoder_positive(tmp_path: Path, mode: str, ok: bool, words: str) -> None:
    suite = tmp_path / "suite"
    make_case(suite, "POS_A", [EX1, EX1])
    (case,) = load_cases(str(suite))
    r = run_case(case, _fake_decoder(tmp_path, mode))
    assert r.passed is ok, r.reason
    assert words in r.reason


def test_external_decoder_negative(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    make_case(suite, "NEG_A", [EX1, EX1[:-1]], kind="negative",
              expected_error=_error("TruncatedStreamError", stream="stream_1.nnc"))
    (case,) = load_cases(str(suite))
    r = run_case(case, _fake_decoder(tmp_path, "good"))
    assert r.passed and "exited with 3" in r.reason and "fake:" in r.reason
    r = run_case(case, _fake_decoder(tmp_path, "accept_all"))
    assert not r.passed and "exited with 0" in r.reason


def test_external_decoder_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite"
    make_case(suite, "POS_A", [EX1])
    make_case(suite, "NEG_A", [EX1[:-1]], kind="negative", expected_error=_error("TruncatedStreamError"))
    assert cli_main(["conformance", str(suite), "--decoder", _fake_decoder(tmp_path, "good")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("2 passed, 0 failed")
    assert cli_main(["conformance", str(suite), "--decoder", "/nonexistent/decoder {output} {inputs}"]) == 2


# -- coverage ------------------------------------------------------------------------------------------------------------


def test_parse_features() -> None:
    md = "| # | feature | x |\n|---|---|---|\n| 1 | NNR unit size (15/31-bit) | a |\n| 12 | REFLIST | b |\n"
    assert parse_features(md) == [(1, "NNR unit size (15/31-bit)"), (12, "REFLIST")]


def test_coverage(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    md = tmp_path / "features.md"
    md.write_text("| # | feature |\n|---|---|\n| 1 | unit size |\n| 17 | PT_FLOAT |\n| 99 | nothing |\n")
    suite = tmp_path / "suite"
    make_case(suite, "POS_A", [EX1], features=[1, 17])
    make_case(suite, "NEG_A", [EX1[:-1]], kind="negative", features=[1],
              expected_error=_error("TruncatedStreamError", element="nnr_unit_size"))
    cov = compute_coverage(load_cases(str(suite)), str(md))
    assert cov.features == [(1, "unit size", ["NEG_A", "POS_A"]), (17, "PT_FLOAT", ["POS_A"]), (99, "nothing", [])]
    assert "POS_A" in cov.elements["dq_flag"].nonzero_in  # the example uses DQ
    assert "POS_A" in cov.elements["first_tensor_dimension_shift"].seen_in
    assert not cov.elements["first_tensor_dimension_shift"].nonzero_in
    assert cov.negative_targets == {"TruncatedStreamError @ nnr_unit_size": ["NEG_A"]}

    monkeypatch.delenv("NNR_FEATURES_MD", raising=False)
    monkeypatch.setattr(coverage, "FEATURES_MD_CANDIDATES", (str(md),))
    assert cli_main(["conformance", str(suite), "--coverage"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s*99\s+nothing\s+0\s+<-- NO CASE", out, re.M)
    assert "features without a case: 99" in out
    assert re.search(r"^dq_flag\s+1\s+1\s+POS_A", out, re.M)
    assert out.rstrip().splitlines()[-1] == "2 passed, 0 failed"


# -- the suite itself -------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not BITSTREAMS.is_dir(), reason="no bitstreams/ folder")
def test_bitstreams_suite_passes() -> None:
    suite = run_suite(str(BITSTREAMS))
    failures = [f"{r.name}: {r.reason}" for r in suite.results if not r.passed]
    assert suite.results, "bitstreams/ holds no case"
    assert not failures, f"{len(failures)} failing case(s):\n" + "\n".join(failures)


@pytest.mark.skipif(not BITSTREAMS.is_dir(), reason="no bitstreams/ folder")
def test_bitstreams_negative_cases_present() -> None:
    neg = [c for c in load_cases(str(BITSTREAMS)) if c.kind == "negative"]
    assert len(neg) >= 25
    for c in neg:
        assert c.name.startswith("NEG_") and c.meta["cross_checked"] is False and c.expected_error is not None


NNCODEC_PY = Path(os.environ.get("NNCODEC_VENV", "/root/.cache/nnr-peer/nnc-venv")) / "bin" / "python"


@pytest.mark.skipif(not NNCODEC_PY.exists() or not (BITSTREAMS / "SEQ_TCA_DQ_A").is_dir(),
                    reason="needs the NNCodec venv and bitstreams/")
def test_nncodec_wrapper() -> None:
    cmd = f"{shlex.quote(str(NNCODEC_PY))} {shlex.quote(str(REPO / 'conformance/wrappers/nncodec_decoder.py'))} " \
          "{output} {inputs}"
    names = ["SPEC_EXAMPLE_GPI1_A", "SEQ_TCA_DQ_A", "NEG_UNIT_TYPE_RESERVED_A"]
    cases = [c for c in load_cases(str(BITSTREAMS)) if c.name in names]
    assert len(cases) == 3
    for c in cases:
        r = run_case(c, cmd)
        assert r.passed, f"{c.name}: {r.reason}"
