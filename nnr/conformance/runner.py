"""Running conformance cases with :class:`nnr.Decoder` or an external decoder command.

A *case* is a folder ``DIR/<NAME>/`` holding ``case.json`` and the streams it names (format in
docs/conformance.md).  A positive case passes when every stream decodes to exactly the expected
tensors (same names in the same order, shape, dtype and SHA-256 of the bytes); a negative case
passes when decoding fails with the expected :class:`~nnr.errors.NNRError` subclass at the
expected stream / unit / element.  Any other exception is a failure (a decoder crash).

Library use (everything is exported by :mod:`nnr.conformance`)::

    from nnr.conformance import load_cases, run_case, run_suite
    cases = load_cases("bitstreams")
    result = run_case(cases[0])                 # nnr.Decoder
    result = run_case(cases[0], decoder="python my_decoder.py {output} {inputs}")
    suite = run_suite("bitstreams", only=["SEQ_"])

Cases are read by :mod:`nnr.conformance.cases`, coverage is :mod:`nnr.conformance.coverage`, the
command line is :mod:`nnr.cli.conformance`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.bitstream import Tracer
from nnr.conformance.cases import Case, CaseFormatError, ExpectedTensor, decoder_options, load_cases, selected
from nnr.decoder import Decoder
from nnr.errors import NNRError

EXTERNAL_TIMEOUT = 600.0  # seconds an external decoder may take for one case


@dataclass
class CaseResult:
    name: str
    kind: str
    passed: bool
    reason: str
    features: list[int] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""  # traceback of a crash, stderr of an external decoder

    @property
    def result(self) -> str:
        return "pass" if self.passed else "fail"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "result": self.result, "reason": self.reason, "kind": self.kind,
                "features": list(self.features), "seconds": round(self.seconds, 4)}


@dataclass
class SuiteResult:
    results: list[CaseResult]

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    def to_json(self) -> dict[str, Any]:
        return {"cases": [r.to_json() for r in self.results], "passed": self.passed, "failed": self.failed}



# -- comparison ------------------------------------------------------------------------------------


def tensor_sha256(a: npt.NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def normalize_external(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """What an external decoder's array is compared as: floats as float32, integers as int32."""
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    if a.dtype.kind in "iub":
        return a.astype(np.int32)
    return a


def compare_stream(stream: str, got: Mapping[str, npt.NDArray[Any]], expected: list[ExpectedTensor]) -> str | None:
    """``None`` when ``got`` matches exactly, else the first difference."""
    gnames = list(got)
    enames = [t.name for t in expected]
    if gnames != enames:
        if sorted(gnames) == sorted(enames):
            return f"{stream}: tensor order differs: got {gnames}, expected {enames}"
        extra = [n for n in gnames if n not in enames]
        missing = [n for n in enames if n not in gnames]
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        return f"{stream}: tensor names differ: " + ", ".join(parts)
    for t in expected:
        a = got[t.name]
        if list(a.shape) != t.shape:
            return f"{stream}: {t.name!r}: shape {list(a.shape)}, expected {t.shape}"
        if str(a.dtype) != t.dtype:
            return f"{stream}: {t.name!r}: dtype {a.dtype}, expected {t.dtype}"
        h = tensor_sha256(a)
        if h != t.sha256:
            return f"{stream}: {t.name!r}: sha256 {h[:12]}…, expected {t.sha256[:12]}…"
    return None


def _crash_summary(e: BaseException) -> tuple[str, str]:
    tb = traceback.extract_tb(e.__traceback__)
    where = ""
    if tb:
        fr = tb[-1]
        where = f" (at {os.path.relpath(fr.filename) if fr.filename.startswith(os.getcwd()) else fr.filename}" \
                f":{fr.lineno} in {fr.name})"
    msg = str(e).splitlines()[0] if str(e) else ""
    short = f"{type(e).__name__}: {msg}"[:300] + where
    return short, "".join(traceback.format_exception(type(e), e, e.__traceback__))


def _describe_error(e: NNRError) -> str:
    return (f"{type(e).__name__} (unit {e.unit_index}, element {e.element})")


# -- running with nnr.Decoder ------------------------------------------------------------------------


