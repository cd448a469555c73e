"""The hand-inlined fast loops of the level coders, held to the general path on random streams.

:func:`nnr.cabac.dec_levels.decode_tensor_levels` decodes plain tensors (no TCA, HDSP, codebook)
with one hand-inlined loop and everything else on the general path; ``general=True`` forces the
general path.  Likewise :func:`nnr.cabac.enc_levels.encode_tensor_levels`.  Both paths must give
the same levels / bytes and leave the engine in the same state, on streams of random levels and
on random bytes (which decode to arbitrary bins, or fail the same way).
"""

from __future__ import annotations

import random

import pytest

from cabac_coding import coding
from nnr.cabac.enc_levels import TensorEncodeInfo, encode_codeword_end, encode_tensor_levels, zero_row_flags
from nnr.cabac.arith_encoder import ArithmeticEncoder
from nnr.cabac.arith_decoder import ArithmeticDecoder
from nnr.cabac.dec_levels import LevelBuffer, TensorSideInfo, decode_tensor_levels
from nnr.errors import NNRError

SHAPES = [(1, 1), (1, 37), (37, 1), (5, 7), (20, 33), (70, 9), (9, 70), (66, 130)]


def random_levels(rng: random.Random, n: int) -> list[int]:
    kind = rng.randrange(4)
    out = []
    for _ in range(n):
        r = rng.random()
        if kind == 0:  # mostly zeros, small levels
            v = 0 if r < 0.7 else rng.choice([-2, -1, 1, 2])
        elif kind == 1:  # wide: greater flags and long remainders
            v = int(rng.gauss(0, 40))
        elif kind == 2:  # rare huge levels (long Exp-Golomb remainders)
            v = 0 if r < 0.9 else rng.choice([-1, 1]) * rng.randrange(1, 2**28)
        else:
            v = rng.randrange(-3, 4)
        out.append(v)
    return out


def engine_state(dec: ArithmeticDecoder) -> tuple[int, ...]:
    return (dec.range, dec.value, dec.bits_needed, dec.ptr, dec.overrun)


def decode_both(data: bytes, h: int, w: int, dq: bool, scan: int, gpi: int, num_gtx: int) -> list[object]:
    """Levels and engine state (or the error) after decoding on the fast and the general path."""
    results: list[object] = []
    for general in (False, True):
        dec = ArithmeticDecoder(data, 0, len(data))
        out = LevelBuffer()
        try:
            decode_tensor_levels(dec, out, coding(h, w, dq, scan, gpi, num_gtx), TensorSideInfo(), general)
            results.append((out.levels(), out.large, engine_state(dec)))
        except NNRError as e:
            results.append((type(e), str(e)))
    return results


@pytest.mark.parametrize("seed", range(24))
def test_fast_decode_loop_equals_general_path_on_encoded_streams(seed: int) -> None:
    rng = random.Random(seed)
    for h, w in SHAPES:
        dq = rng.random() < 0.5
        scan = rng.randrange(5)
        gpi = rng.randrange(2)
        num_gtx = rng.randrange(1, 12)
        levels = random_levels(rng, h * w)
        if dq:  # valid DQ reconstruction indices: encode coded levels k, decode gives the indices
            levels = [2 * v for v in levels]
        skip = zero_row_flags(levels, h, w) if gpi == 1 and rng.random() < 0.5 else None
        enc = ArithmeticEncoder()
        encode_tensor_levels(enc, levels, coding(h, w, dq, scan, gpi, num_gtx), 0, skip, None, TensorEncodeInfo())
        data = encode_codeword_end(enc)
        fast, general = decode_both(data, h, w, dq, scan, gpi, num_gtx)
        assert fast == general
        if not dq:
            assert isinstance(fast, tuple) and fast[0] == levels


@pytest.mark.parametrize("seed", range(24))
def test_fast_decode_loop_equals_general_path_on_random_bytes(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for h, w in SHAPES:
        data = bytes([rng.randrange(256) for _ in range(rng.randrange(2, 400))])
        dq = rng.random() < 0.5
        fast, general = decode_both(data, h, w, dq, rng.randrange(5), rng.randrange(2), rng.randrange(1, 12))
        assert fast == general


def encode_with(general: bool, levels: list[int], h: int, w: int, dq: bool, scan: int, gpi: int, num_gtx: int,
                skip: list[int] | None) -> tuple[bytes, list[int], int, list[int]]:
    enc = ArithmeticEncoder()
    info = TensorEncodeInfo()
    encode_tensor_levels(enc, levels, coding(h, w, dq, scan, gpi, num_gtx), 0, skip, None, info, general)
    return encode_codeword_end(enc), list(info.marks), int(info.dq_index_mismatches), list(info.dq_decoded)


@pytest.mark.parametrize("seed", range(24))
def test_fast_encode_loop_equals_general_path(seed: int) -> None:
    rng = random.Random(2000 + seed)
    for h, w in SHAPES:
        dq = rng.random() < 0.5
        scan = rng.randrange(5)
        gpi = rng.randrange(2)
        num_gtx = rng.randrange(0, 12)
        levels = random_levels(rng, h * w)  # with DQ: indices of both parities
        skip = zero_row_flags(levels, h, w) if gpi == 1 and rng.random() < 0.5 else None
        fast = encode_with(False, levels, h, w, dq, scan, gpi, num_gtx, skip)
        assert fast == encode_with(True, levels, h, w, dq, scan, gpi, num_gtx, skip)
        # what the encoder says the decoder outputs (its levels, corrected where DQ indices had
        # the wrong parity) is what the decoder outputs
        data, _, mismatches, decoded = fast
        assert len(decoded) == 2 * mismatches
        if num_gtx == 0:  # (a stream codes at least one greater-than flag)
            continue
        expect = list(levels)
        for i in range(0, len(decoded), 2):
            expect[decoded[i]] = decoded[i + 1]
        dec = ArithmeticDecoder(data, 0, len(data))
        out = LevelBuffer()
        decode_tensor_levels(dec, out, coding(h, w, dq, scan, gpi, num_gtx), TensorSideInfo())
        assert out.levels() == expect


def test_level_buffer_keeps_every_int32_level() -> None:
    # byte-sized levels go to the biased byte list, the others to (position, level) pairs; both
    # come back exactly, as a list and as the int32 array the payload decoder builds
    import numpy as np

    from nnr.errors import MalformedStreamError
    from nnr.decoding.split import level_array

    values = [0, 1, -1, 127, -128, 128, -129, 255, -256, 2**31 - 1, -(2**31), 5, 0, -77]
    buf = LevelBuffer()
    buf.small.extend([128] * len(values))
    for p, v in enumerate(values):
        if v:
            buf.put(p, v)
    assert buf.levels() == values
    assert buf.large == [5, 128, 6, -129, 7, 255, 8, -256, 9, 2**31 - 1, 10, -(2**31)]
    arr = level_array(buf)
    assert arr.dtype == np.int32 and arr.tolist() == values
    with pytest.raises(MalformedStreamError):
        buf.put(0, 2**31)
