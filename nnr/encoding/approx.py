"""Approximation decisions: which QP, which method (uniform, codebook, integer), which levels.

This follows the decisions of NNCodec 2.1.3's approximator for the same inputs and settings:

* QP per tensor: ``qp`` for weights, ``nonweight_qp`` (or ``qp - 2**(qp_density+1)``, a quarter
  of the step size) for the others, ``qp_per_tensor`` overrides, ``opt_qp`` scales the weight QPs
  by their relative size and spread, ``int_quant_bw`` derives each QP from the 99.95th
  percentile of the magnitudes so that the levels fit the bit depth;
* batch-norm folding into local scaling and bias (``bnf``);
* int32 tensors are coded as integers (NNR_PT_INT), float tensors are quantized uniformly
  (with dependent quantization when ``dq``) or, with ``codebook_mode``, to codebook indices: the
  offset of index 0 and the Exp-Golomb order of the codebook are chosen by trial coding, and mode
  2 keeps uniform coding when that is smaller.

Numerical details follow NNCodec under numpy 1.26 (float64 where its scalar arithmetic promoted
to float64), so that the QPs and levels agree exactly.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr import parallel
from nnr.block_layout import BN_ROLES, BlockRole, factor_name, factor_role, weight_of
from nnr.cabac.coding import qp_offset_limits
from nnr.encoding.layer import LayerCoding, coded_size
from nnr.encoding.model import ModelInfo
from nnr.encoding.reductions import std_any
from nnr.encoding.settings import EncodeSettings
from nnr.errors import NNRUsageError
from nnr.units.types import CompressedParameterTypes as CPT
from nnr.units.types import TopologyStorageFormat

QuantLayer = Callable[..., tuple[npt.NDArray[np.int32], int]]

F32 = np.float32


class QuantMethod(enum.Enum):
    """How a tensor is approximated, and so which payload type codes it."""

    UNIFORM = "uniform"  # uniform (or dependent) quantization: NNR_PT_FLOAT levels
    CODEBOOK = "codebook"  # indices into an integer codebook: NNR_PT_FLOAT with integer_codebook()
    INTEGER = "integer"  # int32 values coded as they are: NNR_PT_INT (NNCodec calls it "skip")
    RAW = "raw"  # float32 values, not approximated: NNR_PT_RAW_FLOAT

    @property
    def quantized(self) -> bool:
        """Whether the values are levels of a quantizer with a QP (uniform or codebook)."""
        return self in (QuantMethod.UNIFORM, QuantMethod.CODEBOOK)


@dataclass
class Quantized:
    """One tensor after approximation."""

    method: QuantMethod
    values: npt.NDArray[Any]  # int32 levels / codebook indices / integers; float32 for RAW
    qp: int = 0
    dq: int = 0
    codebook: list[int] | None = None
    cb_zero: int = 0
    cb_egk: int = 0


@dataclass
class Approximation:
    """NNCodec's ``approx_data`` after approximation, for one stream."""

    model: ModelInfo
    qp_density: int
    params: dict[str, npt.NDArray[Any]]  # the tensors coded (after batch-norm folding)
    scan_order: dict[str, int] = field(default_factory=dict)
    cpt: dict[str, int] = field(default_factory=dict)  # per block id
    decomposition: dict[str, tuple[int, int]] = field(default_factory=dict)  # block id -> (rank, G rows)
    qp: dict[str, int] = field(default_factory=dict)
    dq: dict[str, int] = field(default_factory=dict)
    out: dict[str, Quantized] = field(default_factory=dict)
    tensor_info: dict[str, Any] = field(default_factory=dict)  # original dtypes / shapes (nnr.dtypes)


def stepsize_from_qp(qp: int, qp_density: int) -> float:
    k = 1 << qp_density
    return float((k + (qp & (k - 1))) * 2.0 ** ((qp >> qp_density) - qp_density))


def qp_from_stepsize(step: float, qp_density: int) -> float:
    """NNCodec's fractional QP of a step size (float64)."""
    k = 1 << qp_density
    base = math.floor(math.log2(step)) * k
    return float(base + ((step * k) / 2.0 ** (base / k) - k))


def _all_zero_or_scalar(x: npt.NDArray[Any]) -> bool:
    if x.ndim == 0:
        return bool(np.issubdtype(x.dtype, np.integer))
    return not bool(np.any(x))


