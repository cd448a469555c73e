"""The coding context of one tensor: everything its levels' coding depends on, derived once.

:func:`tensor_coding` is the one home of the rules that turn what a compressed data unit signals
(and what the session holds) into how one tensor's levels are coded; the level decoder
(:mod:`nnr.cabac.dec_levels`), the level encoder (:mod:`nnr.cabac.enc_levels`), the parameter-set
choice (:mod:`nnr.cabac.param_choice`) and the block-row coders (:mod:`nnr.cabac.rows`) all take
the :class:`TensorCoding` it builds:

* dependent quantization: ``dq_flag``, never with an integer payload;
* the scan order: the signalled one for a tensor of two or more dimensions, row-major
  otherwise; its geometry (:class:`~nnr.cabac.scan.BlockScan`), with the dialect's range resets;
* ``cabac_unary_length_minus1`` + 1 greater-than flags;
* the codebook-aware binarization: edition 2 (profile 1) only;
* temporal context adaptation (TCA): profile 1 only;
* the edition-2 preamble (:func:`preamble_coded`);
* the dialect (``ed1``: the edition-1 reference software's rules, :mod:`nnr.dialect`);
* the decoder's budget (``max_coded``; none for a size-1 codebook, which codes no bin).

The width of ``qp_offset`` (:func:`qp_offset_bits`) and the QPs it can signal
(:func:`qp_offset_limits`) live here too; the int32 range of levels is in :mod:`nnr.limits`.

Hot path: compiled with mypyc (the hot loops read the context's fields into locals at entry).
"""

from __future__ import annotations

from typing import Protocol, final

from mypy_extensions import i64

from nnr.cabac.scan import BlockScan, matrix_shape
from nnr.units.types import PayloadType


def qp_offset_bits(qp_density: int) -> int:
    """Width n of ``qp_offset`` (iae(n)) ahead of each tensor of a quantized payload."""
    return 6 + qp_density


def qp_offset_limits(qp_density: int) -> tuple[int, int]:
    """The QPs ``qp_offset`` can signal (iae(n), n = :func:`qp_offset_bits`), the MPS's
    quantization parameter being 0."""
    half = 1 << (qp_offset_bits(qp_density) - 1)
    return -half, half - 1


def preamble_coded(height: int, width: int, gpi: int, cb_size: int) -> bool:
    """Whether a tensor's edition-2 preamble (HDSP flag, row skipping) is present."""
    return gpi == 1 and width > 1 and height > 1 and cb_size != 1


class UnitSignals(Protocol):
    """What a compressed data unit header signals for the coding of its tensors (the header
    classes of :mod:`nnr.units.compressed_data_unit` have these fields)."""

    nnr_compressed_data_unit_payload_type: int
    dq_flag: int
    scan_order: int
    cabac_unary_length_minus1: int
    parent_node_id_present_flag: int
    temporal_context_modeling_flag: int


@final
class TensorCoding:
    """How one tensor's levels are coded (built by :func:`tensor_coding`; read-only after).

    ``base`` (TCA) and ``history`` (HDSP) are position-aligned with the levels, or None.
    ``entry_points`` holds (value, dq_state, bit_offset) triples for block rows 1.. (flat).
    """

    height: i64
    width: i64
    dq: bool
    scan_order: i64  # as signalled for this tensor (0 for fewer than two dimensions)
    gpi: i64
    num_gtx: i64
    parent_node_id_present: bool
    cb_size: i64  # codebook size (edition 2 only), 0 without
    cb_zero: i64
    base: list[int] | None
    history: list[int] | None
    ed1: bool
    preamble: bool  # the edition-2 preamble is coded
    scan: BlockScan
    entry_points: list[int]
    verify_entry_points: bool
    max_coded: i64  # elements the codeword may have to code at most (-1: no bound)

    def __init__(self, height: i64, width: i64, scan: BlockScan) -> None:
        self.height = height
        self.width = width
        self.scan = scan
        self.dq = False
        self.scan_order = scan.scan_order
        self.gpi = 0
        self.num_gtx = 1
        self.parent_node_id_present = False
        self.cb_size = 0
        self.cb_zero = 0
        self.base = None
        self.history = None
        self.ed1 = False
        self.preamble = False
        self.entry_points = []
        self.verify_entry_points = False
        self.max_coded = -1

    @property
    def use_tca(self) -> bool:
        return self.base is not None


@final
class CodingUnit:
    """The unit-level half of the coding context: a header's signals read once, with the
    profile, the dialect and the decoder's budget (:func:`coding_unit`)."""

    payload_type: i64
    dq_flag: bool
    scan_order: i64
    num_gtx: i64
    parent_node_id_present: bool
    tca: bool  # temporal_context_modeling_flag in force (profile 1 only)
    gpi: i64
    ed1: bool
    verify_entry_points: bool
    max_coded: i64

    def __init__(self) -> None:
        self.payload_type = int(PayloadType.NNR_PT_FLOAT)
        self.dq_flag = False
        self.scan_order = 0
        self.num_gtx = 1
        self.parent_node_id_present = False
        self.tca = False
        self.gpi = 0
        self.ed1 = False
        self.verify_entry_points = False
        self.max_coded = -1


def coding_unit(h: UnitSignals, gpi: int, ed1: bool = False, verify_entry_points: bool = False,
                max_coded: int = -1) -> CodingUnit:
    """The unit-level coding context of header ``h`` at profile ``gpi``."""
    u = CodingUnit()
    u.payload_type = int(h.nnr_compressed_data_unit_payload_type)
    u.dq_flag = bool(h.dq_flag)
    u.scan_order = int(h.scan_order)
    u.num_gtx = int(h.cabac_unary_length_minus1) + 1
    u.parent_node_id_present = bool(h.parent_node_id_present_flag)
    u.tca = bool(h.temporal_context_modeling_flag) and gpi == 1
    u.gpi = gpi
    u.ed1 = ed1
    u.verify_entry_points = verify_entry_points
    u.max_coded = max_coded
    return u


def tensor_coding(shape: tuple[int, ...] | list[int], u: CodingUnit, codebook: tuple[int, int] | None = None,
                  base: list[int] | None = None, history: list[int] | None = None,
                  entry_points: list[int] | None = None) -> TensorCoding:
    """The coding context of a tensor of ``shape`` in a unit ``u``: the one home of the rules
    listed in the module docstring.  ``codebook``: (size, CbZeroOffset) of the tensor's integer
    codebook, if any; ``base``: the TCA base (used only where TCA is in force)."""
    height, width = matrix_shape(shape)
    scan_order = u.scan_order if len(shape) >= 2 else 0
    t = TensorCoding(height, width, BlockScan(height, width, scan_order, u.ed1))
    t.scan_order = scan_order
    t.dq = u.dq_flag and u.payload_type != PayloadType.NNR_PT_INT
    t.gpi = u.gpi
    t.num_gtx = u.num_gtx
    t.parent_node_id_present = u.parent_node_id_present
    if u.gpi == 1 and codebook is not None:
        t.cb_size, t.cb_zero = codebook
    t.base = base if u.tca else None
    t.history = history
    t.ed1 = u.ed1
    t.preamble = preamble_coded(height, width, u.gpi, t.cb_size)
    t.entry_points = entry_points if entry_points is not None else []
    t.verify_entry_points = u.verify_entry_points
    t.max_coded = -1 if t.cb_size == 1 else u.max_coded
    return t
