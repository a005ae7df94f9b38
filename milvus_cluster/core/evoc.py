"""EVoC (TutteInstitute's Embedding Vector Oriented Clustering) as a clustering engine.

The contract: n vectors (n × dim float32) of a COSINE or IP collection in, EVoC's
own answer out: a Clustering as cluster_graph makes it (labels 0..c-1 ordered by
size, -1 noise, probabilities, outlier scores), the kNN graph EVoC built for itself
(KnnGraph: self removed, true chord distances, as knn.py makes them), and EVoC's
layers of clusters, finest first. EVoC needs the vectors, not our kNN graph: it
builds its own neighbours (NN-descent), a node embedding of them (related to UMAP)
and a density clustering of that embedding, in one call; so `label --engine evoc`
builds no graph of its own, and the one EVoC returns serves the noise policy, the
summaries and `assign`'s per-cluster scales (settle.py).

EVoC measures cosine distance whatever the vectors are: an L2 collection is refused
before the read (labelling.py). Its random state is fixed (SEED), and it runs on a
fixed number of numba threads (THREADS), since its answer depends on both: the same
vectors then give the same labels on any machine of at least THREADS cores. Measured on
the same 7,600 AG News rows, 1, 2, 3 and 4 threads made it pick layers of 7, 54, 50
and 20 clusters; a nightly relabel that moves to a node with other cores would see its
clusters jump. Its numba functions are compiled with `cache=True`, so the
compilation (~35 s on 2 cores) is paid once per installation, not once per run;
where site-packages cannot be written, NUMBA_CACHE_DIR names a folder that can.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np

from milvus_cluster.core.clustering import Clustering, ordered_by_size
from milvus_cluster.core.knn import KnnGraph, normalised
from milvus_cluster.core.layers import layers_from_labels
from milvus_cluster.extras import require

SEED = 0  # EVoC's random_state: fixed, so that a relabel of unchanged rows repeats itself
N_NEIGHBORS = 15  # EVoC's default; `--k` overrides it
MIN_SAMPLES = 5  # EVoC's default; `--min-samples` overrides it
THREADS = 2  # numba threads for EVoC, whatever the machine (fewer where numba has fewer)
_ROWS_PER_BLOCK = 2048  # rows whose neighbour distances are computed at once (block × k × dim)


@dataclass(frozen=True)
class EvocClustering:
    clustering: Clustering  # the layer EVoC picks (the most persistent)
    graph: KnnGraph  # EVoC's neighbours, self removed, true distances
    layers: tuple[np.ndarray, ...]  # every layer's labels, finest first, each ordered by size


def require_evoc() -> ModuleType:
    """evoc, or an error that says how to install it (before any work is done)."""
    return require("evoc", "evoc", "The EVoC engine (--engine evoc)")


def evoc_clustering(
    vectors: np.ndarray,
    min_cluster_size: int,
    min_samples: int = MIN_SAMPLES,
    n_neighbors: int = N_NEIGHBORS,
    seed: int = SEED,
) -> EvocClustering:
    """EVoC's clusters of the rows of `vectors` (see the module's contract);
    `min_cluster_size` is EVoC's base_min_cluster_size, the finest layer's; `seed` its
    random_state (label keeps SEED; the benchmark tries others)."""
    evoc = require_evoc()
    model = evoc.EVoC(
        base_min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        n_neighbors=n_neighbors,
        random_state=seed,
    )
    with warnings.catch_warnings(), numba_threads(THREADS):
        # "Failed to correctly find n_neighbors" and log2 of 0 on collections of fewer
        # rows than neighbours: EVoC copes (missing neighbours are -1); errors still raise.
        warnings.simplefilter("ignore")
        model.fit(np.ascontiguousarray(vectors, dtype=np.float32))
    clustering = _as_clustering(model.labels_, model.membership_strengths_)
    graph = neighbour_graph(vectors, np.asarray(model.nn_inds_))
    return EvocClustering(clustering, graph, cluster_layers(model))


@contextmanager
def numba_threads(count: int) -> Iterator[int]:
    """numba's parallel functions called in this block run on `count` threads (at most
    as many as numba started); the thread's setting is restored after. Yields the count."""
    import numba

    before = numba.get_num_threads()
    count = max(1, min(count, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    numba.set_num_threads(count)
    try:
        yield count
    finally:
        numba.set_num_threads(before)


def cluster_layers(model: Any) -> tuple[np.ndarray, ...]:
    """A fitted EVoC's `cluster_layers_`, finest first (EVoC's own order), each
    renumbered 0..c-1 by size with -1 for noise: for the hierarchy layers of
    `label --layers`, which take them as they are."""
    return tuple(
        ordered_by_size(layer, np.ones(len(layer)), np.zeros(len(layer)), 1).labels
        for layer in model.cluster_layers_
    )


def with_evoc_layers(clustering: Clustering, layers: Sequence[np.ndarray]) -> Clustering:
    """`clustering` with EVoC's layers that are coarser than it (fewer clusters, in
    EVoC's order) as its hierarchy (core/layers.py), each cluster under the coarser
    cluster most of its rows are in; unchanged when EVoC found no coarser layer. The
    clustering may be EVoC's own pick or the kNN vote's refinement of it."""
    count = clustering.n_clusters
    coarser = [layer for layer in layers if 0 < int(layer.max(initial=-1)) + 1 < count]
    if not coarser:
        return clustering
    return replace(clustering, layers=layers_from_labels([clustering.labels, *coarser], True))


def _as_clustering(labels: np.ndarray, strengths: np.ndarray) -> Clustering:
    """EVoC gives membership strengths and no outlier scores: a row's outlier score is
    taken as 1 - its strength (noise: 1), which orders rows the same way."""
    strengths = np.clip(np.nan_to_num(np.asarray(strengths, dtype=np.float32)), 0.0, 1.0)
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.where(labels >= 0, 1.0 - strengths, 1.0)
    return ordered_by_size(labels, strengths, scores, pieces=1)


def neighbour_graph(vectors: np.ndarray, indices: np.ndarray) -> KnnGraph:
    """The COSINE KnnGraph of EVoC's neighbour lists (n × m, self among them, -1
    missing): self dropped, chord distances between the unit vectors computed anew
    (EVoC's own `nn_dists_` are on a scale of its own), nearest first; m - 1 columns.
    COSINE and IP distances are the same chord distances (knn.py), so the graph
    serves IP collections too."""
    points = normalised(np.asarray(vectors, dtype=np.float32))
    n, m = indices.shape
    rows = np.arange(n)[:, None]
    out_indices = np.full((n, max(m - 1, 0)), -1, dtype=np.int32)
    out_distances = np.full((n, max(m - 1, 0)), np.inf, dtype=np.float32)
    for start in range(0, n, _ROWS_PER_BLOCK):
        block = slice(start, min(start + _ROWS_PER_BLOCK, n))
        neighbours = indices[block]
        valid = (neighbours >= 0) & (neighbours != rows[block])
        gaps = points[np.maximum(neighbours, 0)] - points[block][:, None, :]
        distances = np.where(valid, np.sqrt(np.einsum("nkd,nkd->nk", gaps, gaps)), np.inf)
        order = np.argsort(distances, axis=1, kind="stable")[:, : m - 1]
        found = np.take_along_axis(distances, order, axis=1)
        out_distances[block] = found
        out_indices[block] = np.where(
            np.isfinite(found), np.take_along_axis(neighbours, order, axis=1), -1
        )
    return KnnGraph(out_indices, out_distances, "COSINE")
