"""Progress of one stream's encoding in elements, reported to the caller's ``progress(done, total)``.

Each element is counted once when quantized and once when coded (:func:`nnr.encoding.compress`);
the quantizers and the unit writer below the package tick it.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Ticker"]


class Ticker:
    """Progress in elements (a no-op without a callback)."""

    def __init__(self, fn: Callable[[int, int], None] | None, total: int) -> None:
        self.fn = fn
        self.total = max(total, 1)
        self.done = 0

    def __call__(self, n: int) -> None:
        if self.fn is not None:
            self.done = min(self.total, self.done + n)
            self.fn(self.done, self.total)

    def part(self, n: int, i: int, k: int) -> None:
        """Within the next ``n`` elements (not yet ticked): step ``i`` of ``k`` reached."""
        if self.fn is not None and k > 0:
            self.fn(min(self.total, self.done + n * i // k), self.total)

    def finish(self) -> None:
        if self.fn is not None and self.done < self.total:
            self.done = self.total
            self.fn(self.done, self.total)
