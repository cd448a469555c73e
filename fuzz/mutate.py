"""Mutations of NNR bitstreams for fuzzing: byte-level and structure-aware.

Structure-aware mutations parse a valid seed with nnr's decoder, change one field of a unit
header (NDU header, MPS) to an *interesting* value and re-encode that header through nnr's own
writers (so the mutated stream is syntactically well formed up to the changed field), or operate
on whole NNR units: drop, duplicate, reorder, splice one in from another seed.  Every mutation is
deterministic given its ``random.Random``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nnr
from nnr.bitstream import BitWriter
from nnr.units.context import UnitContext
from nnr.units.nnr_unit import write_unit
from nnr.units.types import NNRUnitType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BITSTREAMS = os.path.join(ROOT, "bitstreams")

INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 33, 63, 64, 127, 128, 255, 256, 1023, 4096, 65535, 65536,
               (1 << 20) + 1, 1 << 24, (1 << 28) + 1, 1 << 31, (1 << 32) - 1, 1 << 40, 1 << 62, (1 << 63) - 1,
               1 << 64, -1, -2, -128, -(1 << 31)]


MAX_SEED_BYTES = 1 << 17  # larger cases (stress cases such as NEG_UNIT_COUNT_A) only slow a campaign


@dataclass
class Seed:
    name: str
    streams: list[bytes]


def load_seeds(directory: str = BITSTREAMS) -> list[Seed]:
    """Every case folder's streams (positive and negative, up to MAX_SEED_BYTES), in name order."""
    seeds: list[Seed] = []
    for name in sorted(os.listdir(directory)):
        case = os.path.join(directory, name, "case.json")
        if not os.path.isfile(case):
            continue
        with open(case, encoding="utf-8") as f:
            meta = json.load(f)
        streams = []
        for s in meta.get("streams", []):
            with open(os.path.join(directory, name, s), "rb") as f:
                streams.append(f.read())
        if streams and sum(map(len, streams)) <= MAX_SEED_BYTES:
            seeds.append(Seed(name, streams))
    return seeds


# -- units ---------------------------------------------------------------------------------------


