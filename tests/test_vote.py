"""The nearest-cluster rule that assign uses (core/vote.py), without Milvus."""

from __future__ import annotations

import numpy as np

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
