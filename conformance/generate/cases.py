"""Declarative list of the golden test vectors produced with NNCodec 2.1.3.

Every entry of ``CASES`` is a plain dict:

  name         UPPER_SNAKE case name with a letter suffix (folder name under bitstreams/)
  description  one or two sentences (for sequences the generator appends how the decoder
               state was carried and, with HDSP, where hist_dep_sig_prob_enabled_flag was 1)
  features     rows of /work/shared/spec/features.md the case is meant to exercise; the
               generator adds the rows it can derive from the written streams themselves
               (unit types, payload types, dq_flag, scan_order/entry points, parameter
               types, parent signalling, omitted tensors, leading bypass flags such as
               row_skip_enabled_flag / hist_dep_sig_prob_enabled_flag ...) and fails if a
               declared row that it can check is not found -- see generate.py
  encoder_features  rows exercised only on the encoder side (not visible in the stream,
               e.g. batch-norm folding); added without checking
  mode         "single" (one stream) or "sequence" (streams decoded in order, one session)
  api          encoder entry point:
                 "compress"  nncodec.nnc.compress(parameter_dict, **kwargs)
                 "core"      peer.core_encode(...): the nnc_core calls nnc.compress makes, with
                             general_profile_idc / out-of-band signalling selectable
                 "tensor"    nncodec.tensor.encode(array, args)
                 "nn"        nncodec.nn.encode(dict, args)
                 "fl"        an FL client round as NNCodec's flwr client does it (sequence only)
  build        function(rng) -> inputs: a dict name->ndarray (single) or a list of such dicts
               (sequence, one per stream); rng = numpy RandomState(seed)
  kwargs       keyword arguments of the encoder call (for "tensor"/"nn": the ``args`` dict)
  steps        (sequence) list of per-stream overrides merged over kwargs; special keys
               starting with "_" are generator directives, e.g. "_no_base": encode this step
               without approx_param_base
  decode       how the expected output is obtained: {"api": "decompress" | "core" | "tensor"
               | "nn", "kwargs": {...}}; default: the decoder matching the encoder api
  model        (core api) function(inputs) -> {"parameter_dimensions", "parameter_type",
               "block_identifier"}: an explicit NNRModel description (needed for low-rank
               decomposition, where the coded tensors w_G / w_H differ from the layer weight w)
  hdsp         (sequence) use NNCodec's HdspTool on both sides
  device_id    (sequence) device id of the incremental state (default 0)
  expect_hex   exact bitstream the case must reproduce (worked example in syntax.md section 9)
  seed         numpy seed for build (default: crc32 of the name)

The list is ordered by topic.  Everything is deterministic: inputs come from seeded
RandomState generators only.
"""
import numpy as np

F32 = np.float32


# ------------------------------------------------------------------------------------------------
# input helpers

def rn(rng, shape, scale=0.05):
    return (rng.randn(*shape) * scale).astype(F32)


def with_zero_rows(a, rng, frac=0.4):
    a = a.copy()
    rows = rng.rand(a.shape[0]) < frac
    rows[0] = True
    a[rows] = 0
    return a


def conv_bn_fc(rng, oc=8, ic=3, k=3, fc_in=8, fc_out=10):
    """A tiny 'state dict' with conv, batch-norm and linear layers (PyTorch naming)."""
    return {
        "conv.weight": rn(rng, (oc, ic, k, k), 0.1),
        "conv.bias": rn(rng, (oc,), 0.01),
        "bn.weight": (1 + rng.randn(oc) * 0.1).astype(F32),
        "bn.bias": rn(rng, (oc,), 0.1),
        "bn.running_mean": rn(rng, (oc,), 0.1),
        "bn.running_var": (1 + np.abs(rng.randn(oc)) * 0.2).astype(F32),
        "fc.weight": rn(rng, (fc_out, fc_in), 0.1),
        "fc.bias": rn(rng, (fc_out,), 0.01),
    }


BIP_CONV_BN_FC = {
    "block_identifier": {"conv.weight": "conv", "conv.bias": "conv", "bn.weight": "conv",
                         "bn.bias": "conv", "bn.running_mean": "conv", "bn.running_var": "conv",
                         "fc.weight": "fc", "fc.bias": "fc"},
    "parameter_type": {"conv.weight": "weight", "conv.bias": "bias", "bn.weight": "bn.gamma",
                       "bn.bias": "bn.beta", "bn.running_mean": "bn.mean",
                       "bn.running_var": "bn.var", "fc.weight": "weight", "fc.bias": "bias"},
}

BIP_W_B = {"block_identifier": {"fc.weight": "fc", "fc.bias": "fc"},
           "parameter_type": {"fc.weight": "weight", "fc.bias": "bias"}}

BIP_LS_B = {"block_identifier": {"fc.weight": "fc", "fc.weight_scaling": "fc", "fc.bias": "fc"},
            "parameter_type": {"fc.weight": "weight", "fc.weight_scaling": "weight.ls",
                               "fc.bias": "bias"}}

BIP_LS_BN_B = {
    "block_identifier": {k: "c" for k in ["conv.weight", "conv.weight_scaling", "conv.bias",
                                          "bn.weight", "bn.bias", "bn.running_mean",
                                          "bn.running_var"]},
    "parameter_type": {"conv.weight": "weight", "conv.weight_scaling": "weight.ls",
                       "conv.bias": "bias", "bn.weight": "bn.gamma", "bn.bias": "bn.beta",
                       "bn.running_mean": "bn.mean", "bn.running_var": "bn.var"},
}

BIP_BN_NOBIAS = {
    "block_identifier": {k: "c" for k in ["conv.weight", "bn.weight", "bn.bias",
                                          "bn.running_mean", "bn.running_var"]},
    "parameter_type": {"conv.weight": "weight", "bn.weight": "bn.gamma", "bn.bias": "bn.beta",
                       "bn.running_mean": "bn.mean", "bn.running_var": "bn.var"},
}


def b_example(rng):
    # syntax.md section 9: seed 0, w = randn(3,4)*0.05, then b = randn(3)*0.01
    w = (rng.randn(3, 4) * 0.05).astype(F32)
    b = (rng.randn(3) * 0.01).astype(F32)
    return {"w": w, "b": b}


def b_fc_ls(rng):
    return {"fc.weight": rn(rng, (12, 10), 0.1),
            "fc.weight_scaling": (1 + rng.randn(12) * 0.05).astype(F32),
            "fc.bias": rn(rng, (12,), 0.01)}


def b_conv_ls_bn(rng, oc=20):
    d = conv_bn_fc(rng, oc=oc, ic=4)
    return {"conv.weight": d["conv.weight"],
            "conv.weight_scaling": (1 + rng.randn(oc) * 0.05).astype(F32),
            "conv.bias": d["conv.bias"], "bn.weight": d["bn.weight"], "bn.bias": d["bn.bias"],
            "bn.running_mean": d["bn.running_mean"], "bn.running_var": d["bn.running_var"]}


def b_conv_bn_nobias(rng):
    d = conv_bn_fc(rng, oc=6, ic=2)
    return {k: d[k] for k in ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                              "bn.running_var"]}


def b_codebook_block(rng):
    # weight with few distinct, widely spaced values (codebook wins), bias random (uniform wins)
    vals = np.array([-0.75, -0.25, 0.0, 0.0, 0.0, 0.25, 0.5, 1.0], dtype=F32)
    w = vals[rng.randint(0, len(vals), size=(16, 12))].astype(F32)
    return {"fc.weight": w, "fc.bias": rn(rng, (16,), 0.01)}


def b_few_valued_dict(rng):
    d = conv_bn_fc(rng, oc=8, ic=4)
    for k in ("conv.weight", "fc.weight"):
        d[k] = (np.round(d[k] * 16) / 8).astype(F32)
    return d


def dc_inputs(rng, g_rows, rank, h_cols, bias=True, ls=False, w_shape=None):
    g = rn(rng, (g_rows, rank), 0.3)
    h = rn(rng, (rank, h_cols), 0.3)
    d = {"w_G": g, "w_H": h}
    if ls:
        d["w_scaling"] = (1 + rng.randn(g_rows) * 0.05).astype(F32)
    if bias:
        d["b"] = rn(rng, (g_rows,), 0.01)
    return d