def _bit_depth_qp(param: npt.NDArray[Any], qp_density: int, bw: int) -> int:
    """QP whose step maps the 99.95th magnitude percentile to the largest ``bw``-bit level."""
    mags = np.abs(param).astype(np.float64)
    unsigned = not bool(np.any(param < 0))
    denom = float(2 ** bw - 1) if unsigned else float(2 ** (bw - 1) - 1)
    if denom == 0:
        raise NNRUsageError("a bit depth of 1 has no positive level for a tensor with negative values")
    step = float(np.percentile(mags, 99.95)) / denom
    if step == 0:
        step = float(np.max(mags)) / denom
    if step == 0 or not math.isfinite(step):
        raise NNRUsageError("int_quant_bw: cannot derive a QP for this tensor")
    qp = qp_from_stepsize(step, qp_density)
    lo, hi = qp_offset_limits(qp_density)
    if qp < lo or qp > hi:
        qp = min(max(qp, lo), hi)
    return int(np.round(qp))


def _bit_depth(m: ModelInfo, name: str, bw_requested: int) -> int:
    """Non-weight tensors get at least 8 bits."""
    if bw_requested > 7 or m.role(name) == BlockRole.WEIGHT:
        return bw_requested
    return 8


def _clip_bit_depth(levels: npt.NDArray[np.int32], source: npt.NDArray[Any], bw: int) -> npt.NDArray[np.int32]:
    if not bool(np.any(source < 0)):
        return np.clip(levels, 0, 2 ** bw - 1).astype(np.int32)
    return np.clip(levels, -(2 ** (bw - 1)), 2 ** (bw - 1) - 1).astype(np.int32)


def assign_qps(a: Approximation, s: EncodeSettings) -> None:
    """NNCodec's ``ApproxInfo``: QP and DQ flag per tensor."""
    m = a.model
    qpd = a.qp_density
    a.dq = {x: 1 if s.use_dq else 0 for x in a.params}
    a.qp = {}
    if not s.int_quant_bw:
        for x in a.params:
            if x not in m.dims and factor_role(x) is not None:
                a.qp[x] = s.qp
            else:
                a.qp[x] = s.qp if m.role(x) == BlockRole.WEIGHT else s.qp_other
        if s.qp_per_tensor is not None:
            for x in a.params:
                if x in s.qp_per_tensor:
                    a.qp[x] = int(s.qp_per_tensor[x])
        if s.opt_qp:
            _modify_qp(a)
    else:
        bw_req = int(s.int_quant_bw)
        for x, v in a.params.items():
            if _all_zero_or_scalar(v):
                a.qp[x] = 0
            elif np.issubdtype(v.dtype, np.integer):
                a.qp[x] = 0  # integer tensors are coded as they are; no QP is written for them
            else:
                a.qp[x] = _bit_depth_qp(v, qpd, _bit_depth(m, x, bw_req))


def _modify_qp(a: Approximation) -> None:
    """``opt_qp``: weight QPs scaled by (1 - share), share from the relative size and spread."""
    m = a.model
    names: list[str] = []
    sizes: list[int] = []
    stds: list[Any] = []
    for k, v in a.params.items():
        base = weight_of(k)
        w = k if base is None else base
        if m.role(w) != BlockRole.WEIGHT:
            continue
        if base is not None:
            if factor_role(k) == BlockRole.DC_G:
                continue
            gn, hn = factor_name(w, BlockRole.DC_G), factor_name(w, BlockRole.DC_H)
            g = a.params[gn].shape
            h = a.params[hn].shape
            names += [gn, hn]
            sizes += [0, int(np.prod(g[:-1])) * int(h[-1])]
            stds += [0, std_any(np.concatenate((a.params[gn].flatten(), a.params[hn].flatten()), axis=0))]
        else:
            names.append(k)
            sizes.append(int(v.size))
            stds.append(std_any(v))
    if not names:
        return
    total = sum(sizes)
    top = max(stds)
    if total == 0 or not top or not np.isfinite(top):
        raise NNRUsageError("opt_qp needs weight tensors with a non-zero spread")
    rel_sizes = np.array(sizes) / total
    rel_std = np.array(stds) / top
    shares = rel_sizes + (0.1 * (1 - rel_std))
    weight = dict(zip(names, shares.tolist()))
    for name in names:
        f = weight[name]
        if f > 0.5:
            f = 0.15
        a.qp[name] = int(round(np.float64(a.qp[name]) * (1 - np.float64(f))))
        if (base := weight_of(name, BlockRole.DC_H)) is not None:
            a.qp[factor_name(base, BlockRole.DC_G)] = a.qp[name]


