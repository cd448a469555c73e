"""DeepCABAC: the entropy decoding of NNR compressed data units (deepcabac.md).

``engine``     arithmetic decoding engine and context models (probability estimation)
``levels``     binarization, context selection, scan, row skipping, DQ state, entry points
``parameters`` signalling of the probability-estimator parameter sets

These modules are compiled with mypyc when the package is installed; the same source runs
uncompiled.
"""