def dc_model(w_shape=None):
    """Model description for a low-rank-decomposed layer 'w' (+ optional 'w_scaling', 'b')."""
    def model(inputs):
        g, h = inputs["w_G"], inputs["w_H"]
        shape = list(w_shape) if w_shape else [g.shape[0], h.shape[1]]
        dims = {"w": shape}
        ptype = {"w": "weight"}
        blk = {"w": "B"}
        if "w_scaling" in inputs:
            dims["w_scaling"] = [g.shape[0]]
            ptype["w_scaling"] = "weight.ls"
            blk["w_scaling"] = "B"
        if "b" in inputs:
            dims["b"] = [g.shape[0]]
            ptype["b"] = "bias"
            blk["b"] = "B"
        return {"parameter_dimensions": dims, "parameter_type": ptype, "block_identifier": blk}
    return model


def b_const(rng):
    return {"w": np.full((6, 5), 0.3, dtype=F32), "v": np.full((7,), -0.02, dtype=F32)}


def b_int_extremes(rng):
    i = np.array([[2 ** 31 - 1, -2 ** 31, 0, 1, -1],
                  [2 ** 30, -(2 ** 30) - 1, 65535, -65536, 7]], dtype=np.int32)
    return {"extremes": i, "big1d": np.array([2 ** 31 - 1, -(2 ** 31) + 1, 123456789], np.int32)}


# ---- sequences -----------------------------------------------------------------------------

def seq_updates(rng, n=4, zero_tensor_at=None, zero_rows=True, scale=0.02, thr=0.01):
    """Sparse difference updates of a small model (w 2-D, c 4-D, b 1-D)."""
    ups = []
    for i in range(n):
        w = rn(rng, (24, 16), scale)
        if zero_rows:
            w = with_zero_rows(w, rng, 0.35)
        w[np.abs(w) < thr] = 0
        c = rn(rng, (8, 2, 3, 3), scale)
        c[np.abs(c) < thr] = 0
        d = {"w": w, "c": c, "b": rn(rng, (24,), 0.002)}
        if zero_tensor_at is not None and i in np.atleast_1d(zero_tensor_at):
            d["c"] = np.zeros_like(c)
        ups.append(d)
    return ups


def seq_fixed_support(rng, n=5, shape=(32, 24), density=0.25, keep=0.5, scale=0.03, extra=True):
    """Updates whose non-zeros always lie inside one fixed random support (HDSP-friendly):
    each update uses a random half of the support, so the union history covers more than
    the previous update (TCA base) alone."""
    support = rng.rand(*shape) < density
    ups = []
    for i in range(n):
        m = support & (rng.rand(*shape) < keep)
        w = np.where(m, rng.randn(*shape) * scale + np.sign(rng.randn(*shape)) * scale, 0).astype(F32)
        d = {"w": w}
        if extra:
            d["b"] = rn(rng, (shape[0],), 0.002)
        ups.append(d)
    return ups


def seq_hdsp_omit(rng, n=5):
    ups = seq_fixed_support(rng, n=n, shape=(24, 20), extra=False)
    ups2 = seq_fixed_support(rng, n=n, shape=(16, 12), extra=False)
    out = []
    for i in range(n):
        d = {"w": ups[i]["w"], "v": ups2[i]["w"] if i != 2 else np.zeros((16, 12), F32)}
        out.append(d)
    return out


def seq_base_then_diffs(rng, n=4):
    base = {"w": rn(rng, (20, 12), 0.1), "c": rn(rng, (6, 3, 3, 3), 0.1), "b": rn(rng, (20,), 0.01)}
    out = [base]
    for i in range(n - 1):
        d = {k: (rn(rng, v.shape, 0.01) if v.ndim > 1 else rn(rng, v.shape, 0.001))
             for k, v in base.items()}
        d["w"] = with_zero_rows(d["w"], rng, 0.3)
        out.append(d)
    return out


def seq_block_updates(rng, n=3):
    out = []
    for i in range(n):
        out.append({"fc.weight": with_zero_rows(rn(rng, (20, 12), 0.02), rng, 0.3),
                    "fc.bias": rn(rng, (20,), 0.005)})
    return out


def seq_int_updates(rng, n=3):
    out = []
    for i in range(n):
        a = rng.randint(-3, 4, size=(10, 8)).astype(np.int32)
        a[rng.rand(10) < 0.3] = 0
        out.append({"q": a, "f": rn(rng, (10, 8), 0.02)})
    return out


def seq_scan_updates(rng, n=4, shape=(40, 34)):
    support = rng.rand(*shape) < 0.3
    out = []
    for i in range(n):
        m = support & (rng.rand(*shape) < 0.6)
        w = np.where(m, rng.randn(*shape) * 0.03, 0).astype(F32)
        w[rng.rand(shape[0]) < 0.25] = 0
        out.append({"w": w, "b": rn(rng, (40,), 0.002)})
    return out


def fl_rounds(rng, n=4):
    """Local 'training' results of one FL client: list of (global model, locally trained model)."""
    glob = {"conv.weight": rn(rng, (8, 3, 3, 3), 0.2), "conv.bias": rn(rng, (8,), 0.05),
            "fc.weight": rn(rng, (10, 32), 0.1), "fc.bias": rn(rng, (10,), 0.05)}
    rounds = []
    for r in range(n):
        local = {k: (v + rng.randn(*v.shape).astype(F32) * F32(0.02)).astype(F32) for k, v in glob.items()}
        rounds.append((glob, local))
        # the server's next global model (some other clients' contributions)
        glob = {k: (v + rng.randn(*v.shape).astype(F32) * F32(0.01)).astype(F32) for k, v in glob.items()}
    return rounds


# ------------------------------------------------------------------------------------------------
# the cases

CASES = []


def case(**kw):
    kw.setdefault("mode", "single")
    kw.setdefault("kwargs", {})
    kw.setdefault("features", [])
    CASES.append(kw)


# ---- worked examples (syntax.md section 9) ---------------------------------------------------
EX1 = ("00040201 0008068100400080 00060e000000 002a16097700d041c120e102a080 "
       "d96c82f137769415f195a6e09611aaca7a1fee06107e48639e62ea3f 001c16096200d0c1c3830a80 "
       "b4d800073800965da803641000b59908")
EX0 = ("00040200 0008068100400080 00060e000000 00281609770070483840a080 "
       "d9b305e26eed282be32b4dc12c235594f43fdc0c20fc90c73cc5d47e 001a1609620070e0c2a0 "
       "b4d800073800965da803641000b59908")

case(name="SPEC_EXAMPLE_GPI1_A", seed=0, api="compress", build=b_example,
     description="The worked example of syntax.md section 9 (general_profile_idc 1): w float32[3,4] "
                 "and b float32[3], QP -38 / non-weight QP -75, qp_density 2, DQ on; bytes must equal "
                 "the hex given there.",
     kwargs=dict(qp=-38, qp_density=2, nonweight_qp=-75, use_dq=True, cabac_unary_length_minus1=10,
                 scan_order=0),
     expect_hex=EX1, features=[25])
case(name="SPEC_EXAMPLE_GPI0_A", seed=0, api="core", build=b_example,
     description="The worked example of syntax.md section 9 coded with general_profile_idc 0 "
                 "(edition-1 syntax) through nnc_core; bytes must equal the hex given there.",
     kwargs=dict(general_profile_idc=0, qp=-38, qp_density=2, nonweight_qp=-75, use_dq=True,
                 cabac_unary_length_minus1=10, scan_order=0),
     expect_hex=EX0, features=[25])

# ---- basic float coding, shapes ------------------------------------------------------------------
case(name="FLOAT_DQ_2D_A", api="compress", build=lambda r: {"fc.weight": rn(r, (32, 24), 0.05)},
     description="A 32x24 float32 weight, uniform quantisation with dependent quantisation, QP -38.",
     kwargs=dict(qp=-38, use_dq=True))
case(name="FLOAT_NODQ_2D_A", api="compress", build=lambda r: {"fc.weight": rn(r, (32, 24), 0.05)},
     description="A 32x24 float32 weight without dependent quantisation (dq_flag 0), QP -44.",
     kwargs=dict(qp=-44, use_dq=False))
case(name="FLOAT_4D_CONV_A", api="compress", build=lambda r: {"conv.weight": rn(r, (16, 8, 3, 3), 0.1),
                                                              "conv.bias": rn(r, (16,), 0.01)},
     description="A 4-D convolution weight (16,8,3,3) and its 1-D bias (non-weight QP), DQ on.",
     kwargs=dict(qp=-36, use_dq=True))
case(name="FLOAT_3D_A", api="compress", build=lambda r: {"t3": rn(r, (6, 5, 7), 0.08)},
     description="A 3-D float tensor (6,5,7): coded as H=6 rows of width 35.",
     kwargs=dict(qp=-40, use_dq=True))
