"""The limits an honest model needs, one definition for encoder and decoder (docs/robustness.rst),
and the int32 range levels and integer tensors live in.

Both sides refuse what exceeds them (the encoder with :class:`nnr.NNRUsageError` before writing,
the decoder with :class:`nnr.LimitExceededError`), and both take the same keyword to raise them:
``max_units`` and ``max_tensor_elements`` (``nnr.Encoder(...)``, ``nnr.encode(...)``,
``nnr.Decoder(...)``, ``nnr.open(...)``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["INT32_MAX", "INT32_MIN", "MAX_TENSOR_ELEMENTS", "MAX_UNITS"]

# levels, reconstruction indices and integer tensors (NNR_PT_INT) are int32 (Final: mypyc folds
# them into the compiled level coders)
INT32_MIN: Final = -(1 << 31)
INT32_MAX: Final = (1 << 31) - 1

# NNR units per stream: a model has one NDU per tensor or block (large mixture-of-experts
# checkpoints have ~90,000 tensors)
MAX_UNITS = 1 << 18
# elements per tensor (the largest embedding matrices of published LLMs: 262,144 x 8,192)
MAX_TENSOR_ELEMENTS = 1 << 31
