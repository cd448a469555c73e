"""The decoding wing: an NNR bitstream back to tensors, module for module beside :mod:`nnr.encoding`.

* :mod:`nnr.decoding.inputs`: what a stream is read from (bytes or a file).
* :mod:`nnr.decoding.settings`: the decoder's options, validated (:class:`~nnr.decoding.settings.DecodeSettings`).
* :mod:`nnr.decoding.stream`: the unit sequence (``nnr_unit()`` after ``nnr_unit()``, aggregates, the
  NDU payloads in order or on workers, the parameter update tree).
* :mod:`nnr.decoding.payload`: ``nnr_compressed_data_unit_payload()`` of one NDU.
* :mod:`nnr.decoding.split`: one tensor's block rows apart, from their entry points.
* :mod:`nnr.decoding.reconstruction`: levels to tensors (dequantization, local scaling, G·H), dtypes.
* :mod:`nnr.decoding.session`: what a session keeps across streams (state, budgets, state records).

:class:`nnr.Decoder` (:mod:`nnr.decoder`) is the façade over them.
"""
