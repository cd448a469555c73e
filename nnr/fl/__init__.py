"""Federated learning on Flower with NNC-coded model exchange.

Two lines turn a Flower app's model exchange into standard NNC bitstreams::

    strategy = nnr.fl.NNCStrategy(FedAvg(...))          # server: wraps any Strategy
    app = ClientApp(mods=[nnr.fl.nnc_mod])             # client: the user's train() sees floats

See ``docs/fl.rst``.  Flower (``pip install 'nnr[flower]'``) is imported only when
:class:`NNCStrategy` or :func:`nnc_mod` is first used; :class:`FLSettings` needs numpy only.
"""

from __future__ import annotations

from typing import Any

from nnr.fl.settings import FLSettings

__all__ = ["CorruptReplyError", "FLSettings", "NNCStrategy", "nnc_mod"]


def __getattr__(name: str) -> Any:
    if name in ("NNCStrategy", "CorruptReplyError"):
        from nnr.fl import strategy

        return getattr(strategy, name)
    if name == "nnc_mod":
        from nnr.fl.mod import nnc_mod

        return nnc_mod
    raise AttributeError(f"module 'nnr.fl' has no attribute {name!r}")
