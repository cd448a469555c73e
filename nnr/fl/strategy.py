"""NNCStrategy: any Flower strategy, with the model exchange coded as NNC bitstreams.

The wrapper sits between Flower's ``Strategy.start`` loop and the wrapped strategy, the way
Flower's differential-privacy wrappers do:

* ``configure_train`` / ``configure_evaluate``: the wrapped strategy builds its messages; the
  wrapper replaces every model ArrayRecord by the downstream streams that node still lacks
  (all of them for a node that joins late or missed rounds, so temporal context adaptation
  never runs against a base the node does not hold) and adds the settings to the config.
* ``aggregate_train``: each reply's upstream stream is decoded with that node's decoder session
  and added to the common model; the wrapped strategy aggregates ordinary float arrays.  Its
  result is coded downstream at once with the server's one encoder session, and what the
  clients will reconstruct from it is returned, so ``evaluate_fn`` and the next round see the
  model the clients really hold.
* A reply whose stream does not decode (or fails its CRC, or was coded against a state the
  server does not hold) is logged as an error naming node and round, recorded in
  :attr:`NNCStrategy.failures` and left out of aggregation; the run goes on.

:attr:`NNCStrategy.communication` has one record per round: ``round``, ``up_bytes``,
``down_bytes``, ``float32_up_bytes``, ``float32_down_bytes`` (array payload of every message
of the round, train and evaluate; round 1 includes the initial model), plus
``client_seconds`` (time the clients spent in nnr).  The round's training MetricRecord carries
the same figures.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from logging import ERROR, INFO, WARNING
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from nnr.errors import NNRError, NNRUsageError
from nnr.fl import records as R
from nnr.fl.codec import Arrays, LinkReceiver, LinkSender, coded_names, crc32
from nnr.fl.layout import Layout
from nnr.fl.replies import (
    ReplyFieldError,
    config_float,
    config_int,
    decode_limits,
    plain_arrays,
    stream_field,
    weight_value,
)
from nnr.fl.settings import CONFIG_PREFIX, FLSettings

__all__ = ["CorruptReplyError", "NNCStrategy"]

COMM_KEYS = ("up_bytes", "down_bytes", "float32_up_bytes", "float32_down_bytes")


class CorruptReplyError(NNRError):
    """A client's reply could not be decoded; it was left out of aggregation."""

    def __init__(self, node_id: int, server_round: int, reason: str) -> None:
        self.node_id = node_id
        self.server_round = server_round
        self.reason = reason
        super().__init__(f"nnr.fl: round {server_round}: reply from node {node_id} dropped from aggregation: "
                         f"{reason}")


def _src(msg: Message) -> int:
    try:
        return int(msg.metadata.src_node_id)
    except Exception:  # noqa: BLE001
        return -1


@dataclass
class _Node:
    device_id: int
    down_seen: int = 0  # downstream streams the node has acknowledged
    up_count: int = 0  # upstream streams decoded from this node
    up_decoder: dict[str, npt.NDArray[Any]] = field(default_factory=dict)


