"""Conformance coverage: which cases exercise each feature (rows of features.md) and each syntax element.

Elements are collected by tracing every positive case with :class:`nnr.Decoder`; an element counts
as exercised "non-zero" in a case where it had a non-default value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from nnr.bitstream import TraceEvent
from nnr.conformance.cases import Case
from nnr.conformance.runner import run_case


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
