"""The kNN-graph HDBSCAN against the hdbscan package's exact answers, without Milvus."""

from __future__ import annotations

import hdbscan
import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import adjusted_rand_score

from milvus_cluster.core.clustering import cluster_graph, core_distances, spanning_tree
from milvus_cluster.core.knn import KnnGraph, local_knn
from milvus_cluster.errors import ParameterError


def blobs_with_noise() -> np.ndarray:
    """Eight blobs of unequal spread and size, plus 10 % uniform noise."""
    points, _ = make_blobs(
        n_samples=[600, 400, 300, 500, 200, 400, 300, 300],
        cluster_std=[0.3, 1.0, 1.5, 0.7, 2.0, 1.0, 0.5, 2.5],
        n_features=8,
        random_state=0,
    )
    noise = np.random.default_rng(1).uniform(points.min(), points.max(), (300, 8))
    return np.vstack([points, noise]).astype(np.float32)


def digits() -> np.ndarray:
    return load_digits().data.astype(np.float32)


def reference(points: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    return (
        hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples)
        .fit(points)
        .labels_
    )


@pytest.mark.parametrize("data", [blobs_with_noise, digits], ids=["blobs", "digits"])
@pytest.mark.parametrize("min_cluster_size,min_samples", [(10, 8), (15, 10), (25, 10), (20, 15)])
@pytest.mark.parametrize("factor", [2, 3])
def test_matches_hdbscan_for_k_twice_min_samples(data, min_cluster_size, min_samples, factor):
    points = data()
    expected = reference(points, min_cluster_size, min_samples)
    graph = local_knn(points, factor * min_samples, "L2")
    found = cluster_graph(graph, min_cluster_size, min_samples)
    assert adjusted_rand_score(expected, found.labels) >= 0.95
    assert abs(found.noise - np.count_nonzero(expected < 0)) <= 0.05 * len(points)


@pytest.mark.parametrize("data", [blobs_with_noise, digits], ids=["blobs", "digits"])
def test_spanning_tree_weight_is_nearly_exact_for_small_min_samples(data):
    """For small min_samples, the labels of exact HDBSCAN itself flip on tiny changes
    (digits, min_samples=5); what the graph must get right is the tree."""
    points = data()
    exact = hdbscan.HDBSCAN(min_cluster_size=10, min_samples=5, gen_min_span_tree=True).fit(points)
    exact_weight = exact.minimum_spanning_tree_._mst[:, 2].sum()
    graph = local_knn(points, 10, "L2")
    edges, pieces = spanning_tree(graph, core_distances(graph, 5))
    assert pieces == 1
    assert len(edges) == len(points) - 1
    assert abs(edges[:, 2].sum() - exact_weight) <= 1e-3 * exact_weight


def test_core_distance_does_not_count_the_row_itself():
    points = np.array([[0.0], [1.0], [3.0], [6.0]], dtype=np.float32)
    graph = local_knn(points, 3, "L2")
    assert core_distances(graph, 1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert core_distances(graph, 2).tolist() == [3.0, 2.0, 3.0, 5.0]


def test_labels_ordered_by_size_with_noise_minus_one():
    points = blobs_with_noise()
    found = cluster_graph(local_knn(points, 20, "L2"), 15, 10)
    sizes = found.sizes
    assert list(sizes) == sorted(sizes, reverse=True)
    assert found.labels.min() == -1
    assert set(np.unique(found.labels)) == set(range(-1, found.n_clusters))
    assert np.all(found.probabilities[found.labels < 0] == 0)
    assert np.all((found.probabilities >= 0) & (found.probabilities <= 1))
    assert np.all(np.isfinite(found.outlier_scores))


def test_graph_in_several_pieces_is_joined_at_true_distances():
    """Three far-apart blobs and k too small to link them: the graph falls in pieces,
    and with the vectors at hand the pieces join where exact HDBSCAN joins them."""
    points, truth = make_blobs(
        n_samples=[200, 150, 100], centers=[[0, 0], [1000, 0], [0, 1000]], random_state=3
    )
    points = points.astype(np.float32)
    graph = local_knn(points, 8, "L2")
    found = cluster_graph(graph, 20, 4, vectors=points)
    assert found.pieces == 3
    assert adjusted_rand_score(truth, found.labels) == 1.0
    exact = hdbscan.HDBSCAN(min_cluster_size=20, min_samples=4, gen_min_span_tree=True).fit(points)
    edges, _ = spanning_tree(graph, core_distances(graph, 4), points)
    top = np.sort(exact.minimum_spanning_tree_._mst[:, 2])[-2:]
    assert np.allclose(np.sort(edges[:, 2])[-2:], top, rtol=1e-3)


def test_pieces_that_pick_each_other_are_joined_once():
    """Two small pieces, each nearest to the other, must not both add a bridge: a cycle
    in the tree made hdbscan's code return more labels than rows."""
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 0.1, (3, 2)), rng.normal(0, 0.1, (3, 2)) + [5, 0],
                        rng.normal(0, 0.1, (10, 2)) + [100, 0]]).astype(np.float32)  # fmt: skip
    graph = local_knn(points, 2, "L2")
    edges, pieces = spanning_tree(graph, core_distances(graph, 1), points)
    assert pieces >= 3 and len(edges) == len(points) - 1
    assert len(cluster_graph(graph, 2, 1, vectors=points).labels) == len(points)


