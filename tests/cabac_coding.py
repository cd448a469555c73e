"""Test helper: the coding context of a ``h`` x ``w`` tensor from plain values, through the one
builder (:func:`nnr.cabac.coding.tensor_coding`)."""

from __future__ import annotations

from nnr.cabac.coding import CodingUnit, TensorCoding, tensor_coding


def coding(h: int, w: int, dq: bool, scan: int, gpi: int, num_gtx: int, pnp: bool = False, cb_size: int = 0,
           cb_zero: int = 0, base: list[int] | None = None, history: list[int] | None = None,
           entry_points: list[int] | None = None, verify: bool = False, ed1: bool = False) -> TensorCoding:
    u = CodingUnit()
    u.dq_flag, u.scan_order, u.gpi, u.num_gtx, u.parent_node_id_present = dq, scan, gpi, num_gtx, bool(pnp)
    u.tca, u.ed1, u.verify_entry_points = base is not None, ed1, verify
    return tensor_coding((h, w), u, (cb_size, cb_zero) if cb_size else None, base, history, entry_points)
