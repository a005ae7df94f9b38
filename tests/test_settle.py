"""The noise policy (core/settle.py): close noise joins a cluster, far rows stay noise."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import adjusted_rand_score

from milvus_cluster import cluster_graph, local_knn
from milvus_cluster.core.settle import settle_labels
from milvus_cluster.core.stable_ids import IdLedger
from milvus_cluster.core.vectors import Vectors


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


def test_a_relabel_holds_rows_near_their_cluster_and_lets_a_moved_row_go():
    points, truth = make_blobs(400, n_features=8, centers=4, cluster_std=2.5, random_state=0)
    points = points.astype(np.float32)
    points[0] += 1e3  # the application rewrote row 0: it is far from everything now
    graph = local_knn(points, 20, "L2")
    clustering = cluster_graph(graph, 15, 5, vectors=points)
    previous = truth.astype(np.int64)  # every row was in its blob's cluster
    noise = np.flatnonzero(clustering.labels < 0)
    settled = settle_labels(graph, clustering, Vectors(np.arange(400), points), previous,
                            IdLedger(4), 5)  # fmt: skip
    assert settled.labels[0] == -1  # no longer near cluster truth[0]: not held
    held = [row for row in noise if row != 0 and settled.labels[row] == truth[row]]
    assert held and np.all(settled.probabilities[held] == 0)  # held, no member of this run
    assert {s.cluster_id for s in settled.summaries} == {0, 1, 2, 3}
