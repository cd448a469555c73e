"""Bad input: truncated, bit-flipped or cut streams raise NNRError — never another exception, a
hang, or an allocation the stream cannot justify."""

import json
import os
import random
import time

import pytest

import nnr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BITSTREAMS = os.path.join(ROOT, "bitstreams")

SEEDS = ["FLOAT_DQ_2D_A", "DQ_SCAN2_A", "BLOCK_LS_BN_BI_SCAN2_A", "CODEBOOK_M1_A", "GPI0_INT_A", "ROWSKIP_SCAN1_DQ_A",
         "DC_BLOCK_BI_A", "LONG_UNIT_SCAN3_A"]
SEQ_SEEDS = ["SEQ_TCA_DQ_A", "SEQ_HDSP_A"]


def seed_streams(name):
    d = os.path.join(BITSTREAMS, name)
    case = json.load(open(os.path.join(d, "case.json")))
    return [open(os.path.join(d, s), "rb").read() for s in case["streams"]]


def available(names):
    return [n for n in names if os.path.isdir(os.path.join(BITSTREAMS, n))]


def decode_or_nnr_error(streams):
    """Decode in one session; any failure must be an NNRError."""
    dec = nnr.Decoder()
    t = time.perf_counter()
    try:
        for s in streams:
            dec.decode(s)
    except nnr.NNRError as e:
        assert e.unit_index is not None or e.bit_offset is not None or "stream" in str(e)
        return e
    finally:
        assert time.perf_counter() - t < 20, "decoding a small corrupt stream took too long"
    return None


@pytest.mark.parametrize("name", available(SEEDS))
def test_every_truncation_is_an_nnr_error(name):
    data = seed_streams(name)[0]
    boundaries = {u.offset for u in nnr.Decoder().decode_stream(data).units}  # a cut there is a valid stream
    step = max(1, len(data) // 80)
    for cut in range(0, len(data), step):
        if cut in boundaries:
            continue
        err = decode_or_nnr_error([data[:cut]])
        assert err is not None, f"truncation to {cut} of {len(data)} bytes decoded without error"


@pytest.mark.parametrize("name", available(SEEDS))
def test_bit_flips_never_crash(name):
    data = seed_streams(name)[0]
    rng = random.Random(name)
    errors = 0
    for _ in range(60):
        b = bytearray(data)
        for _ in range(rng.choice([1, 1, 2, 8])):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        errors += decode_or_nnr_error([bytes(b)]) is not None
    assert errors > 0  # most flips are detected; none may crash


@pytest.mark.parametrize("name", available(SEQ_SEEDS))
def test_corrupt_update_in_a_sequence(name):
    streams = seed_streams(name)
    rng = random.Random(name)
    for _ in range(60):
        k = rng.randrange(1, len(streams))
        b = bytearray(streams[k])
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        decode_or_nnr_error(streams[:k] + [bytes(b)] + streams[k + 1:])


def test_garbage_inputs():
    for data in [b"", b"\x00", b"\xff" * 3, bytes(100), random.Random(0).randbytes(64), b"\x00\x04\x02\x01\x00"]:
        assert decode_or_nnr_error([data]) is not None


def test_huge_dimensions_fail_fast_without_allocation():
    from nnr.units.compressed_data_unit import CompressedDataUnitHeader
    from nnr.units.model_parameter_set import ModelParameterSet
    from nnr.writer import StreamWriter

    s = StreamWriter()
    s.start_unit(1)
    s.model_parameter_set(ModelParameterSet(mps_qp_density=2))
    s.compressed_data_unit(CompressedDataUnitHeader(topology_elem_id="w", tensor_dimensions=[1 << 20, 1 << 20],
                                                    node_id_present_flag=1, parameter_id=0, put_node_depth=0),
                           bytes(16))
    t = time.perf_counter()
    with pytest.raises(nnr.LimitExceededError) as ei:
        nnr.decode(s.getvalue())
    assert time.perf_counter() - t < 1
    assert ei.value.element == "tensor_dimensions"


def test_api_misuse_is_not_a_stream_error():
    with pytest.raises(nnr.NNRUsageError):
        nnr.decode(12345)  # type: ignore[arg-type]
    with pytest.raises(nnr.NNRUsageError):
        nnr.decode("/nonexistent/file.nnc")