def init_approximation(params: Mapping[str, npt.NDArray[Any]], m: ModelInfo, s: EncodeSettings) -> Approximation:
    """NNCodec's ``init_approx_data``: scan orders and per-block compressed_parameter_types."""
    a = Approximation(model=m, qp_density=s.qp_density, params=dict(params))
    for x in a.params:
        base = weight_of(x)
        if base is not None:
            if base not in m.dims:
                raise NNRUsageError(f"{x!r} looks like a decomposed factor but the model has no tensor {base!r}")
            if len(m.dims[base]) > 1:
                a.scan_order[x] = s.scan_order
        elif x in m.dims and len(m.dims[x]) > 1:
            a.scan_order[x] = s.scan_order
    for b in sorted(set(m.blocks.values()), key=list(m.blocks.values()).index):
        blk = m.block(b)
        cpt = blk.compressed_parameter_types(a.params)
        a.cpt[b] = cpt
        if cpt & CPT.NNR_CPT_DC:
            g = a.params[blk.dc_g]
            if g.ndim != 2 or a.params.get(blk.dc_h) is None or a.params[blk.dc_h].ndim != 2:
                raise NNRUsageError(f"decomposed weight {blk.w!r} needs 2-D {blk.dc_g!r} and {blk.dc_h!r}")
            a.decomposition[b] = (int(g.shape[1]), int(g.shape[0]))
    return a


def fold_batch_norm(a: Approximation, s: EncodeSettings) -> None:
    """Batch-norm folding: BN tensors become local scaling and bias (NNCodec's ``fold_bn``)."""
    m = a.model
    eps = np.float32(1e-3) if m.topology_storage_format == TopologyStorageFormat.NNR_TPL_TEF else None
    for blk_id, w in [(b, n) for b, n in m.walk() if b is not None]:
        _ = w
        blk = m.block(blk_id)
        cpt = a.cpt[blk_id]
        if not cpt & CPT.NNR_CPT_BN:
            continue
        p = a.params
        beta, gamma, mean, var = (blk.bn(r) for r in BN_ROLES)
        for n in (beta, gamma, mean, var):
            if n not in p:
                raise NNRUsageError(f"batch-norm folding: tensor {n!r} is missing")
        shape = p[mean].shape
        dq = a.dq[mean]
        delta, alpha = blk.bi, blk.ls
        # a missing bias starts at 0, a missing local scaling at 1
        for name, flag, start in ((delta, CPT.NNR_CPT_BI, 0.0), (alpha, CPT.NNR_CPT_LS, 1.0)):
            if not cpt & flag:
                p[name] = np.full(shape, start, dtype=F32)
                a.cpt[blk_id] |= flag
                if s.codebook_mode == 0:
                    a.qp[name] = s.qp_other
                    a.dq[name] = dq
        if s.codebook_mode != 0 and (delta not in a.qp or alpha not in a.qp):
            raise NNRUsageError("batch-norm folding with codebook quantization is not supported (as in NNCodec)")
        v = p[var].astype(F32) + (eps if eps is not None else np.float32(1e-5))
        g = p[gamma] / np.sqrt(v)
        p[alpha] = (p[alpha] * g).astype(F32)
        p[delta] = ((p[delta] - p[mean]) * g + p[beta]).astype(F32)
        for n in (gamma, var, mean, beta):
            del p[n]
            a.scan_order.pop(n, None)
            a.qp.pop(n, None)
            a.dq.pop(n, None)
        a.cpt[blk_id] &= ~CPT.NNR_CPT_BN


# ---------------------------------------------------------------------------------------------
# quantization


def coding_order(a: Approximation) -> list[tuple[str, BlockRole | None]]:
    """(tensor, its role) in NNCodec's order: blocks and single tensors by parameter id.

    A single tensor's role comes from its parameter type (None: a type NNCodec does not code)."""
    m = a.model
    out: list[tuple[str, BlockRole | None]] = []
    for b, name in m.walk():
        if b is None:
            out.append((name, m.role(name)))
        else:
            for role, n, _ in m.block(b).members(a.cpt[b]):
                out.append((n, role))
    return out


def _quantize(qfn: QuantLayer, a: Approximation, s: EncodeSettings, name: str, dq: int, qp: int
              ) -> tuple[npt.NDArray[np.int32], int]:
    lo, hi = s.qp_limits
    if not lo <= qp <= hi:
        raise NNRUsageError(f"tensor {name!r} would be quantized with QP {qp}, which iae({6 + a.qp_density}) cannot "
                            f"signal ({lo}..{hi} at qp_density {a.qp_density})")
    w = np.ascontiguousarray(a.params[name], dtype=F32)
    try:
        levels, qp_used = qfn(w, dq, a.qp_density, qp, float(s.lambda_scale), s.cabac_unary_length_minus1,
                              a.scan_order.get(name, 0), s.general_profile_idc)
    except NNRUsageError as e:
        raise NNRUsageError(f"tensor {name!r} cannot be quantized at QP {qp} (qp_density {a.qp_density}): {e}") from None
    levels = np.asarray(levels, dtype=np.int32).reshape(w.shape)
    return levels, int(qp_used)


