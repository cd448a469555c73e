"""Store NNCodec 2.1.3's streams for the random encoder cases (tests/data/encoder/cases.py).

Run with NNCodec's venv python (deterministic; rewrites live_vectors.json next to this file):

    ~/.cache/nnr-peer/nnc-venv/bin/python tests/data/encoder/gen_vectors.py

Stored per case: the SHA-256 and length of every stream NNCodec writes (or NNCodec's error).
tests/test_encoder.py regenerates the same inputs and settings and compares nnr's streams.

Also ``gtx0``: the byte lengths of NNCodec's trial codewords with ``initCtxModels(0, ...)``
(zero greater-than flags, used by its codebook decisions when cabac_unary_length_minus1 is 0)
for levels from ``gtx0_levels`` below.
NNCodec is only called (through nncodec_oracle.py), none of its code is used.
"""

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
N, SEED = 160, 1
GTX0_SHAPES = [(30,), (8, 9), (40, 33), (20, 3, 3), (70, 5), (1, 30), (1,)]


def gtx0_levels(i):
    """Levels and settings of gtx0 vector i (numpy RandomState: stable across versions)."""
    import numpy as np

    rs = np.random.RandomState(1000 + i)
    shape = GTX0_SHAPES[rs.randint(len(GTX0_SHAPES))]
    k = [1, 3, 8, 40][rs.randint(4)]
    q = rs.randint(-k, k + 1, size=shape).astype(np.int32)
    q[rs.random_sample(shape) < rs.random_sample()] = 0
    dq, scan, gpi = int(rs.randint(2)), int(rs.randint(5)), int(rs.randint(2))
    pnp = int(rs.randint(2)) if gpi else 0
    popt = int(rs.randint(2))
    return q, dq, scan, gpi, pnp, popt


def gtx0_sizes(n):
    import numpy as np
    from nncodec.extensions import deepCABAC

    out = []
    for i in range(n):
        q, dq, scan, gpi, pnp, popt = gtx0_levels(i)
        enc = deepCABAC.Encoder()
        enc.initCtxModels(0, popt)
        enc.encodeLayer(q, dq, scan, gpi, pnp, 0, np.zeros(q.shape[0], dtype=np.int32), deepCABAC.HdspMode.AlwaysOff,
                        np.zeros(2, np.int8), 0, 0)
        out.append(len(enc.finish().tobytes()))
    return out


def main():
    spec = importlib.util.spec_from_file_location("encoder_cases", os.path.join(HERE, "cases.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with tempfile.TemporaryDirectory() as tmp:
        cases = mod.make_cases(N, SEED, tmp)
        out = subprocess.run([sys.executable, os.path.join(HERE, "nncodec_oracle.py")], input=json.dumps(cases),
                             capture_output=True, text=True, check=True).stdout
    rows = []
    for r in json.loads(out):
        if "error" in r:
            rows.append({"error": r["error"][:200]})
        else:
            bs = [bytes.fromhex(h) for h in r["streams"]]
            rows.append({"sha256": [hashlib.sha256(b).hexdigest() for b in bs], "bytes": [len(b) for b in bs]})
    with open(os.path.join(HERE, "live_vectors.json"), "w") as f:
        json.dump({"n": N, "seed": SEED, "generator": "tests/data/encoder/cases.py make_cases", "nncodec": "2.1.3",
                   "cases": rows, "gtx0": gtx0_sizes(120)}, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
