#!/usr/bin/env python3
"""Deterministic generator of the negative conformance cases ``bitstreams/NEG_<WHAT>_A/``.

Run from the repository root with the project's python (no NNCodec needed)::

    python3 conformance/negative/make_negative.py            # -> bitstreams/NEG_*/
    python3 conformance/negative/make_negative.py --out DIR  # somewhere else
    python3 conformance/negative/make_negative.py --check    # regenerate in memory, compare with bitstreams/
    python3 conformance/negative/make_negative.py --list     # the cases and their declared errors

Every case is a corruption of a *seed*: the worked-example streams of syntax.md §9 (kept below as
hex) or, for cases needing a richer stream (entry points, a TCA update sequence, a PT_BLOCK
unit), a positive golden case of ``--seeds`` (default ``bitstreams/``; NNCodec-made, see
conformance/generate/).  A case whose seed is missing is skipped with a note.

Each case declares the error a correct decoder must report (class, stream, NNR unit index,
syntax element), chosen by reasoning about the corruption, not by running a decoder.  The
generator then runs ``nnr.Decoder`` on the case and prints OK or MISMATCH; a mismatch is a
decoder bug (or a wrong declaration) to look into -- the declared expectation is what is written.
It also measures time and peak Python memory of the failing decode: the "fail fast" cases must
fail in well under a second without allocating anything large.

Only ``NEG_*`` folders are written (stale ``NEG_*`` folders not produced any more are removed);
nothing else in the output directory is touched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

import nnr  # noqa: E402
from nnr.bitstream import BitWriter  # noqa: E402
from nnr.decoder import DecodedStream, DecodedUnit  # noqa: E402
from nnr.errors import NNRError  # noqa: E402
from nnr.units.compressed_data_unit import CompressedDataUnitHeader  # noqa: E402
from nnr.units.context import UnitContext  # noqa: E402
from nnr.units.model_parameter_set import ModelParameterSet  # noqa: E402
from nnr.units.nnr_unit import write_unit  # noqa: E402
from nnr.units.topology import TopologyUnit  # noqa: E402
from nnr.units.types import NNRUnitType, TopologyStorageFormat  # noqa: E402

SCRIPT = "conformance/negative/make_negative.py"

# syntax.md §9: NNCodec 2.1.3's bitstream of {"w": float32[3,4], "b": float32[3]}, gpi 1 and gpi 0.
EX1 = bytes.fromhex(
    "00040201" "0008068100400080" "00060e000000"
    "002a16097700d041c120e102a080" "d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f"
    "001c16096200d0c1c3830a80" "b4d800073800965da803641000b59908"
)
EX0 = bytes.fromhex(
    "00040200" "0008068100400080" "00060e000000"
    "00281609770070483840a080" "d9b305e26eed282be32b4dc12c235594f43fdc0c20fc90c73cc5d47e"
    "001a1609620070e0c2a0" "b4d800073800965da803641000b59908"
)

FAST_SECONDS = 1.0  # a failing decode of these small streams must take less than this
SMALL_PEAK = 32 << 20  # ... and allocate less than this (Python heap, tracemalloc)


# -- stream surgery ---------------------------------------------------------------------------------


def unit_spans(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each NNR unit of a *valid* stream (size fields trusted)."""
    spans = []
    pos = 0
    while pos < len(data):
        long_form = data[pos] >> 7
        n = 4 if long_form else 2
        size = int.from_bytes(data[pos:pos + n], "big") & ((1 << (8 * n - 1)) - 1)
        spans.append((pos, size))
        pos += size
    return spans


def get_unit(data: bytes, i: int) -> bytes:
    off, size = unit_spans(data)[i]
    return data[off:off + size]


def replace_unit(data: bytes, i: int, new: bytes) -> bytes:
    off, size = unit_spans(data)[i]
    return data[:off] + new + data[off + size:]


def remove_unit(data: bytes, i: int) -> bytes:
    return replace_unit(data, i, b"")


def set_unit_size(data: bytes, i: int, size: int) -> bytes:
    """Overwrite nnr_unit_size of unit ``i`` (same size-field form); nothing else moves."""
    off, _ = unit_spans(data)[i]
    long_form = data[off] >> 7
    n = 4 if long_form else 2
    field_ = ((1 << (8 * n - 1)) if long_form else 0) | size
    return data[:off] + field_.to_bytes(n, "big") + data[off + n:]


def set_unit_type(data: bytes, i: int, unit_type: int) -> bytes:
    off, _ = unit_spans(data)[i]
    n = 4 if data[off] >> 7 else 2
    b = data[off + n]
    return data[:off + n] + bytes([(unit_type << 2) | (b & 3)]) + data[off + n + 1:]


def patch_byte(data: bytes, pos: int, value: int) -> bytes:
    return data[:pos] + bytes([value]) + data[pos + 1:]