def _run_nnr(case: Case, tracer: Tracer | None) -> tuple[bool, str, str]:
    session = Decoder(**decoder_options(case))
    ee = case.expected_error
    for i, s in enumerate(case.streams):
        with open(case.stream_path(s), "rb") as f:
            data = f.read()
        if i > 0:  # per-stream out-of-band values of a sequence
            session.out_of_band = decoder_options(case, i).get("out_of_band", {})
        try:
            ds = session.decode_stream(data, tracer=tracer)
            got = ds.arrays()
        except NNRError as e:
            if ee is None:
                return False, f"{s}: {type(e).__name__}: {e}", ""
            if ee.stream is not None and ee.stream != s:
                return False, f"{s}: {_describe_error(e)} in a stream expected to decode " \
                              f"(error expected in {ee.stream}): {e}", ""
            if not isinstance(e, ee.cls):
                return False, f"{s}: raised {_describe_error(e)}, expected {ee.cls.__name__}: {e}", ""
            if ee.unit_index is not None and e.unit_index != ee.unit_index:
                return False, f"{s}: {type(e).__name__} at unit {e.unit_index}, expected unit {ee.unit_index}: {e}", ""
            if ee.element is not None and e.element != ee.element:
                return False, f"{s}: {type(e).__name__} at element {e.element}, expected {ee.element}: {e}", ""
            return True, f"{s}: {_describe_error(e)} as expected", ""
        except Exception as e:  # a decoder crash: never acceptable
            short, tb = _crash_summary(e)
            return False, f"{s}: crash {short}", tb
        exp = case.expected.get(s)
        if exp is not None:
            diff = compare_stream(s, got, exp)
            if diff is not None:
                return False, diff, ""
        if ee is not None and ee.stream == s:
            return False, f"{s}: decoded without error, expected {ee.cls.__name__}", ""
    if ee is not None:
        return False, f"decoded without error, expected {ee.cls.__name__}", ""
    return True, "", ""


# -- running an external decoder ---------------------------------------------------------------------


def external_command(template: str, inputs: Sequence[str], output: str) -> list[str]:
    """Expand a ``--decoder`` template: a word ``{inputs}`` becomes one argument per stream;
    ``{output}`` (and ``{inputs}`` inside a longer word) are replaced textually."""
    argv: list[str] = []
    for word in shlex.split(template):
        if word == "{inputs}":
            argv.extend(inputs)
        else:
            argv.append(word.replace("{output}", output).replace("{inputs}", " ".join(inputs)))
    return argv


def _load_npz(path: str) -> dict[str, npt.NDArray[Any]]:
    """Arrays of an .npz in the order they were stored."""
    out: dict[str, npt.NDArray[Any]] = {}
    with zipfile.ZipFile(path) as z:
        order = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
    with np.load(path, allow_pickle=False) as f:
        for k in order:
            out[k] = f[k]
    return out


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _run_external(case: Case, template: str, timeout: float) -> tuple[bool, str, str]:
    inputs = [os.path.abspath(case.stream_path(s)) for s in case.streams]
    with tempfile.TemporaryDirectory(prefix="nnr_conf_") as out:
        argv = external_command(template, inputs, out)
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, check=False)
        except FileNotFoundError as e:
            raise CaseFormatError(f"cannot start the decoder {argv[0]!r}: {e.strerror}") from None
        except subprocess.TimeoutExpired:
            return False, f"decoder timed out after {timeout:.0f} s", ""
        stderr = p.stderr.decode("utf-8", "replace")
        detail = stderr[-4000:]
        if case.kind == "negative":
            if p.returncode != 0:
                return True, f"decoder exited with {p.returncode}: {_last_line(stderr)}", detail
            return False, "decoder exited with 0 on a bad stream", detail
        if p.returncode != 0:
            return False, f"decoder exited with {p.returncode}: {_last_line(stderr)}", detail
        for s in case.streams:
            npz = os.path.join(out, os.path.splitext(s)[0] + ".npz")
            if not os.path.isfile(npz):
                return False, f"{s}: the decoder wrote no {os.path.basename(npz)}", detail
            try:
                got = {k: normalize_external(v) for k, v in _load_npz(npz).items()}
            except (OSError, ValueError, zipfile.BadZipFile) as e:
                return False, f"{s}: unreadable {os.path.basename(npz)}: {e}", detail
            diff = compare_stream(s, got, case.expected[s])
            if diff is not None:
                return False, diff, detail
    return True, "", ""


# -- cases and suites -----------------------------------------------------------------------------------


def run_case(case: Case, decoder: str | None = None, *, tracer: Tracer | None = None,
             timeout: float = EXTERNAL_TIMEOUT) -> CaseResult:
    """Run one case with :class:`nnr.Decoder` (``decoder=None``) or an external command template."""
    t0 = time.perf_counter()
    if decoder is None:
        ok, reason, detail = _run_nnr(case, tracer)
    else:
        ok, reason, detail = _run_external(case, decoder, timeout)
    return CaseResult(case.name, case.kind, ok, reason, list(case.features), time.perf_counter() - t0, detail)


def run_suite(directory_or_cases: str | Iterable[Case], decoder: str | None = None, *,
              only: Sequence[str] | None = None, progress: Callable[[CaseResult], None] | None = None,
              timeout: float = EXTERNAL_TIMEOUT) -> SuiteResult:
    """Run every (selected) case; ``progress`` is called after each case."""
    if isinstance(directory_or_cases, str):
        cases = load_cases(directory_or_cases, only)
    else:
        cases = [c for c in directory_or_cases if selected(c.name, only)]
    results = []
    for c in cases:
        r = run_case(c, decoder, timeout=timeout)
        results.append(r)
        if progress is not None:
            progress(r)
    return SuiteResult(results)
