"""Read stage, its Milvus half: every row's key and vector, checked against count(*)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from milvus_cluster.core.knn import check_unit_length
from milvus_cluster.core.vectors import Vectors, check_complete, check_finite, collect_vectors
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo

Batch = list[dict]


def read_vectors(
    milvus: Milvus,
    info: CollectionInfo,
    advance: Callable[[int], None],
    also: Sequence[str] = (),
    each_batch: Callable[[Batch], None] | None = None,
) -> Vectors:
    """Keys and vectors of every row, checked against count(*). Fields named in `also`
    are read too, for `each_batch` to see (every batch, repeated rows included)."""
    counted = milvus.count(info.name)
    batches = milvus.iterate(info.name, [info.pk, info.vector_field, *also])
    if each_batch is not None:
        batches = _seen(batches, each_batch)
    vectors = collect_vectors(batches, info.pk, info.vector_field, info.dim, counted, advance)
    check_complete(vectors.n, counted, milvus.count(info.name))
    check_finite(vectors.vectors, info.vector_field)
    if info.metric == "IP":
        check_unit_length(vectors.vectors)
    return vectors


def _seen(batches: Iterable[Batch], each_batch: Callable[[Batch], None]) -> Iterator[Batch]:
    for batch in batches:
        each_batch(batch)
        yield batch
