"""How nnr.fl's data sits in Flower records (the wire format between NNCStrategy and nnc_mod).

Server -> client (train and evaluate messages): every ArrayRecord of the message is replaced by

* ``nnr.down.<i>``: downstream stream number ``i`` (an ``Array`` of ``stype`` ``nnr.nnc``, raw
  bytes), for every stream the node has not acknowledged yet, in order;
* the arrays that do not travel as NNC (integer counters, scalars), under their own names;

and the message's ConfigRecords gain the settings (``nnr.qp``, ...) and ``nnr.*`` bookkeeping:
``nnr.names`` / ``nnr.dtypes`` / ``nnr.shapes`` (the model layout), ``nnr.down_first`` (index of
the first stream carried), ``nnr.up_acked`` (upstream streams of this node the server has
decoded), ``nnr.device_id``.  With ``compress_downstream`` off the model's float arrays travel
as they are.

Client -> server (train replies): the ArrayRecord holds ``nnr.up`` (the upstream stream) and the
non-NNC arrays; a ConfigRecord ``nnr`` carries ``down_seen`` (downstream streams decoded),
``up_index`` (number of this upstream stream, from 1), ``crc32`` of the stream and
``client_seconds`` (time spent in nnr).  Evaluate replies carry the same ConfigRecord without
the upstream entries.

Client state, in ``context.state``: ArrayRecords ``nnr.model`` (the reconstruction of the global
model), ``nnr.down.decoder`` (decoder session), ``nnr.up.{base,pending}.{encoder,mirror,residual}``
(sender sessions after the last acknowledged and the last sent stream) and a ConfigRecord
``nnr.client`` with the counters.  Session state is ``session.state_record()``: plain numeric
arrays, stored as ordinary Flower ``Array`` s — no pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import Array, ArrayRecord

STREAM_STYPE = "nnr.nnc"
DOWN_PREFIX = "nnr.down."
UP_KEY = "nnr.up"
REPLY_CONFIG = "nnr"
CLIENT_CONFIG = "nnr.client"


def stream_array(data: bytes) -> Array:
    return Array(dtype="uint8", shape=(len(data),), stype=STREAM_STYPE, data=bytes(data))


def stream_bytes(a: Array) -> bytes:
    return bytes(a.data)


def to_record(arrays: Mapping[str, npt.NDArray[Any]]) -> ArrayRecord:
    # not np.ascontiguousarray: it turns a 0-d array (num_batches_tracked) into shape (1,)
    return ArrayRecord({k: Array(np.asarray(v, order="C")) for k, v in arrays.items()})


def from_record(rec: ArrayRecord) -> dict[str, npt.NDArray[Any]]:
    return {k: a.numpy() for k, a in rec.items()}


def payload_bytes(rec: ArrayRecord) -> int:
    """Bytes of an ArrayRecord's array data (what is counted as traffic): a stream's length, an
    array's elements times their size (not Flower's serialization header)."""
    n = 0
    for a in rec.values():
        if a.stype == STREAM_STYPE:
            n += len(a.data)
        else:
            n += int(np.prod(a.shape, dtype=np.int64)) * np.dtype(a.dtype).itemsize
    return n