def unit_spans(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the NNR units as far as their size fields are plausible."""
    spans = []
    pos = 0
    while pos + 2 <= len(data):
        n = 4 if data[pos] >> 7 else 2
        if pos + n > len(data):
            break
        size = int.from_bytes(data[pos:pos + n], "big") & ((1 << (8 * n - 1)) - 1)
        if size < n + 1 or pos + size > len(data):
            break
        spans.append((pos, size))
        pos += size
    return spans


def units_of(data: bytes) -> list[bytes]:
    return [data[o:o + s] for o, s in unit_spans(data)]


# -- byte level ------------------------------------------------------------------------------------


def byte_mutation(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    b = bytearray(data)
    if not b:
        return bytes([rng.randrange(256)]), "byte:fill"
    op = rng.choice(["flip", "flip", "flip", "set", "insert", "delete", "truncate", "extend", "interesting", "copy"])
    if op == "flip":
        for _ in range(rng.choice([1, 1, 2, 4])):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif op == "set":
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == "insert":
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 4, 16])))
    elif op == "delete":
        i = rng.randrange(len(b))
        del b[i:i + rng.choice([1, 2, 4, 16])]
    elif op == "truncate":
        del b[rng.randrange(len(b)):]
    elif op == "extend":
        b += bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 64])))
    elif op == "interesting":
        i = rng.randrange(len(b))
        b[i] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE])
    else:  # copy a chunk over another place
        i, j = rng.randrange(len(b)), rng.randrange(len(b))
        n = rng.choice([2, 4, 8, 32])
        b[j:j + n] = b[i:i + n]
    return bytes(b), f"byte:{op}"


# -- unit level ------------------------------------------------------------------------------------


def unit_mutation(rng: random.Random, data: bytes, others: list[bytes]) -> tuple[bytes, str]:
    us = units_of(data)
    if len(us) < 2:
        return byte_mutation(rng, data)
    op = rng.choice(["drop", "duplicate", "swap", "splice", "move"])
    i = rng.randrange(len(us))
    if op == "drop":
        del us[i]
    elif op == "duplicate":
        us.insert(rng.randrange(len(us) + 1), us[i])
    elif op == "swap":
        j = rng.randrange(len(us))
        us[i], us[j] = us[j], us[i]
    elif op == "move":
        u = us.pop(i)
        us.insert(rng.randrange(len(us) + 1), u)
    else:
        donor = units_of(rng.choice(others)) if others else []
        if donor:
            us.insert(rng.randrange(len(us) + 1), rng.choice(donor))
    return b"".join(us), f"unit:{op}"


# -- header fields, re-encoded through nnr's writers -------------------------------------------------------


def _mutate_value(rng: random.Random, v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return rng.choice([rng.choice(INTERESTING), v + rng.choice([-1, 1]), v * 2, v ^ (1 << rng.randrange(8))])
    if isinstance(v, list):
        if v and all(isinstance(x, int) for x in v):
            w = list(v)
            op = rng.randrange(4)
            if op == 0:
                w[rng.randrange(len(w))] = rng.choice(INTERESTING)
            elif op == 1:
                w.insert(rng.randrange(len(w) + 1), rng.choice([0, 1, 1 << 62, 1 << 31]))
            elif op == 2 and len(w) > 1:
                del w[rng.randrange(len(w))]
            else:
                w = [0] + [rng.choice(INTERESTING) for _ in range(rng.randrange(1, 4))]
            return w
        if v and all(isinstance(x, str) for x in v):
            w = list(v)
            op = rng.randrange(3)
            if op == 0:
                w[rng.randrange(len(w))] = rng.choice(w)  # a duplicate name
            elif op == 1:
                w.append(rng.choice(w))
            else:
                w.pop()
            return w
        return v
    if isinstance(v, str):
        return rng.choice(["", v + "x", v[:-1], "\u00e9" + v])
    return v


def _fields(obj: Any) -> list[str]:
    out = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, (int, list, str)) and not f.name.startswith("_"):
            out.append(f.name)
    return out


_PARSED: dict[tuple[bytes, ...], Any] = {}


def _parse(streams: list[bytes], k: int) -> Any:
    """Stream ``k`` of a sequence as decoded in one session (cached: seeds recur), or None."""
    key = tuple(streams[:k + 1])
    if key not in _PARSED:
        d = nnr.Decoder()
        try:
            for s in streams[:k]:
                d.decode_stream(s)
            _PARSED[key] = d.decode_stream(streams[k])
        except nnr.NNRError:
            _PARSED[key] = None
        if len(_PARSED) > 4096:
            _PARSED.clear()
    return _PARSED[key]


def header_mutation(rng: random.Random, streams: list[bytes], k: int) -> tuple[bytes, str]:
    """Re-encode one NDU or MPS header of stream ``k`` (the earlier streams set up the session)."""
    ds = _parse(streams, k)
    if ds is None:
        return byte_mutation(rng, streams[k])
    data = streams[k]
    flat = []
    for u in ds.units:
        flat.append(u)
        flat.extend(u.children)
    cands = [u for u in flat if (u.ndu is not None or u.mps is not None) and not u.children]
    if not cands or ds.mps is None:
        return byte_mutation(rng, data)
    u = rng.choice(cands)
    gpi = ds.general_profile_idc
    mps = ds.mps
    hh = u.header
    head = hh.size_field_bytes + 1 + (1 if hh.partial_data_counter_present_flag else 0)
    unit_bytes = data[u.offset:u.offset + hh.nnr_unit_size]
    w = BitWriter()
    if u.ndu is not None:
        h = dataclasses.replace(u.ndu)
        name = rng.choice(_fields(h))
        setattr(h, name, _mutate_value(rng, getattr(h, name)))
        payload = unit_bytes[head + u.ndu.header_bits // 8:]
        if rng.random() < 0.2:
            payload = payload[:rng.randrange(len(payload) + 1)]
        try:
            h.write(w, UnitContext(gpi, mps))
        except Exception:  # the writer refuses the value: fall back to bytes
            return byte_mutation(rng, data)
        body = w.getvalue() + payload
        utype = NNRUnitType.NNR_NDU
        what = f"ndu.{name}"
    else:
        assert u.mps is not None
        m = dataclasses.replace(u.mps)
        name = rng.choice(_fields(m))
        setattr(m, name, _mutate_value(rng, getattr(m, name)))
        try:
            m.write(w, UnitContext(gpi))
        except Exception:
            return byte_mutation(rng, data)
        body = w.getvalue()
        utype = NNRUnitType.NNR_MPS
        what = f"mps.{name}"
    try:
        new = write_unit(utype, body, long_size=bool(hh.nnr_unit_size_flag) or None)
    except Exception:
        return byte_mutation(rng, data)
    if u.offset + hh.nnr_unit_size > len(data):
        return byte_mutation(rng, data)
    return data[:u.offset] + new + data[u.offset + hh.nnr_unit_size:], f"header:{what}"


Mutator = Callable[[random.Random, list[bytes], int, list[bytes]], tuple[bytes, str]]


def mutate(rng: random.Random, seed: Seed, others: list[bytes]) -> tuple[list[bytes], str]:
    """A mutated copy of the seed's stream sequence: one stream changed (1-3 mutations stacked)."""
    streams = list(seed.streams)
    k = rng.randrange(len(streams))
    kinds = []
    for step in range(rng.choice([1, 1, 1, 2, 3])):
        r = rng.random()
        if r < 0.4 and step == 0:
            streams[k], what = header_mutation(rng, streams, k)
        elif r < 0.6:
            streams[k], what = unit_mutation(rng, streams[k], others)
        else:
            streams[k], what = byte_mutation(rng, streams[k])
        kinds.append(what)
    return streams[:k + 1], f"stream {k}: " + ", ".join(kinds)
