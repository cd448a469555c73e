"""Minimal, independent NNR high-level-syntax parser (unit sizes/types and NDU headers).

Written from /work/shared/spec/syntax.md, not from NNCodec.  The generator uses it
only to *describe* the streams it writes (which syntax features a case really
exercises, e.g. dq_flag, scan_order, entry points, compressed_parameter_types,
parent signalling, omitted tensors) and to sanity-check that the NDU names and
dimensions match the encoder input.  It does not touch the arithmetic-coded
payload.
"""

NNR_STR, NNR_MPS, NNR_LPS, NNR_TPL, NNR_QNT, NNR_NDU, NNR_AGG = range(7)
PT_INT, PT_FLOAT, PT_RAW_FLOAT, PT_BLOCK = range(4)
CPT_DC, CPT_LS, CPT_BN, CPT_BI = 1, 2, 4, 8


class Bits:
    def __init__(self, data, start=0):
        self.data = data
        self.pos = start * 8

    def u(self, n):
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self, k):
        x = 0
        while self.u(1) == 0:
            x += 1 << k
            k += 1
        return x + (self.u(k) if k else 0)

    def ie(self, k):
        x = self.ue(k)
        return (x + 1) // 2 if x & 1 else -(x // 2)

    def i(self, n):
        v = self.u(n)
        return v - (1 << n) if v >= 1 << (n - 1) else v

    def aligned(self):
        return self.pos % 8 == 0

    def byte_alignment(self):
        self.u(1)
        while self.pos % 8:
            self.u(1)

    def st(self):
        assert self.aligned(), "st(v) must start byte-aligned"
        start = self.pos >> 3
        end = self.data.index(0, start)
        self.pos = (end + 1) * 8
        return self.data[start:end].decode("utf-8")


def _codebook(b):
    egk = b.u(4)
    size = b.ue(2)
    zero_off = (size >> 1) + b.ie(2)
    cb = [0] * size
    cb[zero_off] = b.ie(7)
    for j in range(zero_off - 1, -1, -1):
        cb[j] = cb[j + 1] - b.ue(egk) - 1
    for j in range(zero_off + 1, size):
        cb[j] = cb[j - 1] + b.ue(egk) + 1
    return {"egk": egk, "size": size, "zero_offset": zero_off, "codebook": cb}


def parse_stream(data, oob=None):
    """Parse all units of one NNR bitstream.  ``oob``: {tensor name: {"tensor_dimensions": [...],
    "cabac_unary_length_minus1": n}} for out-of-band values.  Returns a list of dicts."""
    data = bytes(data)
    units = []
    pos = 0
    gpi = 0
    mps = {}
    while pos < len(data):
        b = Bits(data, pos)
        u = {"offset": pos}
        u["long_size"] = b.u(1)
        u["size"] = b.u(15 + 16 * u["long_size"])
        u["type"] = b.u(6)
        u["independently_decodable_flag"] = b.u(1)
        u["partial_data_counter_present_flag"] = b.u(1)
        if u["partial_data_counter_present_flag"]:
            u["partial_data_counter"] = b.u(8)
        t = u["type"]
        if t == NNR_STR:
            gpi = u["general_profile_idc"] = b.u(8)
        elif t == NNR_MPS:
            u.update(_mps(b, gpi))
            mps = u
        elif t == NNR_TPL:
            u["topology_storage_format"] = b.u(8)
            u["topology_compression_format"] = b.u(8)
        elif t == NNR_NDU:
            u.update(_ndu_header(b, gpi, mps, oob or {}))
            u["header_bytes"] = (b.pos >> 3) - pos
            u["payload_bytes"] = u["size"] - u["header_bytes"]
        units.append(u)
        assert u["size"] > 0
        pos += u["size"]
    assert pos == len(data), "unit sizes do not add up to the stream length"
    return units


