"""The bin trace (nnr.bitstream.bintrace, ``nnr trace --bins``), held to facts it does not compute.

* a five-element stream's bins, derived by hand from the binarization and context rules of
  docs/notes/deepcabac.md (§6.1, §6.2, §6.3) and the engine's first steps (§2.2);
* the levels the trace reports, held to the tensors the decoder outputs;
* the number of bins, held to a count from the levels by an independent binarization (below);
* the reader's trace, held to the writer's event for event, on single streams in many settings
  and on update streams with TCA and HDSP;
* the element names, held to the syntax table of the payload (syntax/);
* the CLI's output lines, its bound and its filters.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from nnr import syntax
from nnr.bitstream.bintrace import BYPASS, TERMINATE, BinEvent, BinTracer
from nnr.decoder import Decoder
from nnr.encoding import EncodeSettings, compress
from nnr.encoding.inputs import prepare_tensors
from nnr.encoding.stream import StreamWatch, write_stream
from nnr.incremental import IncrementalState

HAND_SETTINGS = {"general_profile_idc": 0, "use_dq": False, "param_opt": False}
HAND_LEVELS = [0, 1, -2, 0, 5]


def encode(tensors: dict[str, np.ndarray], settings: dict[str, object], state: IncrementalState | None = None,
           hdsp: bool = False) -> tuple[bytes, list[BinEvent], IncrementalState | None]:
    """The stream and the writer's bin trace of it."""
    s = EncodeSettings.from_kwargs(settings)
    res, a = compress(prepare_tensors(tensors), s, state=state, hdsp=hdsp)
    bins = BinTracer()
    traced = write_stream(a, s, state=state, hdsp=hdsp, watch=StreamWatch(bins=bins))
    assert traced.data == res.data  # tracing changes no byte
    return res.data, bins.events, res.state


def read_bins(data: bytes, decoder: Decoder | None = None, **kw: object) -> tuple[list[BinEvent], dict[str, np.ndarray]]:
    """The reader's bin trace and the coded levels of every tensor."""
    bins = BinTracer(**kw)  # type: ignore[arg-type]
    ds = (decoder or Decoder()).decode_stream(data, bins=bins)
    levels = {t.name: np.asarray(t.levels) for u in ds.units for t in u.tensors if t.levels is not None}
    return bins.events, levels


# -- a stream checked by hand ------------------------------------------------------------------


