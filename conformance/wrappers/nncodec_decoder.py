#!/usr/bin/env python
"""External-decoder wrapper for ``nnr conformance --decoder``: decodes with NNCodec.

Run with the python of a virtualenv that has NNCodec (2.1.3) installed::

    nnr conformance bitstreams --decoder \\
        "/root/.cache/nnr-peer/nnc-venv/bin/python conformance/wrappers/nncodec_decoder.py {output} {inputs}"

Protocol (docs/conformance.md): ``nncodec_decoder.py OUTPUT_DIR STREAM [STREAM ...]`` decodes the
streams in order and writes ``OUTPUT_DIR/<stream name without .nnc>.npz`` holding the decoded
tensors by name, in the order NNCodec returns them.  Exit status 0 when every stream decoded,
1 when NNCodec refused or failed on a stream (one line on stderr), 2 on a usage error.

Decoding calls ``nncodec.nnc.decompress``:

* one stream: ``decompress(bitstream)``;
* several streams (an update sequence): one decoder state is carried over the streams the way
  NNCodec's incremental pipelines do it: an ``approx_param_base`` dict
  (``parameters``, ``put_node_depth``, ``device_id``, ``parameter_id``) passed with
  ``update_base_param=True``, and an ``HdspTool(True)`` (history for
  hist_dep_sig_prob_enabled_flag) passed with ``return_hls=True``.

If a ``case.json`` sits next to the first stream, its ``mode`` decides single vs. sequence and
its ``decode_call.args`` may ask for ``reconstruct_lsa`` / ``reconstruct_bnf``.  Out-of-band
parameters cannot be given to ``nnc.decompress``, so out-of-band cases fail with this wrapper.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import zipfile


def _usage() -> int:
    print("usage: nncodec_decoder.py OUTPUT_DIR STREAM [STREAM ...]", file=sys.stderr)
    return 2


def _case_info(first_stream: str) -> dict:
    p = os.path.join(os.path.dirname(os.path.abspath(first_stream)), "case.json")
    try:
        with open(p, encoding="utf-8") as f:
            meta = json.load(f)
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_npz(path: str, tensors: dict) -> None:
    """Like numpy.savez, but any tensor name (even 'file') and the dict's order are kept."""
    import numpy as np

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, value in tensors.items():
            arr = np.asarray(value)
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        return _usage()
    out_dir, streams = argv[0], argv[1:]
    if not os.path.isdir(out_dir):
        print(f"nncodec_decoder: output directory {out_dir!r} does not exist", file=sys.stderr)
        return 2

    meta = _case_info(streams[0])
    sequence = meta.get("mode") == "sequence" if meta.get("mode") else len(streams) > 1
    dargs = (meta.get("decode_call") or {}).get("args") or {}
    if not isinstance(dargs, dict):
        dargs = {}
    opts = {k: True for k in ("reconstruct_lsa", "reconstruct_bnf") if dargs.get(k)}

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # NNCodec prints progress
            from nncodec import nnc
            from nncodec.nnc_core.hdsp.hdsp_tool import HdspTool
    except ImportError as e:
        print(f"nncodec_decoder: cannot import NNCodec ({e}); run this with NNCodec's python", file=sys.stderr)
        return 2

    base = {"parameters": {}, "put_node_depth": {}, "device_id": 0, "parameter_id": {}}
    hdsp = HdspTool(True)
    for path in streams:
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            with open(path, "rb") as f:
                data = bytearray(f.read())
            log = io.StringIO()
            with contextlib.redirect_stdout(log):
                if sequence:
                    res = nnc.decompress(data, approx_param_base=base, update_base_param=True,
                                         hdsp_tool=hdsp, return_hls=True, **opts)
                    params = res[0]
                else:
                    params = nnc.decompress(data, **opts)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # NNCodec asserts, raises and calls sys.exit on bad streams
            msg = str(e).splitlines()[0] if str(e) else ""
            print(f"nncodec_decoder: {os.path.basename(path)}: NNCodec failed: {type(e).__name__}: {msg}",
                  file=sys.stderr)
            return 1
        _write_npz(os.path.join(out_dir, name + ".npz"), dict(params))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
