"""The kNN vote after EVoC (core/refine.py), without Milvus."""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.clustering import ordered_by_size
from milvus_cluster.core.knn import KnnGraph
from milvus_cluster.core.refine import JOIN_SHARE, MOVE_SHARE, _vote_once, knn_vote


def clustering_of(labels):
    labels = np.asarray(labels)
    return ordered_by_size(labels, np.where(labels >= 0, 0.9, 0.0), np.zeros(len(labels)), 1)


def graph_of(rows: list[list[int]]) -> KnnGraph:
    indices = np.array(rows, dtype=np.int32)
    distances = np.where(indices >= 0, 1.0, np.inf).astype(np.float32)
    return KnnGraph(indices, np.sort(distances, axis=1), "COSINE")


def test_rows_join_the_cluster_of_most_of_their_neighbours_and_no_other():
    # rows 0-3 cluster 0, rows 4-8 cluster 1 (the larger), rows 9-11 noise
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, -1, -1, -1]
    graph = graph_of(
        [[1, 2, 3, 0, 0, 4, 4, 9, 9, 9]] * 4  # 0-3: 6 of 10 in their own: too few to move
        + [[5, 6, 7, 8, 4, 5, 6, 7, 8, 4]] * 5
        + [[4, 5, 6, 7, 8, 4, 5, 6, 7, 0]]  # 9: 9 of 10 (JOIN_SHARE) in cluster 1: joins
        + [[4, 5, 6, 7, 8, 4, 5, 6, 0, 1]]  # 10: 8 of 10: a member would move, noise stays
        + [[4, 5, 6, 0, 1, 2, -1, -1, -1, -1]]  # 11: split: stays noise
    )
    voted = knn_vote(graph, clustering_of(labels))
    big, small = voted.labels[4], voted.labels[0]
    assert voted.labels.tolist() == [small] * 4 + [big] * 6 + [-1, -1]
    assert voted.probabilities[9] == 0 and voted.probabilities[4] > 0  # joined: prob 0
    assert list(voted.sizes) == [6, 4]


def test_a_member_surrounded_by_another_cluster_moves_to_it():
    labels = [0, 0, 0, 1, 1, 1, 1]
    graph = graph_of([[3, 4, 5, 6]] + [[0, 1, 2, 3]] * 2 + [[4, 5, 6, 0]] * 4)
    voted = knn_vote(graph, clustering_of(labels), rounds=1)
    assert voted.labels[0] == voted.labels[3] != voted.labels[1]


def test_the_median_finds_the_same_winners_as_counting_every_label():
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 3, 500)
    indices = rng.integers(-1, 500, (500, 12)).astype(np.int32)
    indices[:100] = indices[:100, :1]  # rows whose neighbours all agree
    voted = _vote_once(graph_of(indices.tolist()), labels)
    votes = np.where(indices >= 0, labels[np.maximum(indices, 0)], -1)
    expected = labels.copy()
    for row in range(500):
        counts = np.bincount(votes[row][votes[row] >= 0], minlength=3)
        share = JOIN_SHARE if labels[row] < 0 else MOVE_SHARE
        if counts.max() >= share * 12:
            expected[row] = int(np.argmax(counts))
    assert np.array_equal(voted, expected)
    assert np.count_nonzero(voted != labels) > 50
