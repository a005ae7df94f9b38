"""Primary keys at the edges of the pipeline, row indices inside it.

The contract: a KeyIndex is built once from the n primary keys read from the
collection (INT64 or VARCHAR, any values: 0, negative, quotes, backslashes).
`rows(pks)` maps keys back to row indices 0..n-1, -1 for keys it has never seen
(rows inserted after the read). Sorted arrays and `searchsorted` rather than a
dict: one compact array instead of n Python objects, and vectorised lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def as_key_array(pks: Sequence[int] | Sequence[str] | np.ndarray) -> np.ndarray:
    """Keys as a numpy array: int64 for INT64 keys, fixed-width unicode for VARCHAR."""
    array = np.asarray(pks)
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "O" and len(array) and isinstance(array[0], (int, np.integer)):
        return array.astype(np.int64)
    return array.astype(str)


class KeyIndex:
    """Lookup from primary key to row index over a fixed set of keys."""

    def __init__(self, pks: np.ndarray) -> None:
        self.pks = as_key_array(pks)
        self._order = np.argsort(self.pks, kind="stable")
        self._sorted = self.pks[self._order]

    def __len__(self) -> int:
        return len(self.pks)

    def rows(self, pks: Sequence[int] | Sequence[str] | np.ndarray) -> np.ndarray:
        """Row index of each key, -1 where the key is unknown. Shape (len(pks),), int64."""
        wanted = as_key_array(pks)
        if len(self._sorted) == 0 or len(wanted) == 0:
            return np.full(len(wanted), -1, dtype=np.int64)
        if wanted.dtype.kind != self._sorted.dtype.kind:
            wanted = wanted.astype(self._sorted.dtype)
        slot = np.searchsorted(self._sorted, wanted)
        slot = np.minimum(slot, len(self._sorted) - 1)
        found = self._sorted[slot] == wanted
        return np.where(found, self._order[slot], -1).astype(np.int64)


def unique_keys(pks: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each key, in reading order.

    Query iterators have returned some rows twice in some Milvus versions;
    reading keeps the first copy of each."""
    _, first = np.unique(pks, return_index=True)
    return np.sort(first)


def same_key_set(a: np.ndarray, b: np.ndarray) -> bool:
    """True when both arrays hold exactly the same keys (order ignored)."""
    return len(a) == len(b) and bool(np.array_equal(np.sort(a), np.sort(b)))


def aligned(
    keys: KeyIndex, pks: list[np.ndarray], values: list[np.ndarray], fill: Any, dtype: Any
) -> np.ndarray:
    """The value of each of `keys`'s rows from chunks of (keys, values) read alongside
    the vectors: (n,) of `dtype`, `fill` for rows that were not among them."""
    found = np.full(len(keys), fill, dtype=dtype)
    if pks:
        rows = keys.rows(np.concatenate(pks))
        chunk = np.concatenate(values)
        found[rows[rows >= 0]] = chunk[rows >= 0]
    return found
