"""Follows the data through nnr's modules: the walk figures of the architecture review.

Runs ``nnr.encode`` on a small two-tensor input (a 64x128 weight and its bias, default
settings: DQ, block scan off) and ``nnr.decode`` on the bytes, under a profiler hook that sees
every call of a function of the uncompiled source tree.  Each distinct call from one function
into a function of another module is counted once, when it first happens (a loop calling it
again adds nothing): the hops a reader makes following the data through the code.

* a *stop* is such a call: the data enters another module;
* a *climb* is a stop into a module of a higher layer than the caller's (layers below);
* a *return* is a stop into a module the walk had entered before and left (it is not on the
  call stack at that moment).

Layers, top to bottom: the façade (``nnr``, ``nnr.encoder``, ``nnr.decoder``, ``nnr.lazy``,
``nnr.torch``, ``nnr.streaming``), the wings' entry modules (the packages ``nnr.encoding``,
``nnr.decoding`` themselves), the wings' modules (their submodules, the top-level payload
modules), the unit syntax (``nnr.writer``, ``nnr.units``, ``nnr.syntax``,
``nnr.block_layout``), the processes (``nnr.reconstruction``, ``nnr.quantization``, ``nnr.dialect``), the
entropy coder (``nnr.cabac``), the bit I/O (``nnr.bitstream``).  Helpers every layer uses (errors, limits,
dtypes, usage checks, the worker pool) are no layer: calls into them are not counted.

    PYTHONPATH=CHECKOUT python tools/walk.py [--json]

Run it against the source tree (compiled functions are invisible to the hook).
"""

from __future__ import annotations

import argparse
import json
import sys
from types import FrameType
from typing import Any

LAYERS = [
    ("nnr.encoder", "nnr.decoder", "nnr.lazy", "nnr.torch", "nnr.streaming", "nnr"),
    ("nnr.encoding=", "nnr.decoding="),
    ("nnr.encoding", "nnr.decoding", "nnr.payload", "nnr.payload_rows", "nnr.incremental"),
    ("nnr.writer", "nnr.units", "nnr.syntax", "nnr.block_layout"),
    ("nnr.reconstruction", "nnr.quantization", "nnr.dialect"),
    ("nnr.cabac",),
    ("nnr.bitstream",),
]
NO_LAYER = ("nnr.errors", "nnr.limits", "nnr.dtypes", "nnr.usage", "nnr.parallel")


def layer_of(module: str) -> int | None:
    """The layer index of ``module`` (0 = top), None for helpers outside the layering."""
    if module.startswith(NO_LAYER):
        return None
    best: tuple[int, int] | None = None  # (prefix length, layer): the longest prefix wins
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            exact = p.endswith("=")  # the package's own module, not its submodules
            hit = module == p[:-1] if exact else module == p or module.startswith(p + ".")
            if hit and (best is None or len(p) > best[0]):
                best = (len(p), i)
    return None if best is None else best[1]


class Walk:
    """The distinct cross-module calls, in the order they first happen, and the three counts."""

    def __init__(self) -> None:
        self.edges: set[tuple[Any, Any]] = set()
        self.functions: set[Any] = set()
        self.stack: list[tuple[str, Any]] = []  # (module, code) per nnr frame
        self.entered: set[str] = set()
        self.stops = self.climbs = self.returns = 0
        self.path: list[str] = []

    def hook(self, frame: FrameType, event: str, arg: object) -> None:
        module = frame.f_globals.get("__name__", "")
        if not (module == "nnr" or module.startswith("nnr.")):
            return
        if event == "call":
            code = frame.f_code
            self.functions.add(code)
            if self.stack and layer_of(module) is not None:
                caller, caller_code = self.stack[-1]
                edge = (caller_code, code)
                if module != caller and edge not in self.edges:
                    self.edges.add(edge)
                    self.stops += 1
                    lc, lm = layer_of(caller), layer_of(module)
                    climb = lc is not None and lm is not None and lm < lc
                    back = module in self.entered and all(m != module for m, _ in self.stack)
                    self.climbs += climb
                    self.returns += back
                    self.path.append(f"{caller}.{caller_code.co_name} -> {module}.{code.co_name}"
                                     + (" [climb]" if climb else "") + (" [return]" if back else ""))
            self.entered.add(module)
            self.stack.append((module, code))
        elif event == "return" and self.stack:
            self.stack.pop()


def run(what: str) -> Walk:
    import numpy as np

    import nnr

    rng = np.random.default_rng(0)
    tensors = {"fc.weight": rng.standard_normal((64, 128)).astype(np.float32) * 0.05,
               "fc.bias": rng.standard_normal(64).astype(np.float32) * 0.01}
    data = nnr.encode(tensors) if what == "decode" else b""
    w = Walk()
    sys.setprofile(w.hook)
    try:
        if what == "encode":
            nnr.encode(tensors)
        else:
            nnr.decode(data)
    finally:
        sys.setprofile(None)
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print the counts as JSON")
    ap.add_argument("--path", action="store_true", help="print every stop")
    args = ap.parse_args()
    import nnr.bitstream.reader as probe

    if not probe.__file__ or not probe.__file__.endswith(".py"):
        sys.exit("walk.py: nnr is compiled here; run it with PYTHONPATH=<checkout> on the source tree")
    out = {}
    for what in ("encode", "decode"):
        w = run(what)
        out[what] = {"stops": w.stops, "climbs": w.climbs, "returns": w.returns, "functions": len(w.functions)}
        if args.path:
            print(f"--- {what}")
            print("\n".join(w.path))
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for what, c in out.items():
            print(f"nnr.{what}: {c['stops']} stops, {c['climbs']} climbs back up, "
                  f"{c['returns']} returns to a module already left ({c['functions']} functions)")


if __name__ == "__main__":
    main()
