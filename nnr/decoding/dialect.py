"""The profile-0 rules of one stream decided while decoding it (:mod:`nnr.dialect`): each
general_profile_idc 0 NDU decoded under the rules a caller chose, or under both
(``Dialect.AUTO``), keeping only what one rule set decodes without error; NDUs both decode to
different tensors are settled by the stream's other NDUs (:func:`resolve_stream`) or refused.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nnr.bitstream import BitReader
from nnr.decoding.payload import CodedTensor, CodedUnit, PayloadContext, decode_payload
from nnr.dialect import Dialect
from nnr.errors import AmbiguousDialectError, NNRError
from nnr.units.compressed_data_unit import CompressedDataUnitHeader

ONLY = "auto: only these rules decode the NDU"
AMBIGUOUS = "ambiguous"  # CodedTensor.dialect of an NDU both rule sets decode differently, until settled


def decode_payload_rules(
    data: bytes, start: int, end: int, h: CompressedDataUnitHeader, ctx: PayloadContext, r: BitReader,
    dialect: Dialect,
) -> list[CodedTensor]:
    """:func:`nnr.decoding.payload.decode_payload` under the rules ``dialect`` selects (module docstring);
    every tensor records the rules used and why (``CodedTensor.dialect`` / ``dialect_reason``)."""
    if ctx.general_profile_idc != 0:
        return decode_payload(data, start, end, h, ctx, r)
    if dialect != Dialect.AUTO:
        try:
            tensors = decode_payload(data, start, end, h, replace(ctx, ed1=dialect == Dialect.ED1), r)
        except NNRError as e:
            raise _hint(e) from None
        return _mark(tensors, dialect, "chosen by the caller")
    tracer, bins = r.tracer, r.bin_tracer
    r.tracer, r.bin_tracer = None, None  # the trial decodes are not traced
    results: dict[Dialect, list[CodedTensor]] = {}
    errors: dict[Dialect, NNRError] = {}
    try:
        for d in (Dialect.ED1, Dialect.ED2):
            try:
                results[d] = decode_payload(data, start, end, h, replace(ctx, ed1=d == Dialect.ED1), r)
            except NNRError as e:
                errors[d] = e
    finally:
        r.tracer, r.bin_tracer = tracer, bins
    if not results:
        e1, e2 = errors[Dialect.ED1], errors[Dialect.ED2]
        # the rules that got further are the likelier ones: their error is the one shown
        first, other = (e1, e2) if (e1.bit_offset or 0) >= (e2.bit_offset or 0) else (e2, e1)
        which = Dialect.ED1 if first is e1 else Dialect.ED2
        first.reason += (f" (general_profile_idc 0, dialect auto: neither rule set decodes this NDU; shown: "
                         f"the {which.label}; the other fails at bit {other.bit_offset}: {other.reason})")
        raise _hint(first)
    if len(results) == 1:
        (d, tensors), = results.items()
        lost = Dialect.ED2 if d == Dialect.ED1 else Dialect.ED1
        err = errors[lost]
        why = f"{ONLY} (the {lost.value} rules fail at bit {err.bit_offset}: {err.reason})"
    else:
        a, b = results[Dialect.ED1], results[Dialect.ED2]
        if not _same(a, b):  # left to the stream's other NDUs (resolve_stream)
            if tracer is not None or bins is not None:  # traced as the ed1 reading
                a = decode_payload(data, start, end, h, replace(ctx, ed1=True), r)
            for x, y in zip(a, b):
                x.dialect_alternative = y
                x.dialect, x.dialect_reason = AMBIGUOUS, AMBIGUOUS
            return a
        d, tensors = Dialect.ED1, a
        why = "auto: both rule sets decode the NDU, to the same tensors"
    if tracer is not None or bins is not None:  # decode again, traced, under the rules found
        tensors = decode_payload(data, start, end, h, replace(ctx, ed1=d == Dialect.ED1), r)
    return _mark(tensors, d, why)


def resolve_stream(coded: list[CodedUnit]) -> None:
    """Settle the NDUs of a stream that both rule sets decode, to different tensors: by the rules
    that alone decode the stream's other NDUs (a stream has one writer), if they all agree; else
    :class:`nnr.AmbiguousDialectError`.  Profile 0 has no TCA or HDSP, so an NDU's reading does
    not change how another NDU decodes; the chosen levels are copied into the arrays the
    session already keeps."""
    ambiguous = [(ui, ts) for ui, _, ts in coded if ts and ts[0].dialect == AMBIGUOUS]
    if not ambiguous:
        return
    settled = {ts[0].dialect for _, _, ts in coded if ts and (ts[0].dialect_reason or "").startswith(ONLY)}
    by = [ui for ui, _, ts in coded if ts and (ts[0].dialect_reason or "").startswith(ONLY)]
    if len(settled) != 1:
        ui, ts = ambiguous[0]
        others = "no other NDU of the stream settles it" if not settled else \
            "the stream's other NDUs disagree"
        raise AmbiguousDialectError(
            "general_profile_idc 0: this NDU decodes without error under both the edition-1 reference software's "
            f"rules (NNCodec 0.3.1) and NNCodec 2.1.3's, to different tensors, and {others}; say which rules the "
            "stream follows: Decoder(dialect='ed1' or 'ed2'), nnr decode --dialect",
            unit_index=ui, unit_type="NNR_NDU", element="nnr_compressed_data_unit_payload", bit_offset=ts[0].bit_offset)
    d = settled.pop()
    assert d is not None
    for _, ts in ambiguous:
        for t in ts:
            alt = t.dialect_alternative
            if d == Dialect.ED2.value and alt is not None and t.levels is not None and alt.levels is not None:
                np.copyto(t.levels, alt.levels.reshape(t.levels.shape))  # also the session's copy
                t.side = alt.side
            t.dialect_alternative = None
            t.dialect = d
            t.dialect_reason = (f"auto: both rule sets decode the NDU, to different tensors; the {d} rules, which "
                                f"alone decode unit(s) {', '.join(map(str, by))} of the stream")


def _hint(e: NNRError) -> NNRError:
    """A profile-0 entry-point mismatch: say what is known to write such streams."""
    if e.element == "cabac_entry_point_list":
        e.reason += ("; NNCodec 0.3.1 writes wrong entry points for an NNR_PT_BLOCK with scan_order > 0 and several "
                     "block rows (docs/deviations.rst): Decoder(verify_entry_points=False) / "
                     "--no-verify-entry-points decodes such a stream sequentially")
    e.args = (e._message(),)
    return e


def _mark(tensors: list[CodedTensor], d: Dialect, why: str) -> list[CodedTensor]:
    for t in tensors:
        t.dialect = d.value
        t.dialect_reason = why
    return tensors


def _same(a: list[CodedTensor], b: list[CodedTensor]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.name != y.name or x.qp != y.qp:
            return False
        if (x.levels is None) != (y.levels is None):
            return False
        if x.levels is not None and y.levels is not None and not np.array_equal(x.levels, y.levels):
            return False
        if (x.raw is None) != (y.raw is None):
            return False
        if x.raw is not None and y.raw is not None and x.raw.tobytes() != y.raw.tobytes():
            return False
    return True
