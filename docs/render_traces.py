#!/usr/bin/env python3
"""Worked examples: real streams of ``bitstreams/`` rendered as annotated traces, for the Sphinx docs.

Run by the docs build (``docs/_ext/nnrdocs.py``) before Sphinx reads the sources; writes
``docs/_gen/traces/<CASE>.rst``.  Each page is the syntax trace nnr's decoder reports
(:class:`nnr.decoder.Decoder` with a tracer, as ``nnr trace``): bit offset, the bits as read, the
structure (linked to its table), the element (linked to its table row), descriptor and value.  The
first example also has the per-bin trace of its arithmetic-coded payload (``nnr trace --bins``):
context model, range and offset registers before each bin, and the level it codes.

Usage (to look at one page without Sphinx)::

    python3 docs/render_traces.py SPEC_EXAMPLE_GPI1_A
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from nnr import syntax as st  # noqa: E402
from nnr.bitstream import TraceEvent  # noqa: E402
from nnr.bitstream.bintrace import BinEvent, BinTracer  # noqa: E402
from nnr.decoder import Decoder  # noqa: E402

BITSTREAMS = os.path.join(ROOT, "bitstreams")
GEN = os.path.join(HERE, "_gen", "traces")

# (case, what it shows); the first one also gets its bin trace
EXAMPLES = [
    ("SPEC_EXAMPLE_GPI1_A", "the notes' worked example: a 3x4 weight and a bias, dependent quantization, "
                            "edition 2 (general_profile_idc 1); every bin of its payload is traced below"),
    ("BLOCK_CODEBOOK_W_A", "an NNR_PT_BLOCK unit whose weight uses an integer codebook"),
    ("DC_BLOCK_CODEBOOK_A", "a decomposed weight (G and H) in an NNR_PT_BLOCK unit, with a second codebook for H"),
    ("DQ_SCAN1_A", "8x8 block scan with dependent quantization: block rows and their entry points"),
    ("HB_PERF_MAPS_A", "a model parameter set with the performance maps"),
    ("SEQ_HDSP_CODEBOOK_A", "a base model and three updates (parameter update tree, HDSP), one decoder session"),
    # hand-built streams (conformance/): the structures NNCodec never writes
    ("HB_LPS_A", "a layer parameter set with a sparsification performance map"),
    ("HB_AGG_A", "two compressed data units carried in one aggregate unit"),
    ("HB_QNT_A", "a quantization unit"),
    ("HB_TPL_PRUN_A", "a topology unit with a pruning topology container"),
    ("HB_REFLIST_A", "indexed topology references (a reference-list topology unit)"),
    ("HB_SHA512_PARENT_A", "a parent node identified by the SHA-512 of its payload"),
    ("HB_RAW_FLOAT_A", "an uncompressed float32 tensor beside a coded one"),
    ("HB_PARTIAL_DATA_COUNTER_A", "partial_data_counter in the unit headers"),
    ("HB_DECOMPRESSED_FORMAT_A", "nnr_decompressed_data_format in the compressed data unit headers"),
]
BIN_EXAMPLE = "SPEC_EXAMPLE_GPI1_A"


def lit(text: str) -> str:
    return f"``{text}``" if text else ""


def _value(e: TraceEvent) -> str:
    v = e.value
    if e.name == "byte_alignment" and isinstance(v, int):
        return format(v, f"0{e.bit_length}b")
    if isinstance(v, (bytes, bytearray)):
        h = bytes(v).hex()
        return h if len(h) <= 32 else h[:32] + f"… ({len(v)} bytes)"
    if isinstance(v, list) and len(v) > 16:
        return f"{v[:16]}… ({len(v)} values)"
    return str(v)


def _bits(data: bytes, e: TraceEvent) -> str:
    """The bits of a fixed-position element as read from the stream; arithmetic-coded elements
    have no bits of their own (their offset is the arithmetic decoder's bit counter)."""
    if "ae(" in e.descriptor or e.bit_length <= 0:
        return "(arith.)" if "ae(" in e.descriptor else ""
    n = min(e.bit_length, 32)
    start = e.bit_offset
    out = []
    for i in range(start, start + n):
        if i // 8 >= len(data):
            break
        out.append("1" if data[i // 8] >> (7 - i % 8) & 1 else "0")
    s = "".join(out)
    return s + ("…" if e.bit_length > n else "")


class _Links:
    """How a trace names an element -> what to link (a table row, an index entry, nothing)."""

    def __init__(self, syn: st.Syntax) -> None:
        self.syn = syn
        self.rows = {f"{r.structure}.{r.name}" for t in syn.tables.values() for r in t.rows if r.element}
        self.elements = {r.name for t in syn.tables.values() for r in t.rows if r.element}
        self.elements |= {a.name for t in syn.tables.values() for a in t.aliases}

    def element(self, structure: str, name: str) -> tuple[str, str] | None:
        """(kind, target): ("row", "structure.name") or ("elem", name)."""
        if f"{structure}.{name}" in self.rows:
            return "row", f"{structure}.{name}"
        for suf in self.syn.suffixes(structure) if structure in self.syn.tables else ():
            if suf and name.endswith(suf) and f"{structure}.{name[: -len(suf)]}" in self.rows:
                return "row", f"{structure}.{name[: -len(suf)]}"
        base = name.split("[", 1)[0]
        if base in self.elements:
            return "elem", base
        return None


def _cell(case: str, name: str, link: tuple[str, str] | None, seen: set[str]) -> str:
    """The element cell: anchored (first occurrence on the page) and linked."""
    if link is None:
        return lit(name)
    kind, target = link
    key = name.split("[", 1)[0] if kind == "row" else target  # as traced (a suffixed name keeps its suffix)
    first = key not in seen
    seen.add(key)
    return f":nnr:tracedef:`{case}|{key if first else ''}|{kind}|{target}|{name}`"


def trace_case(case: str) -> tuple[dict[str, Any], list[tuple[str, bytes, list[TraceEvent], list[BinEvent]]]]:
    """(case.json, [(stream file, bytes, syntax events, bin events)]) of one case, decoded in one session."""
    folder = os.path.join(BITSTREAMS, case)
    with open(os.path.join(folder, "case.json"), encoding="utf-8") as f:
        meta = json.load(f)
    session = Decoder()
    out = []
    for s in meta["streams"]:
        with open(os.path.join(folder, s), "rb") as f:
            data = f.read()
        events: list[TraceEvent] = []
        bins: list[BinEvent] = []
        tracer = BinTracer(bins.append) if case == BIN_EXAMPLE else None
        session.decode_stream(data, tracer=events.append, bins=tracer)
        out.append((s, data, events, bins))
    return meta, out


def render_case(case: str, what: str, syn: st.Syntax, links: _Links) -> tuple[str, dict[str, str]]:
    """The page of one worked example, and element -> its first trace anchor on it."""
    meta, streams = trace_case(case)
    seen: set[str] = set()
    title = f"Worked example: {case}"
    lines = [".. This file is generated by docs/render_traces.py at build time; do not edit.", "",
             title, "=" * len(title), "",
             f".. nnr:trace:: {case}", "",
             f"   {what[0].upper() + what[1:]}.  Case ``bitstreams/{case}/`` of the conformance suite: "
             f"{meta.get('description', '')}", ""]
    lines += [
        "Columns: the bit offset from the start of the stream; the bits as read (fixed-length and "
        "Exp-Golomb codes; for arithmetic-coded elements the offset is the arithmetic decoder's bit "
        "counter and the element has no bits of its own); the syntax structure (linked to its table); "
        "the element (linked to its row in the table; the element's index entry is one more click); "
        "descriptor; value.  Made with :class:`nnr.decoder.Decoder` and a tracer, as ``nnr trace "
        + " ".join(f"bitstreams/{case}/{s}" for s, *_ in streams) + "`` prints it.",
        "",
    ]
    for s, data, events, bins in streams:
        if len(streams) > 1:
            sub = f"Stream ``{s}`` ({len(data)} bytes)"
            lines += [sub, "-" * len(sub), ""]
        else:
            lines += [f"Stream ``{s}``: {len(data)} bytes, {len(events)} syntax elements.", ""]
        lines += [".. list-table::", "   :header-rows: 1", "   :class: nnr-trace", "   :widths: 8 20 26 30 10 20", "",
                  "   * - bit", "     - bits", "     - structure", "     - element", "     - descriptor", "     - value"]
        for e in events:
            struct = f":ref:`{e.structure} <syntax-{e.structure}>`" if e.structure in syn.tables else lit(e.structure)
            lines += [f"   * - {e.bit_offset}", f"     - {lit(_bits(data, e))}" if _bits(data, e) else "     -",
                      f"     - {struct}", f"     - {_cell(case, e.name, links.element(e.structure, e.name), seen)}",
                      f"     - {lit(e.descriptor)}", f"     - {lit(_value(e))}"]
        lines.append("")
        if bins:
            lines += render_bins(case, bins, links, seen)
    anchors = {k: case for k in seen}
    return "\n".join(lines).rstrip() + "\n", anchors


def render_bins(case: str, bins: list[BinEvent], links: _Links, seen: set[str]) -> list[str]:
    title = "Every bin of the payload"
    lines = [title, "-" * len(title), ""]
    lines += [
        f"The {len(bins)} bins of the arithmetic-coded payload, as ``nnr trace --bins`` prints them: the "
        "arithmetic decoder's bit counter, the element the bin belongs to, the context model "
        "(:nnr:proc:`context selection <context-selection>`; flat index in parentheses; ``bypass`` and ``terminate`` bins "
        "have none), the bin, the engine's range and 9-bit offset register before the bin "
        "(:nnr:proc:`arithmetic decoding <arithmetic-decoding>`), and the tensor, element position (row-major) and level it "
        "codes (with dependent quantization ``-> i``: the reconstruction index, :nnr:proc:`dependent quantization <dependent-quantization>`).",
        "",
        ".. list-table::", "   :header-rows: 1", "   :class: nnr-trace", "",
        "   * - bit", "     - element", "     - context model", "     - bin", "     - range", "     - offset",
        "     - tensor[position] level",
    ]
    for b in bins:
        base = b.element.split("[", 1)[0]
        link = ("elem", base) if base in links.elements else None
        elem = _cell(case, b.element, link, seen)
        model = f"{b.model} ({b.context})" if b.context >= 0 else b.model
        where = f"{b.tensor}[{b.position}] {b.level}" if b.position is not None else b.tensor
        if b.position is not None and b.value != b.level:
            where += f" -> {b.value}"
        lines += [f"   * - {b.bit_offset}", f"     - {elem}", f"     - {lit(model)}", f"     - {b.bin}",
                  f"     - {b.range}", f"     - {'-' if b.offset is None else b.offset}",
                  f"     - {lit(where)}" if where else "     -"]
    return lines + [""]


def render_index(cases: list[tuple[str, str]]) -> str:
    lines = [".. This file is generated by docs/render_traces.py at build time; do not edit.", "",
             "Worked examples", "===============", "",
             "Real streams of the conformance suite (``bitstreams/``), decoded by nnr with a tracer: every "
             "syntax element with its bit offset, bits, structure and value, linked to its row in the "
             ":doc:`syntax tables </syntax_tables>`; for the first one also every bin of the arithmetic-coded "
             "payload, with its context model and the engine's registers.", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    lines += [f"   {c}" for c, _ in cases]
    lines.append("")
    for c, what in cases:
        lines.append(f"* :nnr:trace:`{c}`: {what}")
    return "\n".join(lines) + "\n"


def write_generated() -> dict[str, list[tuple[str, str]]]:
    """Write docs/_gen/traces/; return element -> [(case, case)] of the examples it occurs in."""
    from render_syntax import write_if_changed

    syn = st.load()
    links = _Links(syn)
    found: dict[str, list[tuple[str, str]]] = {}
    for case, what in EXAMPLES:
        text, anchors = render_case(case, what, syn, links)
        write_if_changed(os.path.join(GEN, case + ".rst"), text)
        for k in anchors:
            found.setdefault(k, []).append((case, case))
    write_if_changed(os.path.join(GEN, "index.rst"), render_index(EXAMPLES))
    return found


if __name__ == "__main__":
    s = st.load()
    for c, w in EXAMPLES:
        if c in sys.argv[1:]:
            print(render_case(c, w, s, _Links(s))[0])
