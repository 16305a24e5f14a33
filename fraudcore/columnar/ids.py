"""Row numbers by string id, compactly: keyed 64-bit hashes in sorted runs (16 bytes a row).

The key is random per index, so ids cannot be forged to collide; two ids may still share a hash by
chance (about one pair in 10^12 among ten million ids), so callers compare the ids behind a hit and
treat a mismatch as a different id (see :meth:`IdIndex.lookup`).
"""

from __future__ import annotations

import secrets
from hashlib import blake2b

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NOT_FOUND", "IdIndex"]

NOT_FOUND = -1

_Ints = npt.NDArray[np.int64]


class IdIndex:
    """A map from ids (hashed with a per-index key) to row numbers; rows are added in batches of
    ids absent from the index and distinct among themselves."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(16)
        self._runs: list[tuple[_Ints, _Ints]] = []
        """Sorted (hash, row) runs, largest first; merged so there are O(log n) of them."""

    def __len__(self) -> int:
        return sum(len(hashes) for hashes, _ in self._runs)

    def hashes(self, ids: pa.Array | pa.ChunkedArray) -> _Ints:
        """The keyed 64-bit hash of each id."""
        key = self._key
        digests = b"".join(
            blake2b(value, digest_size=8, key=key).digest() for value in pc.cast(ids, pa.binary()).to_pylist()
        )
        return np.frombuffer(digests, dtype=np.int64).copy()

    def lookup(self, hashes: _Ints) -> _Ints:
        """The row of each hash (:data:`NOT_FOUND` when absent). A hit means an equal hash: the
        caller checks that the ids are equal."""
        rows = np.full(len(hashes), NOT_FOUND, dtype=np.int64)
        for keys, values in self._runs:
            if not len(keys):
                continue
            at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            hit = (keys[at] == hashes) & (rows == NOT_FOUND)
            rows[hit] = values[at[hit]]
        return rows

    def add(self, hashes: _Ints, rows: _Ints) -> None:
        """Add rows by hash (none of them present yet)."""
        if not len(hashes):
            return
        order = np.argsort(hashes, kind="stable")
        self._runs.append((hashes[order], rows[order]))
        runs = self._runs
        while len(runs) > 1 and len(runs[-1][0]) * 2 >= len(runs[-2][0]):
            (high, high_rows), (low, low_rows) = runs.pop(), runs.pop()
            merged, merged_rows = np.concatenate((low, high)), np.concatenate((low_rows, high_rows))
            order = np.argsort(merged, kind="stable")
            runs.append((merged[order], merged_rows[order]))

    def rebuild(self, hashes: _Ints) -> None:
        """Index exactly ``hashes``, row ``i`` for ``hashes[i]`` (after rows were dropped)."""
        self._runs = []
        self.add(hashes, np.arange(len(hashes), dtype=np.int64))
