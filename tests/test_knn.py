"""Distance conversion, self removal and batching of the kNN graph, without Milvus."""

from __future__ import annotations

import numpy as np
import pytest

from milvus_cluster.core.keys import KeyIndex
from milvus_cluster.core.knn import (
    check_unit_length,
    graph_from_hits,
    hits_to_matrix,
    local_knn,
    milvus_knn,
    search_batch_size,
    to_distances,
)
from milvus_cluster.errors import ParameterError


def test_l2_is_squared_and_gets_a_root():
    assert to_distances(np.array([0.0, 4.0, 9.0]), "L2").tolist() == [0.0, 2.0, 3.0]


@pytest.mark.parametrize("metric", ["COSINE", "IP"])
def test_similarity_becomes_chord_distance(metric):
    a = np.array([1.0, 0.0], dtype=np.float32)
    b = np.array([0.6, 0.8], dtype=np.float32)
    distance = to_distances(np.array([a @ b]), metric)[0]
    assert distance == pytest.approx(np.linalg.norm(a - b), abs=1e-6)
    assert to_distances(np.array([1.0, -1.0, 1.0000001]), metric).tolist() == pytest.approx(
        [0.0, 2.0, 0.0]
    )


def test_unknown_metric_is_refused():
    with pytest.raises(ParameterError, match="L2, COSINE or IP"):
        to_distances(np.array([1.0]), "HAMMING")


def test_ip_on_vectors_that_are_not_unit_length_is_refused():
    check_unit_length(np.eye(3, dtype=np.float32))
    with pytest.raises(ParameterError, match="not unit length"):
        check_unit_length(np.full((3, 3), 2.0, dtype=np.float32))


