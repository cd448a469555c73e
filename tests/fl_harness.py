"""An in-process Flower grid for nnr.fl tests: each message runs the ClientApp directly.

Flower's public API (``ClientApp.__call__(message, context)``, ``Context``, ``Message``) plus one
internal: messages need the process's task identity (``flwr.supercore.task_identity``), which a
real ServerApp process has set.  The simulation- and deployment-engine tests run the same app
on the real engines.  The node set may change per round (late joiners, missed rounds).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flwr.app import Context, Message, RecordDict

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fl_digits"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))


class LocalGrid:
    """A Grid stand-in: ``get_node_ids`` / ``send_and_receive`` as FedAvg uses them."""

    def __init__(self, client_app: Any, num_nodes: int, *,
                 available: Callable[[int], Iterable[int]] | None = None) -> None:
        from flwr.supercore.task_identity import TaskIdentity

        for attr, value in (("run_id", 1), ("node_id", 1), ("task_id", 1)):
            try:
                getattr(TaskIdentity, attr)
            except RuntimeError:
                setattr(TaskIdentity, attr, value)
        self.app = client_app
        self.node_ids = [1001 + 17 * i for i in range(num_nodes)]
        self.contexts = {nid: Context(run_id=1, node_id=nid, node_config={"partition-id": i, "num-partitions": num_nodes},
                                      state=RecordDict(), run_config={})
                         for i, nid in enumerate(self.node_ids)}
        self.available = available  # round -> indices of the nodes present
        self.round = 0
        self.sent: list[Message] = []
        self.replies: list[Message] = []
        # (node, array key, bytes) of every NNC stream sent / received, captured on the wire
        self.down_streams: list[tuple[int, str, bytes]] = []
        self.up_streams: list[tuple[int, str, bytes]] = []
        self.sent_keys: list[tuple[int, list[str]]] = []  # per message: node, stream keys carried
        self.sent_configs: list[dict[str, dict[str, Any]]] = []  # per message: its ConfigRecords

    def get_node_ids(self) -> list[int]:
        if self.available is None:
            return list(self.node_ids)
        return [self.node_ids[i] for i in self.available(self.round)]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        out = []
        for m in messages:
            self.sent.append(m)
            node = m.metadata.dst_node_id
            carried = _streams(node, m)
            self.down_streams += carried
            self.sent_keys.append((node, [k for _, k, _ in carried]))
            self.sent_configs.append({k: dict(v) for k, v in m.content.config_records.items()})
            reply = self.app(m, self.contexts[node])
            self.up_streams += _streams(node, reply)
            self.replies.append(reply)
            out.append(reply)
        return out


def _streams(node: int, msg: Message) -> list[tuple[int, str, bytes]]:
    if not msg.has_content():
        return []
    return [(node, k, bytes(a.data)) for rec in msg.content.array_records.values() for k, a in rec.items()
            if a.stype == "nnr.nnc"]