case(name="FLOAT_1D_A", api="compress", build=lambda r: {"v": rn(r, (50,), 0.3)},
     description="A single 1-D tensor (non-weight, so coded with nonweight_qp -75; no scan order, "
                 "no first_tensor_dimension_shift).",
     kwargs=dict(use_dq=True))
case(name="SHAPE_1XN_A", api="compress", build=lambda r: {"row": rn(r, (1, 64), 0.1)},
     description="A (1,64) tensor: one row, so row skipping / block scan are not applicable.",
     kwargs=dict(qp=-40, use_dq=True, row_skipping=True))
case(name="SHAPE_NX1_A", api="compress", build=lambda r: {"col": rn(r, (64, 1), 0.1)},
     description="A (64,1) tensor: layer width 1 (coded like a column vector).",
     kwargs=dict(qp=-40, use_dq=True, row_skipping=True))
case(name="SINGLE_ELEMENT_A", api="compress",
     build=lambda r: {"one": np.array([0.123], F32), "one2d": np.array([[-0.5]], F32)},
     description="Single-element tensors of shape (1,) and (1,1).",
     kwargs=dict(qp=-40, use_dq=True))
case(name="ZERO_TENSOR_A", api="compress",
     build=lambda r: {"z2": np.zeros((8, 8), F32), "z1": np.zeros((5,), F32), "nz": rn(r, (4, 4), 0.1)},
     description="All-zero 2-D and 1-D tensors in a non-incremental stream (they are coded, not "
                 "omitted), next to a normal tensor.",
     kwargs=dict(qp=-38, use_dq=True, row_skipping=True), features=[43])
case(name="HUGE_MAGNITUDE_A", api="compress", build=lambda r: {"h": rn(r, (8, 6), 1e4)},
     description="Values of magnitude ~1e4 with QP 0 (step 1): levels in the tens of thousands, long "
                 "Exp-Golomb remainders.",
     kwargs=dict(qp=0, use_dq=False))
case(name="TINY_MAGNITUDE_A", api="compress", build=lambda r: {"t": rn(r, (8, 6), 1e-6)},
     description="Values of magnitude ~1e-6 with QP -100 (step 2^-25) and DQ.",
     kwargs=dict(qp=-100, use_dq=True))
case(name="POSITIVE_QP_A", api="compress", build=lambda r: {"p": rn(r, (10, 10), 300.0)},
     description="A positive QP (+9, step 5) for large values: positive qp_offset in the payload.",
     kwargs=dict(qp=9, use_dq=True))
case(name="QP_COARSE_A", api="compress", build=lambda r: {"w": rn(r, (24, 24), 0.05)},
     description="Very coarse QP -16 (step 1/16): almost all levels 0 or +-1.",
     kwargs=dict(qp=-16, use_dq=True))
case(name="LARGE_REMAINDER_CUL0_A", api="compress", build=lambda r: {"w": rn(r, (12, 10), 1.0)},
     description="QP -80 (step 2^-20) gives levels up to ~2^22 with cabac_unary_length_minus1 0 "
                 "(one greater-flag): very long remainders.",
     kwargs=dict(qp=-80, use_dq=False, cabac_unary_length_minus1=0))

# ---- qp_density, QP choices ----------------------------------------------------------------------
for qpd, qp in [(0, -9), (1, -19), (3, -77), (5, -310), (6, -620), (7, -1250)]:
    case(name=f"QPD{qpd}_A", api="compress", build=lambda r: {"w": rn(r, (16, 20), 0.05),
                                                               "b": rn(r, (16,), 0.01)},
         description=f"qp_density {qpd} (QP {qp}, qp_offset coded with {6 + qpd} bypass bins); "
                     "the 1-D tensor uses the derived non-weight QP (nonweight_qp None).",
         kwargs=dict(qp=qp, qp_density=qpd, nonweight_qp=None, use_dq=True))
case(name="NONWEIGHT_QP_A", api="compress", build=lambda r: {"w": rn(r, (10, 10), 0.05),
                                                             "bias": rn(r, (10,), 0.05)},
     description="Explicit non-weight QP -52 for the 1-D tensor, weight QP -34.",
     kwargs=dict(qp=-34, nonweight_qp=-52, use_dq=True))
case(name="QP_PER_TENSOR_A", api="compress",
     build=lambda r: {"a": rn(r, (8, 8), 0.05), "b": rn(r, (8, 8), 0.05), "c": rn(r, (8,), 0.05)},
     description="qp_per_tensor gives each tensor its own QP (-30, -46, -60).",
     kwargs=dict(qp=-38, qp_per_tensor={"a": -30, "b": -46, "c": -60}, use_dq=True))
case(name="PARAM_OPT_OFF_A", api="compress", build=lambda r: {"w": rn(r, (24, 16), 0.05)},
     description="param_opt False: every probability-estimator parameter-set flag is coded as 0.",
     kwargs=dict(qp=-38, use_dq=True, param_opt=False))
case(name="OPT_QP_A", api="compress",
     build=lambda r: {"big": rn(r, (40, 30), 0.05), "small": rn(r, (6, 5), 0.2), "v": rn(r, (6,), 0.1)},
     description="Encoder-side QP modulation opt_qp (per-tensor QPs derived from size/std).",
     kwargs=dict(qp=-38, use_dq=True, opt_qp=True), features=[47])
case(name="LAMBDA_RDOQ_A", api="compress", build=lambda r: {"w": rn(r, (24, 16), 0.05)},
     description="Rate-distortion optimised quantisation with lambda_scale 1.0 (encoder-only tool).",
     kwargs=dict(qp=-40, use_dq=True, lambda_scale=1.0), features=[47])

# ---- cabac_unary_length ---------------------------------------------------------------------------
for cul, dq in [(0, True), (3, False), (20, True), (255, False)]:
    case(name=f"CUL{cul}_{'DQ' if dq else 'NODQ'}_A", api="compress",
         build=lambda r: {"w": rn(r, (16, 12), 0.2)},
         description=f"cabac_unary_length_minus1 {cul} ({cul + 1} greater-flags) with QP -50, "
                     f"DQ {'on' if dq else 'off'}.",
         kwargs=dict(qp=-50, use_dq=dq, cabac_unary_length_minus1=cul))

# ---- scan orders / entry points ------------------------------------------------------------------
for so, shape in [(1, (150, 70)), (2, (100, 40)), (3, (130, 33)), (4, (200, 70))]:
    case(name=f"DQ_SCAN{so}_A", api="compress", build=lambda r, s=shape: {"w": rn(r, s, 0.05)},
         description=f"Block scan scan_order {so} ({4 << so}x{4 << so} blocks) on a {shape[0]}x{shape[1]} "
                     "tensor with DQ: several block rows, entry points with dq_state.",
         kwargs=dict(qp=-38, use_dq=True, scan_order=so))
case(name="NODQ_SCAN2_A", api="compress", build=lambda r: {"w": rn(r, (70, 45), 0.05)},
     description="scan_order 2 without DQ: entry points without the 3-bit dq_state.",
     kwargs=dict(qp=-40, use_dq=False, scan_order=2))
case(name="SCAN1_3D_A", api="compress", build=lambda r: {"t": rn(r, (20, 3, 7), 0.1)},
     description="scan_order 1 on a 3-D tensor (20,3,7): blocks over the flattened 20x21 matrix.",
     kwargs=dict(qp=-38, use_dq=True, scan_order=1))
case(name="SCAN2_4D_MIXED_A", api="compress",
     build=lambda r: {"conv.weight": rn(r, (40, 6, 3, 3), 0.1), "conv.bias": rn(r, (40,), 0.01),
                      "small": rn(r, (5, 7), 0.1)},
     description="scan_order 2 requested for a 4-D conv weight (40 rows, entry points), a 1-D bias "
                 "(scan not applicable) and a 5x7 tensor (a single block row, no entry points).",
     kwargs=dict(qp=-38, use_dq=True, scan_order=2))

# ---- integer tensors (NNR_PT_INT) --------------------------------------------------------------
case(name="INT32_2D_A", api="compress",
     build=lambda r: {"q": r.randint(-200, 201, size=(12, 10)).astype(np.int32)},
     description="An int32 tensor coded as NNR_PT_INT (levels are the values).",
     kwargs=dict(use_dq=True))
case(name="INT32_EXTREMES_A", api="compress", build=b_int_extremes,
     description="int32 extremes (+-2^31 range, +-2^30, 65535...) in 2-D and 1-D PT_INT tensors.",
     kwargs=dict())
