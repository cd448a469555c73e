"""Thin wrappers around the NNCodec 2.1.3 API used by the golden-vector generator.

Only NNCodec's public / module-level functions are *called* here; nothing of
NNCodec is copied.  Two groups of helpers:

* high level: ``nncodec.nnc.compress`` / ``decompress``, ``nncodec.tensor``,
  ``nncodec.nn`` (imported lazily by the caller through :func:`nncodec_modules`);
* "core" level: :func:`core_encode` drives ``nncodec.nnc_core`` step by step
  (model -> approximation data -> quantisation -> ``coder.encode``) so that
  settings which ``nnc.compress`` hard-codes can be chosen, in particular
  ``general_profile_idc`` (compress always writes 1) and out-of-band
  signalling; :func:`core_decode` calls ``nnc_core.coder.decode`` +
  ``approximator.rec`` directly (needed where ``nnc.decompress`` cannot be used:
  out-of-band dimensions, low-rank decomposition).

For ``general_profile_idc == 1`` and no out-of-band signalling
:func:`core_encode` produces byte-identical output to ``nnc.compress`` with the
same arguments (the generator checks this on a few cases at start-up).
"""
import contextlib
import copy
import io


_MODS = {}


def nncodec_modules():
    """Import NNCodec lazily (importing it pulls torch and takes a few seconds)."""
    if not _MODS:
        with quiet():
            import nncodec
            from nncodec import nnc, nnc_core, tensor, nn
            from nncodec.nnc_core.hdsp.hdsp_tool import HdspTool
            from nncodec.framework.applications.utils import sparsification
        import importlib.metadata as md
        _MODS.update(nncodec=nncodec, nnc=nnc, nnc_core=nnc_core, tensor=tensor, nn=nn,
                     HdspTool=HdspTool, sparsification=sparsification,
                     version=md.version("nncodec"))
    return _MODS


@contextlib.contextmanager
def quiet():
    """Silence NNCodec's Python-level prints (INFO lines, progress)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield buf


# ----------------------------------------------------------------------------------------------
# encoder side

def new_param_base(device_id=0):
    """A fresh incremental-coding state dict in the layout NNCodec's coder expects."""
    return {"parameters": {}, "put_node_depth": {}, "device_id": device_id, "parameter_id": {}}


def make_recording_hdsp_tool():
    """HdspTool subclass that remembers which tensors got hist_dep_sig_prob_enabled_flag = 1.

    NNCodec's encoder codes every NDU twice (HDSP off / on) when a history exists
    for all its tensors and keeps the shorter result via
    ``get_best_bit_stream_and_set_mode``; index 1 of that choice means the flag
    was written as 1.  Behaviour is unchanged; we only log the decisions.
    """
    HdspTool = nncodec_modules()["HdspTool"]

    class RecordingHdspTool(HdspTool):
        def __init__(self):
            super().__init__(True)
            self.log = []

        def get_best_bit_stream_and_set_mode(self, param_names, bit_streams):
            chosen = super().get_best_bit_stream_and_set_mode(param_names, bit_streams)
            idx = int(self.best_mode_idx[param_names[0]])
            self.log.append((list(param_names), idx))
            return chosen

    return RecordingHdspTool()


