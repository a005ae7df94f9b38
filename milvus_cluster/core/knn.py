"""The k-nearest-neighbour graph of a collection, from Milvus search or locally.

The contract: a KnnGraph holds, for n rows, `indices` (n × k int32 row indices,
the row itself removed, nearest first, -1 where a row has fewer than k
neighbours) and `distances` (n × k float32, ascending, +inf where the index is
-1). Distances are true distances, smaller is closer:

- L2: Milvus and faiss return the *squared* Euclidean distance; we take the root.
- COSINE and IP: they return a similarity s; we return the chord distance
  sqrt(2 - 2 s), the Euclidean distance between the unit vectors. It orders
  neighbours exactly as 1 - s does, and unlike 1 - s it is a metric, so HDBSCAN
  on it equals HDBSCAN with the Euclidean metric on normalised vectors.

Memory is n·k for the graph; nothing n × n is ever built.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from milvus_cluster.core.cells import CellRows, cell_hits, centroids_of, scan_cells
from milvus_cluster.core.keys import KeyIndex
from milvus_cluster.errors import ParameterError

Metric = Literal["L2", "COSINE", "IP"]
Progress = Callable[[int], None]
"""Called with the number of rows just finished; the caller owns the bar."""

# Milvus refuses nq or limit above 16,384 and requests above 64 MB.
MILVUS_MAX_NQ = 16_384
MILVUS_MAX_REQUEST_BYTES = 64 * 2**20
# Milvus Lite's FLAT search materialises an nq × n × dim float32 array.
LITE_FLAT_BUDGET_BYTES = 256 * 2**20
# Exact local kNN is O(n²·dim): ~22 s at 50,000 × 384 on 2 cores, ~90 s at 100,000;
# beyond, an HNSW index (as Milvus itself would search) grows as n·log n.
LOCAL_EXACT_LIMIT = 50_000
LOCAL_BATCH = 4096
# The cell graph's shape (core/cells.py): cells = CELLS_PER_SQRT_N·√n, each row
# compared with the rows of its CELL_PROBES nearest cells.
CELLS_PER_SQRT_N = 0.5
CELL_PROBES = 16


@dataclass(frozen=True)
class KnnGraph:
    indices: np.ndarray  # (n, k) int32, -1 = no neighbour
    distances: np.ndarray  # (n, k) float32, ascending, inf where indices == -1
    metric: Metric

    @property
    def n(self) -> int:
        return self.indices.shape[0]

    @property
    def k(self) -> int:
        return self.indices.shape[1]


def to_distances(raw: np.ndarray, metric: Metric) -> np.ndarray:
    """True distances from what Milvus (or faiss) returns for `metric`."""
    raw = np.asarray(raw, dtype=np.float32)
    if metric == "L2":
        return np.sqrt(np.maximum(raw, 0.0))
    if metric in ("COSINE", "IP"):
        return np.sqrt(np.maximum(2.0 - 2.0 * raw, 0.0))
    raise ParameterError(f"Metric {metric!r} is not supported; use L2, COSINE or IP.")


def check_unit_length(vectors: np.ndarray, tolerance: float = 1e-3) -> None:
    """Refuse IP on vectors that are not unit length: IP is then no distance at all."""
    for start in range(0, len(vectors), 65_536):
        norms = np.linalg.norm(vectors[start : start + 65_536], axis=1)
        if np.any(np.abs(norms - 1.0) > tolerance):
            raise ParameterError(
                "The collection's metric is IP but its vectors are not unit length, so inner "
                "products are not distances; re-index with COSINE or L2, or normalise the vectors."
            )


def effective_k(n: int, k: int) -> int:
    """A row has at most n - 1 neighbours."""
    return max(0, min(k, n - 1))


def graph_from_hits(
    query_rows: np.ndarray, hit_rows: np.ndarray, raw: np.ndarray, k: int, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the graph for one batch of queries.

    `hit_rows` (b × limit, -1 for missing hits) and `raw` (b × limit, as the
    search returned it) come from a search with limit = k + 1. The row itself is
    removed wherever it appears; where exact duplicates pushed it out of the
    hits, the farthest hit goes instead, so every row keeps k neighbours.
    """
    distances = to_distances(raw, metric)
    distances[hit_rows < 0] = np.inf
    hit_rows = np.where(hit_rows < 0, -1, hit_rows)
    is_self = hit_rows == query_rows[:, None]
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    # A row appears once among its hits (keys are unique), so each row drops one.
    keep = ~is_self
    b = len(query_rows)
    indices = hit_rows[keep].reshape(b, -1)[:, :k]
    distances = distances[keep].reshape(b, -1)[:, :k]
    order = np.argsort(distances, axis=1, kind="stable")
    indices = np.take_along_axis(indices, order, axis=1).astype(np.int32)
    distances = np.take_along_axis(distances, order, axis=1).astype(np.float32)
    indices[~np.isfinite(distances)] = -1
    return indices, distances


