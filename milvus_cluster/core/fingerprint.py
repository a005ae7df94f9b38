"""Proof that nothing was lost: an order-free fingerprint of a collection's rows.

The contract: the same rows, read in any order and any batching, give the same
Fingerprint; a changed value in any field (vectors included), a missing row or a
doubled row gives another. Label fields are left out, since writing them is the
point of a run.

Each row is hashed with xxh3 (64 bits), on every pass a copy makes over a collection:
a checksum against lost or changed rows, not a defence against an adversary, at
about a quarter of blake2b's cost on a 384-d vector.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

_MASK = 2**64 - 1


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    digest: int  # sum of the rows' 64-bit hashes, mod 2**64

    def __str__(self) -> str:
        return f"{self.rows} rows, {self.digest:016x}"

    @classmethod
    def of(cls, hashes: Iterable[int]) -> Fingerprint:
        """The fingerprint of rows whose row_hash values these are."""
        listed = list(hashes)
        return cls(len(listed), sum(listed) & _MASK)


def _canonical(value: Any) -> bytes:
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        return value.tobytes()  # a FLOAT_VECTOR as our reads return it (milvus/client.py)
    if (
        isinstance(value, (list, tuple, np.ndarray))
        and len(value)
        and all(isinstance(x, (float, np.floating)) for x in value[:8])
    ):
        return _exact_floats(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, np.ndarray):
        return value.tobytes()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str).encode()
    return repr(value).encode()


def _exact_floats(values: Any) -> bytes:
    """Floats by their exact values, whatever form they came in: as float32 where every
    one is a float32 (a vector, as a float32 array or a list of Python floats: the same
    bytes), as float64 where one is not (DOUBLE values)."""
    wide = np.asarray(values, dtype=np.float64)
    narrow = wide.astype(np.float32)
    return narrow.tobytes() if np.array_equal(narrow, wide, equal_nan=True) else wide.tobytes()


def row_hash(row: dict[str, Any], leave_out: frozenset[str]) -> int:
    """A 64-bit hash of one row's fields, by name, without the fields left out."""
    digest = xxhash.xxh3_64()
    for name in sorted(row):
        if name not in leave_out:
            digest.update(name.encode() + b"\0")
            digest.update(_canonical(row[name]))
            digest.update(b"\1")
    return digest.intdigest()


class Fingerprinter:
    """Accumulates rows batch by batch, so that it rides along a pass that reads anyway."""

    def __init__(self, leave_out: Iterable[str] = ()) -> None:
        self.leave_out = frozenset(leave_out)
        self.rows = 0
        self.digest = 0

    def add(self, batch: list[dict[str, Any]]) -> list[int]:
        """Count the batch in; returns each row's hash, so that rows can be taken out again."""
        hashes = [row_hash(row, self.leave_out) for row in batch]
        self.digest = (self.digest + sum(hashes)) & _MASK
        self.rows += len(batch)
        return hashes

    def remove(self, hashes: list[int]) -> None:
        """Take rows out again (rows that were deleted after they were counted)."""
        self.digest = (self.digest - sum(hashes)) & _MASK
        self.rows -= len(hashes)

    def result(self) -> Fingerprint:
        return Fingerprint(self.rows, self.digest)
