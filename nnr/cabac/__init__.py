"""DeepCABAC: the entropy decoding and encoding of NNR compressed data units (deepcabac.md).

::

    ``engine``     arithmetic decoding engine, context models and the probability estimator
    ``encoder``    arithmetic encoding engine (the inverse of ``engine``)
    ``contexts``   the context rules of a tensor: context sets and their numbering, context choice,
                   parameter-set signalling, DQ state and index mapping, scan geometry
    ``levels``     per-tensor level decoding: preamble, parameter sets, scan, binarization
    ``enc_levels`` per-tensor level encoding (the inverse of ``levels``), NNCodec's parameter-set
                   choice

These modules are compiled with mypyc when the package is installed; the same source runs
uncompiled.
"""
