#!/usr/bin/env python
"""External-decoder wrapper for ``nnr conformance --decoder``: decodes with NNCodec 0.3.1.

NNCodec 0.3.1 is the edition-1 reference software (github fraunhoferhhi/nncodec tag v0.3.1;
modules ``nnc`` / ``nnc_core``).  Run this with the python of a virtualenv that has it::

    nnr conformance bitstreams --decoder \\
        "/work/peers/nnc03-venv/bin/python conformance/wrappers/nncodec03_decoder.py {output} {inputs}"

Protocol (docs/conformance.md), as ``nncodec_decoder.py``: ``OUTPUT_DIR STREAM [STREAM ...]``
writes ``OUTPUT_DIR/<stream name without .nnc>.npz`` with the decoded tensors by name; exit
status 0 when every stream decoded, 1 when NNCodec refused or failed on one, 2 on a usage error.

Decoding calls ``nnc.decompress(bitstream, reconstruct_lsa=..., reconstruct_bnf=...)`` with
both False unless the case's ``decode_call.args`` asks for them (0.3.1's defaults are True,
2.1.3's False; the suite's expected outputs are the tensors as coded).  Codebook tensors, which
0.3.1 returns as float64, are written as float32 (the runner compares floats as float32).
NNCodec 0.3.1 has no incremental decoding, no out-of-band parameters and no edition-2 syntax:
sequences, out-of-band and general_profile_idc 1 cases fail with this wrapper.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nncodec_decoder import _case_info, _write_npz  # noqa: E402  (as the 2.1.3 wrapper does)


def _usage() -> int:
    print("usage: nncodec03_decoder.py OUTPUT_DIR STREAM [STREAM ...]", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        return _usage()
    out_dir, streams = argv[0], argv[1:]
    if not os.path.isdir(out_dir):
        print(f"nncodec03_decoder: output directory {out_dir!r} does not exist", file=sys.stderr)
        return 2
    if len(streams) > 1:
        print("nncodec03_decoder: NNCodec 0.3.1 has no incremental decoding (a sequence of streams)",
              file=sys.stderr)
        return 1
    args = (_case_info(streams[0]).get("decode_call") or {}).get("args") or {}
    if not isinstance(args, dict):
        args = {}
    opts = {k: bool(args.get(k)) for k in ("reconstruct_lsa", "reconstruct_bnf")}
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # NNCodec prints progress
            from nnc import compression
    except ImportError as e:
        print(f"nncodec03_decoder: cannot import NNCodec 0.3.1 ({e}); run this with its python", file=sys.stderr)
        return 2
    path = streams[0]
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        with open(path, "rb") as f:
            data = bytearray(f.read())
        with contextlib.redirect_stdout(io.StringIO()):
            params = compression.decompress(data, verbose=False, **opts)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # NNCodec asserts, raises and calls sys.exit on bad streams
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"nncodec03_decoder: {os.path.basename(path)}: NNCodec 0.3.1 failed: {type(e).__name__}: {msg}",
              file=sys.stderr)
        return 1
    import numpy as np

    arrays = {k: np.asarray(v).astype(np.float32) if np.asarray(v).dtype == np.float64 else v for k, v in params.items()}
    _write_npz(os.path.join(out_dir, name + ".npz"), arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
