"""The one framing of a stream (nnr.units.nnr_unit.Frames): each unit's nnr_unit_size and common
header read once, located; the same framing and unit numbering for nnr.decode and nnr.open."""

from __future__ import annotations

import pytest

import nnr
from nnr.bitstream import TraceEvent
from nnr.units.nnr_unit import Frames, Framing
import numpy as np

from nnr.units.layer_parameter_set import LayerParameterSet
from test_handbuilt_streams import B_PAYLOAD, EXAMPLE_GPI1, W_PAYLOAD, W_VALUES, b_header, example_writer, w_header


def test_frames_of_the_worked_example() -> None:
    events: list[TraceEvent] = []
    frames = list(Frames(EXAMPLE_GPI1, framing=Framing(tracer=events.append)))
    # the unit sizes as the example's bytes give them (syntax.md §9): 4, 8, 6, 42, 28
    assert [(f.index, f.offset, f.size, f.nnr_unit_type) for f in frames] == [
        (0, 0, 4, 0), (1, 4, 8, 1), (2, 12, 6, 3), (3, 18, 42, 5), (4, 60, 28, 5)]
    sizes = [(e.bit_offset, e.value) for e in events if e.name == "nnr_unit_size"]
    assert sizes == [(1, 4), (33, 8), (97, 6), (145, 42), (481, 28)]  # read once per unit
    assert all(e.path[0] == "nnr_unit" for e in events)


@pytest.mark.parametrize("data, cls, reason, bit", [
    (b"\x00", nnr.TruncatedStreamError, "1 byte(s) left, too few for an nnr_unit_size", 0),
    (b"\x80\x00\x00", nnr.TruncatedStreamError, "stream ends inside nnr_unit_size", 0),
    (b"\x00\x02\x00", nnr.MalformedStreamError, "nnr_unit_size 2 is smaller than the size field and unit header", 1),
    (b"\x00\x09\x00", nnr.TruncatedStreamError, "nnr_unit_size 9 runs past the end of the data (3 byte(s) left)", 1),
    (b"\x00\x03\x1c", nnr.ReservedValueError, "nnr_unit_type 7 is reserved", 16),
])
def test_framing_errors_are_located(data: bytes, cls: type, reason: str, bit: int) -> None:
    for decode in (nnr.decode, lambda d: nnr.open(d)):
        with pytest.raises(cls) as ei:
            decode(data)
        assert ei.value.reason == reason and ei.value.bit_offset == bit and ei.value.unit_index == 0


def test_open_numbers_units_as_the_decoder_after_an_aggregate() -> None:
    """nnr.open numbered the unit after an aggregate as if the aggregate carried none (its error
    said unit 3 where nnr.decode says 5): one framing now numbers both (the first coding is the
    aggregate's unit 2 for nnr.open, which indexes by top-level unit, its unit 3 for nnr.decode)."""
    s = example_writer()
    a = s.compressed_data_unit(w_header(), W_PAYLOAD)
    b = s.compressed_data_unit(b_header(), B_PAYLOAD)
    s.aggregate([a, b])
    s.compressed_data_unit(w_header(), W_PAYLOAD)  # 'w' again: a stream defect
    data = s.getvalue()
    for decode, first in ((nnr.decode, 3), (lambda d: nnr.open(d), 2)):
        with pytest.raises(nnr.MalformedStreamError, match=f"already coded by unit {first}") as ei:
            decode(data)
        assert ei.value.unit_index == 5


def test_decoder_options_are_checked() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_unit'"):
        nnr.Decoder(max_unit=3)  # type: ignore[call-arg]
    with pytest.raises(nnr.NNRUsageError, match="max_units"):
        nnr.Decoder(max_units=0)
    assert nnr.Decoder(workers=2, dialect="ed1").settings.workers == 2


def test_open_applies_the_layer_parameter_set_in_force() -> None:
    """nnr.open decoded a unit after an NNR_LPS with the MPS's quantization parameter (the unit
    context it kept for the unit had its LPS reset as if a new stream began): a silently wrong
    tensor, twice the right values here.  The LPS is reset where a stream begins, once."""
    s = example_writer()
    s.layer_parameter_set(LayerParameterSet(lps_qp_density=2, lps_quantization_parameter=4))
    s.compressed_data_unit(w_header(), W_PAYLOAD)
    data = s.getvalue()
    expected = nnr.decode(data)["w"]
    # the payload codes the example's qp_offset; the LPS adds 4 (one doubling at qp_density 2)
    assert expected.tobytes() == (W_VALUES * np.float32(2)).tobytes()
    with nnr.open(data) as f:
        assert f.get_tensor("w").tobytes() == expected.tobytes()
    session = nnr.Decoder()
    session.decode(data)
    assert session.decode(EXAMPLE_GPI1)["w"].tobytes() == W_VALUES.tobytes()  # the next stream: without it


def test_open_decodes_a_tensor_larger_than_the_slack_of_an_empty_stream() -> None:
    # reproducer: nnr.open decoded a unit in a session whose stream-wide work budget counted no
    # stream bytes, so any tensor above max_expansion * 32 (262,144) elements was refused
    w = (np.random.default_rng(7).standard_normal((640, 512)) * 0.05).astype(np.float32)
    data = nnr.encode({"big.weight": w})
    with nnr.open(data) as f:
        assert np.array_equal(f.get_tensor("big.weight"), nnr.decode(data)["big.weight"])


def test_open_decodes_a_large_tensor_in_an_aggregate() -> None:
    # reproducer: nnr.open decoded an aggregate in a session whose stream-wide work budget
    # counted no stream bytes (the aggregate's large tensor was refused)
    from nnr.units.types import NNRUnitType
    from nnr.writer import StreamWriter

    rng = np.random.default_rng(8)
    tensors = {"big.weight": (rng.standard_normal((640, 512)) * 0.05).astype(np.float32),
               "big.bias": (rng.standard_normal(640) * 0.05).astype(np.float32)}
    data = nnr.encode(tensors)
    frames = list(Frames(data))
    ndus = [data[f.offset:f.offset + f.size] for f in frames if f.nnr_unit_type == NNRUnitType.NNR_NDU]
    assert len(ndus) == 2
    head = b"".join(data[f.offset:f.offset + f.size] for f in frames if f.nnr_unit_type != NNRUnitType.NNR_NDU)
    with_aggregate = head + StreamWriter().aggregate(ndus)
    expected = nnr.decode(data)
    assert {k: v.tobytes() for k, v in nnr.decode(with_aggregate).items()} == {k: v.tobytes() for k, v in expected.items()}
    with nnr.open(with_aggregate) as f:
        for name in tensors:
            assert np.array_equal(f.get_tensor(name), expected[name])