def test_graph_in_pieces_without_vectors_still_labels_every_row():
    points, truth = make_blobs(
        n_samples=[200, 150, 100], centers=[[0, 0], [1000, 0], [0, 1000]], random_state=3
    )
    found = cluster_graph(local_knn(points.astype(np.float32), 8, "L2"), 20, 4)
    assert found.pieces == 3
    assert len(found.labels) == len(points)
    assert np.all(np.isfinite(found.probabilities))


def test_fragmented_graph_with_vectors_matches_hdbscan():
    """Digits with k = 6 fall into pieces; joined exactly, the labels agree again."""
    points = digits()
    graph = local_knn(points, 6, "L2")
    found = cluster_graph(graph, 10, 3, vectors=points)
    assert found.pieces > 1
    assert adjusted_rand_score(reference(points, 10, 3), found.labels) >= 0.9


def test_small_piece_is_noise_not_a_crash():
    points, _ = make_blobs(n_samples=[300], centers=[[0, 0]], random_state=0)
    far = np.array([[500.0, 500.0], [500.5, 500.0], [500.0, 500.5]])
    graph = local_knn(np.vstack([points, far]).astype(np.float32), 2, "L2")
    found = cluster_graph(graph, 10, 2, vectors=np.vstack([points, far]).astype(np.float32))
    assert found.pieces >= 2
    assert np.all(found.labels[-3:] == -1)


def test_fewer_rows_than_k():
    points, truth = make_blobs(n_samples=[6, 6], centers=[[0, 0], [50, 50]], random_state=0)
    points = points.astype(np.float32)
    graph = local_knn(points, 30, "L2")
    assert graph.k == len(points) - 1
    found = cluster_graph(graph, 5, 3, vectors=points)
    assert found.n_clusters == 2
    assert adjusted_rand_score(truth, found.labels) == 1.0


def test_exact_duplicates_keep_zero_distances():
    points = np.repeat(np.array([[0.0, 0.0], [10.0, 10.0]], dtype=np.float32), 30, axis=0)
    graph = local_knn(points, 10, "L2")
    assert np.all(graph.distances == 0)
    edges, pieces = spanning_tree(graph, core_distances(graph, 5))
    assert pieces == 2  # nothing links the two piles within 10 neighbours
    found = cluster_graph(graph, 10, 5)
    assert found.n_clusters == 2


def test_missing_neighbours_are_tolerated():
    points, _ = make_blobs(n_samples=[100, 100], centers=[[0, 0], [30, 30]], random_state=0)
    graph = local_knn(points.astype(np.float32), 10, "L2")
    indices, distances = graph.indices.copy(), graph.distances.copy()
    indices[::7, -3:] = -1
    distances[::7, -3:] = np.inf
    found = cluster_graph(KnnGraph(indices, distances, "L2"), 10, 5)
    assert found.n_clusters == 2


@pytest.mark.parametrize(
    "n,k,min_cluster_size,min_samples,message",
    [
        (100, 10, 10, 11, "larger than --k"),
        (5, 4, 10, 2, "fewer than --min-cluster-size"),
        (100, 10, 1, 2, "at least 2"),
    ],
)
def test_bad_parameters_are_refused(n, k, min_cluster_size, min_samples, message):
    graph = KnnGraph(np.zeros((n, k), np.int32), np.zeros((n, k), np.float32), "L2")
    with pytest.raises(ParameterError, match=message):
        cluster_graph(graph, min_cluster_size, min_samples)
