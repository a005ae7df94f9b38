"""UMAP from the kNN graph: the topic-model mode of `label` and the 2-D layout of `plot`.

The contract of umap-learn's `precomputed_knn` (read in umap_.py, 0.5): a tuple
(indices, distances) of two n × m arrays, row i listing its m nearest rows
nearest first, **row i itself first at distance 0**; m ≥ n_neighbors (extra
columns are cut off); -1 marks a missing neighbour. Our KnnGraph has the row
itself removed (knn.py), so `with_self` puts it back in front. UMAP then needs
no neighbour search of its own; it still takes the vectors, only to place the
pieces of a graph that falls apart and to check the row count.

Distances: the graph's are true distances, the chord distance for COSINE and IP,
which is the Euclidean distance between unit vectors; UMAP is told "euclidean"
and given unit vectors for those metrics, so everything it measures agrees.

Topic-model mode (`label --reduce umap:5`, as BERTopic-style pipelines do):
UMAP to a few dimensions with min_dist 0 (points may pile up, which is what
density clustering wants), then a new kNN graph of the embedding (Euclidean,
local: faiss over 5 dimensions takes seconds) for HDBSCAN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from milvus_cluster.core.knn import KnnGraph, local_knn, normalised
from milvus_cluster.errors import ParameterError
from milvus_cluster.extras import require

MAX_DIM = 100


@dataclass(frozen=True)
class Reduction:
    """How to embed before clustering: `umap:5` is Reduction(dim=5)."""

    dim: int = 5
    n_neighbors: int = 15  # counts the row itself, as UMAP does
    min_dist: float = 0.0
    seed: int | None = 0  # fixed: same labels for the same data (UMAP runs one thread then;
    # on 2 cores that measured no slower)


def parse_reduction(spec: str) -> Reduction | None:
    """`umap` or `umap:DIM` → Reduction; `none` or '' → None."""
    method, colon, dim = spec.strip().lower().partition(":")
    if method in ("", "none") and not colon:
        return None
    if method != "umap" or (colon and not dim.isdigit()):
        raise ParameterError(f"reduce {spec!r} is not understood; use none, umap or umap:DIM.")
    reduction = Reduction(dim=int(dim)) if dim else Reduction()
    if not 1 <= reduction.dim <= MAX_DIM:
        raise ParameterError(f"reduce {spec!r}: DIM must be between 1 and {MAX_DIM}.")
    return reduction


def require_umap() -> ModuleType:
    """umap-learn, or an error that says how to install it (before any work is done)."""
    return require("umap", "plot", "UMAP (--reduce, plot)")


def with_self(graph: KnnGraph, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """The graph in umap-learn's layout: n × min(n_neighbors, k + 1), self first."""
    columns = max(1, min(n_neighbors, graph.k + 1)) - 1
    rows = np.arange(graph.n, dtype=np.int32)[:, None]
    indices = np.hstack([rows, graph.indices[:, :columns]]).astype(np.int32)
    distances = np.hstack([np.zeros((graph.n, 1), np.float32), graph.distances[:, :columns]])
    return indices, distances.astype(np.float32)


def umap_embedding(
    graph: KnnGraph,
    vectors: np.ndarray,
    dim: int,
    n_neighbors: int = 15,
    min_dist: float = 0.0,
    seed: int | None = 0,
) -> np.ndarray:
    """UMAP coordinates (n × dim float32) of the rows of `graph`, from the graph alone
    (no neighbour search); `vectors` (n × d) are the rows the graph was built from."""
    umap = require_umap()
    indices, distances = with_self(graph, n_neighbors)
    if graph.n <= 2:  # UMAP cannot lay out fewer than three points
        return np.zeros((graph.n, dim), np.float32)
    points = vectors if graph.metric == "L2" else normalised(vectors)
    model = umap.UMAP(
        n_components=dim,
        n_neighbors=indices.shape[1],
        min_dist=min_dist,
        metric="euclidean",
        precomputed_knn=(indices, distances),
        random_state=seed,
        init="spectral" if graph.n > dim + 1 else "random",
    )
    with warnings.catch_warnings():
        # "no search index: transform unavailable", "n_jobs overridden by random_state"
        # and numba's chatter are about features we do not use; errors still raise.
        warnings.simplefilter("ignore")
        embedding = model.fit_transform(points)
    return np.ascontiguousarray(embedding, dtype=np.float32)


def reduce_graph(
    graph: KnnGraph, vectors: np.ndarray, reduction: Reduction
) -> tuple[KnnGraph, np.ndarray]:
    """The kNN graph (same k) of the UMAP embedding, and the embedding (n × dim)."""
    embedding = umap_embedding(
        graph, vectors, reduction.dim, reduction.n_neighbors, reduction.min_dist, reduction.seed
    )
    return local_knn(embedding, graph.k, "L2"), embedding
