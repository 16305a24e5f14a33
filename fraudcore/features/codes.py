"""Integer codes of string ids, for the columns of :func:`fraudcore.features.offline.offline_feature_matrix`.

:func:`factorize` hashes the ids in Arrow's C++ (``dictionary_encode``): one pass, no sort, no Python
object per id when the ids come as an Arrow array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["factorize"]


def factorize(ids: pa.Array | pa.ChunkedArray | npt.NDArray[Any] | list[str]) -> npt.NDArray[np.int64]:
    """An int64 code per id, equal codes for equal ids, numbered ``0, 1, ...`` in order of first
    appearance. ``ids``: an Arrow string (or binary) array, chunked or not, a numpy array of str or
    bytes (fixed width or objects), or a list of str. A missing id (null, None) is a ``ValueError``."""
    array = _arrow(ids)
    if array.null_count:
        raise ValueError(f"{array.null_count} missing ids (null) among {len(array)}")
    encoded = pc.dictionary_encode(array)
    # the chunks of one pass share their dictionary, so their indices are one numbering
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    codes = np.zeros(len(array), dtype=np.int64)
    at = 0
    for chunk in chunks:
        codes[at : at + len(chunk)] = chunk.indices.to_numpy(zero_copy_only=False)
        at += len(chunk)
    return codes


def _arrow(ids: pa.Array | pa.ChunkedArray | npt.NDArray[Any] | list[str]) -> pa.Array | pa.ChunkedArray:
    """``ids`` as an Arrow array."""
    if isinstance(ids, pa.Array | pa.ChunkedArray):
        if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type) or pa.types.is_binary(ids.type)):
            raise ValueError(f"ids must be strings, got Arrow type {ids.type}")
        return ids
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise ValueError(f"ids must be one-dimensional, got shape {ids.shape}")
        if ids.dtype.kind not in "USO":
            raise ValueError(f"ids must be strings, got numpy dtype {ids.dtype}")
    try:
        return pa.array(ids)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(f"ids must be strings: {error}") from error
