"""``nnr.nncodec.nnc``: NNCodec's ``nnc.decompress`` on top of :class:`nnr.Decoder`.

Same signature, defaults and results as NNCodec 2.1.3's ``nncodec.nnc.decompress``:

* the returned dict maps tensor names to arrays in NNCodec's dtypes (float32 for uniformly
  quantized tensors, float64 for codebook tensors, int32 for integer tensors, float32 for raw
  floats) and NNCodec's order (the order in which tensors are first decoded; within an
  ``NNR_PT_BLOCK``, its coding order: local scaling, bias, batch-norm, weight);
* ``reconstruct_lsa`` multiplies each block's weight rows by its local-scaling tensor and drops
  the scaling tensor; ``reconstruct_bnf`` changes nothing (see :func:`decompress`);
* ``approx_param_base``, NNCodec's incremental state
  ``{'parameters': {}, 'put_node_depth': {}, 'device_id': 0, 'parameter_id': {}}``, gives the
  temporal-context-adaptation base and, with ``update_base_param``, is updated in place with
  NNCodec's values (decoded int32 level arrays, PUT node depths counted per tensor, ...);
* ``hdsp_tool`` (an :class:`nnr.nncodec.HdspTool` or NNCodec's) supplies the HDSP history and,
  with ``return_hls=True`` on an update stream, receives the decoded levels.

Differences: bad streams raise :class:`nnr.NNRError` (NNCodec: ``AssertionError``/``KeyError``);
bytes and memoryview are accepted besides bytearray and paths; streams NNCodec cannot decode
(aggregate units, layer parameter sets, topology reference lists, decomposed tensors) decode.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import MutableMapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.decoder import DecodedStream, DecodedUnit, Decoder, read_input
from nnr.encoder import model_description
from nnr.encoding import EncodeSettings
from nnr.encoding import compress as _compress
from nnr.encoding.datadriven import DataDriven, DataDrivenStep, LsaUnknown, reconstruct
from nnr.encoding.inputs import prepare_tensors
from nnr.encoding.model import ModelInfo, block_spec_ok
from nnr.encoding.pytorch import describe_state_dict, guess_blocks, state_dict_of
from nnr.encoding.stream import levels_dict
from nnr.errors import MalformedStreamError, NNRUsageError
from nnr.usage import check_bool, check_path, write_file
from nnr.nncodec import _hls
from nnr.nncodec.state import BaseUpdate, check_approx_param_base, new_approx_param_base, to_incremental, tool_enabled
from nnr.decoding.payload import CodedTensor
from nnr.units.compressed_data_unit import CompressedDataUnitHeader
from nnr.units.layer_parameter_set import LayerParameterSet
from nnr.units.types import NNRUnitType

__all__ = ["compress", "compress_model", "decompress", "new_approx_param_base"]

_FLAG_KEYS = (
    "mps_sparsification_flag", "lps_sparsification_flag",
    "mps_pruning_flag", "lps_pruning_flag",
    "mps_unification_flag", "lps_unification_flag",
    "mps_decomposition_performance_map_flag", "lps_decomposition_performance_map_flag",
)


def _read(bitstream_or_path: object) -> bytes:
    if isinstance(bitstream_or_path, str):
        bitstream_or_path = os.path.expanduser(bitstream_or_path)
    elif isinstance(bitstream_or_path, os.PathLike):
        bitstream_or_path = os.path.expanduser(os.fspath(bitstream_or_path))
    return read_input(bitstream_or_path)


def _say(text: str, verbose: bool) -> None:
    if verbose:
        sys.stdout.write(text)
        sys.stdout.flush()


def _flat_units(units: list[DecodedUnit]) -> list[DecodedUnit]:
    out: list[DecodedUnit] = []
    for u in units:
        out.append(u)
        if u.children:
            out.extend(_flat_units(u.children))
    return out


class _Walk:
    """What NNCodec collects while parsing: the last MPS / LPS / TPL and, per tensor, the LPS in force."""

    def __init__(self, ds: DecodedStream) -> None:
        self.mps_unit: DecodedUnit | None = None
        self.lps_unit: DecodedUnit | None = None
        self.tpl_unit: DecodedUnit | None = None
        self.ndus: list[tuple[DecodedUnit, CompressedDataUnitHeader, list[CodedTensor], LayerParameterSet | None]] = []
        self.lps_maps: dict[str, Any] = {}
        self.mps_maps: dict[str, Any] = {}
        for u in _flat_units(ds.units):
            t = u.header.nnr_unit_type
            if t == NNRUnitType.NNR_MPS and u.mps is not None:
                self.mps_unit = u
                self.mps_maps = _hls.performance_maps(u.mps)
            elif t == NNRUnitType.NNR_LPS and u.lps is not None:
                self.lps_unit = u
                self.lps_maps.update(_hls.performance_maps(u.lps))
            elif t == NNRUnitType.NNR_TPL and u.topology is not None:
                self.tpl_unit = u
            elif t == NNRUnitType.NNR_NDU and u.ndu is not None:
                lps: LayerParameterSet | None = self.lps_unit.lps if self.lps_unit is not None else None
                self.ndus.append((u, u.ndu, u.tensors, lps))


def _update_base(walk: _Walk, state: MutableMapping[str, Any]) -> None:
    """NNCodec's state updates, tensor by tensor; committed when all of them succeed."""
    upd = BaseUpdate(state)
    for u, h, tensors, _lps in walk.ndus:
        for t in tensors:
            if t.raw is not None or t.levels is None:
                continue  # raw float tensors are not kept in the base
            bad = upd.add(t.name, h.device_id, h.parameter_id, t.levels)
            if bad is not None:
                raise MalformedStreamError(bad[1], element=bad[0], unit_index=u.index, unit_type="NNR_NDU")
    upd.commit()


