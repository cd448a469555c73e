"""Descriptors u(n), i(n), ue(k), ie(k), flt(32), st(v), byte_alignment(): writer/reader symmetry
and the exact codes given in syntax.md §1.1."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnr.bitstream import BitReader, BitWriter
from nnr.errors import MalformedStreamError, TruncatedStreamError


def bits(w: BitWriter) -> str:
    n = w.bit_length
    w.u((8 - n % 8) % 8, 0)
    return "".join(f"{b:08b}" for b in w.getvalue())[:n]


@pytest.mark.parametrize("k,value,code", [
    (1, 0, "10"), (1, 1, "11"), (1, 2, "0100"), (1, 5, "0111"), (7, 3, "10000011"), (0, 0, "1"), (0, 1, "010"),
])
def test_ue_codes_from_the_notes(k, value, code):
    w = BitWriter()
    w.ue(k, value)
    assert bits(w) == code
    data = int(code.ljust(8 * ((len(code) + 7) // 8), "0"), 2).to_bytes((len(code) + 7) // 8, "big")
    r = BitReader(data)
    assert r.ue(k, "x") == value
    assert r.pos == len(code)


@pytest.mark.parametrize("x,value", [(0, 0), (1, 1), (2, -1), (3, 2), (4, -2)])
def test_ie_mapping(x, value):
    w = BitWriter()
    w.ue(3, x)
    w.byte_alignment()
    assert BitReader(w.getvalue()).ie(3, "x") == value


@given(st.lists(st.tuples(st.sampled_from(["u", "i", "ue", "ie", "flt", "st"]), st.integers(0, 40), st.integers(-(2**40), 2**40),
                          st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=8)),
                max_size=30))
def test_round_trip(items):
    w = BitWriter()
    expected = []
    for kind, n, v, s in items:
        if kind == "u":
            n = max(n, 1)
            v = abs(v) % (1 << n)
            w.u(n, v)
        elif kind == "i":
            n = max(n, 2)
            v = v % (1 << n) - (1 << (n - 1))
            w.i(n, v)
        elif kind == "ue":
            n %= 12
            v = abs(v)
            w.ue(n, v)
        elif kind == "ie":
            n %= 12
            w.ie(n, v)
        elif kind == "flt":
            v = struct.unpack("<f", struct.pack("<f", float(v)))[0]
            w.flt(v)
        else:
            if not w.byte_aligned:
                w.byte_alignment()
                expected.append(("align", None, None))
            w.st(s)
            v = s
        expected.append((kind, n, v))
    w.byte_alignment()
    r = BitReader(w.getvalue())
    for kind, n, v in expected:
        if kind == "align":
            r.byte_alignment()
        elif kind == "u":
            assert r.u(n, "x") == v
        elif kind == "i":
            assert r.i(n, "x") == v
        elif kind == "ue":
            assert r.ue(n, "x") == v
        elif kind == "ie":
            assert r.ie(n, "x") == v
        elif kind == "flt":
            assert r.flt("x") == v
        else:
            assert r.st("x") == v
    r.byte_alignment()
    assert r.bits_left == 0


def test_flt_is_little_endian_bytes():
    w = BitWriter()
    w.flt(1.0)
    assert w.getvalue() == struct.pack("<f", 1.0) == bytes([0, 0, 0x80, 0x3F])


def test_byte_alignment_when_aligned_writes_0x80():
    w = BitWriter()
    w.byte_alignment()
    assert w.getvalue() == b"\x80"


def test_byte_alignment_checks_pattern():
    r = BitReader(b"\x81")
    with pytest.raises(MalformedStreamError):
        r.byte_alignment()


def test_truncation_names_element_and_offset():
    r = BitReader(b"\xff", unit_index=3, unit_type="NNR_NDU")
    r.u(4, "a")
    with pytest.raises(TruncatedStreamError) as ei:
        r.u(8, "scan_order")
    e = ei.value
    assert (e.unit_index, e.element, e.bit_offset) == (3, "scan_order", 4)
    assert "scan_order" in str(e) and "bit offset 4" in str(e) and "unit 3" in str(e)


def test_unterminated_string():
    with pytest.raises(TruncatedStreamError):
        BitReader(b"abc").st("topology_elem_id")


def test_exp_golomb_prefix_is_bounded():
    with pytest.raises(MalformedStreamError):
        BitReader(bytes(20)).ue(0, "x")