def flip_bit(data: bytes, bit: int) -> bytes:
    return patch_byte(data, bit // 8, data[bit // 8] ^ (0x80 >> (bit % 8)))


def parse(streams: list[bytes]) -> list[DecodedStream]:
    """Decode a valid seed (one session) to get its parsed units."""
    d = nnr.Decoder()
    return [d.decode_stream(s) for s in streams]


def find_unit(ds: DecodedStream, index: int) -> DecodedUnit:
    for u in ds.units:
        if u.index == index:
            return u
    raise KeyError(index)


def ndu_payload(data: bytes, u: DecodedUnit) -> bytes:
    assert u.ndu is not None
    h = u.header
    head = h.size_field_bytes + 1 + (1 if h.partial_data_counter_present_flag else 0)
    start = u.offset + head + u.ndu.header_bits // 8
    return data[start:u.offset + h.nnr_unit_size]


def ndu_header_bytes(h: CompressedDataUnitHeader, gpi: int, mps: ModelParameterSet) -> bytes:
    w = BitWriter()
    h.write(w, UnitContext(gpi, mps))
    return w.getvalue()


def rewrite_ndu(data: bytes, ds: DecodedStream, index: int, mutate: Callable[[CompressedDataUnitHeader], Any],
                *, mps: ModelParameterSet | None = None, payload: bytes | None = None,
                header_patch: Callable[[bytes], bytes] | None = None) -> bytes:
    """Re-encode the NDU header of unit ``index`` (after ``mutate``) around its payload."""
    u = find_unit(ds, index)
    assert u.ndu is not None
    mps = mps or ds.mps
    assert mps is not None
    h = replace(u.ndu)
    mutate(h)
    hb = ndu_header_bytes(h, ds.general_profile_idc, mps)
    if header_patch is not None:
        hb = header_patch(hb)
    body = hb + (ndu_payload(data, u) if payload is None else payload)
    return replace_unit(data, index, write_unit(NNRUnitType.NNR_NDU, body))


def mps_unit(mps: ModelParameterSet, gpi: int) -> bytes:
    w = BitWriter()
    mps.write(w, UnitContext(gpi))
    return write_unit(NNRUnitType.NNR_MPS, w.getvalue())


class RawBits:
    """Stands in for an ``IntegerCodebook``: writes arbitrary (invalid) codebook syntax."""

    def __init__(self, fn: Callable[[BitWriter], None]) -> None:
        self.fn = fn

    def write(self, w: BitWriter, suffix: str = "") -> None:
        self.fn(w)


def _self_check() -> None:
    """Re-encoding the worked example's headers unchanged must give the same bytes."""
    for ex in (EX0, EX1):
        (ds,) = parse([ex])
        out = ex
        for u in ds.units:
            if u.ndu is not None:
                out = rewrite_ndu(out, ds, u.index, lambda h: None)
        mps_i = next(u.index for u in ds.units if u.mps is not None)
        assert ds.mps is not None
        out = replace_unit(out, mps_i, mps_unit(ds.mps, ds.general_profile_idc))
        if out != ex:
            raise SystemExit("make_negative: the unit writers do not reproduce the worked example; "
                             "fix them before generating negative cases")


# -- seeds -------------------------------------------------------------------------------------------


@dataclass
class Seed:
    name: str
    streams: list[bytes]
    meta: dict[str, Any]

    def expected_entry(self, i: int, stream_name: str) -> dict[str, Any]:
        ent = dict(self.meta["expected"][i])
        ent["stream"] = stream_name
        ent["arrays"] = None
        return ent


class Seeds:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._cache: dict[str, Seed | None] = {}

    def get(self, name: str) -> Seed | None:
        if name not in self._cache:
            folder = os.path.join(self.directory, name)
            try:
                with open(os.path.join(folder, "case.json"), encoding="utf-8") as f:
                    meta = json.load(f)
                if meta.get("kind") != "positive":
                    raise ValueError("not a positive case")
                streams = []
                for s in meta["streams"]:
                    with open(os.path.join(folder, s), "rb") as f:
                        streams.append(f.read())
                self._cache[name] = Seed(name, streams, meta)
            except (OSError, ValueError, KeyError):
                self._cache[name] = None
        return self._cache[name]


class MissingSeed(Exception):
    pass


def need(seeds: Seeds, name: str) -> Seed:
    s = seeds.get(name)
    if s is None:
        raise MissingSeed(name)
    return s


# -- the cases -----------------------------------------------------------------------------------------


@dataclass
class Built:
    streams: list[bytes]
    seed: str  # what it was made from
    mutation: str  # what was changed, precisely
    expected: list[dict[str, Any]] = field(default_factory=list)  # entries for streams decoding fine


@dataclass
class NegCase:
    name: str
    description: str
    features: list[int]
    error: str  # class name in nnr.errors
    unit_index: int | None
    element: str | None
    build: Callable[[Seeds], Built]
    stream: int = -1  # index of the stream that must fail (default: the last)
    fast: bool = False  # must fail quickly without a large allocation
    max_units: int | None = None  # Decoder(max_units=...) of the case's decode call


CASES: list[NegCase] = []


def case(**kw: Any) -> Callable[[Callable[[Seeds], Built]], Callable[[Seeds], Built]]:
    def deco(fn: Callable[[Seeds], Built]) -> Callable[[Seeds], Built]:
        CASES.append(NegCase(build=fn, **kw))
        return fn
    return deco


EXAMPLE = "syntax.md §9 worked example"

# ---- truncation ------------------------------------------------------------------------------------


@case(name="NEG_TRUNC_MID_HEADER_A", features=[1, 17],
      description="The stream ends inside the header of the first NDU (unit 3): its nnr_unit_size "
                  "(42) runs past the end of the data.",
      error="TruncatedStreamError", unit_index=3, element="nnr_unit_size")
def _(seeds: Seeds) -> Built:
    off, _ = unit_spans(EX1)[3]
    return Built([EX1[:off + 8]], EXAMPLE + " (gpi 1)", f"cut after byte {off + 8} (8 bytes into unit 3)")


@case(name="NEG_TRUNC_MID_PAYLOAD_A", features=[1, 17, 29],
      description="The stream ends in the middle of the arithmetic payload of the first NDU (unit 3).",
      error="TruncatedStreamError", unit_index=3, element="nnr_unit_size")
def _(seeds: Seeds) -> Built:
    off, size = unit_spans(EX1)[3]
    cut = off + size - 14
    return Built([EX1[:cut]], EXAMPLE + " (gpi 1)", f"cut after byte {cut} (14 bytes before the end of unit 3)")


@case(name="NEG_TRUNC_LAST_BYTE_A", features=[1],
      description="The last byte of the stream is missing: the last NDU (unit 4) is one byte shorter "
                  "than its nnr_unit_size.",
      error="TruncatedStreamError", unit_index=4, element="nnr_unit_size")
def _(seeds: Seeds) -> Built:
    return Built([EX1[:-1]], EXAMPLE + " (gpi 1)", "last byte removed")


@case(name="NEG_TRUNC_SIZE_FIELD_A", features=[1],
      description="One stray byte after the last unit: a sixth unit starts but its 2-byte "
                  "nnr_unit_size field is cut.",
      error="TruncatedStreamError", unit_index=5, element="nnr_unit_size")
def _(seeds: Seeds) -> Built:
    return Built([EX1 + b"\x00"], EXAMPLE + " (gpi 1)", "byte 0x00 appended")


@case(name="NEG_TRUNC_SEQUENCE_UPDATE_A", features=[1, 42, 46], stream=1,
      description="Update sequence whose second stream is cut in the middle of its first NDU; "
                  "the first stream decodes normally.",
      error="TruncatedStreamError", unit_index=3, element="nnr_unit_size")
def _(seeds: Seeds) -> Built:
    s = need(seeds, "SEQ_TCA_DQ_A")
    off, size = unit_spans(s.streams[1])[3]
    cut = off + size // 2
    return Built([s.streams[0], s.streams[1][:cut]], "SEQ_TCA_DQ_A streams 0 and 1",
                 f"stream 1 cut after byte {cut} (inside unit 3)", [s.expected_entry(0, "stream_0.nnc")])


# ---- nnr_unit_size -----------------------------------------------------------------------------------


@case(name="NEG_UNIT_SIZE_ZERO_A", features=[1],
      description="nnr_unit_size of the MPS (unit 1) is 0, less than its own size field.",
      error="MalformedStreamError", unit_index=1, element="nnr_unit_size", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([set_unit_size(EX1, 1, 0)], EXAMPLE + " (gpi 1)", "unit 1 nnr_unit_size 8 -> 0")


@case(name="NEG_UNIT_SIZE_TOO_SMALL_HEADER_A", features=[1, 5, 6],
      description="nnr_unit_size of the MPS (unit 1) is 4 instead of 8: the MPS payload is cut after "
                  "one byte (topology_carriage_flag, four map flags, mps_quantization_method_flags), so "
                  "mps_topology_indexed_reference_flag and everything after it lie beyond the unit.",
      error="TruncatedStreamError", unit_index=1, element="mps_topology_indexed_reference_flag")
def _(seeds: Seeds) -> Built:
    return Built([set_unit_size(EX1, 1, 4)], EXAMPLE + " (gpi 1)", "unit 1 nnr_unit_size 8 -> 4")


@case(name="NEG_UNIT_SIZE_TOO_SMALL_PAYLOAD_A", features=[1, 29],
      description="nnr_unit_size of the first NDU (unit 3) is 12 bytes short: the arithmetic codeword "
                  "of 'w' needs bytes beyond the unit (the following bytes would parse as another unit).",
      error="TruncatedStreamError", unit_index=3, element="nnr_compressed_data_unit_payload")
def _(seeds: Seeds) -> Built:
    off, size = unit_spans(EX1)[3]
    return Built([set_unit_size(EX1, 3, size - 12)], EXAMPLE + " (gpi 1)",
                 f"unit 3 nnr_unit_size {size} -> {size - 12}")


@case(name="NEG_UNIT_SIZE_TOO_LARGE_A", features=[1, 29],
      description="nnr_unit_size of the first NDU (unit 3) is 6 bytes too large: the unit swallows the "
                  "start of the next unit, and the arithmetic codeword ends before the unit does.",
      error="MalformedStreamError", unit_index=3, element="nnr_unit_size")
def _(seeds: Seeds) -> Built:
    off, size = unit_spans(EX1)[3]
    return Built([set_unit_size(EX1, 3, size + 6)], EXAMPLE + " (gpi 1)",
                 f"unit 3 nnr_unit_size {size} -> {size + 6}")


@case(name="NEG_UNIT_SIZE_PAST_END_A", features=[1],
      description="nnr_unit_size of the last NDU (unit 4) is one more than the bytes left in the stream.",
      error="TruncatedStreamError", unit_index=4, element="nnr_unit_size")
def _(seeds: Seeds) -> Built:
    off, size = unit_spans(EX1)[4]
    return Built([set_unit_size(EX1, 4, size + 1)], EXAMPLE + " (gpi 1)",
                 f"unit 4 nnr_unit_size {size} -> {size + 1}")


@case(name="NEG_TRAILING_GARBAGE_NDU_A", features=[1, 29],
      description="Three bytes appended inside the last NDU (unit 4), with nnr_unit_size grown to match: "
                  "the arithmetic codeword (terminating bin, stop bit) ends before the unit does.",
      error="MalformedStreamError", unit_index=4, element="nnr_unit_size")
def _(seeds: Seeds) -> Built:
    u = get_unit(EX1, 4)
    bad = write_unit(NNRUnitType.NNR_NDU, u[3:] + b"\x5a\x5a\x5a")
    return Built([replace_unit(EX1, 4, bad)], EXAMPLE + " (gpi 1)", "unit 4: bytes 5a 5a 5a appended, size +3")


@case(name="NEG_ZERO_BYTES_A", features=[1],
      description="A stream of 64 zero bytes: the first unit's nnr_unit_size is 0.",
      error="MalformedStreamError", unit_index=0, element="nnr_unit_size", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([bytes(64)], "none", "64 bytes 0x00")


@case(name="NEG_EMPTY_STREAM_A", features=[1, 4],
      description="An empty stream (0 bytes): not a single NNR unit, in particular no NNR_STR.",
      error="MalformedStreamError", unit_index=0, element="nnr_unit", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([b""], "none", "empty file")


# ---- reserved values ------------------------------------------------------------------------------------


@case(name="NEG_UNIT_TYPE_RESERVED_A", features=[2],
      description="nnr_unit_type 7 (reserved) in place of the NNR_TPL unit (unit 2).",
      error="ReservedValueError", unit_index=2, element="nnr_unit_type", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([set_unit_type(EX1, 2, 7)], EXAMPLE + " (gpi 1)", "unit 2 nnr_unit_type 3 -> 7")


@case(name="NEG_UNIT_TYPE_RESERVED_63_A", features=[2],
      description="nnr_unit_type 63 (reserved, all ones) in place of the first NDU (unit 3).",
      error="ReservedValueError", unit_index=3, element="nnr_unit_type", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([set_unit_type(EX1, 3, 63)], EXAMPLE + " (gpi 1)", "unit 3 nnr_unit_type 5 -> 63")


@case(name="NEG_PAYLOAD_TYPE_RESERVED_A", features=[17],
      description="nnr_compressed_data_unit_payload_type 4 (reserved) in the first NDU (unit 3).",
      error="ReservedValueError", unit_index=3, element="nnr_compressed_data_unit_payload_type", fast=True)
def _(seeds: Seeds) -> Built:
    off, _ = unit_spans(EX1)[3]
    p = off + 3  # first header byte: payload_type u(5), three flags
    return Built([patch_byte(EX1, p, (4 << 3) | (EX1[p] & 7))], EXAMPLE + " (gpi 1)",
                 "unit 3 payload type 1 -> 4")


@case(name="NEG_PROFILE_IDC_2_A", features=[4],
      description="general_profile_idc 2 in the start unit: only 0 (edition 1) and 1 (edition 2) exist.",
      error="ReservedValueError", unit_index=0, element="general_profile_idc", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([patch_byte(EX1, 3, 2)], EXAMPLE + " (gpi 1)", "general_profile_idc 1 -> 2")


@case(name="NEG_SCAN_ORDER_7_A", features=[31],
      description="scan_order 7 (reserved; 0..4 are defined) in the header of the first NDU (unit 3).",
      error="ReservedValueError", unit_index=3, element="scan_order", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.scan_order = 7
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)", "unit 3 scan_order 0 -> 7")


@case(name="NEG_PARENT_NODE_ID_TYPE_3_A", features=[6, 40, 41],
      description="parent_node_id_type 3 (reserved; 0 id, 1 SHA-256, 2 SHA-512) in the first NDU; the "
                  "MPS enables parent signalling.",
      error="ReservedValueError", unit_index=3, element="parent_node_id_type", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])
    assert ds.mps is not None
    mps = replace(ds.mps, mps_parent_signalling_enabled_flag=1)
    data = replace_unit(EX1, 1, mps_unit(mps, 1))
    (ds2,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.parent_node_id_present_flag = 1
        h.parent_node_id_type = 3
    data = rewrite_ndu(data, ds2, 3, m, mps=mps)
    return Built([data], EXAMPLE + " (gpi 1)",
                 "MPS mps_parent_signalling_enabled_flag 0 -> 1; unit 3 parent_node_id_present_flag 1, "
                 "parent_node_id_type 3 (units re-encoded)")


# ---- unit order -----------------------------------------------------------------------------------------


@case(name="NEG_NDU_BEFORE_MPS_A", features=[5],
      description="The MPS is removed: the first NDU (now unit 2) has no model parameter set.",
      error="MissingReferenceError", unit_index=2, element="nnr_unit_type", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([remove_unit(EX1, 1)], EXAMPLE + " (gpi 1)", "unit 1 (NNR_MPS) removed")


@case(name="NEG_NDU_BEFORE_MPS_SWAPPED_A", features=[5],
      description="The first NDU is moved before the MPS (order STR, NDU, MPS, TPL, NDU).",
      error="MissingReferenceError", unit_index=1, element="nnr_unit_type", fast=True)
def _(seeds: Seeds) -> Built:
    u = [get_unit(EX1, i) for i in range(5)]
    return Built([u[0] + u[3] + u[1] + u[2] + u[4]], EXAMPLE + " (gpi 1)", "units reordered 0,3,1,2,4")


@case(name="NEG_MISSING_STR_A", features=[4],
      description="The start unit is removed: the stream begins with the MPS.",
      error="MissingReferenceError", unit_index=0, element="nnr_unit_type", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([remove_unit(EX1, 0)], EXAMPLE + " (gpi 1)", "unit 0 (NNR_STR) removed")


# ---- alignment ------------------------------------------------------------------------------------------


@case(name="NEG_ALIGNMENT_MPS_A", features=[5],
      description="The byte_alignment() of the MPS (unit 1) is 0x81 instead of 0x80.",
      error="MalformedStreamError", unit_index=1, element="byte_alignment", fast=True)
def _(seeds: Seeds) -> Built:
    off, size = unit_spans(EX1)[1]
    return Built([patch_byte(EX1, off + size - 1, 0x81)], EXAMPLE + " (gpi 1)", "unit 1 last byte 80 -> 81")


@case(name="NEG_ALIGNMENT_NDU_A", features=[17],
      description="The byte_alignment() ending the header of the first NDU (unit 3) is 0xc0 instead of "
                  "0x80.",
      error="MalformedStreamError", unit_index=3, element="byte_alignment", fast=True)
def _(seeds: Seeds) -> Built:
    off, _ = unit_spans(EX1)[3]
    p = off + 13  # the 11-byte NDU header starts at off + 3; its last byte is the alignment
    assert EX1[p] == 0x80
    return Built([patch_byte(EX1, p, 0xC0)], EXAMPLE + " (gpi 1)", f"byte {p} 80 -> c0")


# ---- codebook -------------------------------------------------------------------------------------------


def _codebook_case(write: Callable[[BitWriter], None], what: str) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.codebook_present_flag = 1
        h.codebook = RawBits(write)  # type: ignore[assignment]
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)", f"unit 3 codebook_present_flag 1, {what}")


@case(name="NEG_CODEBOOK_SIZE_0_A", features=[26],
      description="integer_codebook() with codebook_size 0 in the first NDU (a codebook has at least "
                  "one entry).",
      error="MalformedStreamError", unit_index=3, element="codebook_size", fast=True)
def _(seeds: Seeds) -> Built:
    def w(bw: BitWriter) -> None:
        bw.u(4, 0)  # codebook_egk
        bw.ue(2, 0)  # codebook_size
        bw.ie(2, 0)
        bw.ie(7, 0)
    return _codebook_case(w, "codebook_size 0")


@case(name="NEG_CODEBOOK_ZERO_OFFSET_A", features=[26],
      description="integer_codebook() of size 3 whose codebook_center_offset 2 puts CbZeroOffset at 3, "
                  "outside the codebook (0..2).",
      error="MalformedStreamError", unit_index=3, element="codebook_center_offset", fast=True)
def _(seeds: Seeds) -> Built:
    def w(bw: BitWriter) -> None:
        bw.u(4, 0)
        bw.ue(2, 3)  # codebook_size
        bw.ie(2, 2)  # center offset -> CbZeroOffset = 1 + 2 = 3
        bw.ie(7, 0)
        bw.ue(0, 0)
        bw.ue(0, 0)
    return _codebook_case(w, "codebook_size 3, codebook_center_offset 2")


@case(name="NEG_CODEBOOK_ZERO_OFFSET_NEG_A", features=[26],
      description="integer_codebook() of size 2 whose codebook_center_offset -2 puts CbZeroOffset at -1.",
      error="MalformedStreamError", unit_index=3, element="codebook_center_offset", fast=True)
def _(seeds: Seeds) -> Built:
    def w(bw: BitWriter) -> None:
        bw.u(4, 0)
        bw.ue(2, 2)
        bw.ie(2, -2)  # CbZeroOffset = 1 - 2 = -1
        bw.ie(7, 0)
        bw.ue(0, 0)
    return _codebook_case(w, "codebook_size 2, codebook_center_offset -2")


# ---- sizes and limits -------------------------------------------------------------------------------------


@case(name="NEG_DIM_COUNT_HUGE_A", features=[17],
      description="count_tensor_dimensions = 2^40 in the first NDU: must be refused at once, before "
                  "reading (or allocating) any dimension.",
      error="LimitExceededError", unit_index=3, element="count_tensor_dimensions", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])
    u = find_unit(ds, 3)
    assert u.ndu is not None
    # The header written by hand (as CompressedDataUnitHeader.write would) up to the dimensions.
    w = BitWriter()
    h = replace(u.ndu)
    # the fields before the dimensions, as CompressedDataUnitHeader.write writes them
    w.u(5, h.nnr_compressed_data_unit_payload_type)
    w.u(1, 0)
    w.u(1, 0)
    w.u(1, 1)
    w.st(h.topology_elem_id or "")
    w.u(1, 1)
    w.ue(1, h.device_id)
    w.ue(5, h.parameter_id or 0)
    w.ue(4, h.put_node_depth or 0)
    w.u(1, 0)  # codebook_present_flag
    w.u(1, h.dq_flag)
    w.u(1, 1)  # tensor_dimensions_flag
    w.u(1, 1)  # cabac_unary_length_flag
    w.u(4, 0)  # compressed_parameter_types
    w.ue(1, 1 << 40)  # count_tensor_dimensions
    w.ue(7, 3)
    w.ue(7, 4)
    w.u(8, 10)
    w.byte_alignment()
    body = w.getvalue() + ndu_payload(EX1, u)
    return Built([replace_unit(EX1, 3, write_unit(NNRUnitType.NNR_NDU, body))], EXAMPLE + " (gpi 1)",
                 "unit 3 count_tensor_dimensions 2 -> 2^40 (header re-encoded by hand)")


@case(name="NEG_DIMS_TOO_MANY_ELEMENTS_A", features=[17],
      description="tensor_dimensions [2^20, 2^20] (2^40 elements) for 'w' with its 28-byte payload: more "
                  "elements than any decoder limit; must fail before allocating the tensor.",
      error="LimitExceededError", unit_index=3, element="tensor_dimensions", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.tensor_dimensions = [1 << 20, 1 << 20]
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)", "unit 3 tensor_dimensions [3,4] -> [2^20,2^20]")


@case(name="NEG_DIMS_VS_PAYLOAD_A", features=[17],
      description="tensor_dimensions [4096, 4096] (16M elements, within the default element limit) for "
                  "'w' of the edition-1 example, whose payload is 28 bytes: every element costs at least "
                  "one bin, so the payload cannot hold the tensor; must fail fast without allocating it.",
      error="LimitExceededError", unit_index=3, element="tensor_dimensions", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX0])

    def m(h: CompressedDataUnitHeader) -> None:
        h.tensor_dimensions = [4096, 4096]
    return Built([rewrite_ndu(EX0, ds, 3, m)], EXAMPLE + " (gpi 0)", "unit 3 tensor_dimensions [3,4] -> [4096,4096]")


@case(name="NEG_DIMS_VS_PAYLOAD_NO_ROWSKIP_A", features=[17, 43],
      description="tensor_dimensions [8192, 8192] (2^26 elements, within the default element limit) for "
                  "'w' of the edition-2 example (28-byte payload). Row skipping could in principle code "
                  "all-zero rows with one bin each, but the payload's row_skip_enabled_flag is 0, so every "
                  "element needs at least one bin: the stream cannot hold the tensor. A decoder should "
                  "say so (LimitExceededError) once it has read that flag, without allocating 2^26 "
                  "elements and decoding until the codeword overruns the unit.",
      error="LimitExceededError", unit_index=3, element=None, fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.tensor_dimensions = [8192, 8192]
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)", "unit 3 tensor_dimensions [3,4] -> [8192,8192]")


@case(name="NEG_EXP_GOLOMB_OVERLONG_A", features=[39],
      description="device_id coded as an Exp-Golomb code with 80 leading zero bits (a value far beyond "
                  "any integer the syntax uses): to be refused (as malformed or as over a limit) without "
                  "building a huge integer.",
      error="NNRError", unit_index=3, element="device_id", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])
    u = find_unit(ds, 3)
    assert u.ndu is not None
    w = BitWriter()
    w.u(5, 1)
    w.u(3, 1)
    w.st("w")
    w.u(1, 1)  # node_id_present_flag
    for _ in range(80):
        w.u(1, 0)
    w.u(1, 1)
    w.u(7, 0)
    w.u(8, 0)
    w.byte_alignment()
    body = w.getvalue() + ndu_payload(EX1, u)
    return Built([replace_unit(EX1, 3, write_unit(NNRUnitType.NNR_NDU, body))], EXAMPLE + " (gpi 1)",
                 "unit 3 header: after node_id_present_flag, 80 zero bits then a 1 (device_id ue(1))")


# ---- entry points -------------------------------------------------------------------------------------------


@case(name="NEG_ENTRY_POINT_OFFSET_A", features=[31, 32],
      description="The first cabac_entry_point_list bit offset of the 100x40 scan-order-2 tensor is 8 "
                  "bits too large: the signalled state does not match the decoding state at block row 1.",
      error="MalformedStreamError", unit_index=3, element="cabac_entry_point_list")
def _(seeds: Seeds) -> Built:
    s = need(seeds, "DQ_SCAN2_A")
    (ds,) = parse(s.streams)

    def m(h: CompressedDataUnitHeader) -> None:
        eps = list(h.cabac_entry_point_list)
        eps = [replace(e, bit_offset=e.bit_offset + 8) for e in eps]  # shift all: only d_0 changes
        h.cabac_entry_point_list = eps
    return Built([rewrite_ndu(s.streams[0], ds, 3, m)], "DQ_SCAN2_A",
                 "unit 3 first entry-point bit offset +8 (later deltas unchanged)")


@case(name="NEG_ENTRY_POINT_VALUE_A", features=[31, 32],
      description="The arithmetic-decoder offset value of the third entry point of the 100x40 "
                  "scan-order-2 tensor is changed: it does not match the decoding state at block row 3.",
      error="MalformedStreamError", unit_index=3, element="cabac_entry_point_list")
def _(seeds: Seeds) -> Built:
    s = need(seeds, "DQ_SCAN2_A")
    (ds,) = parse(s.streams)

    def m(h: CompressedDataUnitHeader) -> None:
        eps = list(h.cabac_entry_point_list)
        eps[2] = replace(eps[2], value=eps[2].value ^ 0x40)
        h.cabac_entry_point_list = eps
    return Built([rewrite_ndu(s.streams[0], ds, 3, m)], "DQ_SCAN2_A", "unit 3 entry point 2 value ^= 0x40")


@case(name="NEG_ENTRY_POINT_COUNT_HUGE_A", features=[31, 32],
      description="tensor_dimensions [2^24, 4] with scan_order 1: the cabac_entry_point_list would have "
                  "2^21 - 1 entries, more than the unit's bits; refused before reading them.",
      error="LimitExceededError", unit_index=3, element="cabac_entry_point_list", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.tensor_dimensions = [1 << 24, 4]
        h.scan_order = 1
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)",
                 "unit 3 tensor_dimensions [3,4] -> [2^24,4], scan_order 0 -> 1 (no entry points written)")


@case(name="NEG_ENTRY_POINT_PAST_END_A", features=[31, 32],
      description="tensor_dimensions [248, 4] with scan_order 1 (8x8 blocks): 30 entry points are "
                  "announced (at least 20 + 29 x 16 bits), the unit ends (29 bytes later) in the middle of "
                  "the list.",
      error="TruncatedStreamError", unit_index=3, element=None, fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.tensor_dimensions = [248, 4]
        h.scan_order = 1
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)",
                 "unit 3 tensor_dimensions [3,4] -> [248,4], scan_order 0 -> 1 (no entry points written)")


# ---- arithmetic payload -------------------------------------------------------------------------------------


@case(name="NEG_ARITH_INIT_OFFSET_A", features=[29],
      description="The first two payload bytes of the first NDU are ff ff: the arithmetic decoder's "
                  "initial 9-bit offset (511) is not below its range (510).",
      error="MalformedStreamError", unit_index=3, element="nnr_compressed_data_unit_payload", fast=True)
def _(seeds: Seeds) -> Built:
    off, _ = unit_spans(EX1)[3]
    p = off + 14
    return Built([EX1[:p] + b"\xff\xff" + EX1[p + 2:]], EXAMPLE + " (gpi 1)", f"bytes {p},{p + 1} -> ff ff")


def _find_flip(data: bytes, unit: int, want: str) -> tuple[bytes, int]:
    """First single-bit flip (scanning the unit's payload from its start) that makes our decoder
    report ``want`` ("overrun" = codeword runs past the unit, "terminate" = terminating bin 0).
    Deterministic; the declared expectation is checked independently by the reasoning in the case."""
    off, size = unit_spans(data)[unit]
    hdr = off + 14 if unit == 3 else off + 12
    for bit in range(8 * hdr, 8 * (off + size)):
        cand = flip_bit(data, bit)
        try:
            nnr.Decoder().decode(cand)
        except NNRError as e:
            msg = str(e)
            if want == "overrun" and "runs past the end" in msg and e.unit_index == unit:
                return cand, bit
            if want == "terminate" and "terminating bin" in msg and e.unit_index == unit:
                return cand, bit
        except Exception:  # noqa: BLE001 - crashes are looked at by the main check
            continue
    raise RuntimeError(f"no single-bit flip gives {want}")


@case(name="NEG_PAYLOAD_BITFLIP_OVERRUN_A", features=[29],
      description="One bit flipped in the arithmetic payload of the last NDU (unit 4) so that decoding "
                  "its levels needs more bits than the unit has (the codeword runs past the unit).",
      error="TruncatedStreamError", unit_index=4, element="nnr_compressed_data_unit_payload")
def _(seeds: Seeds) -> Built:
    data, bit = _find_flip(EX1, 4, "overrun")
    return Built([data], EXAMPLE + " (gpi 1)", f"bit {bit} (byte {bit // 8}) flipped")


@case(name="NEG_TERMINATING_BIN_A", features=[29],
      description="The last payload bytes of the first NDU (unit 3) are changed so that all levels "
                  "decode but the terminating bin after the last tensor is 0.",
      error="MalformedStreamError", unit_index=3, element="nnr_compressed_data_unit_payload")
def _(seeds: Seeds) -> Built:
    off, size = unit_spans(EX1)[3]
    end = off + size
    # the terminating bin takes the top of the range: lowering the tail of the codeword selects 0
    for k in range(1, 4):
        for v in range(0, 256):
            cand = EX1[:end - k] + bytes([v]) + EX1[end - k + 1:]
            try:
                nnr.Decoder().decode(cand)
            except NNRError as e:
                if "terminating bin" in str(e) and e.unit_index == 3:
                    return Built([cand], EXAMPLE + " (gpi 1)",
                                 f"byte {end - k} {EX1[end - k]:02x} -> {v:02x}")
            except Exception:  # noqa: BLE001
                continue
    raise RuntimeError("no tail byte gives a 0 terminating bin")


@case(name="NEG_LEVEL_OVERFLOW_A", features=[23, 25, 29],
      description="dq_flag of the NDU of a DQ-coded tensor (cabac_unary_length_minus1 20) cleared: the "
                  "payload is then decoded without dependent quantization and yields a level beyond the "
                  "int32 range (about -3.1e9). A decoder must report a bad stream, not crash on the "
                  "conversion of the levels to int32.",
      error="NNRError", unit_index=3, element=None)
def _(seeds: Seeds) -> Built:
    s = need(seeds, "CUL20_DQ_A")
    data = s.streams[0]
    (ds,) = parse([data])
    u = find_unit(ds, 3)
    assert u.ndu is not None and u.ndu.dq_flag == 1

    def m(h: CompressedDataUnitHeader) -> None:
        h.dq_flag = 0
    return Built([rewrite_ndu(data, ds, 3, m)], "CUL20_DQ_A", "unit 3 dq_flag 1 -> 0")


# ---- incremental coding ----------------------------------------------------------------------------------------


@case(name="NEG_TCA_NO_PARENT_A", features=[40, 42],
      description="temporal_context_modeling_flag 1 on the first NDU of a single stream: TCA needs the "
                  "levels of the parent (an earlier update of 'w' decoded by the same session); there is "
                  "none.",
      error="MissingReferenceError", unit_index=3, element="temporal_context_modeling_flag", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])
    assert ds.mps is not None
    mps = replace(ds.mps, mps_parent_signalling_enabled_flag=1)
    data = replace_unit(EX1, 1, mps_unit(mps, 1))

    def m(h: CompressedDataUnitHeader) -> None:
        h.parent_node_id_present_flag = 1
        h.parent_node_id_type = 0
        h.temporal_context_modeling_flag = 1
        h.parent_device_id = 0
    data = rewrite_ndu(data, ds, 3, m, mps=mps)
    return Built([data], EXAMPLE + " (gpi 1)",
                 "MPS mps_parent_signalling_enabled_flag 1; unit 3 parent_node_id_present_flag 1, type 0, "
                 "temporal_context_modeling_flag 1")


@case(name="NEG_TCA_UPDATE_ALONE_A", features=[42, 46],
      description="The second stream of a TCA update sequence decoded on its own (fresh session): its "
                  "NDUs use temporal context adaptation on parents this session never decoded.",
      error="MissingReferenceError", unit_index=3, element="temporal_context_modeling_flag", fast=True)
def _(seeds: Seeds) -> Built:
    s = need(seeds, "SEQ_TCA_DQ_A")
    return Built([s.streams[1]], "SEQ_TCA_DQ_A stream 1", "stream 1 alone")


@case(name="NEG_PUT_NODE_DEPTH_A", features=[39, 40, 42, 46], stream=1,
      description="Update sequence: in the second stream the TCA-coded NDU of 'w' (unit 3) says "
                  "put_node_depth 5, but its parent decoded by this session (stream 0) has depth 1.",
      error="MalformedStreamError", unit_index=3, element="put_node_depth")
def _(seeds: Seeds) -> Built:
    s = need(seeds, "SEQ_TCA_DQ_A")
    ds = parse(s.streams[:2])

    def m(h: CompressedDataUnitHeader) -> None:
        assert h.temporal_context_modeling_flag == 1 and h.put_node_depth == 2
        h.put_node_depth = 5
    s1 = rewrite_ndu(s.streams[1], ds[1], 3, m)
    return Built([s.streams[0], s1], "SEQ_TCA_DQ_A streams 0 and 1",
                 "stream 1 unit 3 put_node_depth 2 -> 5 (header re-encoded)", [s.expected_entry(0, "stream_0.nnc")])


# ---- topology references -----------------------------------------------------------------------------------------


def _reflist_stream(index: int, with_tpl: bool = True) -> bytes:
    """EX1 with mps_topology_indexed_reference_flag 1, a REFLIST ["w", "b"] (or no TPL unit) and
    NDUs referring to their tensor by index (``index`` for the first, 1 for the second)."""
    (ds,) = parse([EX1])
    assert ds.mps is not None
    mps = replace(ds.mps, mps_topology_indexed_reference_flag=1)
    data = replace_unit(EX1, 1, mps_unit(mps, 1))
    tpl = TopologyUnit(TopologyStorageFormat.NNR_TPL_REFLIST, 0, b"", ["w", "b"])
    w = BitWriter()
    tpl.write(w, UnitContext(1))
    data = replace_unit(data, 2, write_unit(NNRUnitType.NNR_TPL, w.getvalue()) if with_tpl else b"")
    shift = 0 if with_tpl else 1
    for ui, idx in ((3, index), (4, 1)):
        def m(h: CompressedDataUnitHeader, idx: int = idx) -> None:
            h.topology_elem_id = None
            h.topology_elem_id_index = idx
        data = rewrite_ndu_at(data, ds, ui, ui - shift, m, mps)
    return data


def rewrite_ndu_at(data: bytes, ds: DecodedStream, src_index: int, dst_index: int,
                   mutate: Callable[[CompressedDataUnitHeader], Any], mps: ModelParameterSet) -> bytes:
    """Like rewrite_ndu, for a unit taken from ``ds`` (parsed from EX1) now at ``dst_index``."""
    u = find_unit(ds, src_index)
    assert u.ndu is not None
    h = replace(u.ndu)
    mutate(h)
    body = ndu_header_bytes(h, ds.general_profile_idc, mps) + ndu_payload(EX1, u)
    return replace_unit(data, dst_index, write_unit(NNRUnitType.NNR_NDU, body))


@case(name="NEG_REFLIST_INDEX_A", features=[12],
      description="Indexed topology references (mps_topology_indexed_reference_flag 1, an NNR_TPL_REFLIST "
                  "['w', 'b']): the first NDU's topology_elem_id_index is 5, outside the 2-entry list. "
                  "(With index 0 the same stream decodes to the worked example's tensors.)",
      error="MalformedStreamError", unit_index=3, element="topology_elem_id_index", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([_reflist_stream(5)], EXAMPLE + " (gpi 1)",
                 "MPS indexed flag 1, TPL -> REFLIST ['w','b'], NDU topology_elem_id_index 5 and 1")


@case(name="NEG_REFLIST_MISSING_A", features=[12],
      description="Indexed topology references with no NNR_TPL_REFLIST unit at all (the TPL unit is "
                  "removed): the first NDU's topology_elem_id_index cannot be resolved.",
      error="MissingReferenceError", unit_index=2, element="topology_elem_id_index", fast=True)
def _(seeds: Seeds) -> Built:
    return Built([_reflist_stream(0, with_tpl=False)], EXAMPLE + " (gpi 1)",
                 "as NEG_REFLIST_INDEX_A with index 0, TPL unit removed")


@case(name="NEG_TENSOR_SPLIT_A", features=[20],
      description="nnr_multiple_topology_elements_present_flag 1 on a non-block NDU (one tensor split over "
                  "the topology elements ['w1', 'w2']): topology_tensor_dimension_mapping() has no syntax in "
                  "the available specification, so a decoder must refuse the unit rather than guess.",
      error="UnsupportedFeatureError", unit_index=3, element="topology_tensor_dimension_mapping", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])
    assert ds.mps is not None

    def m(h: CompressedDataUnitHeader) -> None:
        h.nnr_multiple_topology_elements_present_flag = 1
        h.topology_elem_id_list = ["w1", "w2"]
    return Built([rewrite_ndu_at(EX1, ds, 3, 3, m, ds.mps)], EXAMPLE + " (gpi 1)",
                 "unit 3: nnr_multiple_topology_elements_present_flag 0 -> 1 with ids ['w1', 'w2']")


# ---- PT_BLOCK ---------------------------------------------------------------------------------------------------------


@case(name="NEG_BLOCK_IDS_COUNT_A", features=[19, 34, 35],
      description="PT_BLOCK unit (weight, BN x4, bias) whose compressed_parameter_types drops the bias "
                  "bit: 6 ids are listed, the parameter types need 5.",
      error="MalformedStreamError", unit_index=3, element="count_topology_elements_minus2", fast=True)
def _(seeds: Seeds) -> Built:
    s = need(seeds, "BLOCK_BN_BI_A")
    (ds,) = parse(s.streams)
    u = find_unit(ds, 3)
    assert u.ndu is not None and u.ndu.nnr_compressed_data_unit_payload_type == 3

    def m(h: CompressedDataUnitHeader) -> None:
        assert h.compressed_parameter_types & 8
        h.compressed_parameter_types &= ~8
    return Built([rewrite_ndu(s.streams[0], ds, 3, m)], "BLOCK_BN_BI_A",
                 "unit 3 compressed_parameter_types: bias bit (8) cleared")


@case(name="NEG_BLOCK_WITHOUT_ID_LIST_A", features=[19],
      description="nnr_compressed_data_unit_payload_type NNR_PT_BLOCK with "
                  "nnr_multiple_topology_elements_present_flag 0: a block needs its list of ids.",
      error="MalformedStreamError", unit_index=3, element="nnr_multiple_topology_elements_present_flag", fast=True)
def _(seeds: Seeds) -> Built:
    off, _ = unit_spans(EX1)[3]
    p = off + 3
    return Built([patch_byte(EX1, p, (3 << 3) | (EX1[p] & 7))], EXAMPLE + " (gpi 1)", "unit 3 payload type 1 -> 3")


# ---- sizes the payload cannot justify, non-finite reconstruction (issue 11; found by fuzz/run.py) --------------


@case(name="NEG_ZERO_DIM_HUGE_A", features=[17, 18],
      description="tensor_dimensions [0, 2^62] for 'w' (unit 3): no element, but a row length no decoder can "
                  "size; the product of the non-zero dimensions exceeds any element limit.",
      error="LimitExceededError", unit_index=3, element="tensor_dimensions", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.tensor_dimensions = [0, 1 << 62]
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)", "unit 3 tensor_dimensions [3, 4] -> [0, 2^62]")


@case(name="NEG_ROWSKIP_AMPLIFICATION_A", features=[17, 18, 44],
      description="tensor_dimensions [2^14, 2^14] for 'w' (unit 3) over its 28-byte payload: with row skipping "
                  "every row could cost one bin, but 2^28 elements are far more than any payload byte may "
                  "describe without coding them (docs/robustness.rst).",
      error="LimitExceededError", unit_index=3, element="tensor_dimensions", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.tensor_dimensions = [1 << 14, 1 << 14]
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)",
                 "unit 3 tensor_dimensions [3, 4] -> [2^14, 2^14]")


@case(name="NEG_CODEBOOK_SIZE1_AMPLIFICATION_A", features=[17, 18, 26],
      description="A one-entry integer_codebook() (which codes no bin per element) and tensor_dimensions "
                  "[2^13, 2^13] for 'w' (unit 3): 2^26 elements from a 28-byte payload.",
      error="LimitExceededError", unit_index=3, element="tensor_dimensions", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def w(bw: BitWriter) -> None:
        bw.u(4, 0)  # codebook_egk
        bw.ue(2, 1)  # codebook_size
        bw.ie(2, 0)  # codebook_center_offset -> CbZeroOffset 0
        bw.ie(7, 0)  # the zero entry

    def m(h: CompressedDataUnitHeader) -> None:
        h.codebook_present_flag = 1
        h.codebook = RawBits(w)  # type: ignore[assignment]
        h.tensor_dimensions = [1 << 13, 1 << 13]
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)",
                 "unit 3 codebook_present_flag 1 (one entry, 0), tensor_dimensions -> [2^13, 2^13]")


