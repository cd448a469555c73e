"""Block rows coded apart: the arithmetic-coding side of splitting one tensor across workers.

With a block scan (scan_order 1..4) of several block rows, every block row starts with reset
context models, the range reset to 256 and an entry point (deepcabac.md §7: bit offset, the
decoder's offset register, the DQ state).  Nothing else of the coder carries over from the row
before except the lower end ``L`` of the coding interval, and that enters linearly: starting a
row at ``(L, 256)`` and coding its bins leaves ``L * 2**n + D``, where ``n`` (the row's
renormalisation shifts) and ``D`` depend on the row's bins alone.  So

* the encoder codes each block row on its own from ``(0, 256)`` (:func:`encode_block_row`, any
  process), then joins the rows' ``(D, n)`` behind the tensor's prefix (qp_offset, preamble,
  parameter sets) into the one codeword a sequential encoder writes (:func:`join_rows`): the
  same bytes, whatever process coded which row;
* the decoder starts a decoder at any entry point (:func:`decoder_at`) and decodes the block
  rows on workers (:func:`decode_block_row`), each row checked against the next entry point as
  the sequential decoder checks it.

The DQ state does carry over; nnr's split encoder (:mod:`nnr.encoding.split`) makes every
block row end in state 0, so each row starts in state 0 wherever it is coded.

Only the plain level coding takes this path (no TCA, HDSP or codebook).
"""

from __future__ import annotations

from dataclasses import dataclass

from nnr.cabac.arith_decoder import ArithmeticDecoder
from nnr.cabac.arith_encoder import ArithmeticEncoder
from nnr.cabac.coding import TensorCoding
from nnr.cabac.contexts import ContextSet, num_level_contexts
from nnr.cabac.dec_levels import LEVEL_BIAS, LevelBuffer, _decode_run_fast
from nnr.cabac.dq import skip_permutation, skipped_row_state
from nnr.cabac.enc_levels import _encode_run_fast, dq_outputs, encode_parameter_sets
from nnr.cabac.param_choice import trial_run_fast
from nnr.cabac.scan import BlockScan
from nnr.cabac.trial_model import TrialModel
from nnr.errors import MalformedStreamError, TruncatedStreamError

__all__ = ["RowCode", "best_sets", "block_row_range", "decode_block_row", "decoder_at", "encode_block_row",
           "encode_tensor_prefix", "join_rows", "trial_block_row"]


@dataclass
class RowCode:
    """One block row coded from ``L = 0``, range 256: ``L`` grew to ``low`` over ``bits``
    renormalisation shifts; ``range`` and ``state`` (DQ) are the coder's at the row's end;
    ``dq_decoded``: (tensor position, index the decoder outputs) of the DQ indices of the wrong
    parity, flat (``TensorEncodeInfo.dq_decoded``)."""

    low: int
    bits: int
    range: int
    state: int
    dq_decoded: list[int]


def block_row_range(scan: BlockScan, br: int) -> tuple[int, int]:
    """(first, end) position of block row ``br`` (its rows y0..y1 of the tensor, row-major)."""
    y0 = br * scan.block_height
    y1 = min(scan.height, y0 + scan.block_height)
    return y0 * scan.width, y1 * scan.width


def _init_contexts(num_gtx: int, order: list[int], ids: list[int]) -> ContextSet:
    ctxs = ContextSet(num_gtx)
    every = ctxs.every
    for i, ci in enumerate(order):
        every[ci].init(ids[i])
    return ctxs


def encode_tensor_prefix(enc: ArithmeticEncoder, tc: TensorCoding, order: list[int], ids: list[int]) -> None:
    """What :func:`~nnr.cabac.enc_levels.encode_tensor_levels` writes before the levels of a
    plain tensor (no HDSP, no row skipping, no codebook): the edition-2 preamble with both flags
    0, then the parameter-set signalling of ``ids`` (signalling order)."""
    ctxs = ContextSet(tc.num_gtx)
    if tc.preamble:
        if tc.parent_node_id_present:
            enc.encode_bypass(0)  # hist_dep_sig_prob_enabled_flag
        enc.encode_bypass(0)  # row_skip_enabled_flag
    encode_parameter_sets(enc, ctxs, order, ids)


def trial_block_row(levels: list[int], tc: TensorCoding, br: int, prev: int) -> list[int]:
    """NNCodec's trial pass (:func:`~nnr.cabac.param_choice.trial_pass`) over block row ``br``
    alone: the models start reset (as at every block-row start), the DQ state at 0, the
    previous level at ``prev`` (the trial pass does not reset it: the last level of the block
    row before in scan order).  Returns per level context its nine sums and its bin count,
    flat; the sums of all block rows are the whole trial pass (:func:`best_sets`)."""
    scan = tc.scan
    models = [TrialModel() for _ in range(num_level_contexts(tc.num_gtx))]
    off, _ = block_row_range(scan, br)
    segs = scan.segments(br)
    state = 0
    for i in range(0, len(segs), 3):
        state, prev = trial_run_fast(models, levels, segs[i + 1] - off, segs[i + 2] - off, state, prev, tc)
    out: list[int] = []
    for m in models:
        out += m.costs()
        out.append(int(m.bins))
    return out


def best_sets(sums: list[int], order: list[int]) -> list[int]:
    """The parameter-set ids (signalling order) from the summed trial statistics."""
    ids: list[int] = []
    for ci in order:
        t = TrialModel()
        c = sums[10 * ci: 10 * ci + 10]
        t.c0, t.c1, t.c2, t.c3, t.c4, t.c5, t.c6, t.c7, t.c8, t.bins = c
        ids.append(int(t.best()))
    return ids


