"""Between clustering and writing: the noise policy, stable ids, the cluster summaries.

The contract: the kNN graph and the Clustering of n rows, their Vectors (keys (n,)
and vectors n × dim), the labels they had before (n,), or None on a first run, and the
collection's IdLedger. Out: Settled, with the labels and probabilities to write,
the summaries the catalog keeps, the ledger to store and the drift. Pure: arrays
in, arrays out.

`--noise assign` gives a noise row the label of its nearest cluster when the
nearest-cluster rule of vote.py accepts it, and leaves its probability at 0, so
that `cluster_prob == 0` still tells these rows from HDBSCAN's own members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from milvus_cluster.core.clustering import Clustering, core_distances
from milvus_cluster.core.knn import KnnGraph
from milvus_cluster.core.layers import Layers, StableLayers, layers_from_tree, stable_layers
from milvus_cluster.core.stable_ids import Drift, IdLedger, stable_ids
from milvus_cluster.core.summaries import ClusterSummary, summarise
from milvus_cluster.core.vectors import Vectors
from milvus_cluster.core.vote import cluster_scales, nearest_cluster

NoisePolicy = Literal["keep", "assign"]


@dataclass(frozen=True)
class Settled:
    labels: np.ndarray  # (n,) int64, stable ids, -1 = noise
    probabilities: np.ndarray  # (n,) float32, 0 for noise and for noise assigned a cluster
    noise_before: int  # rows HDBSCAN called noise, before the noise policy
    summaries: list[ClusterSummary]  # largest first
    ledger: IdLedger
    drift: Drift | None
    # the coarser layers above the labels, in stable ids (core/layers.py)
    hierarchy: StableLayers = field(default_factory=lambda: StableLayers(Layers(), (), ()))

    @property
    def layers(self) -> Layers:
        return self.hierarchy.layers

    @property
    def noise(self) -> int:
        return int(np.count_nonzero(self.labels < 0))


def settle_labels(
    graph: KnnGraph,
    clustering: Clustering,
    vectors: Vectors,
    previous: np.ndarray | None,
    ledger: IdLedger,
    min_samples: int,
    noise: NoisePolicy = "keep",
    previous_layers: Layers | None = None,
    layer_ledgers: Sequence[IdLedger] = (),
    anchor: bool = True,
    min_cluster_size: int = 2,
) -> Settled:
    """The labels to write and what the catalog keeps about them, and the layers above
    them (`previous_layers`, `layer_ledgers`: the last run's, from the catalog).
    `anchor`: rows keep their previous labels where the new clustering gives no reason
    to move (core/anchor.py); a held row is no member of this run's clustering, so its
    probability is 0, as for noise that the noise policy gave a cluster; no merge of
    fewer than `min_cluster_size` rows is undone."""
    core = core_distances(graph, min_samples)
    labels = clustering.labels
    if noise == "assign":
        labels = assign_noise(graph, labels, core)
    near = near_their_clusters(graph, previous, core) if anchor and previous is not None else None
    stable = stable_ids(previous, labels, ledger, anchor, near, min_cluster_size)
    members = with_every_cluster(stable.labels, (clustering.labels >= 0) & ~stable.held)
    summaries = summarise(vectors.vectors, stable.labels, members, core, vectors.pks, graph.metric)
    layers = clustering.layers
    if layers is None:
        layers = layers_from_tree(clustering.tree, clustering.labels)
    hierarchy = stable_layers(
        layers, labels, stable.labels, previous, previous_layers or Layers(), layer_ledgers
    )
    return Settled(
        stable.labels,
        np.where(stable.held, np.float32(0), clustering.probabilities).astype(np.float32),
        clustering.noise,
        summaries,
        stable.ledger,
        stable.drift,
        hierarchy,
    )


def near_their_clusters(graph: KnnGraph, previous: np.ndarray, core: np.ndarray) -> np.ndarray:
    """(n,) bool: rows that the nearest-cluster rule (vote.py, as `assign` uses it) gives
    their previous cluster again, by their neighbours' previous labels. Only these may
    keep their cluster where the new clustering calls them noise: a row the application
    moved far from it must not (core/anchor.py)."""
    previous = np.asarray(previous, dtype=np.int64)
    neighbours = np.where(graph.indices >= 0, previous[np.maximum(graph.indices, 0)], -1)
    verdict = nearest_cluster(neighbours, graph.distances, cluster_scales(previous, core))
    return (previous >= 0) & (verdict.labels == previous)


def with_every_cluster(labels: np.ndarray, members: np.ndarray) -> np.ndarray:
    """`members`, plus every row of a cluster that has none among them (a merge the
    anchoring undid holds all its rows), so that each cluster gets its summary."""
    without = np.setdiff1d(labels[labels >= 0], labels[members & (labels >= 0)])
    return members | np.isin(labels, without)


def assign_noise(graph: KnnGraph, labels: np.ndarray, core: np.ndarray) -> np.ndarray:
    """Labels where the noise rows that the nearest-cluster rule accepts have a cluster."""
    noise = np.flatnonzero(labels < 0)
    if len(noise) == 0:
        return labels
    neighbours = graph.indices[noise]
    neighbour_labels = np.where(neighbours >= 0, labels[np.maximum(neighbours, 0)], -1)
    scales = cluster_scales(labels, core)
    verdict = nearest_cluster(neighbour_labels, graph.distances[noise], scales)
    assigned = labels.copy()
    assigned[noise] = verdict.labels
    return assigned
