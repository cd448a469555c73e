"""Decoding one tensor's block rows apart: from its entry points, on workers (mirror of
:mod:`nnr.encoding.split`).

A tensor coded with a block scan of several block rows carries an entry point per block row
after the first (bit offset, offset register, DQ state: ``cabac_entry_point_list``).  This
decodes such a tensor the way :func:`nnr.cabac.dec_levels.decode_tensor_levels` does, but block
row by block row, each row from its own decoder positioned at its entry point
(:func:`nnr.cabac.rows.decoder_at`), so that the rows can run on worker processes
(:mod:`nnr.parallel`) and only one block row's Python lists exist at a time in each.  Every row
is checked against the next entry point exactly as the sequential decoder checks it; the
levels are the same.  Used for plain level coding (no TCA, no codebook, no HDSP history, no
trace) with ``verify_entry_points``; anything else takes the sequential path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from nnr import parallel
from nnr.cabac.contexts import ContextSet, signalled_contexts
from nnr.cabac.coding import TensorCoding
from nnr.cabac.arith_decoder import ArithmeticDecoder
from nnr.cabac.dec_levels import LEVEL_BIAS, LevelBuffer, TensorSideInfo, decode_parameter_sets, decode_preamble
from nnr.cabac.rows import block_row_range, decode_block_row, decoder_at
from nnr.errors import MalformedStreamError

__all__ = ["decode_rows", "level_array", "row_decodable"]

_STATE = ("ptr", "value", "bits_needed", "range", "overrun")


def row_decodable(tc: TensorCoding, traced: bool) -> bool:
    """Whether :func:`decode_rows` applies (else the sequential decoder runs)."""
    scan = tc.scan
    return (scan.multi and tc.verify_entry_points and not traced and tc.cb_size == 0 and tc.base is None
            and tc.history is None and len(tc.entry_points) == 3 * (scan.block_rows - 1))


def level_array(buf: LevelBuffer) -> npt.NDArray[np.int32]:
    """The levels of a :class:`~nnr.cabac.dec_levels.LevelBuffer` as one int32 array."""
    levels = np.frombuffer(bytes(buf.small), dtype=np.uint8).astype(np.int32)
    levels -= LEVEL_BIAS
    if buf.large:
        levels[np.array(buf.large[0::2], dtype=np.int64)] = np.array(buf.large[1::2], dtype=np.int32)
    return levels


def decode_rows(dec: ArithmeticDecoder, tc: TensorCoding, info: TensorSideInfo,
                workers: int = 1) -> npt.NDArray[np.int32]:
    """The levels of one tensor (as ``decode_tensor_levels`` outputs them, flat int32), the block
    rows on ``workers`` processes; ``dec`` is left after the tensor's last level."""
    dq = tc.dq
    entry_points = tc.entry_points
    ctxs = ContextSet(tc.num_gtx)
    info.bit_start = dec.bit_position()
    hdsp = decode_preamble(dec, ctxs, tc, info)
    skip = info.row_skip_flag
    info.bit_params = dec.bit_position()
    decode_parameter_sets(dec, ctxs, tc, hdsp == 1, info.parameter_set_ids)
    ids = list(info.parameter_set_ids)
    order = signalled_contexts(dq, False, hdsp == 1, tc.num_gtx, 0, 0)
    info.bit_levels = dec.bit_position()
    scan = tc.scan
    info.scan_order_used = scan.scan_order
    info.block_rows = scan.block_rows
    nbr = scan.block_rows
    # per block row: where it starts (bit), the offset register and DQ state there
    starts = [int(dec.bit_position())]
    values = [int(dec.offset_register())]
    states = [0]
    for j in range(nbr - 1):
        starts.append(starts[-1] + int(entry_points[3 * j + 2]))
        values.append(int(entry_points[3 * j]))
        states.append(int(entry_points[3 * j + 1]) if dq else 0)
    first = tuple(getattr(dec, f) for f in _STATE)
    data, start, end = dec.data, int(dec.start), int(dec.end)

    def one(br: int) -> tuple[npt.NDArray[np.int32], tuple[int, ...]]:
        if br == 0:
            d = ArithmeticDecoder(data, start, end)
            for f, v in zip(_STATE, first):
                setattr(d, f, v)
        else:
            d = decoder_at(data, start, end, starts[br], values[br])
        buf, state = decode_block_row(d, tc, br, order, ids, states[br], skip)
        if br + 1 < nbr and (int(d.bit_position()) != starts[br + 1] or int(d.offset_register()) != values[br + 1]
                             or (dq and state != states[br + 1])):
            raise MalformedStreamError(
                f"entry point {br} does not match the decoding state at block row {br + 1} (signalled bit offset "
                f"{starts[br + 1]}, value {values[br + 1]}, dq state {states[br + 1]}; decoded {d.bit_position()}, "
                f"{d.offset_register()}, {state})", element="cabac_entry_point_list")
        return level_array(buf), tuple(int(getattr(d, f)) for f in _STATE)

    n = max(1, min(nbr, 4 * workers))
    groups = [list(range(i * nbr // n, (i + 1) * nbr // n)) for i in range(n)]

    def job(g: int) -> parallel.Job[Any]:
        res = [one(br) for br in groups[g]]
        return parallel.Job(res[-1][1], [a for a, _ in res])

    done = parallel.run(job, [len(g) for g in groups], workers) if workers > 1 else []
    out = np.empty(tc.height * tc.width, dtype=np.int32)
    last: tuple[int, ...] = ()
    for g, rows in enumerate(groups):
        r = done[g] if done else parallel.FAILED
        res = r if isinstance(r, parallel.Job) else job(g)
        for br, a in zip(rows, res.arrays):
            lo, hi = block_row_range(scan, br)
            out[lo:hi] = a
        last = res.value
    for f, v in zip(_STATE, last):
        setattr(dec, f, v)
    info.bit_end = dec.bit_position()
    return out