class NNCStrategy(Strategy):
    """Wrap ``strategy`` (any ``flwr.serverapp.strategy.Strategy``) so that models travel as NNC
    bitstreams.  ``settings`` are :class:`nnr.fl.FLSettings` (NNCodec's FL names)."""

    def __init__(self, strategy: Strategy, **settings: Any) -> None:
        super().__init__()
        if not isinstance(strategy, Strategy):
            raise NNRUsageError(f"strategy must be a flwr.serverapp.strategy.Strategy, got {type(strategy).__name__}")
        self.strategy = strategy
        self.settings = FLSettings.from_kwargs(settings)
        self.communication: list[dict[str, Any]] = []
        self.failures: list[CorruptReplyError] = []
        self.streams: list[bytes] = []  # every downstream stream, in order (late nodes replay them)
        self._sender = LinkSender(self.settings, device_id=0)
        self._layout: Layout | None = None
        self._base: Arrays | None = None  # the clients' reconstruction (coded tensors)
        self._raw: Arrays = {}  # tensors that travel uncoded
        self._global: ArrayRecord | None = None  # the record handed back to start()
        self._nodes: dict[int, _Node] = {}
        self._metrics: MetricRecord | None = None
        self.server_seconds = 0.0
        self.resynced: list[tuple[int, int]] = []  # (round, node) of every node brought back
        self.link = secrets.randbits(31)  # tells the clients' state of another (or restarted) server apart

    # -- Strategy interface -----------------------------------------------------------------------

    def summary(self) -> None:
        log(INFO, "\t├──> nnr.fl settings: %s", ", ".join(f"{k}={v}" for k, v in vars(self.settings).items()))
        self.strategy.summary()

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self._round(server_round)
        current = self._follow(arrays)
        return [self._wrap(m) for m in self.strategy.configure_train(server_round, current, config, grid)]

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        self._round(server_round)
        current = self._follow(arrays)
        out = [self._wrap(m) for m in self.strategy.configure_evaluate(server_round, current, config, grid)]
        # evaluate messages are counted after the round's training MetricRecord was made: that
        # record (the object Flower's Result keeps) is brought up to date
        self._update_metrics(self.communication[-1])
        return out

    def aggregate_train(self, server_round: int, replies: Iterable[Message],
                        ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        rec = self._round(server_round)
        kept: list[Message] = []
        for msg in replies:
            if self._resync(server_round, msg):
                continue
            if not msg.has_error():
                assert self._layout is not None
                rec["float32_up_bytes"] += self._layout.float32_bytes
                if not self._guarded(server_round, msg, lambda m: self._unwrap_train_reply(server_round, m, rec)):
                    continue
            kept.append(msg)
        kept = self._consistent(server_round, kept, train=True)
        arrays, metrics = self.strategy.aggregate_train(server_round, kept)
        out = None
        if arrays is not None:
            self._push(arrays)
            out = self._global
        metrics = metrics if metrics is not None else MetricRecord()
        self._metrics = metrics
        self._update_metrics(rec)
        return out, metrics

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        rec = self._round(server_round)
        kept: list[Message] = []
        for msg in replies:
            if self._resync(server_round, msg):
                continue
            if not msg.has_error() and not self._guarded(server_round, msg, lambda m: self._unwrap_evaluate_reply(m, rec)):
                continue
            kept.append(msg)
        kept = self._consistent(server_round, kept, train=False)
        self._update_metrics(rec)
        return self.strategy.aggregate_evaluate(server_round, kept)

    def _resync(self, server_round: int, msg: Message) -> bool:
        """A node that lost its state says so (``resync``): its reply is left out, and its links
        start again, so its next message carries every downstream stream from 0 (counted)."""
        if msg.has_error() or not msg.has_content():
            return False
        conf = msg.content.config_records.get(R.REPLY_CONFIG)
        if conf is None or conf.get("resync") not in (1, True):
            return False  # (a malformed flag is left to the reply's checks: nnr.fl.replies)
        node_id = msg.metadata.src_node_id
        node = self._node(node_id)
        node.down_seen, node.up_count, node.up_decoder = 0, 0, {}
        self.resynced.append((server_round, node_id))
        log(WARNING, "nnr.fl: round %s: node %s lost its state; it gets the model again with its next message",
            server_round, node_id)
        return True

    # -- replies from peers: every field checked (nnr.fl.replies) ---------------------------------

    def _guarded(self, server_round: int, msg: Message, unwrap: Any) -> bool:
        """Run ``unwrap(msg)``; any failure (a malformed field, a stream that does not decode, a
        bug) is a CorruptReplyError naming node and round, logged and recorded: False."""
        try:
            unwrap(msg)
            return True
        except CorruptReplyError as e:
            err = e
        except Exception as e:  # noqa: BLE001 -- one malicious peer must never end the run
            reason = e.reason if isinstance(e, NNRError) else f"{type(e).__name__}: {str(e)[:200]}"
            err = CorruptReplyError(_src(msg), server_round, reason)
        log(ERROR, "%s", err)
        self.failures.append(err)
        return False

    def _unwrap_evaluate_reply(self, msg: Message, rec: dict[str, Any]) -> None:
        conf = msg.content.config_records.get(R.REPLY_CONFIG)
        if conf is not None:
            self._acknowledge(msg.metadata.src_node_id, conf, rec)
            del msg.content.config_records[R.REPLY_CONFIG]

    def _consistent(self, server_round: int, kept: list[Message], train: bool) -> list[Message]:
        """The replies the wrapped strategy can aggregate: with a weighting key (FedAvg and
        its family), one ArrayRecord (train) and one MetricRecord holding the key as a finite
        non-negative number, with the metric keys most replies have.  Others are dropped as
        corrupt instead of failing the wrapped strategy's own consistency check."""
        key = getattr(self.strategy, "weighted_by_key", None)
        if not isinstance(key, str):
            return kept
        good: list[tuple[Message, frozenset[str]]] = []
        for msg in kept:
            if msg.has_error():
                continue
            try:
                content = msg.content
                if train and len(content.array_records) != 1:
                    raise ReplyFieldError(f"{len(content.array_records)} ArrayRecords, the model needs one")
                if len(content.metric_records) != 1:
                    raise ReplyFieldError(f"{len(content.metric_records)} MetricRecords, aggregation needs one")
                metrics = next(iter(content.metric_records.values()))
                weight_value(metrics, key)
                good.append((msg, frozenset(metrics.keys())))
            except ReplyFieldError as e:
                self._drop(CorruptReplyError(_src(msg), server_round, e.reason))
        if not good:
            return [m for m in kept if m.has_error()]
        sets = [k for _, k in good]
        common = max(set(sets), key=lambda k: (sets.count(k), sorted(k)))
        for msg, k in good:
            if k != common:
                self._drop(CorruptReplyError(_src(msg), server_round, "its MetricRecord keys differ from the other "
                                             "replies'"))
        return [m for m in kept if m.has_error()] + [m for m, k in good if k == common]

    def _drop(self, err: CorruptReplyError) -> None:
        log(ERROR, "%s", err)
        self.failures.append(err)

    # -- the downstream link ----------------------------------------------------------------------

    def _round(self, server_round: int) -> dict[str, Any]:
        if not self.communication or self.communication[-1]["round"] != server_round:
            self.communication.append({"round": server_round, **{k: 0 for k in COMM_KEYS}, "client_seconds": 0.0})
            self._metrics = None
        return self.communication[-1]

    def _follow(self, arrays: ArrayRecord) -> ArrayRecord:
        """The model the clients will hold for ``arrays``: nothing new to code when ``arrays`` is
        what this wrapper returned last."""
        if self._global is not None and arrays is self._global:
            return self._global
        self._push(arrays)
        assert self._global is not None
        return self._global

    def _push(self, arrays: ArrayRecord) -> None:
        t0 = time.perf_counter()
        model = R.from_record(arrays)
        if self._layout is None:
            self._layout = Layout.of(model)
        else:
            model = self._layout.conform(model, "the strategy's arrays")
        names = coded_names(model)
        self._raw = {k: v for k, v in model.items() if k not in names}
        coded = {k: model[k] for k in names}
        if self.settings.compress_downstream:
            data, recon = self._sender.encode(coded, self._base)
            self.streams.append(data)
            self._base = recon
        else:
            self._base = {k: np.array(v, copy=True) for k, v in coded.items()}
        full = {k: (self._base[k] if k in self._base else self._raw[k]) for k in model}
        self._global = R.to_record(full)
        self.server_seconds += time.perf_counter() - t0

    def _node(self, node_id: int) -> _Node:
        if node_id not in self._nodes:
            self._nodes[node_id] = _Node(device_id=len(self._nodes) + 1)
        return self._nodes[node_id]

    def _wrap(self, msg: Message) -> Message:
        """A copy of ``msg`` for its node, with the model replaced by what the node lacks."""
        assert self._layout is not None and self._base is not None
        node = self._node(msg.metadata.dst_node_id)
        rec = self.communication[-1]
        content = RecordDict()
        has_config = False
        for key, value in msg.content.items():
            if isinstance(value, ArrayRecord) and self._layout.matches(value):
                payload = ArrayRecord()
                if self.settings.compress_downstream:
                    for i in range(node.down_seen, len(self.streams)):
                        payload[f"{R.DOWN_PREFIX}{i}"] = R.stream_array(self.streams[i])
                    for k, v in self._raw.items():
                        payload[k] = R.to_record({k: v})[k]
                else:
                    payload = value
                rec["down_bytes"] += R.payload_bytes(payload)
                rec["float32_down_bytes"] += self._layout.float32_bytes
                content[key] = payload
            elif isinstance(value, ConfigRecord):
                content[key] = self._config(value, node)
                has_config = True
            else:
                content[key] = value
        if not has_config:
            content["nnr.config"] = self._config(ConfigRecord(), node)
        return Message(content=content, dst_node_id=msg.metadata.dst_node_id, message_type=msg.metadata.message_type,
                       group_id=msg.metadata.group_id)

    def _config(self, config: ConfigRecord, node: _Node) -> ConfigRecord:
        assert self._layout is not None
        out = ConfigRecord(dict(config))
        out.update(self.settings.to_config())
        out.update(self._layout.to_config())
        out[CONFIG_PREFIX + "down_first"] = node.down_seen
        out[CONFIG_PREFIX + "up_acked"] = node.up_count
        out[CONFIG_PREFIX + "device_id"] = node.device_id
        out[CONFIG_PREFIX + "link"] = self.link
        return out

    # -- the upstream link ------------------------------------------------------------------------

    def _acknowledge(self, node_id: int, conf: ConfigRecord, rec: dict[str, Any]) -> int:
        node = self._node(node_id)
        seen = config_int(conf, "down_seen", node.down_seen)
        seconds = config_float(conf, "client_seconds")
        if seen <= len(self.streams):
            node.down_seen = seen
        rec["client_seconds"] += seconds
        return seen

    def _unwrap_train_reply(self, server_round: int, msg: Message, rec: dict[str, Any]) -> None:
        node_id = msg.metadata.src_node_id
        assert self._layout is not None and self._base is not None

        def fail(reason: str) -> CorruptReplyError:
            return CorruptReplyError(node_id, server_round, reason)

        conf = msg.content.config_records.get(R.REPLY_CONFIG)
        if conf is None:
            raise fail("the reply carries no 'nnr' record (is nnr.fl.nnc_mod in the ClientApp's mods?)")
        try:
            seen = self._acknowledge(node_id, conf, rec)
            rec["up_bytes"] += sum(R.payload_bytes(a) for a in msg.content.array_records.values())
        except ReplyFieldError as e:
            raise fail(e.reason) from None
        node = self._node(node_id)
        content = RecordDict()
        for key, value in msg.content.items():
            if key == R.REPLY_CONFIG:
                continue
            if isinstance(value, ArrayRecord):  # the model, coded or not: nothing else travels as arrays
                try:
                    content[key] = self._decode_upstream(value, node, seen, conf, fail)
                except ReplyFieldError as e:
                    raise fail(e.reason) from None
            else:
                content[key] = value
        msg.content = content

    def _decode_upstream(self, value: ArrayRecord, node: _Node, seen: int, conf: ConfigRecord,
                         fail: Any) -> ArrayRecord:
        assert self._layout is not None and self._base is not None
        lay = self._layout
        if R.UP_KEY not in value:  # compress_upstream off: float arrays as they are, held to the layout
            return R.to_record(plain_arrays(value, lay.names, lay.shapes, lay.dtypes))
        if seen != len(self.streams):
            raise fail(f"coded against downstream stream {seen}, the server is at {len(self.streams)}")
        limits = decode_limits(lay.shapes)
        data = stream_field(value[R.UP_KEY], R.UP_KEY, R.STREAM_STYPE, max(1 << 20, 8 * lay.float32_bytes))
        uncoded = set(lay.names) - set(coded_names(lay.like()))
        raw = plain_arrays({k: v for k, v in value.items() if k != R.UP_KEY}, lay.names, lay.shapes, lay.dtypes,
                           only=uncoded)
        if config_int(conf, "crc32", -1, -1, 0xFFFFFFFF) != crc32(data):
            raise fail(f"the upstream stream ({len(data)} bytes) fails its CRC-32 check")
        index = config_int(conf, "up_index", -1, -1)
        if index != node.up_count + 1:
            raise fail(f"upstream stream {index} does not follow stream {node.up_count} the server decoded")
        receiver = LinkReceiver(node.up_decoder, limits)
        like = self._layout.like_coded()
        try:
            update = receiver.decode(data, like, self._base if self.settings.compress_differences else None,
                                     whole=not self.settings.compress_differences)
        except NNRError as e:
            raise fail(f"corrupt NNC stream: {e}") from e
        except Exception as e:  # a decoder bug must not end the run either
            raise fail(f"stream does not decode ({type(e).__name__}: {e})") from e
        node.up_decoder = receiver.decoder_record
        node.up_count = index
        self.server_seconds += receiver.seconds
        full: dict[str, npt.NDArray[Any]] = {}
        for k in self._layout.names:
            if k in update:
                full[k] = update[k]
            elif k in raw:
                full[k] = raw[k]
            else:
                raise fail(f"the reply lacks tensor {k!r}")
        return R.to_record(full)

    def _update_metrics(self, rec: dict[str, Any]) -> None:
        if self._metrics is not None:
            for k in COMM_KEYS:
                self._metrics[k] = int(rec[k])
            self._metrics["client_seconds"] = float(rec["client_seconds"])
