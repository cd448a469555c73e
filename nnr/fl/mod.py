"""nnc_mod: the client side of nnr.fl, as a Flower client mod.

``ClientApp(mods=[nnr.fl.nnc_mod])``.  For a message from :class:`nnr.fl.NNCStrategy` the mod

1. decodes the downstream streams the node has not seen (catching up after missed rounds) and
   adds them to the node's copy of the global model;
2. hands the user's function the message with plain float arrays (and the config without the
   ``nnr.*`` entries);
3. codes the reply's model as the difference to the global model with the node's upstream
   encoder session (train replies), and reports what it has decoded.

Messages without nnr settings pass through untouched.  All state lives in ``context.state``
(Flower records; the sessions as ``state_record()`` arrays), so the mod works where ClientApps
run in a fresh process per message (the deployment engine).

The upstream session is kept twice: after the last stream the server acknowledged
(``nnr.up_acked`` in the next message) and after the last stream sent.  A reply the server
dropped or never got is thus forgotten, and the next stream is coded against the state the
server's decoder holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from logging import WARNING

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common.logger import log

from nnr.errors import NNRError
from nnr.fl import records as R
from nnr.fl.codec import Arrays, LinkReceiver, LinkSender, SenderState, coded_names, crc32
from nnr.fl.replies import ReplyFieldError, config_int, decode_limits
from nnr.fl.layout import Layout
from nnr.fl.settings import CONFIG_PREFIX, FLSettings

__all__ = ["nnc_mod"]

STATE_MODEL = "nnr.model"
STATE_DOWN = "nnr.down.decoder"
UP_PARTS = ("encoder", "mirror", "residual")


def _find_config(content: RecordDict) -> ConfigRecord | None:
    for value in content.config_records.values():
        if CONFIG_PREFIX + "names" in value:
            return value
    return None


class StateLost(NNRError):
    """This node's nnr state does not continue the server's links (lost, or from another run)."""


class _ClientState:
    """The node's nnr state, read from and written to ``context.state``."""

    def __init__(self, state: RecordDict, link: int | None = None) -> None:
        self.state = state
        c = state.config_records.get(R.CLIENT_CONFIG)
        counters: Mapping[str, Any] = c if c is not None else {}
        if link is not None and int(counters.get("link", link)) != link:
            # a server that started afresh (a new strategy, a restarted server): start afresh too
            self.clear()
            counters = {}
        self.link = link
        self.down_seen = int(counters.get("down_seen", 0))
        self.pending_count = int(counters.get("pending_count", -1))
        model = state.array_records.get(STATE_MODEL)
        self.model: Arrays | None = R.from_record(model) if model is not None else None
        down = state.array_records.get(STATE_DOWN)
        self.down_decoder = R.from_record(down) if down is not None else {}
        self.base = self._sender("base", int(counters.get("base_count", 0)))
        self.pending = self._sender("pending", self.pending_count) if self.pending_count >= 0 else None

    def _sender(self, which: str, count: int) -> SenderState:
        parts = {}
        for p in UP_PARTS:
            rec = self.state.array_records.get(f"nnr.up.{which}.{p}")
            parts[p] = R.from_record(rec) if rec is not None else {}
        return SenderState(encoder=parts["encoder"], mirror=parts["mirror"], residual=parts["residual"], count=count)

    def clear(self) -> None:
        for key in [k for k in self.state if k.startswith("nnr.")]:
            del self.state[key]

    def acknowledge(self, up_acked: int) -> None:
        """Adopt the pending upstream session if the server decoded it, else forget it."""
        if self.pending is not None and up_acked == self.pending.count:
            self.base = self.pending
        elif up_acked != self.base.count:
            raise StateLost(f"the server acknowledges {up_acked} upstream streams, this node sent "
                           f"{self.base.count} (+{1 if self.pending else 0} pending): node state lost")
        self.pending = None

    def save(self) -> None:
        st = self.state
        if self.model is not None:
            st[STATE_MODEL] = R.to_record(self.model)
        st[STATE_DOWN] = R.to_record(self.down_decoder)
        for which, s in (("base", self.base), ("pending", self.pending)):
            for p in UP_PARTS:
                key = f"nnr.up.{which}.{p}"
                if s is None:
                    if key in st:
                        del st[key]
                else:
                    st[key] = R.to_record(getattr(s, p))
        counters: dict[str, Any] = {"down_seen": self.down_seen, "base_count": self.base.count,
                                    "pending_count": self.pending.count if self.pending else -1}
        if self.link is not None:
            counters["link"] = self.link
        st[R.CLIENT_CONFIG] = ConfigRecord(counters)


