"""Read stage, its Milvus half: every row's key and vector, checked complete."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from milvus_cluster.checkpoints import checkpoint
from milvus_cluster.core.keys import as_key_array
from milvus_cluster.core.knn import check_unit_length
from milvus_cluster.core.vectors import Vectors, check_finite, collect_vectors
from milvus_cluster.errors import CollectionError
from milvus_cluster.milvus.client import READ_STREAMS, Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.expressions import key_filter
from milvus_cluster.milvus.in_flight import in_order

Batch = list[dict]


def read_vectors(
    milvus: Milvus,
    info: CollectionInfo,
    advance: Callable[[int], None],
    also: Sequence[str] = (),
    each_batch: Callable[[Batch], None] | None = None,
) -> Vectors:
    """Keys and vectors of every row, checked complete. Fields named in `also` are read
    too, for `each_batch` to see (every batch, repeated rows included).

    Complete means: every key that was there before the read and is still there after
    it was read, while the application may insert, update and delete meanwhile (on a
    server from any process; on Milvus Lite, whose file one process holds, from another
    thread of this one). Rows inserted during the read may or may not be among those
    read (those that are not are left for `assign`)."""
    counted = milvus.count(info.name)
    before = as_key_array(milvus.keys(info.name, info.pk))
    fields = [info.pk, info.vector_field, *also]
    # A server answers several queries over disjoint key ranges faster than one
    # iterator (README, Scale); Milvus Lite runs in this process and gains nothing.
    if milvus.lite or info.pk_type != "INT64":
        rows = milvus.iterate(info.name, fields)
    else:
        rows = milvus.iterate_key_ranges(info.name, info.pk, fields, np.sort(before))
    batches = _watched(rows, each_batch)
    vectors = collect_vectors(batches, info.pk, info.vector_field, info.dim, counted, advance)
    counted_after = milvus.count(info.name)
    check_none_lost(milvus, info, before, vectors.pks)
    # Quiet, yet rows unseen: Milvus 2.3's iterator (Lite's has no such bug, and its
    # count moves with another thread's writes, which would look the same).
    unreadable = not milvus.lite and info.pk_type == "INT64"
    if unreadable and counted == counted_after and len(before) < counted:
        raise CollectionError(
            f"Milvus counts {counted} rows in {info.name!r} but its iterator returns "
            f"{len(before)}, so some rows cannot be read (Milvus 2.3 cannot query a row "
            f"whose INT64 key is {2**63 - 1}); nothing was written."
        )
    check_finite(vectors.vectors, info.vector_field)
    if info.metric == "IP":
        check_unit_length(vectors.vectors)
    return vectors


def rows_by_key(
    milvus: Milvus, info: CollectionInfo, keys: Sequence | np.ndarray, fields: Sequence[str]
) -> list[dict]:
    """`fields` of the rows with these keys that are still there; 1,000 keys a query,
    several queries in flight on a server (each Strong read waits for a time tick)."""
    plain: list = np.asarray(keys).tolist()

    def one(start: int) -> list[dict]:
        expression = key_filter(info.pk, info.pk_type, plain[start : start + 1_000])
        return milvus.query(info.name, expression, list(fields))

    starts = range(0, len(plain), 1_000)
    return [row for rows in in_order(one, starts, milvus.calls(READ_STREAMS)) for row in rows]


def check_none_lost(
    milvus: Milvus, info: CollectionInfo, before: np.ndarray, read: np.ndarray
) -> None:
    """Refuse a read that missed a row which was there before it and is there still."""
    missing = np.setdiff1d(before, read).tolist()
    lost = []
    for start in range(0, len(missing), 1_000):
        chunk = missing[start : start + 1_000]
        lost += milvus.query(info.name, key_filter(info.pk, info.pk_type, chunk), [info.pk])
    if lost:
        raise CollectionError(
            f"Milvus's iterator did not return {len(lost)} rows of {info.name!r} that existed "
            f"before the read and still do (key {lost[0][info.pk]!r} among them); nothing "
            "was written; run the command again."
        )


def _watched(
    batches: Iterable[Batch], each_batch: Callable[[Batch], None] | None
) -> Iterator[Batch]:
    """The batches, shown to `each_batch` first; a checkpoint between two batches."""
    for batch in batches:
        if each_batch is not None:
            each_batch(batch)
        yield batch
        checkpoint("read-batch")
