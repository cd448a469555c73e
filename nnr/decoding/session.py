"""What a decoder session keeps across streams, and the budgets that bound it.

Per session: the unit context in force (``general_profile_idc``, MPS, REFLIST; the LPS applies
within its stream only), the incremental state per tensor (parameter-update-tree node, TCA base,
HDSP history: quantization.md §10), the MPS as coded (for state records) and the element budgets
(docs/robustness.rst).  A stream that fails to decode leaves all of it as it was
(:meth:`Session.begin_stream` / :meth:`Session.restore`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nnr.bitstream import BitReader
from nnr.decoding.payload import BINS_PER_BIT, EXPANSION_SLACK_BYTES, CodedUnit, Layout, stream_element_limit
from nnr.decoding.settings import SESSION_SHARE
from nnr.errors import LimitExceededError, NNRError, NNRUsageError
from nnr.incremental import IncrementalState, SessionKind, pack_strings, unpack_strings
from nnr.units.context import UnitContext
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import read_frame
from nnr.units.types import NNRUnitType


@dataclass
class Budget:
    """Elements described by the NDUs of the stream being decoded, and what the session holds
    (per tensor) against the stream bytes it has decoded."""

    session_bytes: int = 0
    held: dict[str, int] = field(default_factory=dict)
    stream_elements: int = 0
    stream_bytes: int = 0

    def for_stream(self, nbytes: int) -> Budget:
        return Budget(self.session_bytes + nbytes, dict(self.held), 0, nbytes)

    def charge_stream(self, layout: Layout | None, r: BitReader, max_expansion: int) -> None:
        """The stream-wide work budget: the elements of all NDUs of a stream together (an NDU's
        tensors: ``layout``; None when the header does not give it: the payload decoding reports
        that, in order), at most ``max_expansion`` per stream byte (plus what its bits could code
        one by one), so many NDUs cannot each use the per-payload slack (docs/robustness.rst)."""
        if layout is None:
            return
        self.stream_elements += sum(math.prod(shape) for _, _, shape in layout)
        nbytes = self.stream_bytes
        if self.stream_elements > stream_element_limit(nbytes, max_expansion):
            raise r.error(LimitExceededError,
                          f"the NDUs so far describe {self.stream_elements} elements, more than {max_expansion} "
                          f"per byte of the {nbytes}-byte stream (Decoder(max_expansion=...) raises the limit)",
                          "tensor_dimensions")


def held_elements(t: object) -> int:
    """Elements a session keeps for a tensor (its TCA base and history have the tensor's size)."""
    levels, history = getattr(t, "levels", None), getattr(t, "history", None)
    return max(0 if levels is None else int(levels.size), 0 if history is None else int(history.size))


Saved = tuple[IncrementalState, int | None, ModelParameterSet | None, bytes | None, list[str] | None, Budget]


@dataclass
class Session:
    """A decoder session's state across streams."""

    ctx: UnitContext = field(default_factory=UnitContext)  # general_profile_idc, MPS / LPS in force, REFLIST
    state: IncrementalState = field(default_factory=IncrementalState)  # per tensor: PUT node, TCA base, HDSP history
    mps_unit: bytes | None = None  # the MPS in force, as coded (for state_record)
    streams_decoded: int = 0
    budget: Budget = field(default_factory=Budget)  # stream-wide and session-wide element budgets

    def begin_stream(self, nbytes: int) -> Saved:
        """Start a stream of ``nbytes``; returns what :meth:`restore` puts back if it fails."""
        c = self.ctx
        saved = (self.state, c.general_profile_idc, c.mps, self.mps_unit, c.reflist, self.budget)
        self.state = self.state.copy()  # TensorStates are replaced, never changed
        self.budget = self.budget.for_stream(nbytes)
        c.lps = None  # an LPS applies to the NDUs after it in its own stream
        return saved

    def restore(self, saved: Saved) -> None:
        self.state, self.ctx.general_profile_idc, self.ctx.mps, self.mps_unit, self.ctx.reflist, self.budget = saved

    def end_stream(self, coded: list[CodedUnit], max_expansion: int) -> None:
        """After a stream's tensors: the HDSP history (union of non-zero positions over decoded
        updates, quantization.md §10), then the session-wide budget."""
        mps = self.ctx.mps
        if mps is not None and mps.mps_parent_signalling_enabled_flag:
            st = self.state
            for _, _, tensors in coded:
                for t in tensors:
                    if t.levels is not None:
                        st.tensors[t.name] = st.with_history(t.name, t.levels)
        self._charge_session(coded, max_expansion)

    def _charge_session(self, coded: list[CodedUnit], max_expansion: int) -> None:
        """The session-wide budget: the levels and histories a session keeps for later streams,
        at most ``max_expansion`` elements per byte it has decoded (a sequence of tiny streams
        naming new tensors cannot grow the session without bound)."""
        b = self.budget
        for _, _, tensors in coded:
            for t in tensors:
                b.held[t.name] = held_elements(self.state.tensors.get(t.name))
        total = sum(b.held.values())
        per_byte = max_expansion // SESSION_SHARE + 8 * BINS_PER_BIT
        limit = max_expansion * (b.stream_bytes + EXPANSION_SLACK_BYTES) + per_byte * b.session_bytes
        if total > limit:
            raise LimitExceededError(
                f"the session would hold {total} elements of state after {b.session_bytes} stream bytes, more "
                f"than {per_byte} per byte (Decoder(max_expansion=...) raises the limit)",
                unit_index=coded[-1][0] if coded else 0, element="tensor_dimensions", bit_offset=0)

    # -- state record ----------------------------------------------------------------------------

    def to_record(self) -> dict[str, npt.NDArray[np.generic]]:
        """The session as plain numeric arrays (layout: docs/incremental.rst)."""
        rec = self.state.to_record(SessionKind.DECODER)
        c = self.ctx
        utf8, lengths = pack_strings(c.reflist or [])
        i64 = np.int64
        rec.update({
            "decoder.general_profile_idc": np.array([-1 if c.general_profile_idc is None
                                                     else c.general_profile_idc], dtype=i64),
            "decoder.mps_unit": np.frombuffer(self.mps_unit or b"", dtype=np.uint8).copy(),
            "decoder.reflist_present": np.array([int(c.reflist is not None)], dtype=i64),
            "decoder.reflist.utf8": utf8,
            "decoder.reflist.length": lengths,
            "decoder.streams_decoded": np.array([self.streams_decoded], dtype=i64),
        })
        return rec

    def load_record(self, rec: Mapping[str, npt.NDArray[np.generic]]) -> None:
        """Restore a record written by :meth:`to_record` (a malformed record: NNRUsageError)."""
        state, x = IncrementalState.from_record(rec, SessionKind.DECODER, _DECODER_KEYS)
        for k in ("decoder.general_profile_idc", "decoder.reflist_present", "decoder.streams_decoded"):
            if x[k].size != 1:
                raise NNRUsageError(f"state record: {k!r} must hold one value")
        gpi = int(x["decoder.general_profile_idc"][0])
        if gpi not in (-1, 0, 1):
            raise NNRUsageError(f"state record: general_profile_idc {gpi} is not 0 or 1")
        reflist = unpack_strings(x["decoder.reflist.utf8"], x["decoder.reflist.length"], "reflist")
        present = int(x["decoder.reflist_present"][0])
        if present not in (0, 1) or (not present and reflist):
            raise NNRUsageError("state record: 'decoder.reflist_present' does not match the reflist")
        streams = int(x["decoder.streams_decoded"][0])
        if streams < 0:
            raise NNRUsageError("state record: 'decoder.streams_decoded' is negative")
        mps_unit = x["decoder.mps_unit"].tobytes() or None
        mps = None
        if mps_unit is not None:
            if gpi < 0:
                raise NNRUsageError("state record: an MPS without a general_profile_idc")
            mps = _read_mps_unit(mps_unit, gpi)
        self.state = state
        held = {n: held_elements(t) for n, t in state.tensors.items()}  # what it held: within its budget
        self.budget = Budget(sum(held.values()) // (8 * BINS_PER_BIT) + 1, held)
        self.ctx.general_profile_idc = None if gpi < 0 else gpi
        self.ctx.mps, self.mps_unit = mps, mps_unit
        self.ctx.reflist = reflist if present else None
        self.streams_decoded = streams


_DECODER_KEYS: dict[str, type[np.generic]] = {
    "decoder.general_profile_idc": np.int64,
    "decoder.mps_unit": np.uint8,
    "decoder.reflist_present": np.int64,
    "decoder.reflist.utf8": np.uint8,
    "decoder.reflist.length": np.int64,
    "decoder.streams_decoded": np.int64,
}


def _read_mps_unit(data: bytes, gpi: int) -> ModelParameterSet:
    """The MPS of a state record: the NNR_MPS unit as it was coded."""
    try:
        frame = read_frame(data, 0, len(data), 0)
        if frame.size != len(data) or frame.nnr_unit_type != NNRUnitType.NNR_MPS:
            raise NNRUsageError("state record: 'decoder.mps_unit' is not one NNR_MPS unit")
        return ModelParameterSet.read(frame.reader(), UnitContext(general_profile_idc=gpi))
    except NNRError as e:
        raise NNRUsageError(f"state record: 'decoder.mps_unit' does not decode: {e}") from None
