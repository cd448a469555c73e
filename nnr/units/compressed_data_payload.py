"""``nnr_compressed_data_unit_payload()``: what both wings state alike about it.

The payload's arithmetic-coded elements are not traced bin by bin; per tensor, the decoder
(:func:`nnr.decoding.payload.decode_payload`) and the encoder (:mod:`nnr.encoding.payload`) report
the side information and one summary of the levels at their codeword bit counters, in the same
events (:func:`trace_coded_tensor`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnr.bitstream.trace import Traced
from nnr.cabac.dec_levels import TensorSideInfo


@dataclass(frozen=True)
class CodedSpan:
    """Bit positions of one tensor's arithmetic-coded parts (the codeword's bit counter, offset
    to where the caller reports them)."""

    start: int  # hist_dep_sig_prob_enabled_flag
    row_skip: int  # the first row_skip_flag bin (row_skip_enabled_flag is the bin before)
    row_skip_end: int
    params: int  # parameter_set_ids
    levels: int
    end: int


def trace_coded_tensor(t: Traced, name: str, levels: npt.NDArray[np.generic] | None, size: int,
                       side: TensorSideInfo, span: CodedSpan) -> None:
    """The side information and a summary of the levels of one tensor as trace events."""
    if side.hdsp_flag_coded:
        t.trace_value("hist_dep_sig_prob_enabled_flag", "ae(v)", span.start, int(side.hist_dep_sig_prob_enabled_flag), 1)
    if side.row_skip_enabled_flag_coded:
        t.trace_value("row_skip_enabled_flag", "ae(v)", span.row_skip - 1, int(side.row_skip_enabled_flag), 1)
    if side.row_skip_flag:
        t.trace_value("row_skip_flag", "ae(v)", span.row_skip, "".join(str(x) for x in side.row_skip_flag),
                      span.row_skip_end - span.row_skip)
    t.trace_value("parameter_set_ids", "ae(v)", span.params, list(side.parameter_set_ids), span.levels - span.params)
    nz = int(np.count_nonzero(levels)) if levels is not None else 0
    t.trace_value("levels", "ae(v)", span.levels, f"<{size} levels of {name!r}, {nz} non-zero>", span.end - span.levels)
