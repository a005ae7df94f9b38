"""The nearest-cluster rule, the cluster summaries and the noise policy (no Milvus)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from milvus_cluster import cluster_graph, local_knn
from milvus_cluster.core.settle import settle_labels
from milvus_cluster.core.stable_ids import IdLedger
from milvus_cluster.core.summaries import summarise
from milvus_cluster.core.vectors import Vectors
from milvus_cluster.core.vote import cluster_scales, nearest_cluster

SCALES = np.array([1.0, 2.0, np.nan, 5.0])  # cluster 2 has no scale (retired)


def verdict(labels, distances):
    return nearest_cluster(np.array(labels), np.array(distances, dtype=float), SCALES)


def test_the_heaviest_vote_wins_not_the_most_voters():
    found = verdict([[1, 0, 0]], [[0.1, 0.5, 0.6]])
    assert found.labels.tolist() == [1]  # 1/0.1 = 10 outweighs 2 + 1.67
    assert 0.7 < found.shares[0] < 0.8


def test_a_row_farther_than_the_members_are_is_noise():
    near = verdict([[0, 0, 0]], [[0.9, 1.5, 1.9]])  # nearest member 0.9: within scale 1.0
    far = verdict([[0, 0, 0]], [[1.2, 1.5, 1.6]])  # nearest member 1.2 > scale 1.0
    assert near.labels.tolist() == [0] and far.labels.tolist() == [-1]
    assert far.shares[0] == 0


def test_noise_neighbours_do_not_vote():
    found = verdict([[-1, -1, 3, -1]], [[0.1, 0.2, 0.3, 0.4]])
    assert found.labels.tolist() == [3]
    assert found.shares[0] == 1.0
    alone = verdict([[-1, -1, -1]], [[0.1, 0.2, 0.3]])
    assert alone.labels.tolist() == [-1]


def test_unknown_ids_and_missing_neighbours_are_ignored():
    found = verdict([[2, 7, 1, -1]], [[0.01, 0.02, 0.5, np.inf]])  # 2 retired, 7 unknown
    assert found.labels.tolist() == [1]
    nothing = verdict([[-1, -1]], [[np.inf, np.inf]])
    assert nothing.labels.tolist() == [-1]


def test_exact_duplicate_of_a_member_takes_its_cluster():
    found = verdict([[0, 1, 1]], [[0.0, 0.4, 0.4]])
    assert found.labels.tolist() == [0]


def test_many_rows_at_once():
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 4, size=(1000, 8))
    distances = np.sort(rng.uniform(0.01, 3, size=(1000, 8)), axis=1)
    found = nearest_cluster(labels, distances, SCALES)
    assert found.labels.shape == (1000,) and set(found.labels) <= {-1, 0, 1, 3}
    for row in np.flatnonzero(found.labels >= 0)[:50]:
        assert found.labels[row] in labels[row]


def test_scales_are_the_largest_core_distance_of_each_cluster():
    scales = cluster_scales(np.array([0, 0, 2, -1, 2]), np.array([1.0, 3.0, 0.5, 9.0, 0.7]))
    assert np.isnan(scales[1]) and scales[0] == 3.0 and scales[2] == 0.7


def test_summaries_have_centroids_and_central_exemplars():
    vectors = np.array([[0, 0], [2, 0], [1, 0], [10, 10], [12, 10], [50, 50]], dtype=np.float32)
    labels = np.array([5, 5, 5, 8, 8, 5])
    members = np.array([True, True, True, True, True, False])  # the last joined by --noise
    pks = np.array(["a", "b", "c", "d", "e", "f"])
    core = np.array([1.0, 2.0, 0.5, 3.0, 3.0, 40.0])
    found = summarise(vectors, labels, members, core, pks, "L2", exemplars=2)
    assert [s.cluster_id for s in found] == [5, 8] and [s.size for s in found] == [4, 2]
    assert np.allclose(found[0].centroid, [1, 0]) and found[0].exemplars[0] == "c"
    assert found[0].scale == 2.0  # members only: the row added from noise is not one
    cosine = summarise(vectors, labels, members, core, pks, "COSINE")
    assert np.isclose(np.linalg.norm(cosine[1].centroid), 1.0)


def test_noise_policy_assign_takes_in_close_noise_but_not_far_rows():
    digits = load_digits()
    far = np.random.default_rng(0).uniform(-1e4, 1e4, size=(10, 64))  # far from all, and apart
    points = np.vstack([digits.data, far]).astype(np.float32)
    truth = np.concatenate([digits.target, np.full(10, -1)])
    pks = np.arange(len(points))
    graph = local_knn(points, 20, "L2")
    clustering = cluster_graph(graph, 15, 5, vectors=points)
    keep = settle_labels(graph, clustering, Vectors(pks, points), None, IdLedger(), 5, "keep")
    assign = settle_labels(graph, clustering, Vectors(pks, points), None, IdLedger(), 5, "assign")
    assert keep.noise == keep.noise_before == assign.noise_before == clustering.noise
    assert assign.noise < 0.75 * keep.noise
    assert np.all(assign.labels[-10:] == -1)  # far from everything: still noise
    clustered = assign.labels >= 0
    assert adjusted_rand_score(truth[clustered], assign.labels[clustered]) > 0.85
    joined = (keep.labels < 0) & (assign.labels >= 0)
    assert np.all(assign.probabilities[joined] == 0)  # told apart from HDBSCAN's members
    assert sum(s.size for s in assign.summaries) == len(points) - assign.noise
