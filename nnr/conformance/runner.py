"""The conformance runner (library side of ``nnr conformance``).

A *case* is a folder ``DIR/<NAME>/`` holding ``case.json`` and the streams it names (format in
docs/conformance.md).  A positive case passes when every stream decodes to exactly the expected
tensors (same names in the same order, shape, dtype and SHA-256 of the bytes); a negative case
passes when decoding fails with the expected :class:`~nnr.errors.NNRError` subclass at the
expected stream / unit / element.  Any other exception is a failure (a decoder crash).

Library use::

    from nnr.conformance.runner import load_cases, run_case, run_suite
    cases = load_cases("bitstreams")
    result = run_case(cases[0])                 # nnr.Decoder
    result = run_case(cases[0], decoder="python my_decoder.py {output} {inputs}")
    suite = run_suite("bitstreams", only=["SEQ_"])

The command line is :mod:`nnr.cli.conformance`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from nnr import errors as nnr_errors
from nnr.bitstream import TraceEvent, Tracer
from nnr.decoder import Decoder
from nnr.errors import NNRError
from nnr.units.compressed_data_unit import OutOfBandParameters

EXTERNAL_TIMEOUT = 600.0  # seconds an external decoder may take for one case


class CaseFormatError(Exception):
    """A case folder or its ``case.json`` is unusable (the suite cannot run)."""


# -- cases ---------------------------------------------------------------------------------------


@dataclass
class ExpectedTensor:
    name: str
    shape: list[int]
    dtype: str
    sha256: str


@dataclass
class ExpectedError:
    cls: type[NNRError]
    stream: str | None
    unit_index: int | None
    element: str | None


@dataclass
class Case:
    """One conformance case as read from its folder."""

    name: str
    path: str  # the case folder
    meta: dict[str, Any]
    kind: str  # "positive" | "negative"
    mode: str  # "single" | "sequence"
    features: list[int]
    streams: list[str]  # file names, in decoding order
    expected: dict[str, list[ExpectedTensor]]  # by stream file name
    expected_error: ExpectedError | None = None

    def stream_path(self, stream: str) -> str:
        return os.path.join(self.path, stream)

    @property
    def description(self) -> str:
        return str(self.meta.get("description", ""))


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


def _error_class(name: object, where: str) -> type[NNRError]:
    cls = getattr(nnr_errors, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, NNRError)):
        raise CaseFormatError(f"{where}: expected_error.class {name!r} is not an nnr.errors.NNRError class")
    return cls


def load_case(folder: str) -> Case:
    """Read and validate ``folder/case.json``; raises :class:`CaseFormatError`."""
    cj = os.path.join(folder, "case.json")
    try:
        with open(cj, encoding="utf-8") as f:
            meta = json.load(f)
    except OSError as e:
        raise CaseFormatError(f"{cj}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CaseFormatError(f"{cj}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise CaseFormatError(f"{cj}: the top level is not an object")

    def need(key: str, types: type | tuple[type, ...]) -> Any:
        if key not in meta:
            raise CaseFormatError(f"{cj}: missing {key!r}")
        v = meta[key]
        if not isinstance(v, types):
            raise CaseFormatError(f"{cj}: {key!r} has the wrong type ({type(v).__name__})")
        return v

    name = need("name", str)
    kind = need("kind", str)
    if kind not in ("positive", "negative"):
        raise CaseFormatError(f"{cj}: kind {kind!r} is neither 'positive' nor 'negative'")
    mode = meta.get("mode", "single")
    if mode not in ("single", "sequence"):
        raise CaseFormatError(f"{cj}: mode {mode!r} is neither 'single' nor 'sequence'")
    streams = need("streams", list)
    if not streams or not all(isinstance(s, str) for s in streams):
        raise CaseFormatError(f"{cj}: 'streams' must be a non-empty list of file names")
    if mode == "single" and len(streams) != 1:
        raise CaseFormatError(f"{cj}: mode 'single' with {len(streams)} streams")
    for s in streams:
        if os.path.basename(s) != s or not os.path.isfile(os.path.join(folder, s)):
            raise CaseFormatError(f"{cj}: stream {s!r} is not a file in the case folder")
    features = meta.get("features", [])
    if not isinstance(features, list) or not all(isinstance(x, int) for x in features):
        raise CaseFormatError(f"{cj}: 'features' must be a list of integers")

    expected: dict[str, list[ExpectedTensor]] = {}
    exp_list = meta.get("expected", [])
    if not isinstance(exp_list, list):
        raise CaseFormatError(f"{cj}: 'expected' must be a list")
    for ent in exp_list:
        if not isinstance(ent, dict) or ent.get("stream") not in streams or not isinstance(ent.get("tensors"), list):
            raise CaseFormatError(f"{cj}: an 'expected' entry lacks a known 'stream' or a 'tensors' list")
        ts: list[ExpectedTensor] = []
        for t in ent["tensors"]:
            try:
                et = ExpectedTensor(str(t["name"]), [int(d) for d in t["shape"]], str(t["dtype"]),
                                    str(t["sha256"]).lower())
            except (KeyError, TypeError, ValueError):
                raise CaseFormatError(f"{cj}: a tensor of stream {ent['stream']!r} lacks name/shape/dtype/sha256") \
                    from None
            if et.dtype not in ("float32", "int32"):
                raise CaseFormatError(f"{cj}: tensor {et.name!r} has dtype {et.dtype!r} (float32 or int32 expected)")
            ts.append(et)
        expected[ent["stream"]] = ts

    expected_error = None
    if kind == "positive":
        missing = [s for s in streams if s not in expected]
        if missing:
            raise CaseFormatError(f"{cj}: no expected tensors for {', '.join(missing)}")
    else:
        ee = meta.get("expected_error")
        if not isinstance(ee, dict):
            raise CaseFormatError(f"{cj}: a negative case needs an 'expected_error' object")
        stream = ee.get("stream")
        if stream is not None and stream not in streams:
            raise CaseFormatError(f"{cj}: expected_error.stream {stream!r} is not one of the streams")
        ui = ee.get("unit_index")
        if ui is not None and not isinstance(ui, int):
            raise CaseFormatError(f"{cj}: expected_error.unit_index must be an integer or null")
        el = ee.get("element")
        if el is not None and not isinstance(el, str):
            raise CaseFormatError(f"{cj}: expected_error.element must be a string or null")
        expected_error = ExpectedError(_error_class(ee.get("class"), cj), stream, ui, el)
    return Case(name, folder, meta, kind, mode, list(features), list(streams), expected, expected_error)


def _selected(name: str, only: Sequence[str] | None) -> bool:
    return not only or any(k in name for k in only)


def load_cases(directory: str, only: Sequence[str] | None = None) -> list[Case]:
    """Every case folder (a sub-folder holding ``case.json``) of ``directory``, sorted by name.

    ``only``: keep cases whose name contains one of these strings.  Raises
    :class:`CaseFormatError` when the directory is missing or a selected ``case.json`` is bad.
    """
    if not os.path.isdir(directory):
        raise CaseFormatError(f"{directory}: no such directory")
    cases = []
    for entry in sorted(os.listdir(directory)):
        folder = os.path.join(directory, entry)
        if entry.startswith(".") or not os.path.isfile(os.path.join(folder, "case.json")):
            continue
        if only and not _selected(entry, only):
            # cheap pre-filter on the folder name; the case name is checked after loading
            try:
                with open(os.path.join(folder, "case.json"), encoding="utf-8") as f:
                    nm = json.load(f).get("name", entry)
            except (OSError, ValueError, AttributeError):
                nm = entry
            if not _selected(str(nm), only):
                continue
        case = load_case(folder)
        if _selected(case.name, only):
            cases.append(case)
    cases.sort(key=lambda c: c.name)
    return cases


# -- decoder options from case.json ----------------------------------------------------------------


def _decode_args(case: Case, stream_index: int | None = None) -> dict[str, Any]:
    """``decode_call.args`` of the case; for a sequence, merged with ``args.steps[i]``."""
    dc = case.meta.get("decode_call") or {}
    args = dc.get("args") if isinstance(dc, dict) else None
    if not isinstance(args, dict):
        return {}
    merged = {k: v for k, v in args.items() if k != "steps"}
    steps = args.get("steps")
    if stream_index is not None and isinstance(steps, list) and stream_index < len(steps):
        st = steps[stream_index]
        if isinstance(st, dict):
            merged.update(st)
    return merged


def decoder_options(case: Case, stream_index: int = 0) -> dict[str, Any]:
    """Keyword arguments of :class:`nnr.Decoder` for (a stream of) this case, from
    ``decode_call.args`` (and, for sequences, ``decode_call.args.steps[i]``).

    ``reconstruct_lsa`` / ``reconstruct_bnf`` are passed through; ``oob_dict`` (NNCodec's
    out-of-band dict: per tensor name ``tensor_dimensions``, ``cabac_unary_length_minus1``,
    ``compressed_parameter_types``) becomes ``out_of_band``.  Decomposed weights are expected as
    G and H (NNCodec's core decoder; its ``decompress`` cannot recompose them) unless the args say
    ``"recompose": true``.
    """
    args = _decode_args(case, stream_index)
    opts: dict[str, Any] = {}
    for k in ("reconstruct_lsa", "reconstruct_bnf"):
        if args.get(k):
            opts[k] = True
    oob = args.get("oob_dict")
    if isinstance(oob, dict) and oob:
        opts["out_of_band"] = {str(k): OutOfBandParameters.from_dict(v) for k, v in oob.items() if isinstance(v, dict)}
    if args.get("recompose") is True:  # the expected output holds W = G·H, not G and H
        opts["recompose_decomposition"] = True
    return opts


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
        cases = [c for c in directory_or_cases if _selected(c.name, only)]
    results = []
    for c in cases:
        r = run_case(c, decoder, timeout=timeout)
        results.append(r)
        if progress is not None:
            progress(r)
    return SuiteResult(results)


# -- coverage ---------------------------------------------------------------------------------------------

FEATURES_MD_CANDIDATES = (
    os.path.join(os.path.dirname(__file__), "features.md"),  # shipped copy of the notes' table
)


def parse_features(text: str) -> list[tuple[int, str]]:
    """(row number, feature name) of the Markdown table of features.md."""
    rows: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = re.match(r"^\|\s*(\d+)\s*\|\s*([^|]*?)\s*\|", line)
        if m:
            rows.append((int(m.group(1)), m.group(2)))
    return rows


def find_features_md() -> str | None:
    """$NNR_FEATURES_MD, else the first existing candidate path."""
    for p in (os.environ.get("NNR_FEATURES_MD", ""), *FEATURES_MD_CANDIDATES):
        if p and os.path.isfile(p):
            return p
    return None


def _nondefault(v: object) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (bytes, bytearray)):
        return any(v)
    if isinstance(v, str):
        if v.startswith("<") and "levels" in v:  # summary of a level array: non-zero levels?
            m = re.search(r"(\d+) non-zero", v)
            return bool(m and int(m.group(1)))
        return bool(v) and set(v) != {"0"}
    if isinstance(v, (list, tuple)):
        return any(_nondefault(x) for x in v)
    return v is not None


@dataclass
class ElementCoverage:
    name: str
    structures: set[str] = field(default_factory=set)
    seen_in: set[str] = field(default_factory=set)
    nonzero_in: set[str] = field(default_factory=set)


class _ElementTracer:
    """Collects, per syntax element name, the cases that read it (with a non-default value)."""

    def __init__(self, elements: dict[str, ElementCoverage], case_name: str) -> None:
        self.elements = elements
        self.case_name = case_name

    def __call__(self, event: TraceEvent) -> None:
        ec = self.elements.get(event.name)
        if ec is None:
            ec = self.elements[event.name] = ElementCoverage(event.name)
        ec.structures.add(event.structure)
        ec.seen_in.add(self.case_name)
        if _nondefault(event.value):
            ec.nonzero_in.add(self.case_name)


@dataclass
class Coverage:
    features: list[tuple[int, str, list[str]]]  # (row, feature, cases)
    unknown_features: dict[int, list[str]]  # feature numbers cited by cases but absent from the table
    elements: dict[str, ElementCoverage]
    negative_targets: dict[str, list[str]]  # "Class @ element" -> negative cases
    trace_failures: dict[str, str]  # positive cases our decoder could not trace


def compute_coverage(cases: Sequence[Case], features_md: str | None = None) -> Coverage:
    rows: list[tuple[int, str]] = []
    path = features_md or find_features_md()
    if path is not None:
        with open(path, encoding="utf-8") as f:
            rows = parse_features(f.read())
    by_feature: dict[int, list[str]] = {}
    for c in cases:
        for n in c.features:
            by_feature.setdefault(n, []).append(c.name)
    known = {n for n, _ in rows}
    feats = [(n, name, sorted(set(by_feature.get(n, [])))) for n, name in rows]
    unknown = {n: sorted(set(v)) for n, v in by_feature.items() if n not in known}

    elements: dict[str, ElementCoverage] = {}
    failures: dict[str, str] = {}
    negative: dict[str, list[str]] = {}
    for c in cases:
        if c.kind == "negative":
            ee = c.expected_error
            assert ee is not None
            negative.setdefault(f"{ee.cls.__name__} @ {ee.element or '-'}", []).append(c.name)
            continue

        r = run_case(c, None, tracer=_ElementTracer(elements, c.name))
        if not r.passed:
            failures[c.name] = r.reason
    return Coverage(feats, unknown, elements, negative, failures)


def _cases_cell(names: Sequence[str], limit: int = 6) -> str:
    if not names:
        return ""
    s = ", ".join(names[:limit])
    if len(names) > limit:
        s += f", … (+{len(names) - limit})"
    return s


def print_coverage(cov: Coverage, out: TextIO) -> None:
    out.write("\nFeature coverage (rows of features.md)\n")
    if not cov.features:
        out.write("  features.md not found (set NNR_FEATURES_MD)\n")
    w = min(60, max([len(n) for _, n, _ in cov.features] + [7]))
    out.write(f"{'#':>3}  {'feature':<{w}}  {'cases':>5}  which\n")
    missing = []
    for n, name, cs in cov.features:
        flag = "" if cs else "  <-- NO CASE"
        if not cs:
            missing.append(n)
        if len(name) > w:
            name = name[:w - 1] + "…"
        out.write(f"{n:>3}  {name:<{w}}  {len(cs):>5}  {_cases_cell(cs)}{flag}\n")
    for n, cs in sorted(cov.unknown_features.items()):
        out.write(f"{n:>3}  {'(not a row of features.md)':<{w}}  {len(cs):>5}  {_cases_cell(cs)}\n")
    out.write(f"features without a case: {', '.join(map(str, missing)) or 'none'}\n")

    out.write("\nSyntax element coverage (positive cases, traced by nnr.Decoder; "
              "'non-zero' = cases where the element had a non-default value)\n")
    ew = max([len(e) for e in cov.elements] + [7])
    out.write(f"{'element':<{ew}}  {'seen':>5}  {'non-zero':>8}  which (non-zero)\n")
    for name in sorted(cov.elements):
        ec = cov.elements[name]
        nz = sorted(ec.nonzero_in)
        flag = "" if nz else "  <-- never non-zero"
        out.write(f"{name:<{ew}}  {len(ec.seen_in):>5}  {len(nz):>8}  {_cases_cell(nz, 4)}{flag}\n")

    if cov.negative_targets:
        out.write("\nNegative cases by expected error\n")
        for k in sorted(cov.negative_targets):
            out.write(f"  {k}: {_cases_cell(sorted(cov.negative_targets[k]), 8)}\n")
    if cov.trace_failures:
        out.write("\nPositive cases that failed while tracing (their elements are partly missing)\n")
        for k, v in sorted(cov.trace_failures.items()):
            out.write(f"  {k}: {v}\n")
