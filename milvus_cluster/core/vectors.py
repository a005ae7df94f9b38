"""Read stage, its pure half: batches of rows into keys and one float32 matrix.

The contract: batches of rows (dicts, as `query_iterator` yields them) in; a
Vectors value out, with `pks` (n,) and `vectors` (n × dim float32), row i of
one belonging to row i of the other, in reading order (`in_key_order` sorts them).
Rows that an iterator yields twice are kept once. Memory: the vectors once, grown in
chunks; nothing n × n.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from milvus_cluster.core.keys import as_key_array, unique_keys
from milvus_cluster.errors import CollectionError


@dataclass(frozen=True)
class Vectors:
    pks: np.ndarray  # (n,) int64 or unicode
    vectors: np.ndarray  # (n, dim) float32

    @property
    def n(self) -> int:
        return len(self.pks)


SORT_CHUNK = 65_536  # rows in_key_order sorts at a time (at least)


def collect_vectors(
    batches: Iterable[list[dict]],
    pk_field: str,
    vector_field: str,
    dim: int,
    expected_rows: int,
    progress: Callable[[int], None] | None = None,
) -> Vectors:
    """Stack the iterator's batches into keys and a matrix, dropping repeated keys.

    The matrix is allocated once for `expected_rows` (count(*)) and grows only if
    more rows arrive, so peak memory stays near one copy of the vectors."""
    vectors = np.empty((expected_rows, dim), dtype=np.float32)
    pk_chunks: list[np.ndarray] = []
    filled = 0
    for batch in batches:
        if not batch:
            continue
        matrix = np.asarray([row[vector_field] for row in batch], dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != dim:
            raise CollectionError(
                f"Field {vector_field!r} returned vectors of shape {matrix.shape[1:]} where the "
                f"schema says {dim} dimensions; check --vector-field."
            )
        if filled + len(matrix) > len(vectors):
            vectors = _grown(vectors, filled + len(matrix))
        vectors[filled : filled + len(matrix)] = matrix
        filled += len(matrix)
        pk_chunks.append(as_key_array([row[pk_field] for row in batch]))
        if progress:
            progress(len(batch))
    pks = np.concatenate(pk_chunks) if pk_chunks else np.empty(0, dtype=np.int64)
    first = unique_keys(pks)
    if len(first) < filled:
        return Vectors(pks[first], vectors[first])
    # Fewer rows than counted (deleted meanwhile): a view of the buffer, not a copy,
    # which would hold two copies of the vectors for a moment.
    return Vectors(pks, vectors[:filled])


def in_key_order(read: Vectors, chunk: int = SORT_CHUNK) -> Vectors:
    """The same rows sorted by key. Row order is an input of the clustering: UMAP and
    HDBSCAN's ties answer differently for the same rows in another order (AG News in
    topic mode: 84 % of the labels stayed). Milvus's and Lite's iterators return rows by
    key, so this costs a check. Another order is sorted in `read`'s own matrix (which the
    result takes), `chunk` or more rows at a time: the key-range reader's rows are out of
    order only within a range of 10,000 keys, so the sort holds a copy of one stretch of
    rows, not of all the vectors (1.4 GiB more at a million 384-d rows)."""
    pks = read.pks
    if len(pks) < 2 or bool(np.all(pks[1:] > pks[:-1])):
        return read
    order = np.argsort(pks, kind="stable")
    # Where every row before `end` comes from before `end`, rows [.., end) sort alone.
    ends = np.flatnonzero(np.maximum.accumulate(order) == np.arange(len(order))) + 1
    cuts = np.unique(ends[np.searchsorted(ends, np.arange(chunk, len(order), chunk))])
    start = 0
    for end in [*cuts.tolist(), len(order)]:
        if end > start:
            read.vectors[start:end] = read.vectors[order[start:end]]
            start = end
    return Vectors(pks[order], read.vectors)


def _grown(vectors: np.ndarray, needed: int) -> np.ndarray:
    bigger = np.empty((max(needed, int(len(vectors) * 1.25) + 1024), vectors.shape[1]), np.float32)
    bigger[: len(vectors)] = vectors
    return bigger


def check_finite(vectors: np.ndarray, field: str, chunk: int = 65_536) -> None:
    """Refuse vectors whose distances cannot be computed in float32: NaN or infinite
    components, or squared norms so large that a squared distance (at most 4 × the
    larger squared norm) passes float32's range, which makes every distance infinite
    and the search or the clustering meaningless. Checked in chunks, in float64."""
    limit = float(np.finfo(np.float32).max) / 4
    for start in range(0, len(vectors), chunk):
        part = vectors[start : start + chunk].astype(np.float64)
        squared = np.einsum("ij,ij->i", part, part)
        bad = ~np.isfinite(squared) | (squared > limit)
        if bad.any():
            row = start + int(np.flatnonzero(bad)[0])
            raise CollectionError(
                f"Field {field!r} holds vectors that cannot be clustered: row {row} (and "
                f"maybe others) has components that are not finite or a norm beyond "
                f"{np.sqrt(limit):.1e}, where distances overflow float32; fix or remove "
                "such rows and run again."
            )