def _mps(b, gpi):
    m = {}
    for f in ["topology_carriage_flag", "mps_sparsification_flag", "mps_pruning_flag",
              "mps_unification_flag", "mps_decomposition_performance_map_flag"]:
        m[f] = b.u(1)
    m["mps_quantization_method_flags"] = b.u(3)
    m["mps_topology_indexed_reference_flag"] = b.u(1)
    m["mps_parent_signalling_enabled_flag"] = 0
    if gpi == 1:
        m["base_model_id_present_flag"] = b.u(1)
        m["validation_set_performance_present_flag"] = b.u(1)
        m["metric_type_performance_map_valid_flag"] = b.u(1)
        m["mps_parent_signalling_enabled_flag"] = b.u(1)
        m["nnr_pre_flag"] = b.u(1)   # reserved bit if parent signalling is off
        b.u(2)
        if m["base_model_id_present_flag"]:
            m["base_model_id"] = b.st()
        if m["validation_set_performance_present_flag"] or m["metric_type_performance_map_valid_flag"]:
            m["performance_metric_type"] = b.st()
    else:
        b.u(7)
    if m["mps_quantization_method_flags"] & 3:
        m["mps_qp_density"] = b.u(3)
        m["mps_quantization_parameter"] = b.i(13)
    return m


def _ndu_header(b, gpi, mps, oob):
    h = {}
    h["payload_type"] = b.u(5)
    h["multiple_topology_elements_present_flag"] = b.u(1)
    h["decompressed_data_format_present_flag"] = b.u(1)
    h["input_parameters_present_flag"] = b.u(1)
    assert not mps.get("mps_topology_indexed_reference_flag"), "indexed topology not handled"
    if h["multiple_topology_elements_present_flag"]:
        n = b.ue(7) + 2
        b.byte_alignment()
        h["names"] = [b.st() for _ in range(n)]
    else:
        h["names"] = [b.st()]
    if gpi == 1:
        h["node_id_present_flag"] = b.u(1)
        if h["node_id_present_flag"]:
            h["device_id"] = b.ue(1)
            h["parameter_id"] = b.ue(5)
            h["put_node_depth"] = b.ue(4)
        if mps.get("mps_parent_signalling_enabled_flag"):
            h["parent_node_id_present_flag"] = b.u(1)
            if h["parent_node_id_present_flag"]:
                h["parent_node_id_type"] = b.u(2)
                h["temporal_context_modeling_flag"] = b.u(1)
                assert h["parent_node_id_type"] == 0, "only ICNN_NDU_ID parents handled"
                h["parent_device_id"] = b.ue(1)
                if not h["node_id_present_flag"]:
                    h["parameter_id"] = b.ue(5)
                    h["put_node_depth"] = b.ue(4)
    pt = h["payload_type"]
    h["codebook_present_flag"] = 0
    if pt in (PT_FLOAT, PT_BLOCK):
        h["codebook_present_flag"] = b.u(1)
        if h["codebook_present_flag"]:
            h["codebook"] = _codebook(b)
    if pt in (PT_INT, PT_FLOAT, PT_BLOCK):
        h["dq_flag"] = b.u(1)
    if h["decompressed_data_format_present_flag"]:
        h["decompressed_data_format"] = b.u(7)
    key = h["names"][0]
    o = oob.get(key, {})
    h["tensor_dimensions_flag"] = 0
    h["cabac_unary_length_flag"] = 0
    h["compressed_parameter_types"] = o.get("compressed_parameter_types", 0)
    if h["input_parameters_present_flag"]:
        h["tensor_dimensions_flag"] = b.u(1)
        h["cabac_unary_length_flag"] = b.u(1)
        h["compressed_parameter_types"] = b.u(4)
        if h["compressed_parameter_types"] & CPT_DC:
            h["decomposition_rank"] = b.ue(3)
            h["g_number_of_rows"] = b.ue(3)
        if h["tensor_dimensions_flag"]:
            cnt = b.ue(1)
            h["tensor_dimensions"] = [b.ue(7) for _ in range(cnt)]
        if pt != PT_BLOCK and h["multiple_topology_elements_present_flag"]:
            raise NotImplementedError("topology_tensor_dimension_mapping")
        if h["cabac_unary_length_flag"]:
            h["cabac_unary_length_minus1"] = b.u(8)
    else:
        if "decomposition_rank" in o:
            h["decomposition_rank"] = o["decomposition_rank"]
            h["g_number_of_rows"] = o["g_number_of_rows"]
    if "tensor_dimensions" not in h:
        h["tensor_dimensions"] = list(o["tensor_dimensions"])
    if "cabac_unary_length_minus1" not in h:
        h["cabac_unary_length_minus1"] = o.get("cabac_unary_length_minus1", 9)
    cpt = h["compressed_parameter_types"]
    if pt == PT_BLOCK and cpt & CPT_DC and h["codebook_present_flag"]:
        h["codebook_dc"] = _codebook(b)
    dims = h["tensor_dimensions"]
    h["entry_points"] = 0
    if len(dims) > 1:
        if gpi == 1:
            h["first_tensor_dimension_shift"] = b.ue(1)
        h["scan_order"] = b.u(4)
        if h["scan_order"] > 0:
            bs = 4 << h["scan_order"]
            rows = lambda hgt: (hgt + bs - 1) // bs - 1
            if cpt & CPT_DC:
                g_rows, rank = h["g_number_of_rows"], h["decomposition_rank"]
                if pt == PT_BLOCK:
                    n = rows(g_rows) + rows(rank)
                else:
                    n = rows(g_rows if key.endswith("_G") else rank)
            else:
                n = rows(dims[0])
            eps = []
            for j in range(n):
                value = b.u(8)
                dq_state = b.u(3) if h["dq_flag"] else 0
                off = b.ue(11) if j == 0 else eps[-1][2] + b.ie(7)
                eps.append((value, dq_state, off))
            h["entry_points"] = n
            h["entry_point_list"] = eps
    else:
        h["scan_order"] = 0
    b.byte_alignment()
    return h


