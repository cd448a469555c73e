#!/usr/bin/env python3
"""Coverage-guided fuzzing of nnr's decoder with atheris (libFuzzer for Python).

    pip install atheris
    python fuzz/atheris_target.py -rss_limit_mb=1024 -timeout=10 -max_total_time=600 CORPUS_DIR
    python fuzz/atheris_target.py FILE...      # run the test function on files (atheris not needed)

Seed the corpus with the streams of ``bitstreams/`` (``--make-corpus DIR`` copies them).  An
input may end in a result or an :class:`nnr.NNRError` with a location; anything else is a
finding (libFuzzer saves the input as ``crash-*``).  Run it on the pure-Python source (the
default instrumentation only sees Python code) and replay findings with
``python fuzz/run.py``-style tools or this script.
"""

from __future__ import annotations

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

try:
    import atheris
except ImportError:  # the target stays importable (and runnable on files) without atheris
    atheris = None

import numpy as np  # noqa: E402  (not instrumented: only nnr's code is)

if atheris is not None:
    with atheris.instrument_imports(include=["nnr"]):
        import nnr
else:
    import nnr

from nnr.units.types import PayloadType  # noqa: E402


def test_one_input(data: bytes) -> None:
    """Decode ``data``; a result must be finite where quantized, an error must be located."""
    try:
        ds = nnr.Decoder().decode_stream(data)
    except nnr.NNRError as e:
        if e.unit_index is None or e.element is None or e.bit_offset is None:
            raise AssertionError(f"NNRError without a location: {e}") from e
        return
    for o in ds.outputs:
        quantized = any(c.payload_type != PayloadType.NNR_PT_RAW_FLOAT for c in o.coded)
        if quantized and o.value.dtype.kind == "f" and not np.all(np.isfinite(o.value)):
            raise AssertionError(f"non-finite quantized output {o.name!r}")


def make_corpus(directory: str) -> int:
    os.makedirs(directory, exist_ok=True)
    n = 0
    bs = os.path.join(ROOT, "bitstreams")
    for case in sorted(os.listdir(bs)):
        if not os.path.isdir(os.path.join(bs, case)):
            continue
        for f in sorted(os.listdir(os.path.join(bs, case))):
            if f.endswith(".nnc"):
                shutil.copy(os.path.join(bs, case, f), os.path.join(directory, f"{case}_{f}"))
                n += 1
    return n


def main(argv: list[str]) -> int:
    if len(argv) > 2 and argv[1] == "--make-corpus":
        print(f"{make_corpus(argv[2])} streams copied to {argv[2]}")
        return 0
    files = [a for a in argv[1:] if not a.startswith("-") and os.path.isfile(a)]
    if atheris is None or (files and len(files) == len(argv) - 1):
        if atheris is None and not files:
            print("atheris is not installed (pip install atheris); give files to run the target on them",
                  file=sys.stderr)
            return 2
        for f in files:
            with open(f, "rb") as fh:
                test_one_input(fh.read())
            print(f"{f}: ok")
        return 0
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