def test_self_is_removed_wherever_it_appears():
    query_rows = np.array([0, 1, 2])
    hit_rows = np.array([[0, 5, 6], [7, 1, 8], [3, 4, 9]])  # row 2 pushed out by duplicates
    raw = np.array([[0.0, 1.0, 4.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    indices, distances = graph_from_hits(query_rows, hit_rows, raw, 2, "L2")
    assert indices.tolist() == [[5, 6], [7, 8], [3, 4]]
    assert distances.tolist() == [[1.0, 2.0], [0.0, 1.0], [0.0, 0.0]]


def test_missing_hits_become_minus_one_and_infinity():
    indices, distances = graph_from_hits(
        np.array([0]), np.array([[0, 3, -1]]), np.array([[1.0, 0.5, np.nan]]), 2, "COSINE"
    )
    assert indices.tolist() == [[3, -1]]
    assert distances[0, 1] == np.inf


def test_flat_hits_become_matrices():
    rows, values = hits_to_matrix(
        np.array([0, 0, 2]), np.array([4, 5, 6]), np.array([0.1, 0.2, 0.3]), 3, 2
    )
    assert rows.tolist() == [[4, 5], [-1, -1], [6, -1]]
    assert np.isnan(values[1]).all()


def test_batch_size_respects_lite_flat_memory():
    assert search_batch_size(1_000, 384, 16, lite_flat=False) == 963
    assert search_batch_size(100_000, 384, 16, lite_flat=True) == 1
    assert 1 <= search_batch_size(20_000, 384, 16, lite_flat=True) <= 10


def test_milvus_knn_with_a_search_function_matches_local():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    pks = np.arange(300) * 7 - 1000  # keys are not row numbers, some negative
    keys = KeyIndex(pks)

    def brute_force_search(batch: np.ndarray, limit: int):
        squared = ((batch[:, None, :] - vectors[None, :, :]) ** 2).sum(-1)
        order = np.argsort(squared, axis=1)[:, :limit]
        query_index = np.repeat(np.arange(len(batch)), limit)
        return query_index, pks[order.ravel()], np.take_along_axis(squared, order, 1).ravel()

    graph = milvus_knn(vectors, keys, 10, "L2", brute_force_search, batch_size=64)
    local = local_knn(vectors, 10, "L2")
    assert np.array_equal(graph.indices, local.indices)
    assert np.allclose(graph.distances, local.distances, atol=1e-4)


def test_local_knn_cosine_equals_euclidean_on_normalised_vectors():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((200, 8)).astype(np.float32) * 3
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = local_knn(vectors, 5, "COSINE")
    euclid = local_knn(unit, 5, "L2")
    assert np.array_equal(cosine.indices, euclid.indices)
    assert np.allclose(cosine.distances, euclid.distances, atol=1e-5)


def recall_of(graph: np.ndarray, truth: np.ndarray) -> float:
    return sum(len(np.intersect1d(a, b)) for a, b in zip(graph, truth)) / truth.size


def blobs(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, dim)) * 4
    return (middle[rng.integers(0, centres, n)] + rng.standard_normal((n, dim))).astype(np.float32)


# The truth below is local_knn's exact path (faiss brute force), which the tests above
# hold against a search by hand.


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
def test_cell_graph_finds_the_true_neighbours(metric):
    vectors = blobs(3_000, 24, 12, seed=4)
    exact = local_knn(vectors, 10, metric)
    graph = local_knn(vectors, 10, metric, exact_limit=0, cells=24, probes=6)
    assert recall_of(graph.indices, exact.indices) >= 0.95
    # Where both found the same neighbour, it is at the same true distance.
    same = graph.indices == exact.indices
    assert same.mean() > 0.9
    assert np.allclose(graph.distances[same], exact.distances[same], atol=1e-3)


def test_cell_graph_with_every_cell_probed_is_exact():
    vectors = blobs(1_500, 16, 5, seed=5)
    graph = local_knn(vectors, 8, "L2", exact_limit=0, cells=10, probes=10)
    assert recall_of(graph.indices, local_knn(vectors, 8, "L2").indices) > 0.999


def test_hnsw_graph_finds_the_true_neighbours():
    vectors = blobs(3_000, 24, 12, seed=6)
    graph = local_knn(vectors, 10, "COSINE", exact_limit=0, cells=0)
    assert recall_of(graph.indices, local_knn(vectors, 10, "COSINE").indices) >= 0.95


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
def test_ivf_index_probing_every_list_is_the_exact_search(metric):
    """Other queries than the indexed rows (sample mode's vote): every list probed, the
    same hits and raw values as faiss's exact search."""
    from milvus_cluster.core.knn import IvfIndex, LocalIndex

    vectors = blobs(2_400, 16, 6, seed=7)
    base, queries = vectors[:2_000], vectors[2_000:]
    index = IvfIndex(base, metric)
    index.probes = index.lists
    rows, raw = index.search(queries, 12)
    exact_rows, exact_raw = LocalIndex(base, metric, 12, exact_limit=len(base)).search(queries, 12)
    assert (rows == exact_rows).mean() > 0.999
    assert np.allclose(raw, exact_raw, rtol=1e-4, atol=1e-3)
    index.probes = 2  # a few lists: fewer true hits, each at its true value, best first
    few_rows, few_raw = index.search(queries, 12)
    assert 0.3 < recall_of(few_rows, exact_rows) < 1.0
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    asked = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    if metric == "L2":
        true = ((queries[:, None, :] - base[few_rows]) ** 2).sum(axis=2)
        assert np.all(np.diff(few_raw, axis=1) >= -1e-3)
    else:
        true = np.einsum("qd,qkd->qk", asked, unit[few_rows])
        assert np.all(np.diff(few_raw, axis=1) <= 1e-5)
    assert np.allclose(few_raw, true, rtol=1e-4, atol=1e-3)


def test_ivf_index_scans_small_batches_query_by_query_to_the_same_hits():
    """A rewrite's few hundred rows are scanned query by query, a large batch cell by
    cell: the same hits either way."""
    from milvus_cluster.core import cells
    from milvus_cluster.core.knn import IvfIndex

    vectors = blobs(3_000, 16, 6, seed=8)
    index = IvfIndex(vectors[:2_500], "L2", probes=3)
    queries = vectors[2_500:2_540]
    assert len(queries) * index.probes < cells.SCAN_BY_QUERY * index.lists  # by query
    small_rows, small_raw = index.search(queries, 10)
    large_rows, large_raw = index.search(np.concatenate([queries] * 40), 10)  # by cell
    assert (small_rows == large_rows[: len(queries)]).mean() > 0.999
    assert np.allclose(small_raw, large_raw[: len(queries)], rtol=1e-4, atol=1e-3)
