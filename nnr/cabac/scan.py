"""The scan of a tensor's levels (deepcabac.md §5): the one home of its geometry: which scan
order is in force, block size, number of block rows, the matrix view of a tensor shape and the
order in which block rows and row segments are coded (:class:`BlockScan`).

Scan-geometry functions take Python ``int`` (not ``i64``): they also see dimensions straight
from a stream header.

Hot path: compiled with mypyc.
"""

from __future__ import annotations

from typing import Final, final

from mypy_extensions import i64


def matrix_shape(shape: tuple[int, ...] | list[int]) -> tuple[int, int]:
    """(height, width) of the matrix view of a tensor: dims[0] rows of prod(dims[1:]) entries."""
    if len(shape) == 0:
        return 1, 1
    w = 1
    for d in shape[1:]:
        w *= int(d)
    return int(shape[0]), w


def scan_order_in_force(height: int, width: int, scan_order: int) -> int:
    """A tensor with one column or one row is always scanned row-major."""
    if width == 1 or height * width == width:
        return 0
    return scan_order


# positions per segment of consecutive whole rows (BlockScan.segments): the decoder checks for a
# codeword overrun once per segment
SEGMENT_RUN: Final = 4096


def block_size(scan_order: int) -> int:
    """Side of the square blocks of block scan ``scan_order`` (1..4: 8, 16, 32, 64)."""
    return 4 << scan_order


def num_block_rows(height: int, scan_order: int) -> int:
    """Block rows of ``height`` rows in scan order ``scan_order`` (0: one, or none if empty)."""
    if height <= 0:
        return 0
    if scan_order <= 0:
        return 1
    b = block_size(scan_order)
    return (height + b - 1) // b


def scan_geometry(height: int, width: int, scan_order: int) -> tuple[int, int, int, int]:
    """(scan order in force, block height, block width, number of block rows) of the scan."""
    so = scan_order_in_force(height, width, scan_order)
    if so == 0:
        return 0, height, width, num_block_rows(height, 0)
    b = block_size(so)
    return so, b, b, num_block_rows(height, so)


@final
class BlockScan:
    """The scan of a ``height`` x ``width`` tensor: block rows of row segments in coding order.

    Row-major (one block row) or, with scan order 1..4 in force, square blocks block row by
    block row, each block row by row.  A new block row (``multi``) resets the context models and
    the range, and has an entry point; under the edition-1 rules (``ed1``) the range is reset at
    the start of a block scan with one block row too (``range_reset``).
    """

    scan_order: i64  # in force
    block_height: i64
    block_width: i64
    block_rows: i64
    multi: bool  # more than one block row of a block scan
    range_reset: bool  # the range is reset at the start of every block row (multi, or ed1 rules)
    width: i64
    height: i64

    def __init__(self, height: i64, width: i64, scan_order: i64, ed1: bool = False) -> None:
        so, bh, bw, nbr = scan_geometry(height, width, scan_order)
        self.scan_order = so
        self.block_height = bh
        self.block_width = bw
        self.block_rows = nbr
        self.multi = so > 0 and nbr > 1
        # edition-1 reference software: a block scan in force resets the range even with one block row
        self.range_reset = so > 0 and (nbr > 1 or ed1)
        self.height = height
        self.width = width

    def segments(self, br: i64, whole_rows: bool = False) -> list[int]:
        """Block row ``br`` as (row y, first position, end position) triples, flat, in order.

        ``whole_rows`` (no row skipping in force: the row of a position is not needed): where a
        block spans the full width its rows are consecutive positions, given as runs of at most
        SEGMENT_RUN positions, so a tall narrow tensor (1-D: width 1) costs no object per row.
        """
        out: list[int] = []
        width = self.width
        y0 = br * self.block_height
        y1 = y0 + self.block_height
        if y1 > self.height:
            y1 = self.height
        if whole_rows and self.block_width >= width:
            p: i64 = y0 * width
            end: i64 = y1 * width
            while p < end:
                q = p + SEGMENT_RUN
                if q > end:
                    q = end
                out.append(int(p // width))
                out.append(int(p))
                out.append(int(q))
                p = q
            return out
        bx0: i64 = 0
        while bx0 < width:
            bx1 = bx0 + self.block_width
            if bx1 > width:
                bx1 = width
            for y in range(y0, y1):
                out.append(int(y))
                out.append(int(y * width + bx0))
                out.append(int(y * width + bx1))
            bx0 = bx1
        return out

    def coded_segments(self, br: i64, skip: list[int]) -> list[int]:
        """Block row ``br`` as (rows skipped before, first position, end position) triples of
        the row segments coded, flat, in order (:meth:`segments`); ``skip``: row_skip_flag per
        row, or empty without row skipping.  Rows skipped after the last coded segment end the
        list as an empty segment, so that every skipped row is counted."""
        if len(skip) == 0:
            out = self.segments(br, True)
            for i in range(0, len(out), 3):
                out[i] = 0
            return out
        segs = self.segments(br)
        out = []
        k: i64 = 0
        for i in range(0, len(segs), 3):
            if skip[segs[i]]:
                k += 1
                continue
            out.append(int(k))
            out.append(segs[i + 1])
            out.append(segs[i + 2])
            k = 0
        if k:
            out.append(int(k))
            out.append(0)
            out.append(0)
        return out
