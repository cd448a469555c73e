"""Golden values for tests/test_reductions.py, made with NNCodec 2.1.3 under numpy 1.26.

Run with NNCodec's venv:  ~/.cache/nnr-peer/nnc-venv/bin/python tests/data_gen/gen_reductions.py
"""

import hashlib
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import realistic  # noqa: E402

from nncodec import nn  # noqa: E402
from nncodec.framework.applications.utils.sparsification import (  # noqa: E402
    apply_struct_spars_v2, apply_unstruct_spars_v2)


def bits(x):
    return int(np.asarray(x, dtype=np.float32).view(np.uint32))


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


assert np.__version__ == "1.26.4", np.__version__
ckpt = realistic.checkpoint()
stats = {}
for name, w in ckpt.items():
    d = {"sum": bits(np.sum(w)), "mean": bits(np.mean(w)), "std": bits(np.std(w))}
    if w.ndim > 1:
        means = np.array([np.mean(abs(w[i])) for i in range(len(w))])
        d["row_means"] = sha(means)
        d["mean_of_row_means"] = bits(np.mean(means))
    stats[name] = d

sparse = {}
for qp, target in ((-32, 0.5), (-38, 0.8)):
    u = apply_unstruct_spars_v2(qp, dict(ckpt), target_sparsity=target, qp_density=np.int32(2))
    s = apply_struct_spars_v2(u, gain=0.9)
    sparse[f"{qp}/{target}"] = {"unstructured": {k: sha(v) for k, v in u.items()},
                                "structured": {k: sha(v) for k, v in s.items()}}

with tempfile.TemporaryDirectory() as d:
    bs = nn.encode(dict(ckpt), args={"sparsity": 0.5, "qp": -32, "results": d, "verbose": False}, epoch=1)
stream = hashlib.sha256(bytes(bs)).hexdigest()

out = {"numpy": np.__version__, "stats": stats, "sparsify": sparse,
       "nn_encode_sparsity_0.5_qp_-32": {"sha256": stream, "bytes": len(bs)}}
with open(os.path.join(os.path.dirname(HERE), "data", "reductions", "golden.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