case(name="INT32_SCAN2_A", api="compress",
     build=lambda r: {"q": r.randint(-100, 101, size=(40, 30)).astype(np.int32)},
     description="PT_INT with scan_order 2 (entry points); dq requested but PT_INT is coded with dq_flag 0.",
     kwargs=dict(scan_order=2, use_dq=True))
case(name="INT_FLOAT_MIXED_A", api="compress",
     build=lambda r: {"i": r.randint(-3, 4, size=(5, 6)).astype(np.int32), "f": rn(r, (5, 6), 0.1),
                      "i1": r.randint(0, 1000, size=(9,)).astype(np.int32)},
     description="int32 and float32 tensors in one stream (PT_INT and PT_FLOAT units).",
     kwargs=dict(qp=-38, use_dq=True))
case(name="INT32_CUL255_ROWSKIP_A", api="compress",
     build=lambda r: {"i": np.vstack([np.zeros((3, 9), np.int32),
                                      r.randint(-5000, 5000, size=(4, 9)).astype(np.int32),
                                      np.zeros((1, 9), np.int32)])},
     description="PT_INT with zero rows and row skipping, cabac_unary_length_minus1 255.",
     kwargs=dict(row_skipping=True, cabac_unary_length_minus1=255), features=[43])

# ---- codebooks ------------------------------------------------------------------------------------
case(name="CODEBOOK_M1_A", api="compress",
     build=lambda r: {"w": rn(r, (16, 24), 0.05), "b": rn(r, (16,), 0.01)},
     description="codebook_mode 1: every tensor uses an integer codebook (codebook-aware "
                 "binarisation, gpi 1); NNCodec returns float64, recorded as float32.",
     kwargs=dict(qp=-30, codebook_mode=1, use_dq=True))
case(name="CODEBOOK_M2_A", api="compress", build=b_codebook_block,
     description="codebook_mode 2: the few-valued weight is coded with a codebook, the random bias "
                 "falls back to uniform quantisation (cheaper).",
     kwargs=dict(qp=-40, codebook_mode=2, use_dq=False))
case(name="CODEBOOK_SIZE1_A", api="compress", build=b_const,
     description="Constant tensors with codebook_mode 1: codebooks of size 1, so no level bins at all.",
     kwargs=dict(qp=-40, codebook_mode=1, use_dq=False))
case(name="CODEBOOK_SIGN_INFER_A", api="compress",
     build=lambda r: {"pos": np.abs(rn(r, (10, 12), 0.1)) + F32(0.01),
                      "neg": -np.abs(rn(r, (10, 12), 0.1)) - F32(0.01)},
     description="codebook_mode 1 with all-positive and all-negative tensors: codebook zero offset at "
                 "an end of the codebook, so sign flags are inferred.",
     kwargs=dict(qp=-28, codebook_mode=1, use_dq=False))
case(name="CODEBOOK_SCAN2_A", api="compress", build=lambda r: {"w": rn(r, (60, 40), 0.05)},
     description="codebook_mode 1 with scan_order 2 (codebook tensor with entry points).",
     kwargs=dict(qp=-24, codebook_mode=1, use_dq=False, scan_order=2))

# ---- integer-aligned bit depth (encoder tool) ------------------------------------------------------
for bw in (4, 8, 16):
    case(name=f"BITDEPTH{bw}_A", api="compress",
         build=lambda r: {"w": rn(r, (20, 16), 0.05), "b": rn(r, (20,), 0.01)},
         description=f"int_quant_bw {bw}: QP per tensor chosen so the levels fit {bw} bits "
                     "(1-D non-weights use at least 8 bits).",
         kwargs=dict(int_quant_bw=bw, use_dq=True), features=[47])
case(name="BITDEPTH8_UNSIGNED_A", api="compress",
     build=lambda r: {"u": np.abs(rn(r, (16, 16), 0.2))},
     description="int_quant_bw 8 for an all-non-negative tensor (unsigned 8-bit level range), no DQ.",
     kwargs=dict(int_quant_bw=8, use_dq=False), features=[47])

# ---- row skipping (non-incremental) -----------------------------------------------------------------
case(name="ROWSKIP_DQ_A", api="compress", build=lambda r: {"w": with_zero_rows(rn(r, (30, 20), 0.05), r)},
     description="row_skipping with DQ on a tensor with all-zero rows (skipped rows advance the DQ state).",
     kwargs=dict(qp=-38, use_dq=True, row_skipping=True), features=[43])
case(name="ROWSKIP_NODQ_A", api="compress", build=lambda r: {"w": with_zero_rows(rn(r, (30, 20), 0.05), r)},
     description="row_skipping without DQ on a tensor with all-zero rows.",
     kwargs=dict(qp=-38, use_dq=False, row_skipping=True), features=[43])
case(name="ROWSKIP_SCAN1_DQ_A", api="compress",
     build=lambda r: {"w": with_zero_rows(rn(r, (40, 30), 0.05), r, 0.5)},
     description="row_skipping + scan_order 1 + DQ: skipped row segments in every 8-wide block column.",
     kwargs=dict(qp=-38, use_dq=True, row_skipping=True, scan_order=1), features=[43])

# ---- NNR_PT_BLOCK ------------------------------------------------------------------------------------
case(name="BLOCK_W_BI_A", api="compress", build=lambda r: {"fc.weight": rn(r, (12, 10), 0.1),
                                                           "fc.bias": rn(r, (12,), 0.01)},
     description="PT_BLOCK unit with a weight and its bias (compressed_parameter_types BI).",
     kwargs=dict(qp=-38, use_dq=True, block_id_and_param_type=BIP_W_B))
case(name="BLOCK_BN_BI_A", api="compress", build=conv_bn_fc,
     description="PT_BLOCK units: conv weight + bias + batch-norm (BN|BI) and fc weight + bias.",
     kwargs=dict(qp=-36, use_dq=True, block_id_and_param_type=BIP_CONV_BN_FC))
case(name="BLOCK_BN_NOBIAS_A", api="compress", build=b_conv_bn_nobias,
     description="PT_BLOCK with conv weight and batch-norm parameters but no bias (BN only).",
     kwargs=dict(qp=-36, use_dq=True, block_id_and_param_type=BIP_BN_NOBIAS))
case(name="BLOCK_LS_BI_A", api="compress", build=b_fc_ls,
     description="PT_BLOCK with local-scaling vector and bias (LS|BI); decoded without applying LS.",
     kwargs=dict(qp=-38, use_dq=True, block_id_and_param_type=BIP_LS_B))
case(name="BLOCK_LS_APPLIED_A", api="compress", build=b_fc_ls,
     description="Same kind of LS|BI block, decoded with reconstruct_lsa=True: NNCodec multiplies the "
                 "weight rows by the scaling vector and drops it from the output.",
     kwargs=dict(qp=-38, use_dq=True, block_id_and_param_type=BIP_LS_B),
     decode={"api": "decompress", "kwargs": {"reconstruct_lsa": True,
                                              "block_id_and_param_type": BIP_LS_B}})
case(name="BLOCK_LS_BN_BI_SCAN2_A", api="compress", build=b_conv_ls_bn,
     description="PT_BLOCK with all of LS, BN and BI and a 4-D weight of 20 rows, scan_order 2 "
                 "(entry points in a block unit).",
     kwargs=dict(qp=-36, use_dq=True, scan_order=2, block_id_and_param_type=BIP_LS_BN_B))
case(name="BLOCK_NODQ_SCAN1_A", api="compress", build=lambda r: conv_bn_fc(r, oc=24, fc_in=24, fc_out=20),
     description="PT_BLOCK units without DQ, scan_order 1 (24-row conv and 20-row fc weights).",
     kwargs=dict(qp=-40, use_dq=False, scan_order=1, block_id_and_param_type=BIP_CONV_BN_FC))
case(name="BLOCK_BNF_A", api="compress", build=conv_bn_fc,
     description="Batch-norm folding (bnf=True): BN folded into LS and bias before coding, so the "
                 "conv block is LS|BI; decoded without unfolding.",
     kwargs=dict(qp=-36, use_dq=True, bnf=True, block_id_and_param_type=BIP_CONV_BN_FC),
     encoder_features=[34])
case(name="BLOCK_CODEBOOK_W_A", api="compress", build=b_codebook_block,
     description="PT_BLOCK whose weight uses a codebook (codebook_mode 2) and whose bias stays uniform.",
     kwargs=dict(qp=-40, codebook_mode=2, use_dq=False, block_id_and_param_type=BIP_W_B))
