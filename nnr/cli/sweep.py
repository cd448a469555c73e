"""``nnr sweep IN --qp A..B``: a rate-distortion table (and plot) over weight QPs.

For each QP: stream bytes, bits per parameter, overall relative error and SNR (``--json``: per
tensor too).  ``--plot rd.png`` draws bits per parameter against relative error, overall and
per tensor (needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from functools import partial
from typing import Any

from nnr.checkpoint import read_checkpoint
from nnr.cli.common import ProgressBar, Subcommand
from nnr.encoder import encode
from nnr.errors import NNRUsageError
from nnr.rate_control import sweep

HELP = "rate-distortion table (and plot) of a checkpoint over a range of QPs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="checkpoint: .safetensors, Hugging Face folder, .npz or .pt / .pth")
    p.add_argument("--qp", required=True, metavar="A..B", help="weight QPs to try, e.g. -44..-30")
    p.add_argument("--step", type=int, default=1, help="QP increment (default 1)")
    p.add_argument("--qp-density", dest="qp_density", type=int, help="QP steps per octave: 2**qp_density; default 2")
    p.add_argument("--no-dq", dest="use_dq", action="store_false", default=None, help="uniform quantization")
    p.add_argument("--plot", metavar="PNG", help="write a rate-distortion plot (needs matplotlib)")
    p.add_argument("--json", metavar="FILE", help="write the table, with per-tensor figures, as JSON")


def parse_range(text: str, step: int) -> list[int]:
    a, sep, b = text.partition("..")
    try:
        lo, hi = (int(a), int(b)) if sep else (int(a), int(a))
    except ValueError:
        raise NNRUsageError(f"--qp takes A..B (integers), got {text!r}") from None
    if step <= 0:
        raise NNRUsageError(f"--step must be positive, got {step}")
    if hi < lo:
        lo, hi = hi, lo
    return list(range(lo, hi + 1, step))


def run(args: argparse.Namespace) -> int:
    qps = parse_range(args.qp, args.step)
    if args.plot:
        try:
            import matplotlib  # type: ignore[import-not-found, unused-ignore]

            matplotlib.use("Agg")
        except ImportError:
            raise NNRUsageError("--plot needs matplotlib (pip install matplotlib)") from None
    tensors, dtypes = read_checkpoint(args.input)
    settings: dict[str, Any] = {}
    if args.qp_density is not None:
        settings["qp_density"] = args.qp_density
    if args.use_dq is not None:
        settings["use_dq"] = args.use_dq
    bar = ProgressBar(sys.stderr, "sweep", sys.stderr.isatty())
    points = sweep(tensors, qps, encode=partial(encode, dtypes=dtypes, record_dtypes=True), progress=bar, **settings)
    print(f"{'qp':>5}  {'bytes':>10}  {'bits/param':>10}  {'rel error':>10}  {'SNR dB':>8}")
    for p in points:
        snr = "inf" if math.isinf(p.snr_db) else f"{p.snr_db:.2f}"
        print(f"{p.qp:>5}  {p.bytes:>10}  {p.bits_per_param:>10.4f}  {p.rel_error:>10.4g}  {snr:>8}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"input": args.input, "points": [
                {"qp": p.qp, "bytes": p.bytes, "parameters": p.parameters, "bits_per_param": p.bits_per_param,
                 "rel_error": p.rel_error, "snr_db": None if math.isinf(p.snr_db) else p.snr_db,
                 "per_tensor": {k: {kk: (None if isinstance(vv, float) and math.isinf(vv) else vv)
                                    for kk, vv in v.items()} for k, v in p.per_tensor.items()}}
                for p in points]}, f, indent=2)
    if args.plot:
        _plot(points, args.plot, args.input)
    return 0


def _plot(points: list[Any], path: str, title: str) -> None:
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    fig, ax = plt.subplots(figsize=(7, 5))
    names = list(points[0].per_tensor) if points else []
    for n in names[:20]:  # per tensor, thin
        ax.plot([p.bits_per_param for p in points], [p.per_tensor[n]["rel_error"] for p in points],
                color="0.75", linewidth=0.8)
    ax.plot([p.bits_per_param for p in points], [p.rel_error for p in points], "o-", color="C0", label="overall")
    for p in points:
        ax.annotate(str(p.qp), (p.bits_per_param, p.rel_error), fontsize=7)
    ax.set_xlabel("bits per parameter")
    ax.set_ylabel("relative error ||w' - w|| / ||w||")
    ax.set_yscale("log")
    ax.set_title(f"rate-distortion: {title}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


COMMAND = Subcommand("sweep", HELP, add_arguments, run, __doc__)