def leading_bypass_flags(data, unit, gpi, qp_density):
    """Decode the bypass bins at the start of an NDU payload (no context modelling needed):
    qp_offset of the first coded tensor (PT_FLOAT / PT_BLOCK) and, with gpi 1, its
    hist_dep_sig_prob_enabled_flag / row_skip_enabled_flag (deepcabac.md sections 2.1, 2.3, 4, 5).
    Only possible when the first coded tensor of the unit is the one of interest: plain NDUs,
    and PT_BLOCK units whose first coded tensor is the weight or G (no LS/BI/BN).
    Returns a dict (empty if not applicable)."""
    pt = unit["payload_type"]
    cpt = unit["compressed_parameter_types"]
    if pt not in (PT_INT, PT_FLOAT, PT_BLOCK):
        return {}
    if pt == PT_BLOCK and cpt & (CPT_LS | CPT_BI | CPT_BN):
        first_dims = [unit["tensor_dimensions"][0]]          # a 1-D tensor comes first
    elif pt == PT_BLOCK and cpt & CPT_DC:
        first_dims = [unit["g_number_of_rows"], unit["decomposition_rank"]]
    else:
        first_dims = list(unit["tensor_dimensions"])
    b = Bits(data, unit["offset"] + unit["header_bytes"])
    rng = 510
    off = b.u(9)

    def bypass():
        nonlocal off
        off = (off << 1) | b.u(1)
        if off >= rng:
            off -= rng
            return 1
        return 0

    res = {}
    if pt in (PT_FLOAT, PT_BLOCK):
        n = 6 + qp_density
        v = 0
        for _ in range(n):
            v = (v << 1) | bypass()
        res["qp_offset"] = v - (1 << n) if v >= 1 << (n - 1) else v
    h = first_dims[0]
    w = 1
    for d in first_dims[1:]:
        w *= d
    cb_size = unit["codebook"]["size"] if (gpi == 1 and unit.get("codebook")) else 0
    if gpi == 1 and w > 1 and h * w > w and cb_size != 1:
        if unit.get("parent_node_id_present_flag"):
            res["hist_dep_sig_prob_enabled_flag"] = bypass()
        res["row_skip_enabled_flag"] = bypass()
    return res