@case(name="NEG_DECOMPOSITION_RANK_A", features=[17, 36],
      description="'w' (unit 3) as a decomposed tensor G with g_number_of_rows 3 and decomposition_rank 2^30: "
                  "G alone would have 3 x 2^30 elements.",
      error="LimitExceededError", unit_index=3, element="tensor_dimensions", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])

    def m(h: CompressedDataUnitHeader) -> None:
        h.topology_elem_id = "w_G"
        h.compressed_parameter_types = 1  # NNR_CPT_DC
        h.decomposition_rank = 1 << 30
        h.g_number_of_rows = 3
    return Built([rewrite_ndu(EX1, ds, 3, m)], EXAMPLE + " (gpi 1)",
                 "unit 3 id 'w' -> 'w_G', compressed_parameter_types 1, rank 2^30, g_number_of_rows 3")


@case(name="NEG_UNIT_COUNT_A", features=[1, 4],
      description="65,537 NNR_STR units (4 bytes each) after the example's units: more NNR units than a decoder "
                  "configured with max_units 65,536 accepts in one stream (nnr's default limit is larger: "
                  "nnr.limits.MAX_UNITS).",
      error="LimitExceededError", unit_index=65536, element="nnr_unit", fast=False, max_units=65536)
def _(seeds: Seeds) -> Built:
    str_unit = get_unit(EX1, 0)
    return Built([EX1 + str_unit * (65537 - 5)], EXAMPLE + " (gpi 1)", "65,532 copies of unit 0 appended")


