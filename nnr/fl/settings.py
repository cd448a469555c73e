"""Settings of compressed federated learning, under NNCodec's FL names (``nncodec.fl.nncargs``).

The defaults are nnr's own, chosen to be *transparent* (docs/fl.rst gives the measurements):
step sizes that follow each tensor's update (``nnr.fl.steps``), dependent quantization,
error accumulation on both links, no mean/std sparsification.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from nnr.encoding.settings import EncodeSettings
from nnr.errors import NNRUsageError
from nnr.fl.steps import DENSITY

__all__ = ["FLSettings", "CONFIG_PREFIX"]

FALLBACK_QP = -24  # QP of tensors no rule gives a QP (all-zero tensors, which are not coded)
CONFIG_PREFIX = "nnr."  # settings travel in the train message's ConfigRecord under this prefix


@dataclass(frozen=True)
class FLSettings:
    """What :class:`nnr.fl.NNCStrategy` and :func:`nnr.fl.nnc_mod` code with.

    * ``qp``: QP of streams that carry a whole model (the initial broadcast, and every stream when
      ``compress_differences`` is off); ``None`` (default): per tensor from its spread
      (``nnr.fl.steps.whole_model_qps``).
    * ``diff_qp``: QP of the difference streams (model updates); ``None`` (default): per tensor
      and stream from the update (``nnr.fl.steps.update_plan``).
    * ``update_density``: with ``diff_qp`` ``None``, the share of a weight tensor's update
      entries coded nonzero per stream (more in a link's first streams).
    * ``nonweight_qp``: QP of tensors that are not weights (biases, norms); ``None``: the
      stream's QP minus a quarter octave step as NNCodec's ``compress`` does.
    * ``qp_density``, ``use_dq``, ``tca``, ``param_opt``, ``opt_qp``, ``row_skipping``,
      ``bitdepth`` (``int_quant_bw``), ``approx_method`` (``"uniform"`` or ``"codebook"``): as
      NNCodec's ``compress``.
    * ``sparsity``: target share of zeros of an update (unstructured, mean/std thresholds);
      ``struct_spars_factor``: structured sparsification gain (rows below this share of the mean
      row magnitude are zeroed); 0 disables either.
    * ``err_accumulation``: add each client's quantization residual to its next update.
    * ``compress_upstream`` / ``compress_downstream``: code that link (off: float arrays).
    * ``compress_differences``: code updates against the last common model (off: whole models).
    """

    qp: int | None = None
    diff_qp: int | None = None
    update_density: float = DENSITY
    nonweight_qp: int | None = None
    qp_density: int = 2
    use_dq: bool = True
    tca: bool = True
    param_opt: bool = True
    opt_qp: bool = False
    row_skipping: bool = False
    bitdepth: int | None = None
    approx_method: str = "uniform"
    sparsity: float = 0.0
    struct_spars_factor: float = 0.0
    err_accumulation: bool = True
    compress_upstream: bool = True
    compress_downstream: bool = True
    compress_differences: bool = True

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> FLSettings:
        unknown = sorted(set(kwargs) - set(cls.names()))
        if unknown:
            hint = ""
            if {"lsa", "bnf"} & set(unknown):
                hint = " (lsa / bnf are not supported by nnr.fl)"
            raise NNRUsageError(f"unknown nnr.fl setting(s): {', '.join(unknown)}{hint}")
        s = cls(**dict(kwargs))
        s.validate()
        return s

    def validate(self) -> None:
        if self.approx_method not in ("uniform", "codebook"):
            raise NNRUsageError(f"approx_method must be 'uniform' or 'codebook', got {self.approx_method!r}")
        d = self.update_density
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 < float(d) <= 1.0:
            raise NNRUsageError(f"update_density must be a number > 0 and <= 1, got {d!r}")
        for name, hi in (("sparsity", 1.0), ("struct_spars_factor", float("inf"))):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) < hi:
                raise NNRUsageError(f"{name} must be a number >= 0{' and < 1' if hi == 1.0 else ''}, got {v!r}")
        # the coding settings are checked by the encoder's own validation
        EncodeSettings.from_kwargs(self.encoder_settings(self.qp))
        EncodeSettings.from_kwargs(self.encoder_settings(self.diff_qp))

    def encoder_settings(self, qp: int | None) -> dict[str, Any]:
        """Keyword arguments of :class:`nnr.Encoder` for a stream coded at ``qp`` (``None``: the
        adaptive rule's QPs come per tensor, ``qp`` is a placeholder for tensors it leaves out)."""
        return {"qp": FALLBACK_QP if qp is None else qp, "nonweight_qp": self.nonweight_qp, "qp_density": self.qp_density,
                "use_dq": self.use_dq, "tca": self.tca, "param_opt": self.param_opt, "opt_qp": self.opt_qp,
                "row_skipping": self.row_skipping, "int_quant_bw": self.bitdepth,
                "codebook_mode": 2 if self.approx_method == "codebook" else 0}

    # -- as Flower ConfigRecord entries (plain scalars; None is left out) -----------------------

    def to_config(self) -> dict[str, Any]:
        return {CONFIG_PREFIX + k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FLSettings:
        names = set(cls.names())
        kw = {k[len(CONFIG_PREFIX):]: v for k, v in config.items()
              if k.startswith(CONFIG_PREFIX) and k[len(CONFIG_PREFIX):] in names}
        return cls.from_kwargs(kw)
