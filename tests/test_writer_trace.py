"""The writer's trace: what the encoder writes, held to the syntax tables and to the decoder's trace.

``write_stream(..., watch=StreamWatch(trace=True))`` records every element as the stream writer writes it (through
:class:`nnr.bitstream.BitWriter`, the writer's one place for elements) and the arithmetic-coded
payload as the same per-tensor summaries the decoder traces.  For encoder round trips in many
settings (edition 1 and 2, DQ, block scans, codebooks, row skipping, integer tensors, update
streams with TCA and HDSP):

* tracing does not change a byte;
* the writer's trace conforms to ``syntax/`` (:func:`nnr.syntax.check_trace`);
* it equals the decoder's trace of the bytes event for event (structure path, element,
  descriptor, bit offset, length, value) — except where the encoder has no mark: the end of the
  row_skip_flag bins (so that event's length, and the start of the parameter_set_ids after it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnr import syntax
from nnr.bitstream import TraceEvent
from nnr.decoder import Decoder
from nnr.encoding import EncodeSettings, compress
from nnr.encoding.inputs import prepare_tensors
from nnr.encoding.stream import StreamWatch, write_stream
from nnr.incremental import IncrementalState

SYNTAX = syntax.load()


def model(seed: int = 0, scale: float = 0.1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(0, scale, (24, 20)).astype(np.float32)
    w[3] = 0  # an all-zero row (row skipping)
    return {"fc1.weight": w, "fc1.bias": rng.normal(0, scale, 24).astype(np.float32),
            "conv.weight": rng.normal(0, scale, (8, 3, 3, 3)).astype(np.float32),
            "steps": rng.integers(-7, 8, (5, 6)).astype(np.int32)}


def _masked(e: TraceEvent, *fields: str) -> TraceEvent:
    return dataclasses.replace(e, **{f: -1 for f in fields})


def assert_same_trace(wrote: list[TraceEvent], read: list[TraceEvent]) -> None:
    assert len(wrote) == len(read), (len(wrote), len(read))
    after_row_skip = False
    for k, (w, r) in enumerate(zip(wrote, read)):
        if w.name == "row_skip_flag":
            w, r, after_row_skip = _masked(w, "bit_length"), _masked(r, "bit_length"), True
        elif w.name == "parameter_set_ids" and after_row_skip:
            w, r, after_row_skip = _masked(w, "bit_offset", "bit_length"), _masked(r, "bit_offset", "bit_length"), False
        assert w == r, f"event #{k}:\n  wrote {w}\n  read  {r}"


def round_trip(tensors: dict[str, np.ndarray], settings: dict[str, object], *, decoder: Decoder | None = None,
               state: IncrementalState | None = None, hdsp: bool = False) -> tuple[bytes, IncrementalState | None]:
    s = EncodeSettings.from_kwargs(settings)
    res, a = compress(prepare_tensors(tensors), s, state=state, hdsp=hdsp)
    traced = write_stream(a, s, state=state, hdsp=hdsp, watch=StreamWatch(trace=True))
    assert traced.data == res.data  # tracing changes nothing
    report = syntax.check_trace(traced.trace, SYNTAX)
    assert report.ok, "writer trace does not match syntax/:\n  " + "\n  ".join(report.problems)
    read: list[TraceEvent] = []
    (decoder or Decoder()).decode_stream(res.data, tracer=read.append)
    assert_same_trace(traced.trace, read)
    return res.data, res.state


SETTINGS = {
    "defaults": {},
    "no_dq": {"use_dq": False},
    "scan_order_2": {"scan_order": 2},
    "row_skipping": {"row_skipping": True},
    "row_skipping_scan": {"row_skipping": True, "scan_order": 1},
    "edition_1": {"general_profile_idc": 0},
    "edition_1_no_dq": {"general_profile_idc": 0, "use_dq": False, "scan_order": 1},
    "codebook": {"codebook_mode": 1},
    "codebook_auto_cul": {"codebook_mode": 2, "cabac_unary_length_minus1": 3},
    "no_param_opt": {"param_opt": False, "qp": -32},
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_single_stream_writer_trace(name: str) -> None:
    round_trip(model(), SETTINGS[name])


@pytest.mark.parametrize("hdsp", [False, True])
def test_update_streams_writer_trace(hdsp: bool) -> None:
    """A session: base model, then updates with parent node ids, TCA and (optionally) HDSP."""
    settings = {"compress_differences": True, "tca": True}
    decoder = Decoder()
    state = IncrementalState()
    streams = []
    for step in range(3):
        upd = {k: v if v.dtype.kind == "i" else v * np.float32(0.5 ** step) for k, v in model(step).items()}
        data, after = round_trip(upd, settings, decoder=decoder, state=state, hdsp=hdsp)
        assert after is not None
        state = after
        streams.append(data)
    assert len(set(streams)) == 3


def test_writer_trace_reaches_the_payload_summaries() -> None:
    """The payload rows the tables trace as summaries appear on the writer's side."""
    s = EncodeSettings.from_kwargs({"row_skipping": True})
    _, a = compress(prepare_tensors(model()), s)
    names = {e.name for e in write_stream(a, s, watch=StreamWatch(trace=True)).trace if e.structure == "nnr_compressed_data_unit_payload"}
    assert {"qp_offset", "row_skip_enabled_flag", "row_skip_flag", "parameter_set_ids", "levels", "terminate_bin"} <= names
