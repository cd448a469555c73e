"""The syntax structures of an NNR bitstream: one module per structure (or family of structures)."""
