"""The coding of model exchange, without Flower: one link's sender and receiver.

A *link* is a sequence of NNC streams from one sender to one receiver (or, downstream, to every
client: all receive the same streams in the same order).  The sender keeps an :class:`nnr.Encoder`
session and a mirror :class:`nnr.Decoder` (to know exactly what the receiver reconstructs); the
receiver keeps a :class:`nnr.Decoder`.  Both sides hold the same reconstruction of the model
(``base``): stream 0 carries a whole model, every later stream the difference of the new model to
``base`` (with ``compress_differences``).  With error accumulation the sender adds what quantization
and sparsification left out of the last stream to the next difference.

Everything here is plain numpy; :mod:`nnr.fl.strategy` and :mod:`nnr.fl.mod` put it into
Flower messages and records.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.decoder import Decoder
from nnr.encoder import Encoder, OmittedTensorWarning
from nnr.encoding import sparsify
from nnr.errors import NNRError, NNRUsageError
from nnr.fl.settings import FALLBACK_QP, FLSettings
from nnr.fl.steps import end_tensors, update_plan, whole_model_qps

__all__ = ["Arrays", "LinkReceiver", "LinkSender", "coded_names", "float32_bytes", "crc32"]

Arrays = dict[str, npt.NDArray[Any]]


def coded_names(arrays: Mapping[str, npt.NDArray[Any]]) -> list[str]:
    """The arrays that travel as NNC: floating-point, at least 1-D, not empty.  Others (integer
    counters, scalars) travel as they are."""
    return [k for k, v in arrays.items() if v.dtype.kind == "f" and v.ndim >= 1 and v.size > 0]


def float32_bytes(arrays: Mapping[str, npt.NDArray[Any]]) -> int:
    """What the arrays cost as float32 (the reference FedAvg's message size, payload only)."""
    return 4 * sum(int(v.size) for v in arrays.values())


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _session_record(session: Encoder | Decoder) -> dict[str, npt.NDArray[Any]]:
    return dict(session.state_record())


def _load(session: Encoder | Decoder, rec: Mapping[str, npt.NDArray[Any]] | None) -> Encoder | Decoder:
    if rec:
        session.load_state_record(dict(rec))
    return session


def sparsified(update: Arrays, s: FLSettings) -> Arrays:
    """NNCodec's unstructured and structured sparsification of an update (numpy)."""
    out = update
    if s.sparsity > 0:
        qp = FALLBACK_QP if s.diff_qp is None else s.diff_qp
        out = sparsify.unstructured(qp, out, target_sparsity=float(s.sparsity), qp_density=s.qp_density)
    if s.struct_spars_factor > 0:
        out = sparsify.structured(out, gain=float(s.struct_spars_factor))
    return out


@dataclass
class SenderState:
    """What a sender keeps between streams (all plain arrays; see :meth:`LinkSender.record`)."""

    encoder: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    mirror: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    residual: Arrays = field(default_factory=dict)
    count: int = 0  # streams coded


class LinkSender:
    """The sending end of a link: codes the next model as a stream against the common ``base``."""

    def __init__(self, settings: FLSettings, device_id: int, state: SenderState | None = None) -> None:
        self.settings = settings
        self.device_id = device_id
        self.state = state or SenderState()
        self.seconds = 0.0  # time spent coding (encode, mirror decode, sparsification)

    def encode(self, model: Mapping[str, npt.NDArray[Any]], base: Mapping[str, npt.NDArray[Any]] | None,
               ) -> tuple[bytes, Arrays]:
        """Code ``model`` (float arrays named by :func:`coded_names`).  Returns the stream and
        what the receiver reconstructs from it (``base`` + decoded difference, or the decoded
        model), in ``model``'s dtypes.  The state advances."""
        t0 = time.perf_counter()
        s = self.settings
        names = coded_names(model)
        whole = base is None or not s.compress_differences
        if whole:
            target = {k: np.asarray(model[k], dtype=np.float32) for k in names}
        else:
            assert base is not None
            target = {k: (np.asarray(model[k], dtype=np.float64) - base[k]).astype(np.float32) for k in names}
        if s.err_accumulation and self.state.residual and not whole:
            target = {k: (v + self.state.residual[k]).astype(np.float32) if k in self.state.residual else v
                      for k, v in target.items()}
        coded = target if whole else sparsified(target, s)
        enc = _load(Encoder(device_id=self.device_id, **s.encoder_settings(s.qp)), self.state.encoder)
        assert isinstance(enc, Encoder)
        qp = s.qp if whole else s.diff_qp
        per_tensor, coded = adaptive_qps(coded, s, whole, self.state.count, downstream=self.device_id == 0)
        with warnings.catch_warnings():  # an all-zero update is expected here: the receiver keeps its copy
            warnings.simplefilter("ignore", OmittedTensorWarning)
            data = enc.encode(coded, qp=FALLBACK_QP if qp is None else qp, qp_per_tensor=per_tensor,
                              compress_differences=not whole or self.state.count > 0)
        mirror = _load(Decoder(), self.state.mirror)
        assert isinstance(mirror, Decoder)
        decoded = mirror.decode(data)
        recon = reconstruct(model, base, decoded, whole)
        residual: Arrays = {}
        # a whole model coded by the rule is a new common starting point, not an error to feed back
        if s.err_accumulation and not (whole and s.qp is None):
            # error feedback: what quantization and sparsification left out of this stream
            # (the target, residual included, minus what the receiver decodes)
            residual = {k: (target[k] - decoded[k].astype(np.float32) if k in decoded else target[k]).astype(np.float32)
                        for k in names}
        self.state = SenderState(encoder=_session_record(enc), mirror=_session_record(mirror),
                                 residual=residual, count=self.state.count + 1)
        self.seconds += time.perf_counter() - t0
        return data, recon


def adaptive_qps(coded: Arrays, s: FLSettings, whole: bool, sent: int, downstream: bool,
                 ) -> tuple[dict[str, int] | None, Arrays]:
    """The rule's QPs per tensor (``nnr.fl.steps``), or ``None`` where a fixed QP is set, and the
    arrays to code (the rule may leave tied entries of a flat update to the residual).  ``sent``:
    the streams the link has carried so far; ``downstream``: the server's link to the clients,
    whose stream 0 is the initial model."""
    if whole:
        return (whole_model_qps(coded, s.qp_density) if s.qp is None else None), coded
    if s.diff_qp is not None:
        return None, coded
    n = sent if downstream else sent + 1  # the number of this update stream on its link
    ends = end_tensors(coded) if downstream else frozenset()
    return update_plan(coded, s.qp_density, float(s.update_density), n, dense=ends, split_ties=not downstream)


def reconstruct(model_like: Mapping[str, npt.NDArray[Any]], base: Mapping[str, npt.NDArray[Any]] | None,
                decoded: Mapping[str, npt.NDArray[Any]], whole: bool) -> Arrays:
    """The receiver's model after a stream: decoded values (tensors an update stream leaves out
    are all-zero), added to ``base`` for a difference."""
    out: Arrays = {}
    for k in coded_names(model_like):
        ref = model_like[k]
        d = decoded.get(k)
        if d is None:
            d = np.zeros(ref.shape, dtype=np.float32)
        elif d.shape != ref.shape:
            raise NNRError(f"tensor {k!r}: stream has shape {tuple(d.shape)}, the model {tuple(ref.shape)}")
        if whole or base is None:
            out[k] = np.asarray(d).astype(ref.dtype)
        else:
            out[k] = (base[k] + np.asarray(d, dtype=np.float64)).astype(ref.dtype)
    return out


class LinkReceiver:
    """The receiving end of a link: a decoder session and the reconstruction it has reached."""

    def __init__(self, decoder_record: Mapping[str, npt.NDArray[Any]] | None = None,
                 limits: Mapping[str, int] | None = None) -> None:
        self.decoder_record = dict(decoder_record or {})
        self.limits = dict(limits or {})  # Decoder options: the model layout's bounds (nnr.fl.replies)
        self.seconds = 0.0

    def decode(self, data: bytes, like: Mapping[str, npt.NDArray[Any]], base: Mapping[str, npt.NDArray[Any]] | None,
               whole: bool) -> Arrays:
        """Decode the next stream; the session advances only if it decodes to tensors of the
        model's shapes with finite values."""
        t0 = time.perf_counter()
        dec = _load(Decoder(**self.limits), self.decoder_record)  # type: ignore[arg-type]
        assert isinstance(dec, Decoder)
        decoded = dec.decode(data)
        unknown = sorted(set(decoded) - set(coded_names(like)))
        if unknown:
            raise NNRError(f"stream carries tensors the model does not have: {', '.join(unknown)}")
        out = reconstruct(like, base, decoded, whole)
        for k, v in out.items():
            if not np.all(np.isfinite(v)):
                raise NNRError(f"tensor {k!r} reconstructs to non-finite values")
        self.decoder_record = _session_record(dec)
        self.seconds += time.perf_counter() - t0
        return out


def check_settings(settings: FLSettings | Mapping[str, Any] | None) -> FLSettings:
    if settings is None:
        return FLSettings()
    if isinstance(settings, FLSettings):
        return settings
    if isinstance(settings, Mapping):
        return FLSettings.from_kwargs(settings)
    raise NNRUsageError("settings must be FLSettings or a dict of nnr.fl settings")