case(name="BLOCK_CODEBOOK_M1_SPLIT_A", api="compress", build=conv_bn_fc,
     description="codebook_mode 1 with block ids: non-weights would use codebooks, so NNCodec codes "
                 "every tensor in its own PT_FLOAT unit (block not possible).",
     kwargs=dict(qp=-30, codebook_mode=1, block_id_and_param_type=BIP_CONV_BN_FC))

# ---- low-rank decomposition (PT_BLOCK, NNR_CPT_DC) ------------------------------------------------
DC_DEC = {"api": "core", "kwargs": {"recompose": False}}
DC_NOTE = (" Expected output: NNCodec's core decoder (coder.decode + approximator.rec) returning "
           "w_G and w_H separately; nnc.decompress cannot be used (recompose_params KeyError, see "
           "KNOWN_NNCODEC_FAILURES.md).")
case(name="DC_BLOCK_BI_A", api="core", build=lambda r: dc_inputs(r, 40, 5, 30), model=dc_model(),
     description="Low-rank decomposed 40x30 layer (G 40x5, H 5x30) + bias in one PT_BLOCK (DC|BI)." + DC_NOTE,
     kwargs=dict(qp=-38, use_dq=True), decode=DC_DEC)
case(name="DC_BLOCK_LS_BI_SCAN1_A", api="core", build=lambda r: dc_inputs(r, 40, 20, 30, ls=True),
     model=dc_model(),
     description="DC|LS|BI block (G 40x20, H 20x30) with scan_order 1: entry points for G then H "
                 "in one list." + DC_NOTE,
     kwargs=dict(qp=-38, use_dq=True, scan_order=1), decode=DC_DEC)
case(name="DC_BLOCK_RANK20_SCAN2_A", api="core", build=lambda r: dc_inputs(r, 40, 20, 30),
     model=dc_model(),
     description="DC|BI block, G 40x20 / H 20x30, scan_order 2, no DQ." + DC_NOTE,
     kwargs=dict(qp=-40, use_dq=False, scan_order=2), decode=DC_DEC)
case(name="DC_BLOCK_CODEBOOK_A", api="core", build=lambda r: dc_inputs(r, 40, 5, 30, bias=False),
     model=dc_model(),
     description="DC-only block with codebook_mode 1: two integer codebooks (G, and the 'dc' "
                 "codebook for H) in the NDU header." + DC_NOTE,
     kwargs=dict(qp=-20, codebook_mode=1, use_dq=False), decode=DC_DEC)
case(name="DC_BLOCK_4D_A", api="core", build=lambda r: dc_inputs(r, 16, 4, 27),
     model=dc_model(w_shape=(16, 3, 3, 3)),
     description="Decomposition of a 4-D conv weight (16,3,3,3) as G 16x4, H 4x27 (+bias), scan_order 1 "
                 "(tensor_dimensions are the 4-D weight's)." + DC_NOTE,
     kwargs=dict(qp=-38, use_dq=True, scan_order=1), decode=DC_DEC)
case(name="DC_G_MULTIROW_H_1ROW_SCAN1_A", api="core", build=lambda r: dc_inputs(r, 20, 6, 30),
     model=dc_model(),
     description="DC|BI block, G 20x6 (3 block rows of 8) followed by H 6x30 (1 block row), "
                 "scan_order 1 (the working direction of the G/H entry-point split)." + DC_NOTE,
     kwargs=dict(qp=-38, use_dq=True, scan_order=1), decode=DC_DEC)

# ---- general_profile_idc 0 (edition-1 syntax) through nnc_core ------------------------------------
case(name="GPI0_DQ_SCAN2_A", api="core", build=lambda r: {"w": rn(r, (70, 40), 0.05), "b": rn(r, (70,), 0.01)},
     description="general_profile_idc 0 stream, DQ, scan_order 2 with entry points.",
     kwargs=dict(general_profile_idc=0, qp=-38, use_dq=True, scan_order=2))
case(name="GPI0_NODQ_4D_A", api="core", build=lambda r: {"conv.weight": rn(r, (12, 4, 3, 3), 0.1),
                                                          "fc.weight": rn(r, (10, 12), 0.1)},
     description="general_profile_idc 0 stream with 4-D and 2-D tensors, no DQ.",
     kwargs=dict(general_profile_idc=0, qp=-42, use_dq=False))
case(name="GPI0_SCAN4_CUL3_A", api="core", build=lambda r: {"w": rn(r, (150, 80), 0.05)},
     description="general_profile_idc 0, scan_order 4 (64x64 blocks, 3 block rows), "
                 "cabac_unary_length_minus1 3, DQ.",
     kwargs=dict(general_profile_idc=0, qp=-38, use_dq=True, scan_order=4, cabac_unary_length_minus1=3))
case(name="GPI0_CODEBOOK_A", api="core", build=lambda r: {"w": rn(r, (16, 24), 0.05), "b": rn(r, (16,), 0.01)},
     description="general_profile_idc 0 with codebook_mode 1: codebook indices are coded like ordinary "
                 "levels (no codebook-aware binarisation).",
     kwargs=dict(general_profile_idc=0, qp=-30, codebook_mode=1))
case(name="GPI0_INT_A", api="core",
     build=lambda r: {"q": r.randint(-50, 51, size=(9, 7)).astype(np.int32),
                      "q1": r.randint(-2 ** 31, 2 ** 31 - 1, size=(5,), dtype=np.int64).astype(np.int32)},
     description="general_profile_idc 0 with PT_INT tensors (one with full-range int32 values).",
     kwargs=dict(general_profile_idc=0))
case(name="GPI0_BLOCK_BN_BI_A", api="core", build=conv_bn_fc,
     description="general_profile_idc 0 with PT_BLOCK units (conv BN|BI, fc BI).",
     kwargs=dict(general_profile_idc=0, qp=-36, use_dq=True, block_id_and_param_type=BIP_CONV_BN_FC))
case(name="GPI0_ROWSKIP_REQUESTED_A", api="core",
     build=lambda r: {"w": with_zero_rows(rn(r, (20, 16), 0.05), r)},
     description="general_profile_idc 0 with row_skipping requested: edition-1 syntax has no row "
                 "skipping, NNCodec codes the zero rows normally.",
     kwargs=dict(general_profile_idc=0, qp=-38, use_dq=True, row_skipping=True))
case(name="GPI0_DC_BLOCK_A", api="core", build=lambda r: dc_inputs(r, 24, 6, 20), model=dc_model(),
     description="general_profile_idc 0 with a DC|BI block (G 24x6, H 6x20), scan_order 1." + DC_NOTE,
     kwargs=dict(general_profile_idc=0, qp=-38, use_dq=True, scan_order=1), decode=DC_DEC)
case(name="GPI0_PARAM_OPT_OFF_QPD0_A", api="core", build=lambda r: {"w": rn(r, (20, 20), 0.05)},
     description="general_profile_idc 0, qp_density 0 (QP -10), param_opt off.",
     kwargs=dict(general_profile_idc=0, qp=-10, qp_density=0, param_opt=False, use_dq=True))

# ---- out-of-band parameters (tensor_dimensions_flag / cabac_unary_length_flag 0) ------------------
OOB_DEC = {"api": "core", "kwargs": {}}
OOB_NOTE = (" The out-of-band values (oob_dict returned by nnc_core.coder.encode) are given in "
            "decode_call.args.oob_dict; decoded with nnc_core.coder.decode(oob_dict=...).")
case(name="OOB_DIMS_CUL_A", api="core", build=lambda r: {"w": rn(r, (20, 12), 0.05), "b": rn(r, (20,), 0.01)},
     description="Out-of-band signalling (gpi 1): NDUs carry no tensor dimensions and no "
                 "cabac_unary_length_minus1 (4, out of band)." + OOB_NOTE,
     kwargs=dict(qp=-38, use_dq=True, cabac_unary_length_minus1=4, out_of_band_signaling=True),
     decode=OOB_DEC)
case(name="OOB_GPI0_SCAN1_A", api="core", build=lambda r: {"w": rn(r, (20, 12), 0.05)},
     description="Out-of-band dimensions / unary length with general_profile_idc 0 and scan_order 1 "
                 "(entry-point count derived from out-of-band dimensions)." + OOB_NOTE,
     kwargs=dict(general_profile_idc=0, qp=-38, use_dq=True, scan_order=1, out_of_band_signaling=True),
     decode=OOB_DEC)
case(name="OOB_BLOCK_A", api="core", build=lambda r: {"fc.weight": rn(r, (20, 12), 0.05),
                                                      "fc.bias": rn(r, (20,), 0.01)},
     description="Out-of-band signalling for a PT_BLOCK unit (weight + bias)." + OOB_NOTE,
     kwargs=dict(qp=-38, use_dq=True, out_of_band_signaling=True, block_id_and_param_type=BIP_W_B),
     decode=OOB_DEC)
