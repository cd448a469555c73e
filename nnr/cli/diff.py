"""``nnr diff A B``: per-tensor error between two sets of tensors.

A and B are any mix of .nnc streams, .npz / .safetensors / .pt files and Hugging Face folders.
Either side may also be an update sequence, ``base.nnc+upd1.nnc+upd2.nnc``: the streams are
decoded in order by one decoder session and the model rebuilt as a receiver does, each update
added to the tensors before it (``--updates replace``: each stream's tensors replace them, for
streams that carry whole tensors); tensors a stream leaves out stay as they were.
For every tensor both hold: the largest absolute difference, the relative error
``||B - A|| / ||A||`` and the signal-to-noise ratio ``10 log10(||A||² / ||B - A||²)`` in dB (A is
the reference); then the same over all tensors.  Tensors only one side holds are listed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

import numpy as np

import nnr
from nnr.checkpoint import checkpoint_kind, read_checkpoint
from nnr.cli.common import Subcommand, dump_json
from nnr.errors import NNRError, NNRUsageError

HELP = "per-tensor max / relative error and SNR between two streams, checkpoints or folders"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="reference: .nnc, .npz, .safetensors, .pt, a Hugging Face folder, or an update "
                   "sequence base.nnc+upd1.nnc+...")
    p.add_argument("b", metavar="B", help="compared: .nnc, .npz, .safetensors, .pt, a Hugging Face folder, or an update "
                   "sequence base.nnc+upd1.nnc+...")
    p.add_argument("--updates", choices=("add", "replace"), default="add",
                   help="how the streams of a '+' sequence build the model: add each update to the tensors "
                   "before it (default: updates are differences), or replace them")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-k", "--filter", metavar="PATTERN", help="only tensors whose name contains PATTERN")


def load(path: str, updates: str = "add") -> dict[str, Any]:
    """Tensors of a stream, a checkpoint or an update sequence ``base.nnc+upd.nnc+...`` (a path
    that exists is taken whole, even with a '+' in its name)."""
    if "+" in path and not os.path.exists(path):
        return load_sequence(path.split("+"), updates, path)
    if not os.path.exists(path):
        raise NNRUsageError(f"{path!r} does not exist")
    if checkpoint_kind(path) == "nnc":
        return load_sequence([path], updates, path)
    arrays, _ = read_checkpoint(path)
    return arrays


def load_sequence(paths: list[str], updates: str, spec: str) -> dict[str, Any]:
    """The model a receiver rebuilds from a base stream and its updates (one decoder session)."""
    for p in paths:
        if not p:
            raise NNRUsageError(f"{spec!r}: an empty name in the '+' sequence")
        if not os.path.exists(p):
            raise NNRUsageError(f"{p!r} (in {spec!r}) does not exist")
        if os.path.isdir(p) or checkpoint_kind(p) != "nnc":
            raise NNRUsageError(f"{p!r} (in {spec!r}): only .nnc streams can be chained with '+'")
    session = nnr.Decoder()
    model: dict[str, Any] = {}
    for i, p in enumerate(paths):
        try:
            out = session.decode(p)
        except NNRError as e:
            e.args = (f"{p}: {e}",)
            raise
        for name, v in out.items():
            if i == 0 or updates == "replace" or name not in model:
                model[name] = v
            elif np.shape(model[name]) != np.shape(v):
                raise NNRUsageError(f"{p!r}: the update of {name!r} has shape {np.shape(v)}, the model {np.shape(model[name])}")
            else:
                model[name] = model[name] + v
    return model


def compare(a: Any, b: Any) -> dict[str, Any]:
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    err = y - x
    sig = float(np.dot(x, x))
    noise = float(np.dot(err, err))
    return {"parameters": int(x.size), "max_abs_error": float(np.max(np.abs(err))) if x.size else 0.0,
            "rel_error": _rel(sig, noise), "snr_db": _snr(sig, noise) if sig > 0 or math.isnan(sig) else None,
            "_sig": sig, "_noise": noise}


def _rel(sig: float, noise: float) -> float:
    """||B - A|| / ||A||; NaN when either side holds NaN (never a finite figure for it)."""
    if math.isnan(sig) or math.isnan(noise):
        return math.nan
    return math.sqrt(noise / sig) if sig > 0 else (0.0 if noise == 0 else math.inf)


def _snr(sig: float, noise: float) -> float:
    """10 log10(||A||² / ||B - A||²) in dB: inf for identical tensors, NaN when either holds NaN."""
    if math.isnan(sig) or math.isnan(noise):
        return math.nan
    if math.isinf(noise):
        return -math.inf if math.isfinite(sig) else math.nan
    return 10 * math.log10(sig / noise) if noise > 0 and sig > 0 else (math.inf if sig > 0 else math.nan)


def run(args: argparse.Namespace) -> int:
    ta, tb = load(args.a, args.updates), load(args.b, args.updates)
    names = [n for n in ta if n in tb and (args.filter is None or args.filter in n)]
    rows: list[dict[str, Any]] = []
    for n in names:
        if np.shape(ta[n]) != np.shape(tb[n]) and np.size(ta[n]) != np.size(tb[n]):
            rows.append({"name": n, "error": f"shapes differ: {np.shape(ta[n])} vs {np.shape(tb[n])}"})
            continue
        rows.append({"name": n, **compare(ta[n], tb[n])})
    good = [r for r in rows if "error" not in r]
    sig = sum(r["_sig"] for r in good)
    noise = sum(r["_noise"] for r in good)
    total = {"tensors": len(good), "parameters": sum(r["parameters"] for r in good),
             "max_abs_error": max((r["max_abs_error"] for r in good), default=0.0),
             "rel_error": _rel(sig, noise) if sig > 0 or math.isnan(sig) else 0.0,
             "snr_db": _snr(sig, noise) if good else None}
    for r in good:
        del r["_sig"], r["_noise"]
    report = {"a": args.a, "b": args.b, "tensors": rows, "total": total,
              "only_in_a": [n for n in ta if n not in tb], "only_in_b": [n for n in tb if n not in ta]}
    if args.json:
        dump_json(report, sys.stdout)
        return 0
    width = max([len(r["name"]) for r in rows] + [6])
    print(f"{'tensor':<{width}}  {'params':>10}  {'max |B-A|':>11}  {'rel error':>10}  {'SNR dB':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r['name']:<{width}}  {r['error']}")
        else:
            print(f"{r['name']:<{width}}  {r['parameters']:>10}  {r['max_abs_error']:>11.4g}  {r['rel_error']:>10.4g}  "
                  f"{_db(r['snr_db']):>8}")
    print(f"{'total':<{width}}  {total['parameters']:>10}  {total['max_abs_error']:>11.4g}  {total['rel_error']:>10.4g}  "
          f"{_db(total['snr_db']):>8}")
    for side, key in (("A", "only_in_a"), ("B", "only_in_b")):
        if report[key]:
            print(f"only in {side}: {', '.join(report[key])}")
    return 0


def _db(v: float | None) -> str:
    if v is None:
        return "-"
    return str(v) if not math.isfinite(v) else f"{v:.2f}"


COMMAND = Subcommand("diff", HELP, add_arguments, run, __doc__)