def test_hand_derived_bins() -> None:
    """Edition 1, no DQ, no parameter-set choice, levels 0 1 -2 0 5 of an int32 tensor (PT_INT:
    no qp_offset; 1-D: no preamble), cabac_unary_length_minus1 10 (N = 11 greater flags)."""
    data, _, _ = encode({"k": np.array(HAND_LEVELS, dtype=np.int32)}, HAND_SETTINGS)
    events, _ = read_bins(data)
    # deepcabac.md §6.3: one flag (0: set 0) for each of SIG[0..2], SIGN[0..2], GTX[0..21],
    # REM[0..30], and (general_profile_idc 0 writes the edition-1 reference software's rules,
    # §10) REM[31]: 60 flags, each a bin of the one ECO_FLAG model, no bypass bins
    flags = events[:60]
    assert [e.element for e in flags] == [f"prob_est_param_flag[{m}]" for m in range(60)]
    assert {(e.model, e.bin) for e in flags} == {("ECO_FLAG", 0)}
    # §2.2: the first bin sees range 510 and the first 9 bits of the codeword; its model starts
    # at P = 0 (MPS 1), so bin 0 is the LPS: RLPS[(510 & 0xE0) + 0] = 228, renormalised by one
    # bit to 456, and the bit counter moves by one
    first = flags[0]
    byte = first.bit_offset // 8
    assert first.bit_offset % 8 == 0 and first.range == 510
    assert first.offset == int.from_bytes(data[byte:byte + 2], "big") >> 7
    assert (flags[1].range, flags[1].bit_offset - first.bit_offset) == (456, 1)
    # §6.1 / §6.2: the levels' bins with their contexts (prev = the level before, in the scan)
    expect = [
        (0, "sig_flag", "SIG[0]", 0),  # level 0
        (1, "sig_flag", "SIG[0]", 1), (1, "sign_flag", "SIGN[0]", 0), (1, "abs_level_greater_x[0]", "GTX[0]", 0),
        (2, "sig_flag", "SIG[2]", 1), (2, "sign_flag", "SIGN[2]", 1),  # prev 1 > 0; negative
        (2, "abs_level_greater_x[0]", "GTX[1]", 1), (2, "abs_level_greater_x[1]", "GTX[3]", 0),
        (3, "sig_flag", "SIG[1]", 0),  # prev -2 < 0
        (4, "sig_flag", "SIG[0]", 1), (4, "sign_flag", "SIGN[0]", 0),
        (4, "abs_level_greater_x[0]", "GTX[0]", 1), (4, "abs_level_greater_x[1]", "GTX[2]", 1),
        (4, "abs_level_greater_x[2]", "GTX[4]", 1), (4, "abs_level_greater_x[3]", "GTX[6]", 1),
        (4, "abs_level_greater_x[4]", "GTX[8]", 0),
    ]
    got = [(e.position, e.element, e.model, e.bin) for e in events[60:-1]]
    assert got == expect
    assert [e.level for e in events[60:-1]] == [HAND_LEVELS[p] for p, *_ in expect]
    last = events[-1]
    assert (last.element, last.context, last.bin, last.tensor, last.position) == ("terminate_bin", TERMINATE, 1, "", None)
    # the flat context index is the numbering of deepcabac.md §3.4 as nnr orders it: SIG 0..23,
    # SIGN 24..26, GTX from 27, and ECO_FLAG after the 27 + 22 + 31 + 24 + 2 + 22 level models
    assert [e.context for e in events[60:64]] == [0, 0, 24, 27]
    assert first.context == 27 + 22 + 31 + 24 + 2 + 22


def test_hand_stream_cli_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``nnr trace --bins``'s bin lines for the hand-checked stream, and its bound."""
    data, _, _ = encode({"k": np.array(HAND_LEVELS, dtype=np.int32)}, HAND_SETTINGS)
    path = tmp_path / "k.nnc"
    path.write_bytes(data)
    events, _ = read_bins(data)
    bit0 = events[0].bit_offset
    p = run_cli("trace", str(path), "--bins", "--max-bins", "63")
    assert p.returncode == 0, p.stderr
    lines = bin_lines(p.stdout)
    assert len(lines) == 63
    assert lines[0] == f"{bit0:>10}  bin {'prob_est_param_flag[0]':<32} {'ECO_FLAG (128)':<20} 0   510 " \
                       f"{events[0].offset:>6}  u3 k"
    assert [ln.split()[2:5] + ln.split()[-3:] for ln in lines[60:]] == [
        ["sig_flag", "SIG[0]", "(0)", "u3", "k[0]", "0"],
        ["sig_flag", "SIG[0]", "(0)", "u3", "k[1]", "1"],
        ["sign_flag", "SIGN[0]", "(24)", "u3", "k[1]", "1"],
    ]
    assert p.stdout.splitlines()[-1] == "# bin trace stopped after 63 bins (--max-bins; 0 shows all)"
    full = run_cli("trace", str(path), "--bins")
    assert len(bin_lines(full.stdout)) == 60 + 16 + 1
    assert "stopped" not in full.stdout


# -- held to the decoder's output, to an independent count and to the writer ------------------


