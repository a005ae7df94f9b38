"""What the catalog says about each cluster: size, centroid, exemplars, scale.

The contract: the n rows' vectors (n × dim float32), their final labels (n,),
which rows HDBSCAN itself put in a cluster (`members`, n bools: rows that
`--noise assign` added count in the size but shape nothing else), their core
distances (n,) and keys (n,). Out: one ClusterSummary per cluster id present,
largest first. For COSINE and IP the vectors are normalised first, so that the
centroid is a direction and distances are chord distances (as in knn.py).
Work is one sort by label and one pass over the vectors; nothing per pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from milvus_cluster.core.knn import Metric

EXEMPLARS = 5


@dataclass(frozen=True)
class ClusterSummary:
    cluster_id: int
    size: int  # rows with this label, --noise assign included
    centroid: np.ndarray  # (dim,) float32
    exemplars: tuple  # keys of the members nearest the centroid, nearest first
    scale: float  # the largest core distance among its members


def summarise(
    vectors: np.ndarray,
    labels: np.ndarray,
    members: np.ndarray,
    core: np.ndarray,
    pks: np.ndarray,
    metric: Metric,
    exemplars: int = EXEMPLARS,
) -> list[ClusterSummary]:
    """One summary per cluster (see the module's contract)."""
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, int)
    chosen = np.flatnonzero(members & (labels >= 0))
    chosen = chosen[np.argsort(labels[chosen], kind="stable")]
    ids, starts = np.unique(labels[chosen], return_index=True)
    summaries = []
    for cluster, rows in zip(ids, np.split(chosen, starts[1:])):
        points = _directions(vectors[rows], metric)
        centroid = points.mean(axis=0)
        if metric != "L2":
            centroid /= max(float(np.linalg.norm(centroid)), np.finfo(np.float32).tiny)
        nearest = np.argsort(np.linalg.norm(points - centroid, axis=1), kind="stable")
        summaries.append(
            ClusterSummary(
                cluster_id=int(cluster),
                size=int(sizes[cluster]),
                centroid=centroid.astype(np.float32),
                exemplars=tuple(pks[rows[nearest[:exemplars]]].tolist()),
                scale=float(np.max(core[rows])),
            )
        )
    return sorted(summaries, key=lambda s: (-s.size, s.cluster_id))


def _directions(vectors: np.ndarray, metric: Metric) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if metric == "L2":
        return vectors
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)
