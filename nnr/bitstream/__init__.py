"""Bit-level reading and writing of NNR syntax elements (descriptors u, i, ue, ie, flt, st)."""

from nnr.bitstream.reader import BitReader
from nnr.bitstream.trace import Tracer, TraceEvent
from nnr.bitstream.writer import BitWriter

__all__ = ["BitReader", "BitWriter", "Tracer", "TraceEvent"]
