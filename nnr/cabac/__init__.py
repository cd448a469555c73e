"""DeepCABAC: the entropy decoding and encoding of NNR compressed data units (deepcabac.md).

Decoding and encoding mirror each other module for module::

    ``estimator``      context models, the probability estimator and its parameter sets, the
                       LPS range table (shared by both engines)
    ``arith_decoder``  arithmetic decoding engine
    ``arith_encoder``  arithmetic encoding engine (the inverse of ``arith_decoder``)
    ``contexts``       the context models of a tensor: numbering, choice, parameter-set signalling
    ``dq``             dependent quantization's state machine and index mapping
    ``scan``           scan geometry: scan order in force, blocks, block rows, row segments
    ``coding``         the coding context of one tensor (:class:`~nnr.cabac.coding.TensorCoding`),
                       the one home of the rules that derive it
    ``dec_levels``     per-tensor level decoding: preamble, parameter sets, scan, binarization
    ``enc_levels``     per-tensor level encoding (the inverse of ``dec_levels``)
    ``trial_model``    NNCodec's estimated bits of a context model under every parameter set
    ``param_choice``   NNCodec's choice of the parameter sets to signal (its trial pass)
    ``rows``           block rows coded and decoded apart (split tensors, parallel decoding)

These modules (but ``rows``) are compiled with mypyc when the package is installed; the same
source runs uncompiled.
"""