def model(seed: int = 0, scale: float = 0.1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(0, scale, (24, 20)).astype(np.float32)
    w[3] = 0  # an all-zero row (row skipping)
    big = (rng.standard_t(3, (70, 9)) * scale).astype(np.float32)  # heavy tails: long remainders
    return {"fc1.weight": w, "fc1.bias": rng.normal(0, scale, 24).astype(np.float32),
            "conv.weight": rng.normal(0, scale, (8, 3, 3, 3)).astype(np.float32), "big": big,
            "steps": rng.integers(-7, 8, (5, 6)).astype(np.int32)}


SETTINGS = {
    "defaults": {},
    "no_dq": {"use_dq": False},
    "scan_order_2": {"scan_order": 2},
    "row_skipping_scan": {"row_skipping": True, "scan_order": 1},
    "edition_1": {"general_profile_idc": 0},
    "codebook": {"codebook_mode": 1},
    "codebook_auto_cul": {"codebook_mode": 2, "cabac_unary_length_minus1": 3},
    "no_param_opt": {"param_opt": False, "qp": -32},
}


def assert_same_bins(wrote: list[BinEvent], read: list[BinEvent]) -> None:
    assert len(wrote) == len(read), (len(wrote), len(read))
    for k, (w, r) in enumerate(zip(wrote, read)):
        assert w.offset is None and r.offset is not None and 0 <= r.offset < r.range
        assert w == r._replace(offset=None), f"bin #{k}:\n  wrote {w}\n  read  {r}"


def levels_of(events: list[BinEvent], levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors as the bin trace reports them (positions without bins: 0)."""
    out = {n: np.zeros(v.size, dtype=np.int64) for n, v in levels.items()}
    for e in events:
        if e.position is not None:
            out[e.tensor][e.position] = e.value
    return out


def eg0_bins(levels: np.ndarray, num_gtx: int) -> int:
    """Level bins of a tensor without codebook: the binarization of deepcabac.md §6.1 counted
    from the levels (coded levels, i.e. before any DQ index mapping)."""
    n = 0
    for v in levels.reshape(-1).tolist():
        a = abs(v)
        n += 1  # sig_flag
        if a == 0:
            continue
        n += 1 + min(a - 1, num_gtx - 1) + 1 if a <= num_gtx else 1 + num_gtx  # sign, greater flags
        if a > num_gtx:
            r = a - num_gtx - 1
            k = (r + 1).bit_length() - 1  # EG0: k prefix ones, a terminating 0, k suffix bins
            n += k + 1 + k
    return n


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_reader_and_writer_bins(name: str) -> None:
    data, wrote, _ = encode(model(), SETTINGS[name])
    read, levels = read_bins(data)
    assert_same_bins(wrote, read)
    traced = levels_of(read, levels)
    for n, v in levels.items():
        assert np.array_equal(traced[n], v.reshape(-1)), n
    names = {e.element.split("[")[0] for e in read}
    assert {"sig_flag", "sign_flag", "abs_level_greater_x", "prob_est_param_flag", "terminate_bin"} <= names


def test_bin_count_independent() -> None:
    """Without DQ or codebook: level bins = the count of the binarization, per tensor; the other
    bins = qp_offset, the preamble, row_skip_flag, the parameter-set flags and their bits."""
    settings = {"use_dq": False, "row_skipping": True, "cabac_unary_length_minus1": 2}
    data, _, _ = encode(model(), settings)
    read, levels = read_bins(data)
    for n, v in levels.items():
        mine = [e for e in read if e.tensor == n]
        lv = [e for e in mine if e.position is not None]
        h = v.shape[0] if v.ndim else 1
        w = v.size // h
        skipping = v.ndim >= 2 and h > 1 and w > 1  # edition 2 and row_skipping: zero rows are skipped
        coded = v.reshape(h, w)[v.reshape(h, w).any(axis=1)] if skipping else v
        assert len(lv) == eg0_bins(coded, 3), n
        flags = [e for e in mine if e.element.startswith("prob_est_param_flag")]
        idx_bits = [e for e in mine if e.element.startswith("prob_est_param_idx_minus1")]
        assert len(idx_bits) == 3 * sum(e.bin for e in flags)
        assert len(flags) == 3 + 3 + 2 * 3 + 31  # deepcabac.md §6.3, no DQ / TCA / HDSP / codebook
        qp = [e for e in mine if e.element == "qp_offset"]
        assert len(qp) == (0 if n == "steps" else 8)  # iae(6 + qp_density 2); PT_INT has none
        rows = [e for e in mine if e.element.startswith("row_skip_flag")]
        pre = [e for e in mine if e.element == "row_skip_enabled_flag"]
        assert len(pre) == (1 if skipping else 0)
        assert len(rows) == (h if pre and pre[0].bin else 0)
        assert [int(e.bin) for e in rows] == ([int(not v[y].any()) for y in range(h)] if rows else [])
        assert len(mine) == len(lv) + len(flags) + len(idx_bits) + len(qp) + len(rows) + len(pre)
    assert sum(1 for e in read if e.element == "terminate_bin") == len({e.unit for e in read})


@pytest.mark.parametrize("hdsp", [False, True])
def test_update_stream_bins(hdsp: bool) -> None:
    """A session: a base, then updates with TCA (and HDSP): the sig / sign / greater flags take
    the TCA and HDSP models, reader and writer agree, the levels are the decoder's."""
    settings = {"compress_differences": True, "tca": True}
    decoder = Decoder()
    state = IncrementalState()
    models: set[str] = set()
    for step in range(3):
        upd = {k: v if v.dtype.kind == "i" else v * np.float32(0.5 ** step) for k, v in model(step).items()}
        data, wrote, after = encode(upd, settings, state=state, hdsp=hdsp)
        assert after is not None
        state = after
        read, levels = read_bins(data, decoder)
        assert_same_bins(wrote, read)
        traced = levels_of(read, levels)
        for n, v in levels.items():
            assert np.array_equal(traced[n], v.reshape(-1)), n
        models |= {re.sub(r"\[.*", "", e.model) for e in read}
    assert {"SIG_TCA", "SIGN_TCA", "GTX_TCA"} <= models
    assert ("SIG_HDSP" in models) == hdsp


def test_elements_are_syntax_table_rows() -> None:
    """Every element the bin trace names is a row of the payload's syntax table."""
    table = syntax.load().tables["nnr_compressed_data_unit_payload"]
    rows = {r.name for r in table.rows}
    data, _, _ = encode(model(), {"row_skipping": True, "codebook_mode": 2})
    read, _ = read_bins(data)
    assert {e.element.split("[")[0] for e in read} <= rows
    assert {e.context for e in read if e.model == "bypass"} == {BYPASS}


# -- filters and bound ---------------------------------------------------------------------------


def test_filters_and_bound() -> None:
    data, _, _ = encode(model(), {})
    every, levels = read_bins(data)
    only, _ = read_bins(data, tensors=["big"])
    assert only == [e for e in every if e.tensor == "big"]
    unit = every[0].unit
    by_unit, _ = read_bins(data, units=[unit])
    assert by_unit == [e for e in every if e.unit == unit]
    bounded = BinTracer(max_bins=100)
    out = Decoder().decode_stream(data, bins=bounded)
    assert bounded.events == every[:100] and bounded.truncated
    # the decoder's output does not depend on tracing
    assert all(np.array_equal(v, out.arrays()[k]) for k, v in Decoder().decode(data).items())
    exact = BinTracer(max_bins=len(every))
    Decoder().decode_stream(data, bins=exact)
    assert exact.events == every and not exact.truncated
    assert set(levels) <= exact.tensors_offered


def bin_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln[10:16] == "  bin " and ln[:10].strip().isdigit()]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nnr", *args], capture_output=True, text=True, timeout=300)


def test_cli_filters_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data, _, _ = encode(model(), {})
    path = tmp_path / "m.nnc"
    path.write_bytes(data)
    every, _ = read_bins(data)
    p = run_cli("trace", str(path), "--tensor", "fc1.bias", "--max-bins", "0")
    assert p.returncode == 0, p.stderr
    bins = bin_lines(p.stdout)
    assert len(bins) == sum(1 for e in every if e.tensor == "fc1.bias")
    assert all(" fc1.bias" in ln for ln in bins)
    for args, msg in [(["--max-bins", "5"], "nnr: --max-bins bounds the bin trace: add --bins"),
                      (["--tensor", "nope"], "nnr: --tensor 'nope': no such coded tensor"),
                      (["--unit", "0"], "nnr: --unit 0: no arithmetic-coded payload in that unit")]:
        p = run_cli("trace", str(path), *args)
        assert p.returncode == 2 and p.stderr.startswith(msg), (args, p.stderr)
        assert len(p.stderr.splitlines()) == 1
    p = run_cli("trace", str(path), "--bins", "--max-bins", "-1")
    assert p.returncode == 2 and "must be 0 or more" in p.stderr
