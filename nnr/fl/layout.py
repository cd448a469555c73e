"""The model's layout (tensor names, shapes, dtypes), as both ends of every link know it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.errors import NNRError, NNRUsageError
from nnr.fl.codec import coded_names
from nnr.fl.settings import CONFIG_PREFIX


@dataclass(frozen=True)
class Layout:
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]

    @classmethod
    def of(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> Layout:
        if not arrays:
            raise NNRUsageError("the model has no arrays")
        return cls(tuple(arrays), tuple(tuple(int(d) for d in v.shape) for v in arrays.values()),
                   tuple(np.dtype(v.dtype).str for v in arrays.values()))

    @property
    def float32_bytes(self) -> int:
        return 4 * sum(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    def like(self) -> dict[str, npt.NDArray[Any]]:
        """Zero-memory stand-ins with the model's shapes and dtypes."""
        return {k: np.broadcast_to(np.zeros((), dtype=np.dtype(t)), s)
                for k, s, t in zip(self.names, self.shapes, self.dtypes)}

    def like_coded(self) -> dict[str, npt.NDArray[Any]]:
        like = self.like()
        return {k: like[k] for k in coded_names(like)}

    def matches(self, rec: Mapping[str, Any]) -> bool:
        return tuple(rec.keys()) == self.names

    def check(self, arrays: Mapping[str, npt.NDArray[Any]], what: str) -> None:
        got = Layout.of(arrays)
        if got.names != self.names or got.shapes != self.shapes:
            raise NNRError(f"{what} do not have the model's tensor names and shapes")

    def conform(self, arrays: Mapping[str, npt.NDArray[Any]], what: str) -> dict[str, npt.NDArray[Any]]:
        """``arrays`` in the model's dtypes and shapes: a strategy may aggregate in float64, and
        turn a 0-d integer buffer (BatchNorm's ``num_batches_tracked``) into a float of shape
        (1,); integers are rounded back."""
        out: dict[str, npt.NDArray[Any]] = {}
        for k, s, t in zip(self.names, self.shapes, self.dtypes):
            v = np.asarray(arrays[k]) if k in arrays else None
            if v is not None and v.shape != s and v.size == int(np.prod(s, dtype=np.int64)):
                v = v.reshape(s)
            if v is not None and np.dtype(t).kind in "iub" and v.dtype.kind == "f":
                v = np.rint(v)
            if v is not None:
                out[k] = v
        self.check(out if len(out) == len(arrays) else arrays, what)
        return {k: out[k].astype(np.dtype(t), copy=False) for k, t in zip(self.names, self.dtypes)}

    def to_config(self) -> dict[str, Any]:
        return {CONFIG_PREFIX + "names": list(self.names),
                CONFIG_PREFIX + "shapes": [",".join(str(d) for d in s) for s in self.shapes],
                CONFIG_PREFIX + "dtypes": list(self.dtypes)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layout:
        try:
            names = tuple(str(n) for n in config[CONFIG_PREFIX + "names"])
            shapes = tuple(tuple(int(d) for d in str(s).split(",") if d != "") for s in config[CONFIG_PREFIX + "shapes"])
            dtypes = tuple(str(np.dtype(str(t)).str) for t in config[CONFIG_PREFIX + "dtypes"])
        except (KeyError, TypeError, ValueError) as e:
            raise NNRError(f"the message's nnr layout is malformed: {e}") from None
        if not len(names) == len(shapes) == len(dtypes):
            raise NNRError("the message's nnr layout is malformed: names, shapes and dtypes differ in number")
        return cls(names, shapes, dtypes)