def _qp_for_overflow(qp_offset: int, peak: int) -> int:
    """The smallest mps_quantization_parameter whose tensor step fits float32 but step x peak does not
    (quantization.md §1, qp_density 2)."""
    f32 = float(np.finfo(np.float32).max)
    for mps_qp in range(0, 4096):
        qp = mps_qp + qp_offset
        step = float(np.float32((4 + (qp & 3)) * 2.0 ** ((qp >> 2) - 2))) if (qp >> 2) < 130 else float("inf")
        if step <= f32 and float(np.float32(peak)) * step > f32:
            return mps_qp
    raise AssertionError("no such QP")


@case(name="NEG_STEP_LEVEL_OVERFLOW_A", features=[5, 21, 22],
      description="mps_quantization_parameter of the MPS raised so that the step size of 'w' (unit 3) is a "
                  "finite float32 but step x its largest level is not: the reconstruction would be infinite.",
      error="MalformedStreamError", unit_index=3, element="qp_offset / levels", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])
    assert ds.mps is not None
    w = next(t for u in ds.units for t in u.tensors if t.name == "w")
    assert w.qp is not None and w.levels is not None
    offset = w.qp - ds.mps.mps_quantization_parameter
    peak = int(np.abs(w.levels).max())
    mps_qp = _qp_for_overflow(offset, peak)
    mps = replace(ds.mps, mps_quantization_parameter=mps_qp)
    return Built([replace_unit(EX1, 1, mps_unit(mps, 1))], EXAMPLE + " (gpi 1)",
                 f"MPS mps_quantization_parameter 0 -> {mps_qp} (w: qp_offset {offset}, largest |level| {peak})")