def _levels(walk: _Walk) -> dict[str, npt.NDArray[Any]]:
    """NNCodec's decoded-but-not-reconstructed tensors: int32 levels (raw floats as decoded)."""
    out: dict[str, npt.NDArray[Any]] = {}
    for _u, _h, tensors, _lps in walk.ndus:
        for t in tensors:
            if t.raw is not None:
                out[t.name] = t.raw
            elif t.levels is not None:
                out[t.name] = t.levels
    return out


def _model_information(walk: _Walk) -> dict[str, Any]:
    flags: dict[str, dict[str, int]] = {k: {} for k in _FLAG_KEYS}
    mps = walk.mps_unit.mps if walk.mps_unit is not None else None
    for _u, _h, tensors, lps in walk.ndus:
        for t in tensors:
            src: list[tuple[str, Any]] = [("lps", lps), ("mps", mps)]
            for prefix, ps in src:
                flags[f"{prefix}_sparsification_flag"][t.name] = int(ps is not None and ps.sparsification_performance_map is not None)
                flags[f"{prefix}_pruning_flag"][t.name] = int(ps is not None and ps.pruning_performance_map is not None)
                flags[f"{prefix}_unification_flag"][t.name] = int(ps is not None and ps.unification_performance_map is not None)
                flags[f"{prefix}_decomposition_performance_map_flag"][t.name] = int(
                    prefix == "mps" and ps is not None and ps.decomposition_performance_map is not None)
    tpl = walk.tpl_unit.topology if walk.tpl_unit is not None else None
    return {
        "topology_storage_format": int(tpl.topology_storage_format) if tpl is not None else None,
        "performance_maps": {"mps": walk.mps_maps, "lps": walk.lps_maps},
        "performance_map_flags": flags,
    }


