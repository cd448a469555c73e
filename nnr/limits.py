"""The limits an honest model needs, one definition for encoder and decoder (docs/robustness.rst).

Both sides refuse what exceeds them (the encoder with :class:`nnr.NNRUsageError` before writing,
the decoder with :class:`nnr.LimitExceededError`), and both take the same keyword to raise them:
``max_units`` and ``max_tensor_elements`` (``nnr.Encoder(...)``, ``nnr.encode(...)``,
``nnr.Decoder(...)``, ``nnr.open(...)``).
"""

from __future__ import annotations

__all__ = ["MAX_TENSOR_ELEMENTS", "MAX_UNITS"]

# NNR units per stream: a model has one NDU per tensor or block (large mixture-of-experts
# checkpoints have ~90,000 tensors)
MAX_UNITS = 1 << 18
# elements per tensor (the largest embedding matrices of published LLMs: 262,144 x 8,192)
MAX_TENSOR_ELEMENTS = 1 << 31
