"""Incremental coding across streams: the per-tensor state and the parameter-update-tree rules.

Edition 2 codes updates of a model as a sequence of streams (quantization.md §10).  What a coder
must remember between them is, per tensor,

* its node of the **parameter update tree** (PUT): ``device_id``, ``parameter_id``,
  ``put_node_depth`` of the last update coded;
* the **temporal-context-adaptation base**: the quantization levels of that update (int32);
* the **HDSP history**: which positions were non-zero in some update so far.

:class:`TensorState` holds this for one tensor and :class:`IncrementalState` for a session;
:class:`nnr.Decoder` and :class:`nnr.Encoder` both keep one.  The rules live here once:

* :func:`continues_parent` — whether an NDU's node continues the node the session holds (the
  check made for every tensor coded with temporal context adaptation);
* :func:`child_depth` — the ``put_node_depth`` an encoder gives the next update of a tensor;
* :func:`advance` — the node after an update has been coded;
* :func:`merge_history` — the HDSP history after an update.

A session serializes to plain numeric arrays with :meth:`IncrementalState.to_record` (used by
``state_record()`` of both sessions; layout in ``docs/incremental.rst``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from nnr.errors import NNRUsageError

__all__ = [
    "RECORD_VERSION",
    "IncrementalState",
    "ParentMismatch",
    "SessionKind",
    "TensorState",
    "advance",
    "child_depth",
    "continues_parent",
    "merge_history",
    "pack_strings",
    "unpack_strings",
]

RECORD_VERSION = 1

Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


class SessionKind(enum.IntEnum):
    """Which session wrote a state record (``session`` in the record)."""

    DECODER = 0
    ENCODER = 1


@dataclass(frozen=True, eq=False)  # arrays: compare records, not states
class TensorState:
    """What a session remembers about one tensor between streams (never mutated: replaced).

    ``device_id`` / ``parameter_id`` / ``depth`` are the PUT node of the last update coded (None:
    not signalled, or no update coded yet); ``levels`` that update's quantization levels (the
    TCA base, int32, the tensor's shape); ``history`` the flat HDSP history (True where some
    update so far was non-zero).
    """

    device_id: int | None = None
    parameter_id: int | None = None
    depth: int | None = None
    levels: Int32Array | None = None
    history: BoolArray | None = None

    def __post_init__(self) -> None:
        for a in (self.levels, self.history):  # shared between copies of a state: read-only
            if a is not None and a.flags.writeable and a.flags.owndata:
                a.flags.writeable = False


@dataclass(frozen=True)
class ParentMismatch:
    """Why a node does not continue its parent: the syntax element and the reason.

    ``missing`` is True when the session lacks what the check needs (a missing reference),
    False when the stream's value contradicts it.
    """

    element: str
    reason: str
    missing: bool = False


def continues_parent(parent: TensorState | None, device_id: int | None, parameter_id: int | None,
                     put_node_depth: int | None) -> ParentMismatch | None:
    """The PUT check made for a tensor coded with temporal context adaptation.

    The node (``device_id``, ``parameter_id``, ``put_node_depth`` of the NDU; None where the NDU
    does not signal it) continues ``parent`` (the session's node of the tensor) when the device
    and parameter ids are the parent's and the depth is the parent's plus one.  Returns None
    when it does, otherwise what is wrong.
    """
    if parent is None or parent.levels is None:
        return ParentMismatch("temporal_context_modeling_flag", "no earlier update of the tensor is known", True)
    if device_id is not None and parent.device_id is not None and device_id != parent.device_id:
        return ParentMismatch("device_id", f"device_id {device_id} differs from the parent node's {parent.device_id}")
    if parameter_id is not None:
        if parent.parameter_id is None:
            return ParentMismatch("parameter_id", "the parent node has no parameter_id", True)
        if parameter_id != parent.parameter_id:
            return ParentMismatch("parameter_id",
                                  f"parameter_id {parameter_id} differs from the parent node's {parent.parameter_id}")
    if put_node_depth is not None:
        if parent.depth is None:
            return ParentMismatch("put_node_depth", "the parent node has no put_node_depth", True)
        if put_node_depth != parent.depth + 1:
            return ParentMismatch("put_node_depth", f"put_node_depth {put_node_depth} does not follow the parent "
                                                    f"node's depth {parent.depth}")
    return None


def child_depth(parent: TensorState | None) -> int:
    """``put_node_depth`` of the next update of a tensor: one below its last node (1 for the first)."""
    if parent is None or parent.depth is None:
        return 1
    return parent.depth + 1


def advance(parent: TensorState | None, device_id: int, parameter_id: int | None, put_node_depth: int | None,
            levels: npt.NDArray[np.integer] | None) -> TensorState:
    """The tensor's state after an update with this node and these levels has been coded.

    An unsignalled depth counts on from the parent (0 without one); ``levels`` None (a raw
    tensor has none) keeps the parent's TCA base.  The history is carried over unchanged.
    """
    if put_node_depth is None:
        put_node_depth = parent.depth + 1 if parent is not None and parent.depth is not None else 0
    if levels is not None:
        lv: Int32Array | None = np.array(levels, dtype=np.int32, copy=True)
    else:
        lv = parent.levels if parent is not None else None
    return TensorState(device_id, parameter_id, put_node_depth, lv,
                       parent.history if parent is not None else None)


def merge_history(old: BoolArray | None, values: npt.NDArray[np.generic]) -> BoolArray:
    """The HDSP history after an update: positions non-zero in it or in an earlier one.

    A history of another size than the update is replaced.
    """
    nz: BoolArray = np.asarray(values).reshape(-1) != 0
    if old is not None and old.size == nz.size:
        nz = nz | old
    return nz


# -- serialization -------------------------------------------------------------------------------

def pack_strings(names: list[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """UTF-8 bytes of the names, concatenated, and their byte lengths."""
    enc = [n.encode("utf-8") for n in names]
    data = np.frombuffer(b"".join(enc), dtype=np.uint8).copy()
    return data, np.array([len(b) for b in enc], dtype=np.int64)


def unpack_strings(data: npt.NDArray[np.generic], lengths: npt.NDArray[np.generic], what: str) -> list[str]:
    if int(lengths.sum()) != data.size or (lengths.size and int(lengths.min()) < 0):
        raise NNRUsageError(f"state record: {what} lengths do not add up to its bytes")
    raw = data.tobytes()
    out: list[str] = []
    pos = 0
    for n in lengths.tolist():
        try:
            out.append(raw[pos:pos + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise NNRUsageError(f"state record: {what} entry {len(out)} is not UTF-8") from None
        pos += n
    return out


_ABSENT = -1

# key -> dtype of the per-tensor part of a record
_TENSOR_KEYS: dict[str, type[np.generic]] = {
    "names.utf8": np.uint8,
    "names.length": np.int64,
    "node.device_id": np.int64,
    "node.parameter_id": np.int64,
    "node.depth": np.int64,
    "levels.ndim": np.int64,
    "levels.shape": np.int64,
    "levels.data": np.int32,
    "history.size": np.int64,
    "history.data": np.uint8,
}


def _opt(v: int | None) -> int:
    return _ABSENT if v is None else v


def _unopt(v: int) -> int | None:
    return None if v == _ABSENT else v


@dataclass
class IncrementalState:
    """The incremental-coding state of a session: :class:`TensorState` per tensor name."""

    tensors: dict[str, TensorState] = field(default_factory=dict)
    # an nnr.Encoder session's state: a tensor keeps the parameter_id of its first unit (an update
    # may carry fewer tensors) and its first unit is coded even when all zero; NNCodec's
    # approx_param_base numbers tensors by position in each call and omits every all-zero unit
    keep_parameter_ids: bool = False

    def get(self, name: str) -> TensorState | None:
        return self.tensors.get(name)

    def levels(self, name: str) -> Int32Array | None:
        """The TCA base of ``name`` (None if no update of it has been coded)."""
        t = self.tensors.get(name)
        return None if t is None else t.levels

    def history(self, name: str) -> BoolArray | None:
        t = self.tensors.get(name)
        return None if t is None else t.history

    def with_history(self, name: str, values: npt.NDArray[np.generic]) -> TensorState:
        """``name``'s state with ``values`` merged into its HDSP history."""
        t = self.tensors.get(name) or TensorState()
        return replace(t, history=merge_history(t.history, values))

    def tca_bases(self) -> Mapping[str, list[int]]:
        """The TCA bases as the level decoder takes them (flat lists, made on first use)."""
        return _FlatView(self.tensors, False)

    def histories(self) -> Mapping[str, list[int]]:
        """The HDSP histories as the level decoder takes them (flat 0/1 lists)."""
        return _FlatView(self.tensors, True)

    def copy(self) -> IncrementalState:
        return IncrementalState(dict(self.tensors), self.keep_parameter_ids)  # TensorStates are never mutated

    # -- record ----------------------------------------------------------------------------------

    def to_record(self, session: SessionKind) -> dict[str, npt.NDArray[np.generic]]:
        """The state as plain numeric arrays (the layout of ``docs/incremental.rst``)."""
        names = list(self.tensors)
        utf8, lengths = pack_strings(names)
        ts = [self.tensors[n] for n in names]
        ndim: list[int] = []
        shape: list[int] = []
        levels: list[Int32Array] = []
        hsize: list[int] = []
        hist: list[npt.NDArray[np.uint8]] = []
        for t in ts:
            if t.levels is None:
                ndim.append(_ABSENT)
            else:
                ndim.append(t.levels.ndim)
                shape.extend(int(d) for d in t.levels.shape)
                levels.append(t.levels.reshape(-1))
            if t.history is None:
                hsize.append(_ABSENT)
            else:
                hsize.append(int(t.history.size))
                hist.append(t.history.astype(np.uint8))
        i64 = np.int64
        return {
            "version": np.array([RECORD_VERSION], dtype=i64),
            "session": np.array([int(session)], dtype=i64),
            "names.utf8": utf8,
            "names.length": lengths,
            "node.device_id": np.array([_opt(t.device_id) for t in ts], dtype=i64),
            "node.parameter_id": np.array([_opt(t.parameter_id) for t in ts], dtype=i64),
            "node.depth": np.array([_opt(t.depth) for t in ts], dtype=i64),
            "levels.ndim": np.array(ndim, dtype=i64),
            "levels.shape": np.array(shape, dtype=i64),
            "levels.data": np.concatenate(levels).astype(np.int32) if levels else np.zeros(0, np.int32),
            "history.size": np.array(hsize, dtype=i64),
            "history.data": np.concatenate(hist) if hist else np.zeros(0, np.uint8),
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, object], session: SessionKind,
                    extra: Mapping[str, type[np.generic]] | None = None
                    ) -> tuple[IncrementalState, dict[str, npt.NDArray[np.generic]]]:
        """Check and read a record written by :meth:`to_record` (plus the session's ``extra``
        keys, returned as arrays).  A malformed record raises :class:`NNRUsageError`."""
        if not isinstance(rec, Mapping):
            raise NNRUsageError(f"state record must be a dict of numpy arrays, got {type(rec).__name__}")
        extra = dict(extra or {})
        want: dict[str, type[np.generic]] = {"version": np.int64, "session": np.int64, **_TENSOR_KEYS, **extra}
        keys = set(rec)
        if "version" in keys:  # a newer layout or another session: say so rather than list keys
            _check_version(rec["version"])
        if "session" in keys:
            _check_session(rec["session"], session)
        if keys != set(want):
            missing = sorted(set(want) - keys)
            unknown = sorted(str(k) for k in keys - set(want))
            raise NNRUsageError(f"state record: missing keys {missing}, unknown keys {unknown}")
        arrs: dict[str, npt.NDArray[np.generic]] = {}
        for k, dt in want.items():
            v = rec[k]
            if not isinstance(v, np.ndarray) or v.ndim != 1:
                raise NNRUsageError(f"state record: {k!r} must be a 1-D numpy array")
            if v.dtype != np.dtype(dt):
                raise NNRUsageError(f"state record: {k!r} has dtype {v.dtype}, expected {np.dtype(dt)}")
            arrs[k] = v
        names = unpack_strings(arrs["names.utf8"], arrs["names.length"], "names")
        n = len(names)
        if len(set(names)) != n:
            raise NNRUsageError("state record: a tensor name occurs twice")
        for k in ("node.device_id", "node.parameter_id", "node.depth", "levels.ndim", "history.size"):
            if arrs[k].size != n:
                raise NNRUsageError(f"state record: {k!r} has {arrs[k].size} entries for {n} tensors")
            if n and int(arrs[k].min()) < _ABSENT:
                raise NNRUsageError(f"state record: {k!r} holds a negative value other than {_ABSENT}")
        ndims = arrs["levels.ndim"].tolist()
        shapes = arrs["levels.shape"].tolist()
        if sum(d for d in ndims if d > 0) != len(shapes) or any(d < 0 for d in shapes):
            raise NNRUsageError("state record: 'levels.shape' does not match 'levels.ndim'")
        sizes = arrs["history.size"].tolist()
        levels_data, hist_data = arrs["levels.data"], arrs["history.data"]
        if sum(s for s in sizes if s > 0) != hist_data.size:
            raise NNRUsageError("state record: 'history.size' does not add up to 'history.data'")
        if hist_data.size and int(hist_data.max()) > 1:
            raise NNRUsageError("state record: 'history.data' holds values other than 0 and 1")
        tensors: dict[str, TensorState] = {}
        sp = lp = hp = 0
        for i, name in enumerate(names):
            levels = None
            if ndims[i] != _ABSENT:
                shape = tuple(shapes[sp:sp + ndims[i]])
                sp += ndims[i]
                size = math.prod(shape)  # Python ints: a hostile shape cannot wrap around
                if lp + size > levels_data.size:
                    raise NNRUsageError("state record: 'levels.data' is shorter than the shapes say")
                if math.prod(d for d in shape if d) > 1 << 48:  # numpy cannot describe it (bytes overflow int64)
                    raise NNRUsageError(f"state record: tensor {name!r} has shape {shape}")
                levels = levels_data[lp:lp + size].reshape(shape).copy()
                lp += size
            history = None
            if sizes[i] != _ABSENT:
                history = hist_data[hp:hp + sizes[i]].astype(np.bool_)
                hp += sizes[i]
            tensors[name] = TensorState(_unopt(int(arrs["node.device_id"][i])),
                                        _unopt(int(arrs["node.parameter_id"][i])),
                                        _unopt(int(arrs["node.depth"][i])), levels, history)
        if lp != levels_data.size:
            raise NNRUsageError("state record: 'levels.data' is longer than the shapes say")
        return cls(tensors), {k: arrs[k] for k in extra}


