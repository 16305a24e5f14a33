"""Small integer codes for strings of a modest vocabulary (customers, terminals): equal string,
equal code; 4 bytes a row instead of a string."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Codes"]


class Codes:
    """A growing string -> code dictionary (codes 0, 1, 2, ... in order of first sight)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def encode(self, values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int32]:
        """The code of each value (new values get new codes)."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        encoded = pc.dictionary_encode(values)
        codes = self._codes
        known = np.fromiter(
            (codes.setdefault(value, len(codes)) for value in encoded.dictionary.to_pylist()),
            dtype=np.int32,
            count=len(encoded.dictionary),
        )
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        return known[indices] if len(indices) else np.empty(0, dtype=np.int32)

    def names(self) -> pa.StringArray:
        """The values, in code order (code ``i`` is ``names()[i]``)."""
        return pa.array(list(self._codes), type=pa.string())

    def keep(self, used: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        """Forget every code but ``used`` (codes still held), renumbering them; returns the map
        old code -> new code (-1 for forgotten ones)."""
        mapping = np.full(len(self._codes), -1, dtype=np.int32)
        kept = np.unique(used)
        mapping[kept] = np.arange(len(kept), dtype=np.int32)
        names = list(self._codes)
        self._codes = {names[code]: index for index, code in enumerate(kept.tolist())}
        return mapping