case(name="OOB_DC_BLOCK_A", api="core", build=lambda r: dc_inputs(r, 20, 4, 12), model=dc_model(),
     description="Out-of-band signalling for a DC|BI block (rank and G rows stay in band)." + OOB_NOTE
                 + " Output not recomposed (w_G, w_H).",
     kwargs=dict(qp=-38, use_dq=True, out_of_band_signaling=True),
     decode={"api": "core", "kwargs": {"recompose": False}})

# ---- larger streams -----------------------------------------------------------------------------------
case(name="LONG_UNIT_SCAN3_A", api="compress", build=lambda r: {"big": rn(r, (320, 320), 0.05)},
     description="102400-element tensor at QP -46 with scan_order 3: the NDU is larger than 32767 bytes, "
                 "so it uses the 31-bit nnr_unit_size; 10 block rows.",
     kwargs=dict(qp=-46, use_dq=True, scan_order=3))
case(name="MEDIUM_CONV_SCAN4_A", api="compress",
     build=lambda r: {"conv.weight": rn(r, (128, 64, 3, 3), 0.05), "conv.bias": rn(r, (128,), 0.01)},
     description="A 73728-element conv weight (128,64,3,3) with scan_order 4 (2 block rows of 64) and DQ.",
     kwargs=dict(qp=-36, use_dq=True, scan_order=4))
case(name="MEDIUM_ROWSKIP_SCAN2_A", api="compress",
     build=lambda r: {"w": with_zero_rows(rn(r, (256, 390), 0.05), r, 0.5)},
     description="A 99840-element tensor (256x390) with about half of the rows zero: row skipping + "
                 "scan_order 2 + DQ, 16 block rows, 25 block columns (the last one partial).",
     kwargs=dict(qp=-38, use_dq=True, scan_order=2, row_skipping=True), features=[43])

case(name="MEDIUM_GPI0_NODQ_SCAN3_A", api="core", build=lambda r: {"w": rn(r, (300, 320), 0.05)},
     description="96000-element tensor coded with general_profile_idc 0, no DQ, scan_order 3 "
                 "(10 block rows): a long edition-1 NDU (31-bit nnr_unit_size).",
     kwargs=dict(general_profile_idc=0, qp=-44, use_dq=False, scan_order=3))
case(name="MEDIUM_CODEBOOK_SCAN1_A", api="compress",
     build=lambda r: {"w": (np.round(rn(r, (250, 400), 1.0) * 4) / F32(4)).astype(F32)},
     description="100000-element tensor of values on a 1/4 grid, codebook_mode 2 (codebook wins), "
                 "scan_order 1 with 32 block rows.",
     kwargs=dict(qp=-30, codebook_mode=2, use_dq=False, scan_order=1))

# ---- nncodec.tensor API ------------------------------------------------------------------------------
def targs(**kw):
    a = {"tensor_id": "0", "verbose": False}
    a.update(kw)
    return a


case(name="TENSOR_F32_DQ_A", api="tensor", build=lambda r: {"0": rn(r, (64, 32), 1.0)},
     description="nncodec.tensor.encode of a float32 64x32 tensor with its defaults (QP -32, DQ, "
                 "row_skipping on).",
     kwargs=targs(qp=-32, use_dq=True))
case(name="TENSOR_F32_NODQ_QP48_A", api="tensor", build=lambda r: {"0": rn(r, (30, 20), 0.05)},
     description="tensor.encode without DQ at QP -48, param_opt off.",
     kwargs=targs(qp=-48, use_dq=False, param_opt=False))
case(name="TENSOR_F16_INPUT_A", api="tensor", build=lambda r: {"0": rn(r, (16, 16), 0.5).astype(np.float16)},
     description="A float16 input tensor (tensor.encode converts it to float32).",
     kwargs=targs(qp=-36))
case(name="TENSOR_F64_INPUT_A", api="tensor", build=lambda r: {"0": (r.randn(16, 10) * 0.5).astype(np.float64)},
     description="A float64 input tensor (converted to float32 by tensor.encode).",
     kwargs=targs(qp=-36))
case(name="TENSOR_INT8_A", api="tensor", build=lambda r: {"0": r.randint(-128, 128, size=(12, 16)).astype(np.int8)},
     description="An int8 tensor: tensor.encode converts to int32 and codes it as NNR_PT_INT.",
     kwargs=targs())
case(name="TENSOR_UINT8_A", api="tensor", build=lambda r: {"0": r.randint(0, 256, size=(8, 8, 3)).astype(np.uint8)},
     description="A uint8 3-D tensor (image-like) coded as NNR_PT_INT.",
     kwargs=targs())
case(name="TENSOR_INT16_A", api="tensor", build=lambda r: {"0": r.randint(-32768, 32768, size=(20, 10)).astype(np.int16)},
     description="An int16 tensor coded as NNR_PT_INT.",
     kwargs=targs())
case(name="TENSOR_UINT16_1D_A", api="tensor", build=lambda r: {"0": r.randint(0, 65536, size=(40,)).astype(np.uint16)},
     description="A 1-D uint16 tensor coded as NNR_PT_INT.",
     kwargs=targs())
case(name="TENSOR_INT64_A", api="tensor",
     build=lambda r: {"0": r.randint(-10 ** 6, 10 ** 6, size=(6, 9)).astype(np.int64)},
     description="An int64 tensor with values inside the int32 range (converted to int32, PT_INT).",
     kwargs=targs())
case(name="TENSOR_CODEBOOK_A", api="tensor",
     build=lambda r: {"0": np.round(rn(r, (20, 20), 1.0) * 2).astype(F32) / F32(2)},
     description="tensor.encode with approx_method 'codebook' (codebook_mode 2) on a tensor of few "
                 "distinct values.",
     kwargs=targs(qp=-20, approx_method="codebook", use_dq=False))
case(name="TENSOR_BITDEPTH6_A", api="tensor", build=lambda r: {"0": rn(r, (24, 24), 0.1)},
     description="tensor.encode with bitdepth 6 (int_quant_bw).",
     kwargs=targs(bitdepth=6), features=[47])
case(name="TENSOR_1D_A", api="tensor", build=lambda r: {"0": rn(r, (100,), 0.5)},
     description="tensor.encode of a 1-D tensor (non-weight: NNCodec's default nonweight_qp -75).",
     kwargs=targs(qp=-32))
case(name="TENSOR_4D_SPARSE_A", api="tensor", build=lambda r: {"0": rn(r, (16, 8, 3, 3), 0.1)},
     description="tensor.encode with NNCodec's sparsification (sparsity 0.5, structured factor 0.9) "
                 "before coding: zero rows, row skipping on.",
     kwargs=targs(qp=-36, sparsity=0.5, struct_spars_factor=0.9), features=[37, 43])
case(name="TENSOR_ID_NAME_A", api="tensor", build=lambda r: {"layer1.weight": rn(r, (10, 20), 0.1)},
     description="tensor.encode with a non-default tensor_id (used as topology_elem_id).",
     kwargs=targs(tensor_id="layer1.weight", qp=-40))

# ---- nncodec.nnc.compress_model with a real PyTorch module -------------------------------------
def torch_net_state(rng, oc=8, fc_out=10):
    """State dict (numpy) of TorchNet: conv 3->oc 3x3, BatchNorm2d(oc), Linear(oc, fc_out)."""
    return {"conv.weight": rn(rng, (oc, 3, 3, 3), 0.1), "conv.bias": rn(rng, (oc,), 0.01),
            "bn.weight": (1 + rng.randn(oc) * 0.1).astype(F32), "bn.bias": rn(rng, (oc,), 0.1),
            "bn.running_mean": rn(rng, (oc,), 0.1),
            "bn.running_var": (1 + np.abs(rng.randn(oc)) * 0.2).astype(F32),
            "bn.num_batches_tracked": np.array(100, dtype=np.int64),
            "fc.weight": rn(rng, (fc_out, oc), 0.1), "fc.bias": rn(rng, (fc_out,), 0.01)}


def make_torch_net(state):
    """torch.nn.Module with the layers of torch_net_state, parameters loaded from `state`."""
    import torch

    class TorchNet(torch.nn.Module):
        def __init__(self, oc, fc_out):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, oc, 3)
            self.bn = torch.nn.BatchNorm2d(oc)
            self.fc = torch.nn.Linear(oc, fc_out)

        def forward(self, x):
            return self.fc(self.bn(self.conv(x)).mean((2, 3)))

    net = TorchNet(state["conv.weight"].shape[0], state["fc.weight"].shape[0])
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return net