def _dec_hls(walk: _Walk, gpi: int) -> dict[str, Any]:
    mps: dict[str, Any] | None = None
    lps: dict[str, Any] | None = None
    tpl: dict[str, Any] | None = None
    if walk.mps_unit is not None and walk.mps_unit.mps is not None:
        mps = _hls.mps_dict(walk.mps_unit.header, walk.mps_unit.mps, gpi)
    if walk.lps_unit is not None and walk.lps_unit.lps is not None and walk.lps_unit.lps_header is not None:
        lps = _hls.lps_dict(walk.lps_unit.header, walk.lps_unit.lps_header, walk.lps_unit.lps)
    if walk.tpl_unit is not None and walk.tpl_unit.topology is not None:
        flag = walk.mps_unit.mps.mps_topology_indexed_reference_flag if (
            walk.mps_unit is not None and walk.mps_unit.mps is not None) else 0
        tpl = _hls.tpl_dict(walk.tpl_unit.header, walk.tpl_unit.topology, flag)
    return {"mps": mps, "lps": lps, "tpl": tpl}


def decompress(
    bitstream_or_path: Any,
    block_id_and_param_type: Any = None,
    return_model_information: bool = False,
    return_hls: bool = False,
    verbose: bool = False,
    reconstruct_lsa: bool = False,
    reconstruct_bnf: bool = False,
    approx_param_base: MutableMapping[str, Any] | None = None,
    update_base_param: bool = False,
    hdsp_tool: Any = None,
    internal_states_path: str | None = None,
) -> Any:
    """Decode an NNR bitstream (bytearray, bytes, memoryview or path) like NNCodec's ``nnc.decompress``.

    Returns the tensor dict; ``(dict, model_information)`` with ``return_model_information``;
    otherwise ``(dict, {'mps': ..., 'lps': ..., 'tpl': ...})`` with ``return_hls``.

    ``block_id_and_param_type`` is accepted and, as in NNCodec's decoder, does not change the
    result: blocks, tensor roles and names come from the stream.  ``reconstruct_bnf`` does not
    change it either: NNCodec undoes batch-norm folding only for a block whose batch-norm
    tensors are known but absent from the stream, which a stream alone never describes (a
    folded stream carries the folded bias and local scaling; apply the latter with
    ``reconstruct_lsa``).  ``internal_states_path`` (NNCodec's pickle-based federated-learning
    state files) is not supported.
    """
    if internal_states_path:
        raise NNRUsageError("internal_states_path is not supported; pass approx_param_base instead")
    if block_id_and_param_type is not None and not (
            isinstance(block_id_and_param_type, dict)
            and "block_identifier" in block_id_and_param_type and "parameter_type" in block_id_and_param_type):
        raise NNRUsageError("block_id_and_param_type must be a dict with 'block_identifier' and 'parameter_type'")
    _ = reconstruct_bnf  # a no-op on decoding, see the docstring
    for flag, v in (("return_model_information", return_model_information), ("return_hls", return_hls),
                    ("verbose", verbose), ("reconstruct_lsa", reconstruct_lsa), ("reconstruct_bnf", reconstruct_bnf),
                    ("update_base_param", update_base_param)):
        check_bool(flag, v)
    state = check_approx_param_base(approx_param_base) if approx_param_base is not None else None

    t0 = time.perf_counter()
    _say("DECODING...", verbose)
    data = _read(bitstream_or_path)
    dec = Decoder(reconstruct_lsa=bool(reconstruct_lsa))
    dec.state = to_incremental(state, hdsp_tool)  # the decoder checks the PUT nodes with TCA
    ds = dec.decode_stream(data)
    walk = _Walk(ds)
    if state is not None and update_base_param:
        _update_base(walk, state)
    mps = walk.mps_unit.mps if walk.mps_unit is not None else None
    if hdsp_tool is not None and return_hls and mps is not None and mps.mps_parent_signalling_enabled_flag:
        hdsp_tool.add_data_to_hist(_levels(walk))
    t1 = time.perf_counter()
    _say(f"DONE in {t1 - t0:.4f} s\n", verbose)

    _say("RECONSTRUCTING...", verbose)
    params: dict[str, npt.NDArray[Any]] = {}
    for o in ds.outputs:  # first decoding fixes the position, the last decoding the value
        params[o.name] = o.value
    shared = {id(v) for v in _levels(walk).values()}
    params = {k: (v.copy() if id(v) in shared else v) for k, v in params.items()}
    _say(f"DONE in {time.perf_counter() - t1:.4f} s\n", verbose)

    if return_model_information:
        return params, _model_information(walk)
    if return_hls:
        return params, _dec_hls(walk, ds.general_profile_idc)
    return params