@case(name="NEG_QP_STEP_RANGE_A", features=[5, 21],
      description="mps_quantization_parameter 1200: the step size of 'w' (unit 3) is beyond float32.",
      error="MalformedStreamError", unit_index=3, element="mps_quantization_parameter / qp_offset", fast=True)
def _(seeds: Seeds) -> Built:
    (ds,) = parse([EX1])
    assert ds.mps is not None
    mps = replace(ds.mps, mps_quantization_parameter=1200)
    return Built([replace_unit(EX1, 1, mps_unit(mps, 1))], EXAMPLE + " (gpi 1)",
                 "MPS mps_quantization_parameter 0 -> 1200")


@case(name="NEG_BLOCK_DUPLICATE_ID_A", features=[19, 34, 35],
      description="PT_BLOCK unit 3 whose topology_elem_id list names the weight twice (in place of the "
                  "first batch-norm tensor): one of the two would silently replace the other.",
      error="MalformedStreamError", unit_index=3, element="topology_elem_id", fast=True)
def _(seeds: Seeds) -> Built:
    s = need(seeds, "BLOCK_BN_BI_A")
    (ds,) = parse(s.streams)

    def m(h: CompressedDataUnitHeader) -> None:
        ids = list(h.topology_elem_id_list)
        ids[1] = ids[0]
        h.topology_elem_id_list = ids
    return Built([rewrite_ndu(s.streams[0], ds, 3, m)], "BLOCK_BN_BI_A",
                 "unit 3 topology_elem_id_list[1] := topology_elem_id_list[0]")