def _decode_downstream(cs: _ClientState, payload: ArrayRecord, config: ConfigRecord, layout: Layout,
                       s: FLSettings) -> tuple[Arrays, float]:
    """The global model, after decoding the streams of ``payload`` this node has not seen."""
    like = layout.like_coded()
    seconds = 0.0
    if not s.compress_downstream:
        model = R.from_record(payload)
        cs.model = {k: np.array(model[k], copy=True) for k in like}
        return model, seconds
    first = config_int(config, CONFIG_PREFIX + "down_first", 0)
    streams = sorted((_stream_number(k), k) for k in payload if k.startswith(R.DOWN_PREFIX))
    receiver = LinkReceiver(cs.down_decoder, decode_limits(layout.shapes))
    for i, key in streams:
        if i < cs.down_seen:
            continue  # already decoded (the server had not heard back yet)
        if i > cs.down_seen:
            raise StateLost(f"downstream stream {i} arrived, this node has decoded {cs.down_seen} "
                           f"(message starts at {first}): node state lost")
        whole = i == 0 or not s.compress_differences
        cs.model = receiver.decode(R.stream_bytes(payload[key]), like, None if whole else cs.model, whole)
        cs.down_seen += 1
    cs.down_decoder = receiver.decoder_record
    seconds += receiver.seconds
    if cs.model is None:
        raise StateLost("no model received yet and the message carries no stream 0")
    raw = {k: payload[k].numpy() for k in layout.names if k in payload}
    return {k: (cs.model[k] if k in cs.model else raw[k]) for k in layout.names}, seconds


def _stream_number(key: str) -> int:
    tail = key[len(R.DOWN_PREFIX):]
    if not tail.isdigit() or len(tail) > 12:
        raise ReplyFieldError(f"{key!r} is not a downstream stream key")
    return int(tail)


def nnc_mod(msg: Message, context: Context, call_next: Callable[[Message, Context], Message]) -> Message:
    """Flower client mod: decode NNC model streams for the user's function, code its reply."""
    if msg.metadata.message_type not in (MessageType.TRAIN, MessageType.EVALUATE) or not msg.has_content():
        return call_next(msg, context)
    config = _find_config(msg.content)
    if config is None:
        return call_next(msg, context)
    t0 = time.perf_counter()
    s = FLSettings.from_config(config)
    layout = Layout.from_config(config)
    link = config.get(CONFIG_PREFIX + "link")
    cs = _ClientState(context.state, None if link is None else int(link))  # type: ignore[arg-type]
    try:
        return _handle(msg, context, call_next, config, s, layout, cs, t0)
    except StateLost as e:
        # the node's state is gone (a restarted SuperNode, a new machine): say so instead of
        # failing; the server drops this reply and brings the node back with the streams from 0
        log(WARNING, "nnr.fl: %s; asking the server to resynchronise this node", e)
        cs.clear()
        reply = Message(RecordDict({R.REPLY_CONFIG: ConfigRecord({"resync": 1, "down_seen": 0})}), reply_to=msg)
        return reply


def _handle(msg: Message, context: Context, call_next: Callable[[Message, Context], Message], config: ConfigRecord,
            s: FLSettings, layout: Layout, cs: _ClientState, t0: float) -> Message:
    is_train = msg.metadata.message_type == MessageType.TRAIN

    content = RecordDict()
    spent = 0.0
    for key, value in msg.content.items():
        if isinstance(value, ArrayRecord) and all(k.startswith(R.DOWN_PREFIX) or k in layout.names for k in value):
            # the model record (streams the node lacks, possibly none, and the uncoded arrays)
            model, spent = _decode_downstream(cs, value, config, layout, s)
            content[key] = R.to_record(model)
        elif value is config:
            content[key] = ConfigRecord({k: v for k, v in value.items() if not k.startswith(CONFIG_PREFIX)})
        else:
            content[key] = value
    if is_train:
        cs.acknowledge(config_int(config, CONFIG_PREFIX + "up_acked", 0))
    device_id = config_int(config, CONFIG_PREFIX + "device_id", 1, 0, (1 << 32) - 1)
    msg.content = content
    spent = time.perf_counter() - t0

    reply = call_next(msg, context)

    if reply.has_error() or not reply.has_content():
        cs.save()
        return reply
    t1 = time.perf_counter()
    info: dict[str, Any] = {"down_seen": cs.down_seen}
    out = RecordDict()
    for key, value in reply.content.items():
        if is_train and isinstance(value, ArrayRecord) and layout.matches(value) and s.compress_upstream:
            trained = layout.conform(R.from_record(value), "the arrays the train function returned")
            names = coded_names(trained)
            sender = LinkSender(s, device_id=device_id, state=cs.base)
            assert cs.model is not None
            data, _ = sender.encode({k: trained[k] for k in names},
                                    cs.model if s.compress_differences else None)
            cs.pending = sender.state
            payload = ArrayRecord()
            payload[R.UP_KEY] = R.stream_array(data)
            for k in layout.names:
                if k not in names:
                    payload[k] = value[k]
            out[key] = payload
            info.update(up_index=sender.state.count, crc32=crc32(data))
        else:
            out[key] = value
    cs.save()
    info["client_seconds"] = spent + time.perf_counter() - t1
    out[R.REPLY_CONFIG] = ConfigRecord(info)
    reply.content = out
    return reply
