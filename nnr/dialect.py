"""Coding rules of general_profile_idc 0 streams: the two reference programs' dialects.

The two reference programs write profile-0 streams that differ in two rules of every tensor's
arithmetic-coded data (deepcabac.md §10, docs/deviations.rst): NNCodec 0.3.1, the edition-1
reference software, signals a 32nd remainder-prefix parameter set and resets the range at the
start of a block scan with one block row; NNCodec 2.1.3, the edition-2 reference software,
does neither.  ``general_profile_idc`` does not say which program wrote a stream, so the
decoder either follows the rules it is told (:class:`Dialect`) or, by default, decodes each
profile-0 NDU under both and keeps only what one of them decodes without error (terminating
bin, stop pattern, payload consumed exactly, entry points); where both succeed with different
tensors it raises :class:`nnr.AmbiguousDialectError` rather than guess.  Profile-1 streams follow
NNCodec 2.1.3's rules, the only ones defined for them.

The rules themselves are stated in ``nnr.cabac.contexts`` (the REM[31] flag) and
``nnr.cabac.scan`` (the range reset), selected by ``ed1`` of the tensor coding context
(``nnr.cabac.coding``); applying them while decoding a stream is :mod:`nnr.decoding.dialect`'s.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING

from nnr.errors import NNRUsageError

if TYPE_CHECKING:
    import argparse

    import nnr.decoder
    from nnr.decoder import DecodedUnit


class Dialect(enum.Enum):
    """Which reference software's coding rules a general_profile_idc 0 stream follows."""

    AUTO = "auto"  # decoder: try both per NDU, accept only an unambiguous result
    ED1 = "ed1"  # NNCodec 0.3.1, the edition-1 reference software
    ED2 = "ed2"  # NNCodec 2.1.3, the edition-2 reference software

    @property
    def label(self) -> str:
        return DIALECT_LABEL[self]


DIALECT_LABEL = {
    Dialect.AUTO: "auto",
    Dialect.ED1: "edition-1 reference software rules (NNCodec 0.3.1)",
    Dialect.ED2: "edition-2 reference software rules (NNCodec 2.1.3)",
}


def as_dialect(value: object, name: str = "dialect") -> Dialect:
    """A :class:`Dialect` from itself or its value ("auto", "ed1", "ed2")."""
    if isinstance(value, Dialect):
        return value
    if isinstance(value, str):
        for d in Dialect:
            if d.value == value:
                return d
    raise NNRUsageError(f"{name} must be one of {', '.join(repr(d.value) for d in Dialect)} "
                        f"(or a nnr.dialect.Dialect), not {value!r}")


# -- command line ------------------------------------------------------------------------------


def add_dialect_argument(p: argparse.ArgumentParser) -> None:
    """``--dialect auto|ed1|ed2`` of the decoding subcommands."""
    p.add_argument("--dialect", choices=[d.value for d in Dialect], default=Dialect.AUTO.value,
                   help="coding rules of general_profile_idc 0 streams: ed1 = the edition-1 reference software "
                        "(NNCodec 0.3.1), ed2 = NNCodec 2.1.3, auto (default) = whichever alone decodes each unit")


def dialect_lines(stream: nnr.decoder.DecodedStream) -> str:
    """``nnr trace``'s closing comment lines: the coding rules of each profile-0 NDU, and why."""
    out = []
    for u in _units(stream.units):
        t = next((t for t in u.tensors if t.dialect is not None), None)
        if t is not None:
            out.append(f"# unit {u.index}: coding rules {t.dialect} ({Dialect(t.dialect).label}): {t.dialect_reason}\n")
    return "".join(out)


def _units(units: list[DecodedUnit]) -> Iterator[DecodedUnit]:
    for u in units:
        yield u
        yield from _units(u.children)
