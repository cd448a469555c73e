"""Exceptions raised by :mod:`nnr`.

Two families, kept distinct (as h11 does):

* :class:`NNRError` and its subclasses: the *stream* is bad (malformed, truncated, uses a
  reserved value, refers to state the decoder does not have).  The message names the NNR unit,
  the syntax element and the bit offset, and shows the bytes around that offset.
* :class:`NNRUsageError`: the *caller* misused the API (wrong argument type, unknown option).
"""

from __future__ import annotations


class NNRUsageError(ValueError):
    """The API was called with arguments it cannot accept (not a stream problem)."""


class NNRError(Exception):
    """A bitstream could not be decoded.

    Attributes name where decoding stopped: ``unit_index`` (0-based position of the NNR unit in
    the stream), ``unit_type`` (its ``nnr_unit_type`` name, if known), ``element`` (the syntax
    element or decoding process), ``bit_offset`` (from the start of the stream, or ``None``).
    """

    def __init__(
        self,
        reason: str,
        *,
        unit_index: int | None = None,
        unit_type: str | None = None,
        element: str | None = None,
        bit_offset: int | None = None,
        context_bytes: bytes | None = None,
    ) -> None:
        self.reason = reason
        self.unit_index = unit_index
        self.unit_type = unit_type
        self.element = element
        self.bit_offset = bit_offset
        self.context_bytes = context_bytes
        super().__init__(self._message())

    def _message(self) -> str:
        where: list[str] = []
        if self.unit_index is not None:
            where.append(f"unit {self.unit_index}" + (f" ({self.unit_type})" if self.unit_type else ""))
        elif self.unit_type:
            where.append(self.unit_type)
        if self.element:
            where.append(f"element {self.element}")
        if self.bit_offset is not None:
            where.append(f"bit offset {self.bit_offset} (byte {self.bit_offset // 8})")
        msg = ", ".join(where)
        msg = f"{msg}: {self.reason}" if msg else self.reason
        if self.context_bytes is not None:
            msg += f" [bytes: {self.context_bytes.hex(' ')}]"
        return msg

    def locate(
        self,
        *,
        unit_index: int | None = None,
        unit_type: str | None = None,
        element: str | None = None,
        bit_offset: int | None = None,
        context_bytes: bytes | None = None,
    ) -> NNRError:
        """Fill in location fields that are still unknown (outer layers know the unit)."""
        if self.unit_index is None:
            self.unit_index = unit_index
        if self.unit_type is None:
            self.unit_type = unit_type
        if self.element is None:
            self.element = element
        if self.bit_offset is None:
            self.bit_offset = bit_offset
        if self.context_bytes is None:
            self.context_bytes = context_bytes
        self.args = (self._message(),)
        return self


class TruncatedStreamError(NNRError):
    """The data ended before the syntax (or the NNR unit) said it would."""


class MalformedStreamError(NNRError):
    """A syntax element has a value the syntax or its semantics do not allow."""


class ReservedValueError(MalformedStreamError):
    """A syntax element uses a value reserved by the standard."""


class LimitExceededError(NNRError):
    """The stream asks for more than the configured limits (or its own size) can justify."""


class MissingReferenceError(NNRError):
    """The stream refers to a unit, parent node or topology list the decoder does not hold."""


class UnsupportedFeatureError(NNRError):
    """Valid syntax whose decoding process is not defined by the available specification."""


class AmbiguousDialectError(NNRError):
    """A general_profile_idc 0 unit decodes without error under both reference programs' coding
    rules (NNCodec 0.3.1's and 2.1.3's, :mod:`nnr.dialect`) to different tensors: the caller must
    say which the stream follows (``Decoder(dialect=...)``, ``--dialect``)."""