# =============================================================================================
# Encoding: NNCodec's ``nnc.compress`` / ``nnc.compress_model``


def _model_info_from(model: Any) -> Any:
    """``model`` as NNCodec's ``compress`` takes it: None, an NNCodec ``NNRModel`` (anything with a
    ``model_info`` dict), our :class:`nnr.encoding.ModelInfo` or a description dict."""
    if model is None or isinstance(model, ModelInfo):
        return model
    info = getattr(model, "model_info", None)
    if isinstance(info, dict) and "parameter_dimensions" in info:
        index = info.get("parameter_index") or {}
        names = sorted(info["parameter_dimensions"], key=lambda n: index.get(n, 0))
        m = ModelInfo(topology_storage_format=info.get("topology_storage_format"),
                      topology_compression_format=int(info.get("topology_compression_format") or 0))
        for n in names:
            m.dims[n] = tuple(int(d) for d in info["parameter_dimensions"][n]) or (1,)
            m.types[n] = str(info.get("parameter_type", {}).get(n, "unspecified"))
        m.blocks = {n: str(b) for n, b in (info.get("block_identifier") or {}).items() if b is not None}
        if index:
            m.ids = {n: int(index[n]) for n in names}
        return m
    if isinstance(model, dict) and "parameter_dimensions" in model:
        return model_description(model)
    raise NNRUsageError("model must be an NNCodec NNRModel, an nnr.encoding.ModelInfo or a model description dict")


class _Executer:
    """NNCodec's model executer seen through nnr's evaluate / tune protocol."""

    def __init__(self, executer: Any, verbose: bool, wandb_logging: bool) -> None:
        self.executer = executer
        self.verbose = verbose
        self.wandb_logging = wandb_logging
        self.scaling_names: list[str] = []

    def evaluate(self, parameters: dict[str, npt.NDArray[Any]]) -> Any:
        perf = self.executer.eval_model(parameters, False)
        try:
            return list(perf.values())[0]  # NNCodec ranks by the first value of the result
        except (AttributeError, IndexError, TypeError):
            raise NNRUsageError("model_executer.eval_model must return a non-empty dict of performance "
                                f"values, got {type(perf).__name__}") from None

    def tune(self, parameters: dict[str, npt.NDArray[Any]], parameter_types: dict[str, str], lsa: bool,
             fine_tune: bool) -> Any:
        out = self.executer.tune_model(parameters=parameters, param_types=parameter_types, lsa_flag=lsa,
                                       ft_flag=fine_tune, verbose=self.verbose, wandb_logging=self.wandb_logging)
        if isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[0], dict):
            self.scaling_names = [str(k) for k in out[0]] if lsa else []
        return out


def _has(executer: Any, method: str) -> bool:
    fn = getattr(executer, method, None)
    return bool(fn()) if callable(fn) else False


