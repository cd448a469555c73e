"""Encoder settings: NNCodec's ``compress`` arguments, validated.

Names and defaults are those of NNCodec 2.1.3's ``nnc.compress``.  Everything that would make
NNCodec write a stream it cannot represent (a QP outside what ``iae(6 + qp_density)`` can
signal, a bit depth outside 1..31, ...) is refused with :class:`nnr.NNRUsageError` before
anything is coded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from nnr.errors import NNRUsageError

QP_BOUND = 4096  # |QP| beyond this has no finite float32 step size at any qp_density


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
    out_of_band: bool = False
    block_id_and_param_type: Mapping[str, Any] | None = None

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
        half = 1 << (5 + self.qp_density)
        return -half, half - 1

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
        def integer(name: str, v: Any, lo: int, hi: int) -> int:
            if isinstance(v, bool) or not isinstance(v, (int,)) and not _is_np_int(v):
                raise NNRUsageError(f"{name} must be an integer, got {v!r}")
            iv = int(v)
            if not lo <= iv <= hi:
                raise NNRUsageError(f"{name} {iv} is outside {lo}..{hi}")
            return iv

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
            self.qp_per_tensor = {str(k): integer(f"qp_per_tensor[{k!r}]", v, lo, hi)
                                  for k, v in self.qp_per_tensor.items()}
        self.codebook_mode = integer("codebook_mode", self.codebook_mode, 0, 2)
        self.scan_order = integer("scan_order", self.scan_order, 0, 4)
        self.cabac_unary_length_minus1 = integer("cabac_unary_length_minus1", self.cabac_unary_length_minus1, 0, 255)
        self.general_profile_idc = integer("general_profile_idc", self.general_profile_idc, 0, 1)
        self.device_id = integer("device_id", self.device_id, 0, (1 << 31) - 1)
        try:
            lam = float(self.lambda_scale or 0.0)
        except (TypeError, ValueError):
            raise NNRUsageError(f"lambda_scale must be a number, got {self.lambda_scale!r}") from None
        if not math.isfinite(lam) or lam < 0:
            raise NNRUsageError(f"lambda_scale must be finite and >= 0, got {self.lambda_scale!r}")
        self.lambda_scale = lam
        if self.int_quant_bw is not None and self.int_quant_bw is not False:
            self.int_quant_bw = integer("int_quant_bw (bit depth)", self.int_quant_bw, 1, 31)
        else:
            self.int_quant_bw = None
        for name in ("use_dq", "param_opt", "opt_qp", "bnf", "row_skipping", "tca", "pre_signalling",
                     "compress_differences", "out_of_band"):
            setattr(self, name, bool(getattr(self, name)))
        if self.block_id_and_param_type is not None and not isinstance(self.block_id_and_param_type, Mapping):
            raise NNRUsageError("block_id_and_param_type must be a dict with 'block_identifier' and 'parameter_type'")


def _is_np_int(v: Any) -> bool:
    try:
        import numpy as np

        return isinstance(v, np.integer)
    except ImportError:  # pragma: no cover
        return False