TORCH_NET_DESC = ("TorchNet(torch.nn.Module): conv=Conv2d(3,oc,3), bn=BatchNorm2d(oc), fc=Linear(oc,fc_out), "
                  "state_dict loaded from input.npz (cases.make_torch_net)")

case(name="TORCH_MODEL_PYT_A", api="torch", build=torch_net_state,
     description="nncodec.nnc.compress_model of a PyTorch module (conv/bn/fc): the topology unit "
                 "says NNR_TPL_PYT; the 0-d num_batches_tracked buffer is not coded.",
     kwargs=dict(qp=-38, use_dq=True))
case(name="TORCH_MODEL_BNF_A", api="torch", build=lambda r: torch_net_state(r, oc=12),
     description="compress_model of a PyTorch module with bnf=True: NNCodec derives the blocks from the "
                 "module, folds batch-norm into local scaling and bias (conv block LS|BI, fc block BI).",
     kwargs=dict(qp=-36, use_dq=True, bnf=True), encoder_features=[34])

# ---- nncodec.nn API with parameter dicts -------------------------------------------------------------
def nargs(**kw):
    a = {"verbose": False}
    a.update(kw)
    return a


case(name="NN_DICT_A", api="nn", build=conv_bn_fc,
     description="nncodec.nn.encode of a conv/bn/fc parameter dict with its defaults (QP -32, "
                 "non-weight QP -75, DQ, row_skipping).",
     kwargs=nargs())
case(name="NN_DICT_CODEBOOK_A", api="nn", build=b_few_valued_dict,
     description="nn.encode with approx_method 'codebook' (codebook_mode 2), no DQ: the weights (values "
                 "on a 1/8 grid) get codebooks, the random 1-D tensors fall back to uniform coding.",
     kwargs=nargs(approx_method="codebook", qp=-30, use_dq=False), features=[26])
case(name="NN_DICT_QP_PER_TENSOR_A", api="nn", build=conv_bn_fc,
     description="nn.encode with qp_per_tensor and nonweight_qp -60.",
     kwargs=nargs(qp=-34, nonweight_qp=-60, qp_per_tensor={"fc.weight": -44, "bn.running_var": -40}))
case(name="NN_DICT_BITDEPTH8_NODQ_A", api="nn", build=conv_bn_fc,
     description="nn.encode with bitdepth 8, no DQ, no row skipping, param_opt off.",
     kwargs=nargs(bitdepth=8, use_dq=False, row_skipping=False, param_opt=False), features=[47])
case(name="NN_DICT_INT_MIXED_A", api="nn",
     build=lambda r: {**conv_bn_fc(r), "bn.num_batches_tracked": np.array([1234], dtype=np.int32),
                      "emb.idx": r.randint(0, 50, size=(4, 6)).astype(np.int32)},
     description="nn.encode of a dict that also holds int32 tensors (a counter of shape (1,) and an "
                 "index table): float and PT_INT units mixed.",
     kwargs=nargs(qp=-36))

# ---- incremental sequences -----------------------------------------------------------------------------
case(name="SEQ_DIFF_DQ_A", mode="sequence", api="compress", build=lambda r: seq_updates(r),
     description="Four differential updates (compress_differences): parent node ids, node depths "
                 "1..4, DQ, row skipping, no TCA.",
     kwargs=dict(qp=-36, use_dq=True, row_skipping=True, compress_differences=True),
     features=[40, 43])
case(name="SEQ_TCA_DQ_A", mode="sequence", api="compress", build=lambda r: seq_updates(r),
     description="Four differential updates with temporal context adaptation (TCA) and DQ; "
                 "TCA is active from the second update on.",
     kwargs=dict(qp=-36, use_dq=True, tca=True, row_skipping=True, compress_differences=True),
     features=[42, 43])
case(name="SEQ_TCA_NODQ_A", mode="sequence", api="compress", build=lambda r: seq_updates(r, n=5),
     description="Five differential updates with TCA, no DQ, no row skipping.",
     kwargs=dict(qp=-40, use_dq=False, tca=True, compress_differences=True), features=[42])
case(name="SEQ_HDSP_DQ_A", mode="sequence", api="compress", hdsp=True,
     build=lambda r: seq_fixed_support(r, n=5),
     description="Five differential updates with NNCodec's HdspTool (history-dependent significance "
                 "probability), DQ, row skipping, no TCA.",
     kwargs=dict(qp=-36, use_dq=True, row_skipping=True, compress_differences=True), features=[44])
case(name="SEQ_HDSP_TCA_NODQ_A", mode="sequence", api="compress", hdsp=True,
     build=lambda r: seq_fixed_support(r, n=5, keep=0.4),
     description="Five differential updates with HDSP and TCA together, no DQ.",
     kwargs=dict(qp=-38, use_dq=False, tca=True, compress_differences=True), features=[42, 44])
case(name="SEQ_SCAN2_TCA_HDSP_DQ_A", mode="sequence", api="compress", hdsp=True,
     build=lambda r: seq_scan_updates(r, shape=(40, 36)),
     description="Four differential updates of a 40x36 tensor with scan_order 2 (entry points), TCA, "
                 "HDSP, DQ and row skipping. The width 36 is a multiple of 4 on purpose: with a width "
                 "that is not, NNCodec cannot decode its own stream (KNOWN_NNCODEC_FAILURES.md).",
     kwargs=dict(qp=-38, use_dq=True, tca=True, row_skipping=True, scan_order=2,
                 compress_differences=True), features=[42, 43, 44])
case(name="SEQ_ZERO_OMIT_TCA_A", mode="sequence", api="compress",
     build=lambda r: seq_updates(r, n=5, zero_tensor_at=[1, 2]),
     description="Five differential updates with TCA where tensor c is all-zero in updates 1 and 2: "
                 "its NDU is omitted there and TCA resumes from its last coded update.",
     kwargs=dict(qp=-36, use_dq=True, tca=True, row_skipping=True, compress_differences=True),
     features=[42, 45])
case(name="SEQ_PRE_SIGNALLING_A", mode="sequence", api="compress",
     build=lambda r: seq_updates(r, n=3, zero_tensor_at=1),
     description="pre_signalling: mps_parent_signalling_enabled_flag 1 and nnr_pre_flag 1 but no parent "
                 "ids in the NDUs; the all-zero tensor of update 1 is omitted.",
     kwargs=dict(qp=-36, use_dq=True, pre_signalling=True), features=[45])
case(name="SEQ_BASE_THEN_DIFF_A", mode="sequence", api="compress", build=lambda r: seq_base_then_diffs(r),
     description="A full base model (stream 0, no incremental state, put_node_depth 0) followed by three "
                 "differential updates with TCA and DQ.",
     kwargs=dict(qp=-38, use_dq=True, tca=True, row_skipping=True, compress_differences=True),
     steps=[{"compress_differences": False, "tca": False, "_no_base": True}, {}, {}, {}],
     features=[40, 42])
case(name="SEQ_DEVICE3_TCA_A", mode="sequence", api="compress", device_id=3,
     build=lambda r: seq_updates(r, n=3),
     description="Differential updates with TCA from device_id 3 (node ids with a non-zero device id).",
     kwargs=dict(qp=-36, use_dq=True, tca=True, compress_differences=True, device_id=3), features=[42])
case(name="SEQ_CODEBOOK_TCA_A", mode="sequence", api="compress", build=lambda r: seq_updates(r, n=3),
     description="Differential updates with codebook_mode 1 and TCA (codebook-aware binarisation with "
                 "TCA contexts).",
     kwargs=dict(qp=-30, codebook_mode=1, tca=True, compress_differences=True), features=[42])
case(name="SEQ_INT_DIFF_A", mode="sequence", api="compress", build=lambda r: seq_int_updates(r),
     description="Differential updates containing an int32 tensor (PT_INT) and a float tensor, TCA on.",
     kwargs=dict(qp=-40, use_dq=True, tca=True, row_skipping=True, compress_differences=True),
     features=[42])
case(name="SEQ_BLOCK_OOB_TCA_A", mode="sequence", api="core", build=lambda r: seq_block_updates(r),
     description="PT_BLOCK differential updates with TCA: NNCodec writes block NDUs of incremental "
                 "streams without tensor dimensions (out of band), so they are decoded with "
                 "nnc_core.coder.decode and the encoder's oob_dict (decode_call.args.oob_dict per stream).",
     kwargs=dict(qp=-38, use_dq=True, tca=True, row_skipping=True, compress_differences=True,
                 block_id_and_param_type=BIP_W_B),
     decode={"api": "core", "kwargs": {}}, features=[22, 42])
