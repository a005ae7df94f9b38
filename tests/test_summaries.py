"""Cluster summaries: centroids and central exemplars (core/summaries.py)."""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.summaries import summarise


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
