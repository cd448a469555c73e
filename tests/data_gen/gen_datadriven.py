"""Golden vectors of tests/test_datadriven.py: NNCodec 2.1.3's streams with a model executer.

Run with the Python that has NNCodec installed (not nnr's)::

    /path/to/nnc-venv/bin/python tests/data_gen/gen_datadriven.py

The executer is tests/datadriven_executer.py (deterministic numpy "training", registered as a
virtual subclass of NNCodec's ModelExecute, which ``nnc.compress`` insists on).  Writes
tests/data/datadriven/expected.json: per case the settings, the SHA-256 and size of the stream
NNCodec writes, the executer calls it made and, for streams with local scaling, the SHA-256 of
every tensor NNCodec decodes with ``reconstruct_lsa=True``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from datadriven_executer import LinearExecuter, cases, model, module_cases, params_of, torch_module  # noqa: E402
from nncodec import nnc  # noqa: E402
from nncodec.nnc_core.nnr_model import ModelExecute  # noqa: E402

ModelExecute.register(LinearExecuter)

OUT = os.path.join(HERE, "..", "data", "datadriven")


def array_hash(v: np.ndarray) -> str:
    return hashlib.sha256(f"{v.dtype.str}{v.shape}".encode() + np.ascontiguousarray(v).tobytes()).hexdigest()


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    manifest: dict[str, dict] = {}
    for name, c in cases().items():
        kw = {k: v for k, v in c.items() if k not in ("model", "executer")}
        params, spec = params_of(c["model"])
        ex = LinearExecuter(model()[0], **c.get("executer", {}))
        spec_arg = copy.deepcopy(spec)
        with contextlib.redirect_stdout(io.StringIO()):
            bs = nnc.compress(copy.deepcopy(params), bitstream_path=None, return_bitstream=True,
                              block_id_and_param_type=spec_arg, model_executer=ex, **kw)
        entry = {"case": c, "sha256": hashlib.sha256(bytes(bs)).hexdigest(), "size": len(bs), "calls": ex.calls,
                 "spec_after": spec_arg}
        if c.get("lsa") or c.get("bnf"):
            with contextlib.redirect_stdout(io.StringIO()):
                dec = nnc.decompress(bytearray(bs), reconstruct_lsa=True)
            entry["reconstruct_lsa"] = {k: array_hash(v) for k, v in dec.items()}
        manifest[name] = entry
        print(f"{name:28s} {len(bs):6d} bytes  {len(ex.calls)} calls  {entry['sha256'][:16]}")
    tmp = os.path.join(OUT, "tmp.nnc")
    for name, kw in module_cases().items():
        ex = LinearExecuter(model()[0])
        with contextlib.redirect_stdout(io.StringIO()):
            bs, spec = nnc.compress_model(torch_module(), bitstream_path=tmp, model_executer=ex, return_bitstream=True,
                                          return_model_data=True, **kw)
        os.remove(tmp)
        manifest[name] = {"module": kw, "sha256": hashlib.sha256(bytes(bs)).hexdigest(), "size": len(bs),
                          "calls": ex.calls, "spec_after": spec}
        print(f"{name:28s} {len(bs):6d} bytes  {len(ex.calls)} calls  {manifest[name]['sha256'][:16]}")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
