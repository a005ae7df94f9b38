"""Reading vectors in batches (core/vectors.py): repeats dropped, widths and counts checked."""

from __future__ import annotations

import numpy as np
import pytest

from milvus_cluster.core.vectors import Vectors, collect_vectors, in_key_order
from milvus_cluster.errors import CollectionError


def test_reading_drops_repeated_rows_and_grows_past_the_count():
    batches = [
        [{"id": 1, "v": [1.0, 0.0]}, {"id": 2, "v": [0.0, 1.0]}],
        [{"id": 2, "v": [0.0, 1.0]}, {"id": 3, "v": [1.0, 1.0]}],
    ]
    read = collect_vectors(iter(batches), "id", "v", 2, expected_rows=1)
    assert read.pks.tolist() == [1, 2, 3]
    assert read.vectors.tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def test_reading_refuses_vectors_of_the_wrong_width():
    with pytest.raises(CollectionError, match="3 dimensions"):
        collect_vectors(iter([[{"id": 1, "v": [1.0, 0.0]}]]), "id", "v", 3, expected_rows=1)


@pytest.mark.parametrize("keys", [[3, -1, 2], ["b", "a", "c"]])
def test_rows_in_key_order_whatever_order_they_were_read_in(keys):
    batches = [[{"id": key, "v": [float(i), 0.0]} for i, key in enumerate(keys)]]
    read = collect_vectors(iter(batches), "id", "v", 2, expected_rows=3)
    assert read.pks.tolist() == keys  # reading order: callers align other columns by it
    ordered = in_key_order(read)
    assert ordered.pks.tolist() == sorted(keys)
    assert ordered.vectors[:, 0].tolist() == [keys.index(k) for k in sorted(keys)]
    assert in_key_order(ordered) is ordered  # already in order: no copy


def test_rows_read_by_key_ranges_are_sorted_a_stretch_at_a_time():
    """Rows out of order only within ranges of keys (as the key-range reader gives them)
    are sorted in the read's own matrix, a few ranges at a time."""
    rng = np.random.default_rng(0)
    keys = np.concatenate(
        [rng.permutation(np.arange(start, start + 100)) for start in range(0, 1_000, 100)]
    )
    matrix = np.column_stack([keys, -keys]).astype(np.float32)
    read = Vectors(keys.astype(np.int64), matrix)
    ordered = in_key_order(read, chunk=150)
    assert ordered.vectors is matrix  # sorted where it was read: no second copy
    assert ordered.pks.tolist() == list(range(1_000))
    assert ordered.vectors[:, 0].tolist() == list(range(1_000))
    assert ordered.vectors[:, 1].tolist() == [-k for k in range(1_000)]
