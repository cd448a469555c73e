"""Byte-reproducible .npz writing.

``numpy.savez`` stamps every member of the zip archive with the current local
time, so two runs never give identical files.  This writes the same container
(uncompressed zip of ``<key>.npy`` members in NPY format 1.0, as ``np.savez``
does, readable with ``np.load``) with a fixed timestamp and fixed attributes.
"""
import io
import zipfile

import numpy as np

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays):
    """arrays: ordered mapping name -> ndarray.  Returns the .npz file content."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arr), version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o600 << 16
            zf.writestr(info, buf.getvalue())
    return out.getvalue()
