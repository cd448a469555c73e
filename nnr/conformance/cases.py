"""Conformance cases: the ``case.json`` format, loading and validating case folders, decoder options.

A *case* is a folder ``DIR/<NAME>/`` holding ``case.json`` and the streams it names (format in
docs/conformance.md): a positive case lists the expected tensors of every stream, a negative case
the expected :class:`~nnr.errors.NNRError` subclass and where it is raised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nnr import errors as nnr_errors
from nnr.errors import NNRError
from nnr.units.compressed_data_unit import OutOfBandParameters


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


def selected(name: str, only: Sequence[str] | None) -> bool:
    """No filter, or ``name`` contains one of ``only``."""
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
        if only and not selected(entry, only):
            # cheap pre-filter on the folder name; the case name is checked after loading
            try:
                with open(os.path.join(folder, "case.json"), encoding="utf-8") as f:
                    nm = json.load(f).get("name", entry)
            except (OSError, ValueError, AttributeError):
                nm = entry
            if not selected(str(nm), only):
                continue
        case = load_case(folder)
        if selected(case.name, only):
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
    ``compressed_parameter_types``) becomes ``out_of_band``; ``dialect`` ("ed1" / "ed2") the
    coding rules of a general_profile_idc 0 stream; ``max_units`` is passed through.  Decomposed
    weights are expected as
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
    if args.get("dialect") in ("auto", "ed1", "ed2"):  # profile-0 coding rules (nnr.dialect)
        opts["dialect"] = args["dialect"]
    if args.get("recompose") is True:  # the expected output holds W = G·H, not G and H
        opts["recompose_decomposition"] = True
    if isinstance(args.get("max_units"), int):  # a case about the configured unit limit
        opts["max_units"] = args["max_units"]
    return opts
