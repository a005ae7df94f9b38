"""The kNN vote after EVoC (`--engine evoc-knn`, the default for text): each row takes
the cluster that most of its nearest neighbours are in.

The contract: a Clustering and the KnnGraph of the same n rows (self removed, -1 for
a missing neighbour) in; a Clustering out, ordered by size again, in which every row
whose neighbours are at least SHARE in one cluster is in that cluster (a noise row
joins it, a member on the wrong side of a border moves), repeated ROUNDS times so
that the vote can spread a little; every other row keeps its label. A row that
changed label has probability 0, as `--noise assign` leaves its rows, so that
`cluster_prob == 0` still tells them from the engine's own members.

Why: EVoC decides from its own approximate 15-neighbour graph; the exact graph with
more neighbours (K, from Milvus search or faiss) corrects its borders. Measured in
scripts/bench_topics.py (README, *Engines*): on AG News and BBC, with EVoC at seeds
0, 1 and 2, K 40 and SHARE 0.7 raised NMI (noise as a group) and NMI on clustered
rows both, with less noise, in all six cases; a lower share (0.65, 0.5) gained more
NMI but lost NMI on the clustered rows on AG News, a higher one (0.8) gained less.

A share above one half has a neat consequence: the winning label, when there is
one, is the median of the row's sorted neighbour labels, so the vote needs n × K
memory and no count per cluster.
"""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.clustering import Clustering, ordered_by_size
from milvus_cluster.core.knn import KnnGraph

K = 40  # neighbours that vote (the kNN graph's k for engine evoc-knn)
SHARE = 0.7  # of them in one cluster: the row joins it (above 0.5: see the contract)
ROUNDS = 3


def knn_vote(graph: KnnGraph, clustering: Clustering, rounds: int = ROUNDS) -> Clustering:
    """The clustering after the vote (see the module's contract)."""
    labels = clustering.labels
    for _ in range(rounds):
        voted = _vote_once(graph, labels)
        if np.array_equal(voted, labels):
            break
        labels = voted
    changed = labels != clustering.labels
    probabilities = np.where(changed, 0.0, clustering.probabilities)
    scores = np.where(changed, 1.0, clustering.outlier_scores)
    return ordered_by_size(labels, probabilities, scores, clustering.pieces)


def _vote_once(graph: KnnGraph, labels: np.ndarray) -> np.ndarray:
    if graph.k == 0:
        return labels
    votes = np.where(graph.indices >= 0, labels[np.maximum(graph.indices, 0)], -1)
    winner = np.sort(votes, axis=1)[:, graph.k // 2]
    support = np.count_nonzero(votes == winner[:, None], axis=1)
    wins = (winner >= 0) & (support >= SHARE * graph.k)
    return np.where(wins, winner, labels)
