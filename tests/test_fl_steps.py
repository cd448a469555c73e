"""nnr.fl's adaptive step sizes (nnr/fl/steps.py) on the sending end of a link, without Flower.

Expected counts are worked out by hand from the rule as docs/fl.rst states it.
"""

from __future__ import annotations

import numpy as np

from nnr.fl.codec import LinkSender
from nnr.fl.settings import FLSettings

SHAPE = (256, 256)
N = SHAPE[0] * SHAPE[1]


def flat_update(seed: int, size: float = 1e-3) -> np.ndarray:
    """Every entry the same size, random signs: what a few sign-like optimizer steps send."""
    return (np.sign(np.random.default_rng(seed).normal(size=SHAPE)) * size).astype(np.float32)


def test_flat_update_codes_its_share() -> None:
    # Reproducer: every entry tied at the cut, so the step (twice the cut) put all of them on a
    # rounding midpoint and the quantizer coded 57 % of them instead of the share.
    # Share of a link's first update of a flat tensor: the energy share (28 % of the entries carry
    # 28 % of the energy) capped at MAX_DENSITY * 4 = 20 %; 65,536 - round(0.8 * 65,536) = 13,107.
    base = {"w": np.zeros(SHAPE, np.float32)}
    sender = LinkSender(FLSettings(), device_id=1)
    _, recon = sender.encode({"w": flat_update(0)}, base)
    assert int(np.count_nonzero(recon["w"])) == 13_107
    # what was not sent waits in the residual: sent + residual is the update
    np.testing.assert_array_equal(recon["w"] + sender.state.residual["w"], flat_update(0))


def test_flat_updates_do_not_stall() -> None:
    # Six flat updates in a row: every stream carries the share asked (before the fix the fourth
    # and fifth carried 4.7 % and 3.8 % of the entries against 6.9 % and 5.9 %), and the residual
    # stays below twice an update's size (it reached 2.2 times).
    model = {"w": np.zeros(SHAPE, np.float32)}
    sender = LinkSender(FLSettings(), device_id=1)
    shares = []
    for i in range(6):
        new = {"w": model["w"] + flat_update(i + 1)}
        _, recon = sender.encode(new, model)
        shares.append(np.count_nonzero(recon["w"] - model["w"]) / N)
        model = recon
    # asked: max(2.7 % x f(n), min(energy share, 5 % x f(n))), f(n) = 1 + 3 / 2**(n-1); these
    # targets' energy share is above the cap, so the cap (dependent quantization zeroes a few)
    asked = [0.20, 0.125, 0.0875, 0.06875, 0.059375, 0.0546875]
    assert all(s >= 0.8 * a for s, a in zip(shares[1:], asked[1:])), shares
    assert float(np.sqrt(np.mean(sender.state.residual["w"] ** 2))) < 2e-3


def test_end_tensors_are_the_first_and_last_weights_when_small() -> None:
    from nnr.fl.steps import end_tensors

    def model(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        return {k: np.zeros(s, np.float32) for k, s in shapes.items()}

    # embedding 84 x 96 and head 84 x 96 are 8,064 of 48,576 entries each (16.6 %): too big
    llama = {"embed.weight": (84, 96), "wq.weight": (96, 96), "attn_norm.weight": (96,), "w1.weight": (240, 96),
             "norm.weight": (96,), "head.weight": (84, 96)}
    assert end_tensors(model(llama)) == frozenset()
    llama |= {f"layer{i}.w2.weight": (96, 240) for i in range(20)}  # 509,376 entries: each end 1.6 %
    llama["head.weight"] = llama.pop("head.weight")  # still last
    assert end_tensors(model(llama)) == {"embed.weight", "head.weight"}
    # the digits MLP 64-256-256-10: the first layer is 19 % of 85,002 entries, the last 3 %
    mlp = {"w0": (64, 256), "b0": (256,), "w1": (256, 256), "b1": (256,), "w2": (256, 10), "b2": (10,)}
    assert end_tensors(model(mlp)) == {"w2"}


def test_downstream_codes_the_model_ends_densely() -> None:
    # A model whose first and last weights are 2.4 % of it each; an update of Gaussian entries.
    # Downstream (the server, device 0) codes them densely at an eighth of their RMS: only entries
    # below a sixteenth of the RMS round to zero (5 % of a Gaussian).  Upstream the first update's
    # share applies: max(2.7 % x 4, min(energy share, 5 % x 4)) = at most 20 %.
    r = np.random.default_rng(1)
    shapes = {"embed": (64, 64), "body": (400, 400), "head": (64, 64)}
    base = {k: r.normal(0, 0.02, s).astype(np.float32) for k, s in shapes.items()}
    new = {k: (v + r.normal(0, 1e-3, v.shape)).astype(np.float32) for k, v in base.items()}
    shares = {}
    for device in (0, 1):
        sender = LinkSender(FLSettings(), device_id=device)
        if device == 0:
            sender.encode(base, None)  # the server's stream 0 is the initial model
        _, recon = sender.encode(new, base)
        shares[device] = {k: np.count_nonzero(recon[k] - base[k]) / recon[k].size for k in shapes}
    assert shares[0]["embed"] > 0.9 and shares[0]["head"] > 0.9, shares
    assert shares[0]["body"] < 0.25 and shares[1]["body"] < 0.25, shares
    assert shares[1]["embed"] < 0.25 and shares[1]["head"] < 0.25, shares