def _executer_tools(executer: Any, ioq: bool, lsa: bool, fine_tune: bool, verbose: bool,
                    wandb_logging: bool) -> DataDriven | None:
    """The data-driven tools NNCodec runs with this executer (None: none)."""
    if not (ioq or lsa or fine_tune):
        return None
    if executer is None:
        tools = ", ".join(t for t, on in (("ioq", ioq), ("lsa", lsa), ("fine_tune", fine_tune)) if on)
        raise NNRUsageError(f"{tools} need(s) model_executer, an object with NNCodec's ModelExecute methods "
                            "(eval_model for ioq; tune_model for lsa and fine_tune; has_eval, has_tune_lsa, "
                            "has_tune_ft)")
    # NNCodec switches off what the executer says it cannot do
    for flag, method, tool in ((lsa, "has_tune_lsa", "lsa"), (fine_tune, "has_tune_ft", "fine_tune"),
                               (ioq, "has_eval", "ioq")):
        if flag and not _has(executer, method):
            warnings.warn(f"model_executer.{method}() is false: {tool} switched off (as NNCodec does)", stacklevel=3)
    lsa = lsa and _has(executer, "has_tune_lsa")
    fine_tune = fine_tune and _has(executer, "has_tune_ft")
    ioq = ioq and _has(executer, "has_eval")
    if not (ioq or lsa or fine_tune):
        return None
    ex = _Executer(executer, verbose, wandb_logging)

    def progress(step: DataDrivenStep, done: int, total: int) -> None:
        if step == DataDrivenStep.IOQ:
            _say(f"\r\tIOQ: TRIAL {done}/{total}" + ("\n" if done == total else ""), verbose)
        elif done == 0:
            _say("\tLSA/FT: TUNING...", verbose)
        else:
            _say("DONE\n", verbose)

    return DataDriven(evaluate=ex.evaluate, tune=ex.tune, ioq=ioq, lsa=lsa, fine_tune=fine_tune,
                      progress=progress, unknown_scaling=LsaUnknown.IGNORE)


def _add_scaling_entries(spec: Any, tools: DataDriven) -> None:
    """NNCodec adds the trained scaling tensors to the caller's ``block_id_and_param_type``: a new
    entry takes the block of the name with the characters of ``_scaling`` stripped from both ends
    (``str.strip``, not a suffix removal, so usually no block), type ``weight.ls``."""
    tune = tools.tune
    ex = getattr(tune, "__self__", None)
    if not isinstance(ex, _Executer) or not isinstance(spec, dict):
        return
    blocks = spec.get("block_identifier")
    types = spec.get("parameter_type")
    if not isinstance(blocks, dict) or not isinstance(types, dict):
        return
    for name in ex.scaling_names:
        if name not in blocks:
            blocks[name] = blocks.get(name.strip("_scaling"))
            types[name] = "weight.ls"


