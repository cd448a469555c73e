"""Large tensors split into block rows with entry points, quantized and coded on workers.

nnr's own encoder (``nnr.encode``, ``nnr encode``; never the NNCodec drop-in) codes a float
tensor of at least :data:`SPLIT_MIN_ELEMENTS` elements with two or more rows and columns as
block rows of a block scan (scan_order 4, 64x64 blocks, unless a block scan is asked for), the
layout the standard gives for parallel decoding: each block row starts with reset context
models and the range reset, and has an entry point.  What is split:

* quantization: each block row is quantized alone; with dependent quantization its trellis
  starts in state 0 and is made to end in state 0 (:func:`nnr.quantization.trellis.dq_no_rate`
  ``end_state``), so the DQ state at every entry point is 0 and no row waits for the one
  before (a sequential trellis runs on across block rows; the difference is a few levels at
  the end of each row);
* the parameter-set choice: NNCodec's trial pass is summed per block row
  (:func:`nnr.cabac.rows.trial_block_row`; its statistics add up exactly), so the ids are
  those of the whole tensor's trial pass;
* the coding: each block row is coded alone and the rows joined
  (:func:`nnr.cabac.rows.join_rows`) into the codeword a sequential encoder writes for the same
  levels (the bytes of :func:`nnr.encoding.layer.encode_layer`).

Every per-row result depends on the row alone, so the bytes are the same for any number of
workers; the working memory is one block row's (Python lists of a 64-row slice), not the
tensor's.  Splitting costs a few bytes per block row (the entry point, the context models
re-learning after each reset): see docs and ``benchmarks/bench_scale.py``.  Not split: integer
tensors, codebooks, rate-distortion optimised quantization (``lambda_scale`` > 0), bit-depth
limits, row skipping, update streams (TCA / HDSP) and units holding several tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr import parallel
from nnr.cabac.coding import CodingUnit, qp_offset_bits, tensor_coding
from nnr.cabac.contexts import signalled_contexts
from nnr.cabac.scan import BlockScan, block_size, matrix_shape
from nnr.cabac.arith_encoder import ArithmeticEncoder
from nnr.cabac.enc_levels import TensorEncodeInfo, encode_iae, entry_points
from nnr.cabac.rows import RowCode, best_sets, block_row_range, encode_block_row, encode_tensor_prefix, join_rows
from nnr.cabac.rows import trial_block_row
from nnr.encoding.approx import Quantized, QuantMethod, coding_order
from nnr.errors import NNRUsageError
from nnr.quantization import _fits, _slots_to_levels, _urq_round, overflow_qp, scan_permutation, step_size
from nnr.quantization.trellis import dq_no_rate
from nnr.units.compressed_data_unit import EntryPoint

__all__ = ["SPLIT_MIN_ELEMENTS", "SPLIT_SCAN_ORDER", "SplitCoding", "encode_split_payload", "quantize_split", "split_tensors",
           "splittable"]

SPLIT_MIN_ELEMENTS = 1 << 20
"""Default threshold (elements) above which nnr's own encoder splits a tensor (see module doc)."""

SPLIT_SCAN_ORDER = 4  # 64x64 blocks: the fewest entry points


def splittable(shape: Sequence[int], min_elements: int) -> bool:
    """Whether a tensor of ``shape`` is split (``min_elements`` 0: never)."""
    h, w = matrix_shape(tuple(shape))
    # more than one block row (a single one has no entry point and no range reset)
    return min_elements > 0 and len(shape) >= 2 and h > block_size(SPLIT_SCAN_ORDER) and w > 1 and h * w >= min_elements