SearchFn = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""search(vectors (b × dim), limit) -> (query_index, pks, raw) as flat arrays, one per hit."""


def hits_to_matrix(
    query_index: np.ndarray, hit_rows: np.ndarray, raw: np.ndarray, b: int, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flat hits (grouped by query, each group in rank order) as b × limit matrices."""
    rows = np.full((b, limit), -1, dtype=np.int64)
    values = np.full((b, limit), np.nan, dtype=np.float32)
    if len(query_index):
        starts = np.searchsorted(query_index, np.arange(b))
        rank = np.arange(len(query_index)) - starts[query_index]
        fits = rank < limit
        rows[query_index[fits], rank[fits]] = hit_rows[fits]
        values[query_index[fits], rank[fits]] = raw[fits]
    return rows, values


def search_batch_size(n: int, dim: int, k: int, lite_flat: bool) -> int:
    """Queries per search request, within Milvus's limits and Lite's FLAT memory."""
    by_request = MILVUS_MAX_REQUEST_BYTES // (dim * 4 * 2)  # vectors sent, hits returned
    by_results = MILVUS_MAX_NQ // max(1, k + 1)
    size = min(MILVUS_MAX_NQ, by_request, max(by_results, 64), 2048)
    if lite_flat:
        size = min(size, LITE_FLAT_BUDGET_BYTES // max(1, n * dim * 4))
    return max(1, size)


def milvus_knn(
    vectors: np.ndarray,
    keys: KeyIndex,
    k: int,
    metric: Metric,
    search: SearchFn,
    batch_size: int,
    progress: Progress | None = None,
    in_flight: int = 1,
) -> KnnGraph:
    """Each row's k nearest neighbours by searching the collection with its own vectors,
    `in_flight` requests at a time (threads: `search` must be safe to call from several;
    pymilvus's client is, its calls are gRPC requests)."""
    k = effective_k(len(vectors), k)

    def hits(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        query_index, pks, raw = search(batch, k + 1)
        return hits_to_matrix(query_index, keys.rows(pks), raw, len(batch), k + 1)

    return _graph(vectors, k, metric, batch_size, hits, progress, in_flight)


def local_knn(
    vectors: np.ndarray,
    k: int,
    metric: Metric,
    progress: Progress | None = None,
    exact_limit: int = LOCAL_EXACT_LIMIT,
    cells: int | None = None,
    probes: int | None = None,
) -> KnnGraph:
    """The same graph computed here, over the vectors already read: exact (faiss) up to
    `exact_limit` rows; beyond, by matrix products inside k-means cells (core/cells.py;
    `cells` and `probes` default to cell_plan(n)), or with `cells=0` a faiss HNSW index."""
    k = effective_k(len(vectors), k)
    if len(vectors) <= exact_limit or cells == 0:
        index = LocalIndex(vectors, metric, k + 1, exact_limit)

        def hits(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return index.search(batch, k + 1)

        return _graph(index.base, k, metric, LOCAL_BATCH, hits, progress)
    base = np.ascontiguousarray(vectors, dtype=np.float32)
    base = normalised(base) if metric == "COSINE" else base
    planned_cells, planned_probes = cell_plan(len(base))
    rows, raw = cell_hits(base, k + 1, metric, cells or planned_cells,
                          probes or planned_probes, progress=progress)  # fmt: skip
    at = {"start": 0}

    def stored(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start = at["start"]
        at["start"] += len(batch)
        return rows[start : start + len(batch)], raw[start : start + len(batch)]

    return _graph(base, k, metric, LOCAL_BATCH, stored, None)


def cell_plan(n: int) -> tuple[int, int]:
    """Cells and probes of the cell graph for n rows, from measurements (README, Scale)."""
    return max(8, round(CELLS_PER_SQRT_N * n**0.5)), CELL_PROBES


class LocalIndex:
    """faiss over `vectors` (m × dim), searched by `search(queries, limit)`, which
    returns the hit rows (b × limit, -1 where fewer) and raw distances as Milvus would
    (squared L2, or similarity). Exact up to LOCAL_EXACT_LIMIT rows, an HNSW index (as
    Milvus itself would use) beyond. faiss rather than hand-written search: it ships
    with milvus-lite. Used for the kNN graph and for sample mode's vote."""

    def __init__(
        self, vectors: np.ndarray, metric: Metric, limit: int, exact_limit: int = LOCAL_EXACT_LIMIT
    ) -> None:
        import faiss

        self.metric = metric
        self.base = np.ascontiguousarray(vectors, dtype=np.float32)
        if metric == "COSINE":
            self.base = normalised(self.base)
        self.faiss_metric = faiss.METRIC_L2 if metric == "L2" else faiss.METRIC_INNER_PRODUCT
        self.hnsw = None
        if len(self.base) > exact_limit:
            self.hnsw = faiss.IndexHNSWFlat(self.base.shape[1], 32, self.faiss_metric)
            self.hnsw.hnsw.efConstruction = 80
            self.hnsw.add(self.base)
            self.hnsw.hnsw.efSearch = max(64, 4 * limit)

    def __len__(self) -> int:
        return len(self.base)

    def search(self, queries: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.metric == "COSINE":
            queries = normalised(queries)
        if self.hnsw is not None:
            raw, rows = self.hnsw.search(queries, limit)
        else:
            raw, rows = faiss.knn(queries, self.base, limit, metric=self.faiss_metric)
        return rows, raw


class IvfIndex:
    """An IVF index over `vectors` (m rows, 4·√m lists, 40 rows a list at least),
    searched as a LocalIndex is (hit rows, raw distances), `probes` of its lists per
    query: k-means lists (faiss), scanned by matrix products (core/cells.py's
    scan_cells: 10,000 queries of 100,000 sampled rows at 4 probes in 0.38 s, faiss's
    IVFFlat 0.98 s). For sample mode's vote, which sets the probes by the votes they
    give (core/vote.py's vote_index)."""

    def __init__(self, vectors: np.ndarray, metric: Metric, probes: int = 8) -> None:
        self.metric = metric
        base = np.ascontiguousarray(vectors, dtype=np.float32)
        base = normalised(base) if metric == "COSINE" else base
        self.lists = max(1, min(round(4 * len(base) ** 0.5), len(base) // 40))
        self.centroids = centroids_of(base, self.lists, metric, seed=0, per_cell=40)
        _, home = self.centroids.search(base, 1)
        self.grouped = CellRows.of(base, home[:, 0], self.lists, metric, in_place=False)
        self.size, self.probes = len(base), probes

    def __len__(self) -> int:
        return self.size

    def search(self, queries: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.metric == "COSINE":
            queries = normalised(queries)
        _, probed = self.centroids.search(queries, min(self.probes, self.lists))
        return scan_cells(queries, probed, self.grouped, limit)


def _graph(
    vectors: np.ndarray,
    k: int,
    metric: Metric,
    batch_size: int,
    hits: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    progress: Progress | None,
    in_flight: int = 1,
) -> KnnGraph:
    """Query every row's vector in batches; `hits(batch)` returns the b × (k+1)
    hit rows and raw distances, which become the graph's rows. With `in_flight` > 1,
    that many batches are asked at once from threads, so a server searches one while
    the client sends the next and turns the last into rows; each thread fills its own
    rows of the graph, so no lock is needed."""
    n = len(vectors)
    indices = np.empty((n, k), dtype=np.int32)
    distances = np.empty((n, k), dtype=np.float32)

    def one(start: int) -> int:
        batch = vectors[start : start + batch_size]
        hit_rows, raw = hits(batch)
        stop = start + len(batch)
        indices[start:stop], distances[start:stop] = graph_from_hits(
            np.arange(start, stop), hit_rows, raw, k, metric
        )
        return len(batch)

    with ThreadPoolExecutor(max(1, in_flight), thread_name_prefix="knn-search") as pool:
        for rows in pool.map(one, range(0, n, batch_size)):  # an error in a batch is raised
            if progress:
                progress(rows)
    return KnnGraph(indices, distances, metric)


def normalised(vectors: np.ndarray) -> np.ndarray:
    """`vectors` itself when its rows are unit vectors already, else a normalised copy;
    the norms without an n × dim temporary (np.linalg.norm squares every component into
    one: at a million 384-d rows, 1.4 GiB more for a moment)."""
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))[:, None]
    if np.allclose(norms, 1.0, atol=1e-4):
        return vectors
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)