def compress(
    parameter_dict: Any,
    bitstream_path: str | None = None,
    qp: int = -38,
    qp_density: int = 2,
    nonweight_qp: int | None = -75,
    qp_per_tensor: dict[str, int] | None = None,
    use_dq: bool = True,
    codebook_mode: int = 0,
    scan_order: int = 0,
    lambda_scale: float = 0,
    param_opt: bool = True,
    cabac_unary_length_minus1: int = 10,
    opt_qp: bool = False,
    ioq: bool = False,
    bnf: bool = False,
    lsa: bool = False,
    fine_tune: bool = False,
    row_skipping: bool = False,
    tca: bool = False,
    hdsp_tool: Any = None,
    pre_signalling: bool = False,
    block_id_and_param_type: Any = None,
    model: Any = None,
    model_executer: Any = None,
    verbose: bool = False,
    return_bitstream: bool = False,
    bnf_mapping: bool = False,
    wandb_logging: bool = False,
    approx_param_base: MutableMapping[str, Any] | None = None,
    update_base_param: bool = False,
    device_id: int = 0,
    compress_differences: bool = False,
    int_quant_bw: Any = False,
    quantize_only: bool = False,
    general_profile_idc: int = 1,
    out_of_band_signaling: bool = False,
) -> Any:
    """Encode a parameter dict like NNCodec's ``nnc.compress`` (same arguments and defaults; the
    same bytes for the same input).

    Differences: no file is written unless ``bitstream_path`` is given, and without a path the
    bitstream (a bytearray, as NNCodec returns it) is returned even if ``return_bitstream`` is
    False.  Arrays of other numeric dtypes are converted (float -> float32, integers -> int32);
    bad input raises :class:`nnr.NNRUsageError`.  ``ioq``, ``lsa`` and ``fine_tune`` run with
    ``model_executer``, any object with NNCodec's ``ModelExecute`` methods (``eval_model``,
    ``tune_model``, ``has_eval``, ``has_tune_lsa``, ``has_tune_ft``; it need not derive from
    NNCodec's class), exactly as NNCodec runs them (:mod:`nnr.encoding.datadriven`); a tool the
    executer lacks is switched off with a warning, as NNCodec does, and a tool without an
    executer raises :class:`nnr.NNRUsageError` (NNCodec: an assertion).  Trained scaling tensors
    are added to ``block_id_and_param_type`` as NNCodec adds them.  ``bnf_mapping`` (which makes
    NNCodec return its internal model description instead of a stream) is refused.
    ``general_profile_idc`` (0: edition 1) and ``out_of_band_signaling`` expose what NNCodec only
    offers through ``nnc_core``.  ``quantize_only`` returns NNCodec's encoder-side reconstruction.
    """
    if bitstream_path is not None:
        check_path("bitstream_path", bitstream_path)
    for flag, v in (("quantize_only", quantize_only), ("return_bitstream", return_bitstream),
                    ("update_base_param", update_base_param), ("verbose", verbose)):
        check_bool(flag, v)
    if bnf_mapping:
        raise NNRUsageError("bnf_mapping returns NNCodec's internal model description, not a stream; "
                            "it is not supported (batch-norm folding itself is: bnf=True)")
    t0 = time.perf_counter()
    _say("INITIALIZE APPROXIMATOR AND ENCODER...", verbose)
    s = EncodeSettings.from_kwargs(dict(
        qp=qp, qp_density=qp_density, nonweight_qp=nonweight_qp, qp_per_tensor=qp_per_tensor, use_dq=use_dq,
        codebook_mode=codebook_mode, scan_order=scan_order, lambda_scale=lambda_scale, param_opt=param_opt,
        cabac_unary_length_minus1=cabac_unary_length_minus1, opt_qp=opt_qp, bnf=bnf, row_skipping=row_skipping,
        tca=tca, pre_signalling=pre_signalling, compress_differences=compress_differences, device_id=device_id,
        int_quant_bw=int_quant_bw if int_quant_bw else None, general_profile_idc=general_profile_idc,
        dialect="ed2" if general_profile_idc == 0 else None,  # NNCodec 2.1.3's own profile-0 bytes
        out_of_band=out_of_band_signaling, block_id_and_param_type=block_id_and_param_type))
    tensors = prepare_tensors(parameter_dict)
    if block_id_and_param_type is not None and not block_spec_ok(block_id_and_param_type, tensors):
        lsa = False  # NNCodec switches LSA (and BNF) off when the blocks fail its sanity check
    tools = _executer_tools(model_executer, bool(ioq), bool(lsa), bool(fine_tune), verbose, wandb_logging)
    base = check_approx_param_base(approx_param_base) if approx_param_base is not None else None
    _say(f"DONE in {time.perf_counter() - t0:.4f} s\n", verbose)
    t1 = time.perf_counter()
    _say("ENCODING...", verbose)
    if quantize_only:
        res, a = _compress(tensors, s, model=_model_info_from(model), strict_blocks=False, data_driven=tools)
        return reconstruct(a)
    hdsp = tool_enabled(hdsp_tool)
    state = to_incremental(base, hdsp_tool) if (base is not None or hdsp) else None
    res, a = _compress(tensors, s, model=_model_info_from(model), state=state, hdsp=hdsp,
                       put_nodes=base is not None, strict_blocks=False, data_driven=tools)
    if tools is not None and block_id_and_param_type is not None:
        _add_scaling_entries(block_id_and_param_type, tools)
    if base is not None and update_base_param:
        assert res.state is not None
        upd = BaseUpdate(base)
        for n in res.coded:
            node = res.state.tensors[n]
            bad = upd.add(n, node.device_id or 0, node.parameter_id, a.out[n].values)
            if bad is not None:
                raise NNRUsageError(bad[1])
        upd.commit()
    if hdsp_tool is not None:
        for n, mode in res.hdsp_modes.items():
            hdsp_tool.best_mode_idx[n] = mode
        hdsp_tool.add_data_to_hist(levels_dict(a))
    _say(f"DONE in {time.perf_counter() - t1:.4f} s\n", verbose)
    bs = bytearray(res.data)
    if bitstream_path is not None:
        write_file("bitstream_path", bitstream_path, bs)
    if return_bitstream or bitstream_path is None:
        return bs
    return None


