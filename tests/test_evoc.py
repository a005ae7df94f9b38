"""The EVoC engine (core/evoc.py) without Milvus: the Clustering contract that
cluster_graph keeps, its own kNN graph, its layers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import clustered_vectors
from sklearn.metrics import adjusted_rand_score

from milvus_cluster.core.evoc import THREADS, evoc_clustering, neighbour_graph, numba_threads

pytest.importorskip("evoc")


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Four blobs on the unit sphere, 150 rows: EVoC finds them exactly with clusters of
    at least 20 rows (at 10 its pick splits a blob on some CPUs: its answer depends on
    the vector instructions numba compiles for, AVX-512 or AVX2)."""
    vectors, truth = clustered_vectors(150)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), truth


@pytest.fixture(scope="module")
def found(blobs):
    return evoc_clustering(blobs[0], min_cluster_size=20)


def test_labels_are_ordered_by_size_with_minus_one_for_noise(found, blobs):
    clustering = found.clustering
    labels = clustering.labels
    assert labels.dtype == np.int64 and labels.min() >= -1
    assert set(labels[labels >= 0]) == set(range(clustering.n_clusters))
    assert list(clustering.sizes) == sorted(clustering.sizes, reverse=True)
    assert adjusted_rand_score(blobs[1], labels) > 0.95
    noise = labels < 0
    assert np.all(clustering.probabilities[noise] == 0)
    assert np.all((clustering.probabilities >= 0) & (clustering.probabilities <= 1))
    assert np.all(clustering.outlier_scores[noise] == 1)


def test_the_same_vectors_give_the_same_labels(found, blobs):
    again = evoc_clustering(blobs[0], min_cluster_size=20)
    assert np.array_equal(again.clustering.labels, found.clustering.labels)


def test_the_same_labels_whatever_threads_the_caller_runs_numba_on(found, blobs):
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < THREADS:
        pytest.skip(f"numba has fewer than {THREADS} threads here")
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with numba_threads(THREADS) as count:
            assert count == THREADS == numba.get_num_threads()
        assert numba.get_num_threads() == 1  # the caller's setting, restored
        again = evoc_clustering(blobs[0], min_cluster_size=20)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(again.clustering.labels, found.clustering.labels)


def test_its_graph_is_a_knn_graph_of_true_chord_distances(found, blobs):
    graph, vectors = found.graph, blobs[0]
    assert graph.k == 14 and graph.metric == "COSINE"  # EVoC's 15 neighbours, self dropped
    assert not np.any(graph.indices == np.arange(graph.n)[:, None])
    assert np.all(np.diff(graph.distances, axis=1) >= 0)
    true = np.linalg.norm(vectors[graph.indices[:, 0]] - vectors, axis=1)
    assert np.allclose(graph.distances[:, 0], true, atol=1e-5)


def test_layers_run_from_finest_and_each_is_ordered_by_size(found):
    counts = [int(layer.max()) + 1 for layer in found.layers]
    assert counts == sorted(counts, reverse=True)
    for layer in found.layers:
        sizes = np.bincount(layer[layer >= 0])
        assert list(sizes) == sorted(sizes, reverse=True)


def test_neighbour_graph_drops_self_wherever_it_is_and_keeps_missing_last():
    vectors = np.eye(4, dtype=np.float32)[[0, 0, 1, 2]] + np.float32(0.01) * np.arange(4)[:, None]
    indices = np.array([[1, 0, 2], [1, 0, -1], [2, 3, 0], [3, 2, 1]])
    graph = neighbour_graph(vectors, indices)
    assert graph.k == 2
    assert graph.indices[0, 0] == 1 and graph.indices[1].tolist() == [0, -1]
    assert np.isinf(graph.distances[1, 1])
    assert graph.indices[2].tolist() in ([3, 0], [0, 3])
