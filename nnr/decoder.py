"""The decoding process of an NNR bitstream, and a decoder session across streams (the façade
over :mod:`nnr.decoding`, as :mod:`nnr.encoder` is over :mod:`nnr.encoding`).

A :class:`Decoder` walks the NNR units of a stream (syntax.md §2), keeps what later units need
(``general_profile_idc``, the MPS/LPS in force, the topology REFLIST) and, across streams, the
state of incremental coding (quantization.md §10): per tensor, the last decoded levels (the
temporal-context-adaptation base), the HDSP history and the parameter-update-tree node.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

if sys.version_info >= (3, 11) or TYPE_CHECKING:  # annotations only (lazy): Python 3.10 needs no Unpack
    from typing import Unpack

import numpy as np
import numpy.typing as npt

from nnr import parallel
from nnr.bitstream import Tracer
from nnr.bitstream.bintrace import BinTracer
from nnr.decoding.inputs import CHECKPOINT_SUFFIXES, MAX_STREAM_BYTES, StreamInput, check_not_checkpoint, read_input
from nnr.decoding.reconstruction import OutputTensor, PostProcessing, reconstruct
from nnr.decoding.session import Session
from nnr.decoding.settings import DecodeSettings, DecoderOptions, decode_settings
from nnr.decoding.stream import DecodedStream, DecodedUnit, UnitWalk, coded_units, decode_units
from nnr.dialect import Dialect
from nnr.incremental import IncrementalState
from nnr.limits import MAX_UNITS
from nnr.units.compressed_data_unit import OutOfBandParameters
from nnr.units.context import UnitContext
from nnr.units.layer_parameter_set import LayerParameterSet
from nnr.units.model_parameter_set import ModelParameterSet
from nnr.units.nnr_unit import Framing, Frames
from nnr.usage import out_of_band_table

__all__ = ["CHECKPOINT_SUFFIXES", "MAX_STREAM_BYTES", "MAX_UNITS", "DecodedStream", "DecodedUnit", "Decoder",
           "OutputTensor", "StreamInput", "check_not_checkpoint", "decode", "read_input"]


class Decoder:
    """A decoder session: decodes streams in order and carries incremental-coding state.

    For an update stream, :meth:`decode` returns what the stream carries (the update), as
    NNCodec's decoder does; the caller adds it to its model.
    """

    def __init__(self, **options: Unpack[DecoderOptions]) -> None:
        """Options (keywords):

        * ``verify_entry_points`` (True): check every cabac_entry_point_list entry against the
          state sequential decoding reaches (a mismatch raises); off: decode sequentially, ignore them.
        * ``max_tensor_elements``: refuse larger tensors (LimitExceededError).
        * ``max_expansion``: elements a payload may describe without coding them one by one
          (skipped rows, a size-1 codebook), per payload byte; the same bound holds for the
          elements of a whole stream per stream byte, and for the elements a session holds per
          byte it has decoded (docs/robustness.rst).
        * ``max_units``: refuse streams with more NNR units than this.
        * ``out_of_band``: per tensor name, the values a stream leaves to the application
          (:class:`OutOfBandParameters` or NNCodec's ``oob_dict`` entries).
        * ``reconstruct_lsa`` (False): apply local scaling to the weight and drop the scaling tensor.
        * ``recompose_decomposition`` (False): output W = G·H instead of G and H.
        * ``workers`` (1): decode the NDUs of a stream on this many processes (0: one per core);
          the output and the session state are the same as with 1.
        * ``dialect``: the coding rules of general_profile_idc 0 streams (:class:`nnr.dialect.Dialect`):
          "ed1" those of the edition-1 reference software (NNCodec 0.3.1), "ed2" NNCodec 2.1.3's,
          "auto" (default) decodes each NDU under both and accepts only an unambiguous result.
        """
        self.settings: DecodeSettings = decode_settings(options)
        self.session = Session()
        self.row_workers = 1  # block rows of a unit decoded here on this many processes (nnr.decoding.split)
        self.progress: Callable[[int, int], None] | None = None  # (bytes done, stream bytes), per unit

    # -- options and what earlier units left in force ------------------------------------------------

    @property
    def workers(self) -> int:
        return self.settings.workers

    @property
    def dialect(self) -> Dialect:
        return self.settings.dialect

    @property
    def out_of_band(self) -> dict[str, OutOfBandParameters]:
        return self.settings.out_of_band

    @out_of_band.setter
    def out_of_band(self, value: Mapping[str, OutOfBandParameters | Mapping[str, object]] | None) -> None:
        self.settings = replace(self.settings, out_of_band=out_of_band_table(value))

    @property
    def ctx(self) -> UnitContext:
        return self.session.ctx

    @property
    def state(self) -> IncrementalState:
        return self.session.state

    @state.setter
    def state(self, value: IncrementalState) -> None:
        self.session.state = value

    @property
    def streams_decoded(self) -> int:
        return self.session.streams_decoded

    @property
    def general_profile_idc(self) -> int | None:
        return self.session.ctx.general_profile_idc

    @property
    def mps(self) -> ModelParameterSet | None:
        return self.session.ctx.mps

    @property
    def lps(self) -> LayerParameterSet | None:
        return self.session.ctx.lps

    @property
    def reflist(self) -> list[str] | None:
        return self.session.ctx.reflist

    # -- public API ------------------------------------------------------------------------------

    def decode(self, data: StreamInput, *, dtype: object = None) -> dict[str, npt.NDArray[np.generic]]:
        """Decode one stream; returns its tensors (float32 / int32) by name, in stream order
        (``dtype``: see :meth:`DecodedStream.arrays`)."""
        return self.decode_stream(data).arrays(dtype)

    def decode_stream(self, data: StreamInput, tracer: Tracer | None = None, *,
                      bins: BinTracer | None = None) -> DecodedStream:
        """Decode one stream, returning units, coding facts and tensors in NNCodec's dtypes.

        ``tracer`` receives every syntax element read (:class:`nnr.bitstream.TraceEvent`),
        ``bins`` every bin of the arithmetic-coded payloads it selects
        (:class:`nnr.bitstream.bintrace.BinTracer`).
        A stream that fails to decode leaves the session as it was before it.
        """
        buf = read_input(data)
        s, session = self.settings, self.session
        saved = session.begin_stream(len(buf))
        try:
            frames = Frames(buf, framing=Framing(tracer, bins, s.max_units))
            walk = UnitWalk(session, s, row_workers=self.row_workers, progress=self.progress,
                            parallel_payloads=s.workers > 1 and tracer is None and bins is None and parallel.can_fork())
            units = decode_units(frames, walk)
            coded = coded_units(units)
            outputs = reconstruct(coded, PostProcessing(s.reconstruct_lsa, s.recompose_decomposition))
            session.end_stream(coded, s.max_expansion)
        except BaseException:
            session.restore(saved)
            raise
        finally:
            if bins is not None:
                bins.finish()
        session.streams_decoded += 1
        assert session.ctx.general_profile_idc is not None
        return DecodedStream(units, outputs, session.ctx.general_profile_idc, session.ctx.mps)

    # -- state record ----------------------------------------------------------------------------

    def state_record(self) -> dict[str, npt.NDArray[np.generic]]:
        """The session's state as plain numeric arrays (layout: docs/incremental.rst).

        :meth:`load_state_record` on a new ``Decoder`` (same options) continues the session:
        later streams decode to exactly the same arrays.
        """
        return self.session.to_record()

    def load_state_record(self, rec: Mapping[str, npt.NDArray[np.generic]]) -> None:
        """Restore a state written by :meth:`state_record` (a malformed record: NNRUsageError)."""
        self.session.load_record(rec)


def decode(data: StreamInput, *, workers: int = 1, dtype: object = None,
           dialect: Dialect | str = Dialect.AUTO) -> dict[str, npt.NDArray[np.generic]]:
    """Decode one NNR bitstream: tensor name -> array (float32 or int32), in stream order.

    ``workers``: decode the stream's NDUs on this many processes (0: one per core).
    ``dtype="original"`` returns each tensor in the dtype recorded by the encoder (float16,
    bfloat16, int64, ...; see :mod:`nnr.dtypes`); another dtype casts the float tensors.
    ``dialect``: the coding rules of general_profile_idc 0 streams (:class:`Decoder`).
    """
    return Decoder(workers=workers, dialect=dialect).decode(data, dtype=dtype)