case(name="SEQ_ROWSKIP_SCAN1_NODQ_TCA_A", mode="sequence", api="compress",
     build=lambda r: seq_scan_updates(r, n=4),
     description="Four differential updates of a 40x34 tensor with row skipping, scan_order 1 "
                 "(5 block rows), TCA and no DQ.",
     kwargs=dict(qp=-40, use_dq=False, tca=True, row_skipping=True, scan_order=1,
                 compress_differences=True), features=[42, 43])
case(name="SEQ_MEDIUM_TCA_HDSP_SCAN3_A", mode="sequence", api="compress", hdsp=True,
     build=lambda r: seq_fixed_support(r, n=3, shape=(256, 256), density=0.2, keep=0.6),
     description="Three differential updates of a 65536-element tensor (+ bias) with TCA, HDSP, DQ, "
                 "row skipping and scan_order 3 (8 block rows).",
     kwargs=dict(qp=-38, use_dq=True, tca=True, row_skipping=True, scan_order=3,
                 compress_differences=True), features=[42, 44])
case(name="SEQ_HDSP_OMIT_A", mode="sequence", api="compress", hdsp=True,
     build=lambda r: seq_hdsp_omit(r),
     description="Five differential updates with HDSP where tensor v is all-zero (omitted) in update 2; "
                 "its history from earlier updates stays in force afterwards. DQ on, no TCA.",
     kwargs=dict(qp=-36, use_dq=True, compress_differences=True), features=[44, 45])
case(name="SEQ_HDSP_CODEBOOK_A", mode="sequence", api="compress", hdsp=True,
     build=lambda r: seq_fixed_support(r, n=4, shape=(24, 20), extra=False),
     description="Differential updates with HDSP and codebook_mode 1 (codebook-aware binarisation with "
                 "history-dependent significance contexts).",
     kwargs=dict(qp=-30, codebook_mode=1, compress_differences=True), features=[26, 44])
case(name="SEQ_TENSOR_API_HDSP_A", mode="sequence", api="tensor", hdsp=True,
     build=lambda r: [{"0": u["w"]} for u in seq_fixed_support(r, n=4, shape=(24, 20), extra=False)],
     description="nncodec.tensor.encode / tensor.decode used incrementally (approx_param_base, "
                 "hdsp_tool) with compress_differences and TCA.",
     kwargs=targs(qp=-36, compress_differences=True, tca=True), features=[42, 44])
case(name="SEQ_FL_CLIENT_A", mode="sequence", api="fl", device_id=1, build=lambda r: fl_rounds(r),
     description="Four up-stream rounds of one federated-learning client as NNCodec's flwr client does "
                 "them: weight differences to the received global model, error accumulation, "
                 "unstructured+structured sparsification, QP -26, TCA, no DQ, device_id 1.",
     kwargs=dict(qp=-26, nonweight_qp=-75, use_dq=False, opt_qp=False, param_opt=True, bnf=False,
                 lsa=False, row_skipping=False, tca=True, block_id_and_param_type=None,
                 int_quant_bw=None, compress_differences=True, codebook_mode=0),
     features=[37, 40, 42])
case(name="SEQ_FL_CLIENT_ROWSKIP_DQ_B", mode="sequence", api="fl", device_id=2, build=lambda r: fl_rounds(r),
     description="Like SEQ_FL_CLIENT_A but with row skipping and DQ enabled and device_id 2.",
     kwargs=dict(qp=-30, nonweight_qp=-75, use_dq=True, opt_qp=False, param_opt=True, bnf=False,
                 lsa=False, row_skipping=True, tca=True, block_id_and_param_type=None,
                 int_quant_bw=None, compress_differences=True, codebook_mode=0),
     features=[37, 40, 42, 43])


# ------------------------------------------------------------------------------------------------
# Known NNCodec failures: encoder or decoder calls that are *expected* to fail.  Run with
# `generate.py --probe-failures`; the results are documented in KNOWN_NNCODEC_FAILURES.md.

PROBES = [
    dict(name="DC_G_1ROW_H_MULTIROW_SCAN1", api="core", build=lambda r: dc_inputs(r, 6, 20, 30),
         model=dc_model(), kwargs=dict(qp=-38, use_dq=True, scan_order=1), decode=DC_DEC,
         what="PT_BLOCK + decomposition, G with one block row (6x20) followed by H with several "
              "block rows (20x30), scan_order 1"),
    dict(name="DC_G_1ROW_H_MULTIROW_SCAN2", api="core", build=lambda r: dc_inputs(r, 12, 40, 30),
         model=dc_model(), kwargs=dict(qp=-38, use_dq=True, scan_order=2), decode=DC_DEC,
         what="same with scan_order 2 (G 12x40: 1 block row of 16; H 40x30: 3 block rows)"),
    dict(name="DC_DECOMPRESS", api="core", build=lambda r: dc_inputs(r, 40, 5, 30), model=dc_model(),
         kwargs=dict(qp=-38, use_dq=True), decode={"api": "decompress", "kwargs": {}},
         what="nnc.decompress of any PT_BLOCK stream with decomposition"),
    dict(name="DC_NONBLOCK_ENCODE", api="core", build=lambda r: dc_inputs(r, 40, 5, 30),
         model=dc_model(), kwargs=dict(qp=-20, codebook_mode=1), decode=DC_DEC,
         what="decomposition where the block is not possible (codebook on the bias) -> separate "
              "G / H NDUs"),
    dict(name="BLOCK_PARENT_DECOMPRESS", api="compress", build=lambda r: seq_block_updates(r, 1)[0],
         kwargs=dict(compress_differences=True, block_id_and_param_type=BIP_W_B), stateful=True,
         decode={"api": "decompress", "kwargs": {}},
         what="nnc.decompress of a PT_BLOCK NDU in a stream with parent signalling (dimensions "
              "out of band)"),
    dict(name="ROWSKIP_SCAN2_DQ_TCA_W34", api="compress", mode="sequence",
         build=lambda r: seq_scan_updates(r, shape=(40, 34)),
         kwargs=dict(qp=-38, use_dq=True, tca=True, row_skipping=True, scan_order=2,
                     compress_differences=True),
         what="differential updates with row skipping + scan_order 2 + DQ + TCA, layer width 34 "
              "(not a multiple of 4); fails at the first stream where TCA is active"),
    dict(name="ROWSKIP_SCAN2_DQ_HDSP_W34", api="compress", mode="sequence", hdsp=True,
         build=lambda r: seq_scan_updates(r, shape=(40, 34)),
         kwargs=dict(qp=-38, use_dq=True, row_skipping=True, scan_order=2, compress_differences=True),
         what="same with HDSP instead of TCA (fails once hist_dep_sig_prob_enabled_flag is 1)"),
    dict(name="ROWSKIP_SCAN1_DQ_TCA_W30", api="compress", mode="sequence",
         build=lambda r: seq_scan_updates(r, shape=(40, 30)),
         kwargs=dict(qp=-38, use_dq=True, tca=True, row_skipping=True, scan_order=1,
                     compress_differences=True),
         what="row skipping + scan_order 1 + DQ + TCA, layer width 30"),
    dict(name="SCAN_1XN", api="compress", build=lambda r: {"row": rn(r, (1, 40), 0.1)},
         kwargs=dict(scan_order=1), what="scan_order > 0 on a (1,n) tensor"),
    dict(name="SCAN_NX1", api="compress", build=lambda r: {"col": rn(r, (40, 1), 0.1)},
         kwargs=dict(scan_order=3), what="scan_order > 0 on a (n,1) tensor"),
    dict(name="SCAN_ORDER_5", api="compress", build=lambda r: {"w": rn(r, (16, 16), 0.1)},
         kwargs=dict(scan_order=5), what="scan_order 5"),
    dict(name="SCALAR_0D", api="compress", build=lambda r: {"s": np.array(0.5, F32)},
         kwargs=dict(), what="a 0-d (scalar) tensor"),
    dict(name="LSA_WITHOUT_EXECUTER", api="nn", build=conv_bn_fc, kwargs=dict(lsa=True, verbose=False),
         what="nn.encode(dict, lsa=True) without a model executer"),
    dict(name="RAW_FLOAT_ENCODE", api="raw_float", build=lambda r: {"w": rn(r, (4, 4), 0.1)},
         kwargs=dict(), what="NNR_PT_RAW_FLOAT: a tensor left unquantised reaches coder.encode"),
]