def _row_jobs(scan: BlockScan, workers: int) -> list[list[int]]:
    """Block rows in contiguous groups, a few per worker (the results do not depend on it)."""
    n = scan.block_rows
    k = max(1, min(n, 4 * workers))
    return [list(range(i * n // k, (i + 1) * n // k)) for i in range(k)]


def _run(fn: Any, groups: list[list[int]], workers: int) -> list[Any]:
    """``fn(br)`` for every block row, in order, the groups on ``workers`` processes."""

    def job(g: int) -> parallel.Job[list[Any]]:
        return parallel.Job([fn(br) for br in groups[g]])

    out: list[Any] = []
    done = parallel.run(job, [len(g) for g in groups], workers) if workers > 1 else []
    for g in range(len(groups)):
        r = done[g] if done else parallel.FAILED
        out += r.value if isinstance(r, parallel.Job) else job(g).value
    return out


def _run_arrays(fn: Any, groups: list[list[int]], workers: int) -> list[npt.NDArray[Any]]:
    """Like :func:`_run` for functions returning one array per block row (sent as raw bytes)."""

    def job(g: int) -> parallel.Job[None]:
        return parallel.Job(None, [fn(br) for br in groups[g]])

    out: list[npt.NDArray[Any]] = []
    done = parallel.run(job, [len(g) for g in groups], workers) if workers > 1 else []
    for g in range(len(groups)):
        r = done[g] if done else parallel.FAILED
        out += r.arrays if isinstance(r, parallel.Job) else job(g).arrays
    return out


def quantize_split(w: npt.NDArray[np.float32], qp: int, qp_density: int, dq: bool, workers: int = 1
                   ) -> tuple[npt.NDArray[np.int32], int]:
    """Levels (DQ reconstruction indices when ``dq``) of ``w`` quantized block row by block row
    (scan order :data:`SPLIT_SCAN_ORDER`), and the QP used (raised as NNCodec raises it when a
    level would overflow int32)."""
    h, wd = matrix_shape(w.shape)
    flat = np.ascontiguousarray(w, dtype=np.float32).reshape(h, wd)
    scan = BlockScan(h, wd, SPLIT_SCAN_ORDER)
    groups = _row_jobs(scan, workers)

    def rows_of(br: int) -> npt.NDArray[np.float32]:
        y0 = br * scan.block_height
        return flat[y0:y0 + scan.block_height].reshape(-1)

    def fits(qstep: np.float32) -> bool:
        return all(_fits(rows_of(br), qstep, dq, False) for br in range(scan.block_rows))

    qstep = step_size(qp, qp_density)
    if not fits(qstep):  # as quant_layer: the QP raised once
        qp = overflow_qp(flat.reshape(-1), qp_density)
        qstep = step_size(qp, qp_density)
        if not fits(qstep):
            raise NNRUsageError("quant_layer: prevention of integer overflow failed")
    if dq and qstep == 0.0:
        raise NNRUsageError("quant_layer: DQ with a step size that underflows float32")

    def one(br: int) -> npt.NDArray[np.int32]:
        x = rows_of(br)
        if not dq:
            return _urq_round(x, qstep)
        rows = x.size // wd
        perm = scan_permutation(rows, wd, SPLIT_SCAN_ORDER)
        w64 = x.astype(np.float64)
        if perm is not None:
            w64 = w64[perm]
        slots = dq_no_rate(w64.tolist(), float(qstep), 0)
        arr = _slots_to_levels(w64, float(qstep), slots)
        if perm is None:
            return arr
        out = np.empty(x.size, dtype=np.int32)
        out[perm] = arr
        return out

    levels = np.empty(h * wd, dtype=np.int32)
    for br, part in enumerate(_run_arrays(one, groups, workers)):
        a, b = block_row_range(scan, br)
        levels[a:b] = part
    return levels.reshape(w.shape), qp


def _last_in_scan(levels: npt.NDArray[np.int32], scan: BlockScan, br: int) -> int:
    """The last level of block row ``br`` in scan order (0 before the first row)."""
    if br < 0:
        return 0
    segs = scan.segments(br)
    return int(levels[segs[-1] - 1])


@dataclass(frozen=True)
class SplitCoding:
    """How a split tensor's unit is coded (what :func:`encode_split_payload` needs besides the levels)."""

    qp_density: int
    dq: bool
    general_profile_idc: int
    parent_node_id_present: bool
    num_gtx: int  # cabac_unary_length_minus1 + 1
    param_opt: bool  # choose the parameter sets by NNCodec's trial pass


def encode_split_payload(levels: npt.NDArray[np.int32], qp: int, c: SplitCoding, workers: int = 1
                         ) -> tuple[bytes, list[EntryPoint], list[int]]:
    """The payload of a unit holding only this tensor (qp_offset, the tensor, the terminating
    bin), its entry points and where the decoder outputs other DQ indices than ``levels``
    (``TensorEncodeInfo.dq_decoded``): the bytes :func:`nnr.encoding.layer.encode_layer`
    writes for these levels with scan order :data:`SPLIT_SCAN_ORDER`, the block rows coded on
    ``workers`` processes."""
    dq, num_gtx = c.dq, c.num_gtx
    flat = levels.reshape(-1)
    u = CodingUnit()
    u.dq_flag, u.scan_order, u.gpi, u.num_gtx, u.parent_node_id_present = dq, SPLIT_SCAN_ORDER, \
        c.general_profile_idc, num_gtx, c.parent_node_id_present
    tc = tensor_coding(tuple(levels.shape), u)
    scan = tc.scan
    groups = _row_jobs(scan, workers)

    def row_list(br: int) -> list[int]:
        a, b = block_row_range(scan, br)
        return flat[a:b].tolist()  # type: ignore[no-any-return]

    order = signalled_contexts(dq, False, False, num_gtx, 0, 0)
    ids = [0] * len(order)
    if c.param_opt and order:
        stats = _run(lambda br: trial_block_row(row_list(br), tc, br, _last_in_scan(flat, scan, br - 1)), groups,
                     workers)
        sums = [sum(col) for col in zip(*stats)]
        ids = best_sets(sums, order)
    rows: list[RowCode] = _run(lambda br: encode_block_row(row_list(br), tc, br, order, ids), groups, workers)
    for br, r in enumerate(rows[:-1]):
        if dq and r.state != 0:
            raise AssertionError(f"block row {br} ends in DQ state {r.state}, not 0")
    enc = ArithmeticEncoder()
    encode_iae(enc, qp_offset_bits(c.qp_density), qp)
    encode_tensor_prefix(enc, tc, order, ids)
    data, marks = join_rows(enc, rows)
    info = TensorEncodeInfo()
    info.marks = marks
    flat_eps = entry_points(data, info)
    eps = [EntryPoint(flat_eps[j], flat_eps[j + 1], flat_eps[j + 2]) for j in range(0, len(flat_eps), 3)]
    return data, eps, [x for r in rows for x in r.dq_decoded]


def split_tensors(a: Any, s: Any, session: bool, workers: int = 1, tick: Any = None,
                  only: Sequence[str] | None = None) -> frozenset[str]:
    """Decide which tensors of the approximation ``a`` are split (see the module doc), give them
    scan order :data:`SPLIT_SCAN_ORDER` and quantize them here, block rows on ``workers``;
    returns their names (the stream writer codes their payloads with :func:`encode_split_payload`).
    ``only``: consider these tensors alone (the others may not be loaded)."""
    if (not s.split_min_elements or session or s.codebook_mode or s.lambda_scale > 0 or s.int_quant_bw
            or s.row_skipping or s.bnf or s.block_id_and_param_type is not None or s.out_of_band
            or s.scan_order not in (0, SPLIT_SCAN_ORDER) or s.ed1):  # rows are coded by 2.1.3's rules
        return frozenset()
    lo, hi = s.qp_limits
    names = []
    for name, role in coding_order(a):
        v = a.params.get(name)
        if only is not None and name not in only:
            continue
        if (role is None or v is None or v.dtype != np.float32 or name in a.out or name in names
                or not splittable(v.shape, s.split_min_elements) or not lo <= a.qp[name] <= hi):
            continue
        names.append(name)
    for name in names:
        a.scan_order[name] = SPLIT_SCAN_ORDER
        dq = bool(a.dq[name])
        try:
            levels, qp = quantize_split(a.params[name], a.qp[name], a.qp_density, dq, workers)
        except NNRUsageError as e:  # named as nnr.encoding.approx names it
            raise NNRUsageError(f"tensor {name!r} cannot be quantized at QP {a.qp[name]} (qp_density "
                                f"{a.qp_density}): {e}") from None
        a.out[name] = Quantized(QuantMethod.UNIFORM, levels, qp, int(dq))
        if tick is not None:
            tick(int(levels.size))
    return frozenset(names)