def core_encode(parameter_dict, *, model=None, general_profile_idc=1, qp=-38, qp_density=2,
                nonweight_qp=-75, qp_per_tensor=None, use_dq=True, codebook_mode=0, scan_order=0,
                lambda_scale=0, param_opt=True, cabac_unary_length_minus1=10, opt_qp=False,
                bnf=False, row_skipping=False, tca=False, hdsp_tool=None, pre_signalling=False,
                block_id_and_param_type=None, approx_param_base=None, update_base_param=False,
                device_id=0, compress_differences=False, int_quant_bw=False,
                out_of_band_signaling=False, intent=None):
    """Encode a parameter dict through nnc_core with an explicit general_profile_idc.

    Returns ``(bitstream_bytes, oob_dict)``.  The sequence of nnc_core calls is
    the one ``nnc.compress`` performs for a plain numpy parameter dict.  If ``intent``
    is a dict, it receives the encoder's own reconstruction of the quantised tensors
    (approximator.rec on a copy of the quantised data), for consistency checks.
    """
    m = nncodec_modules()
    core = m["nnc_core"]
    with quiet():
        mdl = model if model is not None else core.nnr_model.NNRModel(parameter_dict)
        info = mdl.model_info
        if block_id_and_param_type is not None:
            ok = core.nnr_model.sanity_check_block_id_and_param_type(block_id_and_param_type, parameter_dict)
            if not ok:
                raise ValueError("block_id_and_param_type rejected by NNCodec's sanity check")
            core.nnr_model.set_block_id_and_param_type(info, block_id_and_param_type)
        adata = core.approximator.init_approx_data(parameter_dict, info, qp_density=qp_density,
                                                   scan_order=scan_order)
        ainfo = core.approximator.ApproxInfo(adata, info, "uniform" if codebook_mode == 0 else "codebook",
                                             codebook_mode, qp, opt_qp, not use_dq,
                                             cabac_unary_length_minus1, lambda_scale,
                                             nonweight_qp=nonweight_qp, qp_per_tensor=qp_per_tensor,
                                             int_quant_bw=int_quant_bw)
        enc_info = {"cabac_unary_length_minus1": cabac_unary_length_minus1,
                    "param_opt_flag": param_opt,
                    "partial_data_counter": 0,
                    "general_profile_idc": general_profile_idc}
        if general_profile_idc:
            differential = 1 if compress_differences else 0
            enc_info.update({
                "node_id_present_flag": 1,
                "device_id": device_id,
                "mps_parent_signalling_enabled_flag": 1 if (compress_differences or pre_signalling) else 0,
                "parent_node_id_present_flag": differential,
                "temporal_context_modeling_flag": 1 if tca else 0,
                "row_skip_enabled_flag": 1 if row_skipping else 0,
                "pre_signalling": 1 if pre_signalling else 0,
            })
            if differential:
                enc_info["parent_node_id_type"] = core.hls.ParentNodeIdType.ICNN_NDU_ID
                enc_info["parent_device_id"] = 0
        else:
            enc_info.update({"mps_parent_signalling_enabled_flag": 0, "parent_node_id_present_flag": 0,
                             "node_id_present_flag": 0})
        if out_of_band_signaling:
            enc_info["out_of_band_signaling"] = True
        if bnf:
            core.approximator.fold_bn(info, adata, ainfo)
        qdata = core.approximator.approx(ainfo.approx_info, info, adata, enc_info)
        if intent is not None:
            rdata = copy.deepcopy(qdata)
            core.approximator.rec(rdata)
            intent.update(rdata["parameters"])
        bs, oob = core.coder.encode(enc_info=enc_info, model_info=info, approx_data=qdata,
                                    approx_param_base=approx_param_base,
                                    update_base_param=update_base_param, tool_if=hdsp_tool)
        if hdsp_tool is not None:
            hdsp_tool.add_data_to_hist(qdata["parameters"])
    return bytes(bs), oob


# ----------------------------------------------------------------------------------------------
# decoder side

def fresh_model_info():
    """Empty decoder-side model_info in the layout nnc.decompress starts from."""
    flags = ["mps_sparsification_flag", "lps_sparsification_flag", "mps_pruning_flag",
             "lps_pruning_flag", "mps_unification_flag", "lps_unification_flag",
             "mps_decomposition_performance_map_flag", "lps_decomposition_performance_map_flag"]
    return {"parameter_type": {}, "parameter_dimensions": {}, "parameter_index": {},
            "block_identifier": {}, "topology_storage_format": None,
            "topology_compression_format": None,
            "performance_maps": {"mps": {}, "lps": {}},
            "performance_map_flags": {f: {} for f in flags}}


def core_decode(bitstream, *, oob_dict=None, approx_param_base=None, update_base_param=False,
                hdsp_tool=None, recompose=True):
    """nnc_core.coder.decode + approximator.rec (+ recompose_params unless recompose=False)."""
    core = nncodec_modules()["nnc_core"]
    with quiet():
        info = fresh_model_info()
        adata = core.coder.decode(bytearray(bitstream), info, oob_dict=oob_dict, hls_stats={},
                                  approx_param_base=approx_param_base,
                                  update_base_param=update_base_param, return_hls=True,
                                  tool_if=hdsp_tool)
        if hdsp_tool is not None and adata["dec_hls"]["mps"]["mps_parent_signalling_enabled_flag"]:
            hdsp_tool.add_data_to_hist(adata["parameters"])
        core.approximator.rec(adata)
        if recompose:
            adata = core.approximator.recompose_params(info, adata)
    return adata["parameters"]
