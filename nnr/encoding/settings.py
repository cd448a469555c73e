"""Encoder settings: NNCodec's ``compress`` arguments, validated.

Names and defaults are those of NNCodec 2.1.3's ``nnc.compress``.  Everything that would make
NNCodec write a stream it cannot represent (a QP outside what ``iae(6 + qp_density)`` can
signal, a bit depth outside 1..31, ...) is refused with :class:`nnr.NNRUsageError` before
anything is coded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypedDict

from nnr.cabac.coding import qp_offset_limits
from nnr.dialect import Dialect, as_dialect
from nnr.errors import NNRUsageError
from nnr.limits import INT32_MAX
from nnr.usage import check_bool, check_int, check_name, check_number

QP_BOUND = 4096  # |QP| beyond this has no finite float32 step size at any qp_density


class SettingsKeywords(TypedDict, total=False):
    """:class:`EncodeSettings` as keyword arguments (``nnr.encode(tensors, qp=-40, ...)``): the
    same names and types, each optional (a test holds the two lists together)."""

    qp: int
    qp_density: int
    nonweight_qp: int | None
    qp_per_tensor: dict[str, int] | None
    use_dq: bool
    codebook_mode: int
    scan_order: int
    lambda_scale: float
    param_opt: bool
    cabac_unary_length_minus1: int
    opt_qp: bool
    bnf: bool
    row_skipping: bool
    tca: bool
    pre_signalling: bool
    compress_differences: bool
    device_id: int
    int_quant_bw: int | None
    general_profile_idc: int
    dialect: Any
    out_of_band: bool
    block_id_and_param_type: Mapping[str, Any] | None
    split_min_elements: int


@dataclass
class EncodeSettings:
    qp: int = -38
    qp_density: int = 2
    nonweight_qp: int | None = -75
    qp_per_tensor: dict[str, int] | None = None
    use_dq: bool = True
    codebook_mode: int = 0
    scan_order: int = 0
    lambda_scale: float = 0.0
    param_opt: bool = True
    cabac_unary_length_minus1: int = 10
    opt_qp: bool = False
    bnf: bool = False
    row_skipping: bool = False
    tca: bool = False
    pre_signalling: bool = False
    compress_differences: bool = False
    device_id: int = 0
    int_quant_bw: int | None = None
    general_profile_idc: int = 1
    dialect: Any = None  # profile 0: coding rules (nnr.dialect.Dialect); None: the edition-1 rules
    out_of_band: bool = False
    block_id_and_param_type: Mapping[str, Any] | None = None
    # nnr's own (not NNCodec's): split float tensors of at least this many elements into block
    # rows with entry points, quantized and coded on workers (nnr.encoding.split); 0: never
    split_min_elements: int = 0

    # -- derived ------------------------------------------------------------------------------

    @property
    def qp_other(self) -> int:
        """QP of tensors that are not weights (NNCodec: ``nonweight_qp`` or a quarter of the step)."""
        if self.nonweight_qp:
            return int(self.nonweight_qp)
        return self.qp - (2 << self.qp_density)

    @property
    def qp_limits(self) -> tuple[int, int]:
        """QPs that ``iae(6 + qp_density)`` can signal (mps_quantization_parameter is 0)."""
        return qp_offset_limits(self.qp_density)

    @property
    def ed1(self) -> bool:
        """Whether the payloads follow the edition-1 reference software's coding rules (profile 0
        unless ``dialect="ed2"`` asks for NNCodec 2.1.3's profile-0 bytes; nnr.dialect)."""
        return self.general_profile_idc == 0 and self.dialect != Dialect.ED2

    @property
    def mps_parent_signalling_enabled_flag(self) -> int:
        return 1 if (self.general_profile_idc == 1 and (self.compress_differences or self.pre_signalling)) else 0

    @property
    def parent_node_id_present_flag(self) -> int:
        return 1 if (self.general_profile_idc == 1 and self.compress_differences) else 0

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> EncodeSettings:
        known = set(cls.names())
        unknown = sorted(k for k in kwargs if k not in known)
        if unknown:
            raise NNRUsageError(f"unknown encoder setting(s): {', '.join(unknown)}")
        s = cls(**dict(kwargs))
        s.validate()
        return s

    def validate(self) -> None:
        """Type-check and normalise every setting (a flag is a bool, a number is not a string)."""
        def integer(name: str, v: Any, lo: int, hi: int) -> int:
            return check_int(name, v, lo, hi)

        self.qp_density = integer("qp_density", self.qp_density, 0, 7)
        # QPs are checked against what iae(6 + qp_density) can signal once it is known which
        # tensors use them (nnr.encoding.stream); here only a bound that keeps step sizes finite
        lo, hi = -QP_BOUND, QP_BOUND
        self.qp = integer("qp", self.qp, lo, hi)
        if self.nonweight_qp is not None and self.nonweight_qp is not False:
            self.nonweight_qp = integer("nonweight_qp", self.nonweight_qp, lo, hi)
        else:
            self.nonweight_qp = None
        if self.qp_per_tensor is not None:
            if not isinstance(self.qp_per_tensor, Mapping):
                raise NNRUsageError("qp_per_tensor must be a dict {tensor name: qp}")
            self.qp_per_tensor = {check_name("qp_per_tensor", k): integer(f"qp_per_tensor[{k!r}]", v, lo, hi)
                                  for k, v in self.qp_per_tensor.items()}
        self.codebook_mode = integer("codebook_mode", self.codebook_mode, 0, 2)
        self.scan_order = integer("scan_order", self.scan_order, 0, 4)
        self.cabac_unary_length_minus1 = integer("cabac_unary_length_minus1", self.cabac_unary_length_minus1, 0, 255)
        self.general_profile_idc = integer("general_profile_idc", self.general_profile_idc, 0, 1)
        if self.dialect is not None:
            d = as_dialect(self.dialect)
            if d == Dialect.AUTO:
                raise NNRUsageError("dialect 'auto' is for decoding; the encoder writes 'ed1' or 'ed2' rules")
            if d == Dialect.ED1 and self.general_profile_idc != 0:
                raise NNRUsageError("dialect 'ed1' (NNCodec 0.3.1's rules) needs general_profile_idc 0")
            self.dialect = d
        self.device_id = integer("device_id", self.device_id, 0, INT32_MAX)
        self.split_min_elements = integer("split_min_elements", self.split_min_elements, 0, 1 << 62)
        self.lambda_scale = check_number("lambda_scale", 0.0 if self.lambda_scale is None else self.lambda_scale, 0.0)
        if self.int_quant_bw is None or self.int_quant_bw is False or (
                not isinstance(self.int_quant_bw, bool) and isinstance(self.int_quant_bw, int) and self.int_quant_bw == 0):
            self.int_quant_bw = None  # NNCodec: a false value (None, False, 0) means no bit depth
        else:
            self.int_quant_bw = integer("int_quant_bw (bit depth)", self.int_quant_bw, 1, 31)
        for name in ("use_dq", "param_opt", "opt_qp", "bnf", "row_skipping", "tca", "pre_signalling",
                     "compress_differences", "out_of_band"):
            setattr(self, name, check_bool(name, getattr(self, name)))
        b = self.block_id_and_param_type
        if b is not None:
            if not isinstance(b, Mapping) or "block_identifier" not in b or "parameter_type" not in b:
                raise NNRUsageError("block_id_and_param_type must be a dict with 'block_identifier' and "
                                    f"'parameter_type', got {b!r:.200}")
            for key in ("block_identifier", "parameter_type"):
                if not isinstance(b[key], Mapping):
                    raise NNRUsageError(f"block_id_and_param_type[{key!r}] must be a dict {{tensor name: ...}}, "
                                        f"got {type(b[key]).__name__}")
                for k, v in b[key].items():
                    check_name(f"block_id_and_param_type[{key!r}]", k)
                    if v is not None and not isinstance(v, str):
                        raise NNRUsageError(f"block_id_and_param_type[{key!r}][{k!r}] must be a str or None, "
                                            f"got {v!r}")
