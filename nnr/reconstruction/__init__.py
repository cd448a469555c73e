"""Reconstruction of tensors from decoded levels (quantization.md)."""