class _FlatView(Mapping[str, list[int]]):
    """Read-only view of the levels or histories of the tensors that have them."""

    def __init__(self, tensors: dict[str, TensorState], history: bool) -> None:
        self._tensors = tensors
        self._history = history

    def _array(self, name: str) -> npt.NDArray[np.generic] | None:
        t = self._tensors.get(name)
        if t is None:
            return None
        return t.history if self._history else t.levels

    def __getitem__(self, name: str) -> list[int]:
        a = self._array(name)
        if a is None:
            raise KeyError(name)
        out: list[int] = a.reshape(-1).astype(np.int64).tolist()
        return out

    def size_of(self, name: str) -> int | None:
        """Elements of ``name``'s array (None: it has none), without converting it."""
        a = self._array(name)
        return None if a is None else int(a.size)

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._tensors if self._array(n) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_SESSION_NAMES: dict[int, str] = {SessionKind.DECODER: "an nnr.Decoder", SessionKind.ENCODER: "an nnr.Encoder"}


def _check_session(v: object, session: SessionKind) -> None:
    if not isinstance(v, np.ndarray) or v.shape != (1,) or v.dtype.kind not in "iu":
        raise NNRUsageError("state record: 'session' must be a one-element integer array")
    got = int(v[0])
    if got != int(session):
        which = _SESSION_NAMES.get(got, f"an unknown session ({got})")
        raise NNRUsageError(f"state record: written by {which}, cannot restore {_SESSION_NAMES[int(session)]}")


def _check_version(v: object) -> None:
    if not isinstance(v, np.ndarray) or v.shape != (1,) or v.dtype.kind not in "iu":
        raise NNRUsageError("state record: 'version' must be a one-element integer array")
    if int(v[0]) != RECORD_VERSION:
        raise NNRUsageError(f"state record version {int(v[0])} is not supported (this nnr reads version "
                            f"{RECORD_VERSION})")