def codebook_bits(codebook: list[int], zero: int, egk: int) -> int:
    """Bits of ``integer_codebook()`` (NNCodec compares these with payload *bytes*, see below)."""

    def ue(k: int, x: int) -> int:
        n = 0
        while x >= 1 << k:
            n += 1
            x -= 1 << k
            k += 1
        return n + 1 + k

    def ie(k: int, x: int) -> int:
        return ue(k, 2 * x - 1 if x > 0 else -2 * x)

    size = len(codebook)
    bits = 4 + ue(2, size) + ie(2, zero - (size >> 1)) + ie(7, codebook[zero])
    for j in range(zero - 1, -1, -1):
        bits += ue(egk, codebook[j + 1] - codebook[j] - 1)
    for j in range(zero + 1, size):
        bits += ue(egk, codebook[j] - codebook[j - 1] - 1)
    return bits


def _bypass_bins(counts: npt.NDArray[np.int64], off: int, num_gtx: int) -> int:
    """Bypass bins (Exp-Golomb suffixes) of the indices ``i - off`` coded with ``num_gtx`` greater
    flags, ``counts[i]`` occurrences each: a lower bound of the codeword's length in bits."""
    n_eff = max(num_gtx, 1)  # zero flags behave like one (see nnr.encoding.gtx0)
    a = np.abs(np.arange(len(counts), dtype=np.int64) - off)
    big = a > n_eff
    if not bool(np.any(big & (counts > 0))):
        return 0
    k = np.zeros(len(counts), dtype=np.int64)
    k[big] = np.floor(np.log2((a[big] - n_eff).astype(np.float64))).astype(np.int64)
    return int(np.sum(k * counts))


