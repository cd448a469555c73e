"""nnr — ISO/IEC 15938-17 Neural Network Coding (NNC / NNR), editions 1 and 2.

Decode any NNR bitstream, encode tensors as NNCodec 2.1.3 does::

    import nnr
    tensors = nnr.decode("model.nnc")          # {name: numpy array}

    session = nnr.Decoder()                    # incremental (update) streams, in order
    for path in ["base.nnc", "upd1.nnc", "upd2.nnc"]:
        update = session.decode(path)

    data = nnr.encode({"fc.weight": w})        # bytes; settings as NNCodec's nnc.compress
    enc = nnr.Encoder(tca=True, hdsp=True)     # a session of update streams
"""

from nnr.decoder import DecodedStream, Decoder, decode
from nnr.encoder import Encoder, encode
from nnr.lazy import LazyStream
from nnr.lazy import open_stream as open  # noqa: A001  (safetensors' safe_open, by analogy)
from nnr.dialect import Dialect
from nnr.errors import (
    AmbiguousDialectError,
    LimitExceededError,
    MalformedStreamError,
    MissingReferenceError,
    NNRError,
    NNRUsageError,
    ReservedValueError,
    TruncatedStreamError,
    UnsupportedFeatureError,
)

__version__ = "0.1.0"

__all__ = [
    "AmbiguousDialectError",
    "Dialect",
    "Decoder",
    "DecodedStream",
    "Encoder",
    "LazyStream",
    "LimitExceededError",
    "MalformedStreamError",
    "MissingReferenceError",
    "NNRError",
    "NNRUsageError",
    "ReservedValueError",
    "TruncatedStreamError",
    "UnsupportedFeatureError",
    "decode",
    "encode",
    "open",
    "__version__",
]