# -- generation ------------------------------------------------------------------------------------------------


def _tensor_meta(name: str, a: np.ndarray) -> dict[str, Any]:
    return {"name": name, "shape": list(a.shape), "dtype": str(a.dtype), "nncodec_dtype": None,
            "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}


@dataclass
class Observation:
    cls: str | None
    unit_index: int | None
    element: str | None
    stream: int | None
    message: str
    seconds: float
    peak: int
    crash: str | None = None


def observe(streams: list[bytes], trace: bool = True, max_units: int | None = None) -> Observation:
    """Run nnr.Decoder over the streams (one session) and record how it fails (``trace``: measure
    the peak Python heap, which slows decoding many-fold)."""
    d = nnr.Decoder() if max_units is None else nnr.Decoder(max_units=max_units)
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    try:
        for i, s in enumerate(streams):
            try:
                d.decode(s)
            except NNRError as e:
                return Observation(type(e).__name__, e.unit_index, e.element, i, str(e),
                                   time.perf_counter() - t0, tracemalloc.get_traced_memory()[1])
            except Exception as e:  # noqa: BLE001
                return Observation(None, None, None, i, f"{type(e).__name__}: {e}", time.perf_counter() - t0,
                                   tracemalloc.get_traced_memory()[1], crash=type(e).__name__)
        return Observation(None, None, None, None, "no error", time.perf_counter() - t0,
                           tracemalloc.get_traced_memory()[1])
    finally:
        if trace:
            tracemalloc.stop()


def case_files(c: NegCase, b: Built) -> dict[str, bytes]:
    names = [f"stream_{i}.nnc" for i in range(len(b.streams))]
    fail = c.stream if c.stream >= 0 else len(b.streams) - 1
    meta = {
        "name": c.name,
        "description": c.description,
        "features": sorted(set(c.features)),
        "kind": "negative",
        "cross_checked": False,
        "mode": "single" if len(b.streams) == 1 else "sequence",
        "generator": {"tool": "nnr-make-negative", "version": nnr.__version__, "call": "corrupt a seed stream",
                      "args": {"seed": b.seed, "mutation": b.mutation}, "input": None, "script": SCRIPT},
        "decode_call": ({"call": "nnr.Decoder().decode (one session, streams in order)", "args": {}}
                        if c.max_units is None else
                        {"call": f"nnr.Decoder(max_units={c.max_units}).decode (one session, streams in order)",
                         "args": {"max_units": c.max_units}}),
        "streams": names,
        "expected": b.expected,
        "expected_error": {"class": c.error, "stream": names[fail], "unit_index": c.unit_index,
                           "element": c.element},
    }
    files = {n: s for n, s in zip(names, b.streams)}
    files["case.json"] = (json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode()
    return files


def verdict(c: NegCase, b: Built, o: Observation) -> tuple[bool, str]:
    fail = c.stream if c.stream >= 0 else len(b.streams) - 1
    want = getattr(nnr.errors, c.error)
    problems = []
    if o.crash:
        problems.append(f"CRASH {o.message}")
    elif o.cls is None:
        problems.append("no error raised")
    else:
        if not issubclass(getattr(nnr.errors, o.cls), want):
            problems.append(f"class {o.cls}")
        if o.stream != fail:
            problems.append(f"stream {o.stream}")
        if c.unit_index is not None and o.unit_index != c.unit_index:
            problems.append(f"unit {o.unit_index}")
        if c.element is not None and o.element != c.element:
            problems.append(f"element {o.element}")
    if c.fast and (o.seconds > FAST_SECONDS or o.peak > SMALL_PEAK):
        problems.append(f"slow/large: {o.seconds:.2f} s, peak {o.peak / 2**20:.1f} MiB")
    return not problems, "; ".join(problems)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "bitstreams"), help="output directory (default bitstreams/)")
    ap.add_argument("--seeds", default=None, help="directory of positive seed cases (default: --out)")
    ap.add_argument("--only", nargs="*", default=None, help="case names (substrings)")
    ap.add_argument("--check", action="store_true", help="compare with the existing folders, write nothing")
    ap.add_argument("--list", action="store_true", help="list the cases and their declared errors")
    args = ap.parse_args(argv)

    if args.list:
        for c in CASES:
            print(f"{c.name:36} {c.error} @ unit {c.unit_index}, {c.element}")
        return 0
    _self_check()
    seeds = Seeds(args.seeds or args.out)
    produced: set[str] = set()
    mismatches = 0
    skipped = []
    differ = []
    for c in CASES:
        if args.only and not any(k in c.name for k in args.only):
            continue
        try:
            b = c.build(seeds)
        except MissingSeed as e:
            skipped.append(f"{c.name} (seed {e} not in {seeds.directory})")
            continue
        produced.add(c.name)
        o = observe(b.streams, trace=c.fast, max_units=c.max_units)
        ok, why = verdict(c, b, o)
        status = "OK      " if ok else "MISMATCH"
        if not ok:
            mismatches += 1
        print(f"{status} {c.name:36} declared {c.error}@{c.unit_index}/{c.element}; nnr: "
              f"{o.cls or o.crash or '-'}@{o.unit_index}/{o.element} ({o.seconds * 1000:.0f} ms, "
              f"peak {o.peak / 2**20:.1f} MiB){'  <- ' + why if why else ''}")
        files = case_files(c, b)
        folder = os.path.join(args.out, c.name)
        if args.check:
            for fn, data in files.items():
                p = os.path.join(folder, fn)
                if not os.path.isfile(p) or open(p, "rb").read() != data:
                    differ.append(f"{c.name}/{fn}")
            continue
        tmp = tempfile.mkdtemp(prefix=".neg_", dir=args.out) if os.path.isdir(args.out) else None
        if tmp is None:
            os.makedirs(args.out, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".neg_", dir=args.out)
        for fn, data in files.items():
            with open(os.path.join(tmp, fn), "wb") as f:
                f.write(data)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    if not args.only and not args.check and os.path.isdir(args.out):
        for entry in sorted(os.listdir(args.out)):
            if entry.startswith("NEG_") and entry not in produced and not any(entry == s.split()[0] for s in skipped):
                shutil.rmtree(os.path.join(args.out, entry))
                print(f"removed stale {entry}")
    for s in skipped:
        print(f"SKIPPED  {s}")
    print(f"{len(produced)} negative case(s), {mismatches} mismatch(es) with nnr.Decoder, {len(skipped)} skipped")
    if args.check:
        for d in differ:
            print(f"DIFFERS  {d}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