def encode_block_row(levels: list[int], tc: TensorCoding, br: int, order: list[int], ids: list[int]) -> RowCode:
    """Code block row ``br`` alone; ``levels`` are that block row's levels (row-major, from its
    first position), DQ reconstruction indices with DQ; the row starts in DQ state 0."""
    scan = tc.scan
    enc = ArithmeticEncoder()
    enc.reset_range()
    ctxs = _init_contexts(tc.num_gtx, order, ids)
    off, _ = block_row_range(scan, br)
    segs = scan.segments(br)
    state = prev = 0
    decoded: list[int] = []
    for i in range(0, len(segs), 3):
        s0 = state
        state, prev, mm = _encode_run_fast(enc, ctxs, levels, segs[i + 1] - off, segs[i + 2] - off, state, prev, tc)
        if mm:
            dq_outputs(levels, segs[i + 1] - off, segs[i + 2] - off, s0, off, decoded)
    low = (int.from_bytes(enc.out, "big") << int(enc.window)) + int(enc.low)
    return RowCode(low, int(enc.bit_position()), int(enc.range), int(state), decoded)


def _concat(rows: list[RowCode], lo: int, hi: int) -> tuple[int, int]:
    """(D, n) of rows lo..hi-1 one after the other (balanced: linear-time big-integer work per level)."""
    if hi - lo == 1:
        return rows[lo].low, rows[lo].bits
    mid = (lo + hi) // 2
    a, na = _concat(rows, lo, mid)
    b, nb = _concat(rows, mid, hi)
    return (a << nb) + b, na + nb


def join_rows(prefix: ArithmeticEncoder, rows: list[RowCode]) -> tuple[bytes, list[int]]:
    """The finished codeword of ``prefix`` (everything before the first block row) followed by
    ``rows`` and the terminating bin, and the entry-point marks (T, L mod 2**16, DQ state) at
    every block-row start (the layout of ``TensorEncodeInfo.marks``)."""
    big = (int.from_bytes(prefix.out, "big") << int(prefix.window)) + int(prefix.low)
    t = int(prefix.bit_position())
    low16 = big & 0xFFFF
    marks: list[int] = []
    state = 0
    for r in rows:
        marks += [t, low16, state]
        low16 = ((low16 << r.bits) + r.low) & 0xFFFF
        t += r.bits
        state = r.state
    d, n = _concat(rows, 0, len(rows))
    big = (big << n) + d
    big += rows[-1].range - 2  # terminating bin 1 (deepcabac.md §2.5)
    big |= 1  # the stop bit
    nbits = t + 9
    pad = -nbits % 8
    if big >> nbits:
        raise AssertionError("arithmetic encoder: carry beyond the start of the codeword")
    return (big << pad).to_bytes((nbits + pad) // 8, "big"), marks


# -- decoding ---------------------------------------------------------------------------------------


def decoder_at(data: bytes, start: int, end: int, t: int, value: int) -> ArithmeticDecoder:
    """A decoder of the codeword ``data[start:end]`` positioned at bit ``t`` with offset register
    ``value`` (an entry point): as the sequential decoder is there, before its range reset."""
    if t < 0:
        raise MalformedStreamError(f"entry point before the start of the codeword (bit {t})",
                                   element="cabac_entry_point_list")
    dec = ArithmeticDecoder(data, start, end)
    p = (t + 16) // 8  # bytes read: the register's 9 bits and up to 7 more
    k = 8 * p - (t + 9)
    last = data[start + p - 1] if start + p - 1 < end else 0
    dec.value = (value << 7) | ((last & ((1 << k) - 1)) << (7 - k))
    dec.ptr = start + p
    dec.bits_needed = t + 8 - 8 * p
    dec.overrun = max(0, start + p - end)
    return dec


def decode_block_row(dec: ArithmeticDecoder, tc: TensorCoding, br: int, order: list[int], ids: list[int], state: int,
                     skip: list[int]) -> tuple[LevelBuffer, int]:
    """Decode block row ``br`` from ``dec`` (at the row's start, before the range reset) into a
    buffer of that block row's levels (row-major from its first position); returns it and the
    DQ state at its end.  ``skip``: row_skip_flag per row of the tensor, or empty."""
    if not dec.reset_range():
        raise MalformedStreamError(f"arithmetic decoder offset >= 256 at the range reset of block row {br}",
                                   element="nnr_compressed_data_unit_payload")
    scan = tc.scan
    ctxs = _init_contexts(tc.num_gtx, order, ids)
    off, end = block_row_range(scan, br)
    out = LevelBuffer()
    out.small.extend([LEVEL_BIAS] * (end - off))  # all zero
    skip_perm = skip_permutation(scan.width) if (skip and tc.dq) else b""
    segs = scan.segments(br)
    prev = 0
    for i in range(0, len(segs), 3):
        if skip and skip[segs[i]]:
            state = skipped_row_state(state, skip_perm)
            continue
        state, prev = _decode_run_fast(dec, ctxs, out, segs[i + 1] - off, segs[i + 2] - off, state, prev, tc)
        if dec.overrun > 0:
            raise TruncatedStreamError("arithmetic codeword runs past the end of the NNR unit",
                                       element="nnr_compressed_data_unit_payload")
    return out, int(state)