def _codebook_of(levels: npt.NDArray[np.int32], cul: int, step: Callable[[int, int], None] | None = None,
                 ) -> tuple[list[int], npt.NDArray[np.int32], int, int]:
    """Sorted unique levels, the indices relative to the best zero offset, the offset, the EGk order.

    The offset minimises the bytes of the indices coded alone (edition-1 binarization, NNCodec's
    parameter-set choice, ``cul`` greater flags; ties to the lowest offset); the order minimises
    the codebook's bits.  Offsets whose Exp-Golomb suffix bits alone already give a longer
    codeword than the best so far are not trial-coded (the result is the same).
    ``step(i, k)`` is called before candidate offset i of k (progress within the tensor).
    """
    values, inverse = np.unique(levels.reshape(-1), return_inverse=True)
    idx = inverse.reshape(levels.shape).astype(np.int32)
    codebook = [int(v) for v in values]
    counts = np.bincount(idx.reshape(-1), minlength=len(codebook)).astype(np.int64)
    bounds = [((_bypass_bins(counts, off, cul) + 8) // 8 + 1, off) for off in range(len(codebook))]
    trial = LayerCoding(dq=False, scan_order=0, gpi=0, parent_node_id_present=False, num_gtx=cul, param_opt=True)
    best_off = 0
    best_bytes = -1
    for i, (lb, off) in enumerate(sorted(bounds)):
        if step is not None:
            step(i, len(bounds))
        if best_bytes >= 0 and (lb > best_bytes or (lb == best_bytes and off > best_off)):
            continue
        n = coded_size((idx - off).astype(np.int32), trial)
        if best_bytes < 0 or n < best_bytes or (n == best_bytes and off < best_off):
            best_bytes = n
            best_off = off
    best_egk = 0
    best_bits = -1
    for egk in range(16):
        b = codebook_bits(codebook, best_off, egk)
        if best_bits < 0 or b < best_bits:
            best_bits = b
            best_egk = egk
    return codebook, (idx - best_off).astype(np.int32), best_off, best_egk


def approximate(a: Approximation, s: EncodeSettings, qfn: QuantLayer,
                tick: Callable[[int], None] | None = None, workers: int = 1,
                step: Callable[[int, int, int], None] | None = None) -> None:
    """Quantize every tensor the model codes (NNCodec's ``approx``); with ``workers`` > 1 the
    float tensors are quantized on that many processes (same results).  ``tick(n)``: a tensor
    of n elements is done; ``step(n, i, k)``: its codebook search (which codes the tensor once
    per candidate) is at candidate i of k (in this process only, not on workers)."""
    order = coding_order(a)
    for name, role in order:
        if name not in a.params:
            raise NNRUsageError(f"tensor {name!r} is missing")
        v = a.params[name]
        if role is None:
            if np.issubdtype(v.dtype, np.integer):
                raise NNRUsageError(f"integer tensor {name!r} has parameter type {a.model.types.get(name)!r}, "
                                    "which NNCodec cannot code")
            a.out[name] = Quantized(QuantMethod.RAW, np.ascontiguousarray(v, dtype=F32))
            continue
        if v.dtype == np.int32:
            a.out[name] = Quantized(QuantMethod.INTEGER, np.ascontiguousarray(v))
            a.dq[name] = 0
    todo = [name for name, _ in order if name not in a.out]

    def one(name: str, progress: bool = False) -> Quantized:
        if not s.codebook_mode:
            return _approx_uniform(a, s, qfn, name)
        sub: Callable[[int, int], None] | None = None
        if progress and step is not None:
            sub = partial(step, int(a.params[name].size))
        return _approx_codebook(a, s, qfn, name, sub)

    done: list[parallel.Job[Quantized] | parallel.Failed] = []
    if workers > 1 and len(todo) > 1:
        done = parallel.run(lambda i: _as_job(one(todo[i])), [int(a.params[n].size) for n in todo], workers)
    for i, name in enumerate(todo):
        if name in a.out:  # a name listed twice in the coding order is quantized once
            continue
        r = done[i] if done else parallel.FAILED
        a.out[name] = _from_job(r) if isinstance(r, parallel.Job) else one(name, progress=True)
        a.dq[name] = a.out[name].dq
        if tick is not None:
            tick(int(a.params[name].size))


def _as_job(q: Quantized) -> parallel.Job[Quantized]:
    """A quantized tensor for the way back from a worker: its levels as raw bytes."""
    return parallel.Job(replace(q, values=np.zeros(0, dtype=np.int32)), [q.values])


def _from_job(r: parallel.Job[Quantized]) -> Quantized:
    return replace(r.value, values=r.arrays[0])


def _bit_depth_clip(a: Approximation, s: EncodeSettings, name: str, levels: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    return _clip_bit_depth(levels, a.params[name], _bit_depth(a.model, name, int(s.int_quant_bw or 0)))


def _approx_uniform(a: Approximation, s: EncodeSettings, qfn: QuantLayer, name: str) -> Quantized:
    qp = a.qp[name]
    dq = a.dq[name]
    levels, qp_used = _quantize(qfn, a, s, name, dq, qp)
    if s.int_quant_bw and ".num_batches_tracked" not in name:
        levels = _bit_depth_clip(a, s, name, levels)
    return Quantized(QuantMethod.UNIFORM, levels, qp_used, dq)


def _approx_codebook(a: Approximation, s: EncodeSettings, qfn: QuantLayer, name: str,
                     step: Callable[[int, int], None] | None = None) -> Quantized:
    qp = a.qp[name]
    dq = a.dq[name]
    cul = s.cabac_unary_length_minus1
    lowered = qp - ((1 << a.qp_density) if dq == 1 else 0)  # a finer grid instead of DQ
    levels, qp_cb = _quantize(qfn, a, s, name, 0, lowered)
    clip = bool(s.int_quant_bw) and not _all_zero_or_scalar(a.params[name])
    if clip:
        levels = _bit_depth_clip(a, s, name, levels)
    codebook, idx, zero, egk = _codebook_of(levels, cul, step)
    as_codebook = Quantized(QuantMethod.CODEBOOK, idx, qp_cb, 0, codebook, zero, egk)
    if s.codebook_mode == 1:
        return as_codebook
    # mode 2: keep uniform quantization when its payload is smaller
    uni_levels, uni_qp = levels, qp_cb
    if dq == 1:
        uni_levels, uni_qp = _quantize(qfn, a, s, name, 1, qp)
        if clip:
            uni_levels = _bit_depth_clip(a, s, name, uni_levels)
    uniform = LayerCoding(dq=dq == 1, scan_order=a.scan_order.get(name, 0), gpi=s.general_profile_idc,
                          parent_node_id_present=bool(s.parent_node_id_present_flag), num_gtx=cul,
                          param_opt=s.param_opt)
    bytes_uniform = coded_size(uni_levels, uniform)
    # NNCodec adds the codebook's size in bits to the indices' size in bytes
    bytes_codebook = coded_size(idx, replace(uniform, dq=False)) + codebook_bits(codebook, zero, egk)
    if bytes_codebook < bytes_uniform:
        return as_codebook
    return Quantized(QuantMethod.UNIFORM, uni_levels, uni_qp, dq)