def compress_model(model_path_or_object: Any, bitstream_path: str | None = None, qp: int = -38,
                   qp_density: int = 2, nonweight_qp: int | None = -75, qp_per_tensor: dict[str, int] | None = None,
                   use_dq: bool = True, codebook_mode: int = 0, scan_order: int = 0, lambda_scale: float = 0,
                   param_opt: bool = True, cabac_unary_length_minus1: int = 10, opt_qp: bool = False,
                   ioq: bool = False, bnf: bool = False, lsa: bool = False, fine_tune: bool = False,
                   row_skipping: bool = False, tca: bool = False, block_id_and_param_type: Any = None,
                   model_executer: Any = None, wandb_logging: bool = False,
                   return_model_data: bool = False, verbose: bool = True, return_bitstream: bool = False,
                   approx_param_base: MutableMapping[str, Any] | None = None, device_id: int = 0,
                   int_quant_bw: Any = False, **ignored: Any) -> Any:
    """NNCodec's ``nnc.compress_model`` for a PyTorch module (needs torch) or a PyTorch state
    dict of arrays: the model is described as NNCodec's PyTorch front end does (topology
    NNR_TPL_PYT, parameter types from the names, ``num_batches_tracked`` left out) and, with
    ``bnf`` or ``lsa``, its blocks are guessed from the module structure (batch-norm modules are
    those with running statistics).  ``ioq`` / ``lsa`` / ``fine_tune`` run with
    ``model_executer`` as in :func:`compress` (NNCodec's own dataset-driven executers, which
    ``model_name`` / ``dataset_path`` / ``use_case`` select, are not available: those arguments
    and the other training-related ones are ignored)."""
    _ = ignored
    state_dict, bn_info = state_dict_of(model_path_or_object)
    params, m = describe_state_dict(state_dict)
    if block_id_and_param_type is None and (bnf or lsa):
        block_id_and_param_type = guess_blocks(params, bn_info)
        if block_id_and_param_type is not None and not block_spec_ok(block_id_and_param_type, params):
            block_id_and_param_type = None
        if block_id_and_param_type is None:
            bnf = lsa = False
    bs = compress(params, bitstream_path=bitstream_path, qp=qp, qp_density=qp_density, nonweight_qp=nonweight_qp,
                  qp_per_tensor=qp_per_tensor, use_dq=use_dq, codebook_mode=codebook_mode, scan_order=scan_order,
                  lambda_scale=lambda_scale, param_opt=param_opt,
                  cabac_unary_length_minus1=cabac_unary_length_minus1, opt_qp=opt_qp, ioq=ioq, bnf=bnf, lsa=lsa,
                  fine_tune=fine_tune, row_skipping=row_skipping, tca=tca,
                  block_id_and_param_type=block_id_and_param_type, model=m, model_executer=model_executer,
                  wandb_logging=wandb_logging, verbose=verbose, return_bitstream=True,
                  approx_param_base=approx_param_base, device_id=device_id, int_quant_bw=int_quant_bw)
    if return_model_data:
        return (bs, block_id_and_param_type) if return_bitstream else block_id_and_param_type
    if return_bitstream or bitstream_path is None:
        return bs
    return None
