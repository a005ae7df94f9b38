"""The kNN graph by matrix products inside k-means cells: IVF search done with BLAS.

The contract: `cell_hits(vectors, limit, metric, cells, probes)` returns, for every
row, the `limit` nearest rows among those of the `probes` cells whose centroids are
nearest to it (the row itself among them), as Milvus or faiss would: hit rows
(n × limit int32, -1 where fewer) and raw values (similarity for COSINE/IP, squared
L2 for L2), best first. It is what a faiss IVFFlat index with nlist = cells and
nprobe = probes returns, computed differently: faiss scans each list once per query
with vector instructions; here every (cell, queries that probe it) pair is one
matrix product (sgemm, several times the arithmetic rate on the same cores), and each
query keeps a running top `limit` merged cell by cell. Memory: the vectors once, the
hits (n × limit), and one block of QUERY_BLOCK × cell size products at a time.

The same scan answers other queries than the rows themselves (`scan_cells`): sample
mode's vote searches the sample, grouped once into cells (knn.py's IvfIndex), with
each batch of rows read, at several times faiss IVFFlat's rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

QUERY_BLOCK = 2048  # queries per matrix product: bounds the products' memory
# Below SCAN_BY_QUERY probes a cell on average, a search is scanned query by query
# (measured, 20,000 queries of 100,000 rows at 4 probes of 1,265 lists: by query 2.2 s
# at any batch size; by cell 3.1 s in batches of 500, 1.5 s of 1,000, 0.7 s of 5,000).
SCAN_BY_QUERY = 2
TRAIN_PER_CELL = 64  # k-means sample rows per cell
KMEANS_ITERATIONS = 12


def cell_hits(
    vectors: np.ndarray,
    limit: int,
    metric: str,
    cells: int,
    probes: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `limit` best hits among the rows of its `probes` nearest cells;
    `progress` is told the rows of each cell as it is done."""
    n = len(vectors)
    cells = max(1, min(cells, n // max(limit, 1)))
    probes = min(probes, cells)
    probed = nearest_cells(vectors, cells, probes, metric, seed)  # n × probes
    grouped = CellRows.of(vectors, probed[:, 0], cells, metric, in_place=True)
    return scan_cells(vectors, probed, grouped, limit, progress)


@dataclass(frozen=True)
class CellRows:
    """The rows searched, grouped by their home cell: cell c's rows are
    `members[bounds[c]:bounds[c + 1]]`. `in_place`: `base` is the caller's array in its
    own order (the kNN graph's million rows, never copied); else `base` holds the rows
    in cell order, so a cell's block is a slice (a sample, searched again and again)."""

    base: np.ndarray
    members: np.ndarray  # row numbers (in the caller's order), grouped by cell
    bounds: np.ndarray  # (cells + 1,)
    in_place: bool
    norms: np.ndarray | None  # |x|² of base's rows for L2, else None

    @classmethod
    def of(
        cls, base: np.ndarray, home: np.ndarray, cells: int, metric: str, in_place: bool
    ) -> CellRows:
        members = np.argsort(home, kind="stable").astype(np.int32)
        bounds = np.searchsorted(home[members], np.arange(cells + 1))
        base = base if in_place else np.ascontiguousarray(base[members])
        norms = np.einsum("ij,ij->i", base, base) if metric == "L2" else None
        return cls(base, members, bounds, in_place, norms)

    @property
    def cells(self) -> int:
        return len(self.bounds) - 1

    def block(self, cell: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A cell's row numbers, vectors and (L2) squared norms."""
        start, stop = self.bounds[cell], self.bounds[cell + 1]
        rows = self.members[start:stop]
        at = rows if self.in_place else slice(start, stop)
        return rows, self.base[at], None if self.norms is None else self.norms[at]


def scan_cells(
    queries: np.ndarray,
    probed: np.ndarray,
    grouped: CellRows,
    limit: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's `limit` best rows of `grouped` among those of the cells it probes
    (`probed`, m × probes, each cell once): hit rows (m × limit, -1 where fewer) and raw
    values as the module's contract says; `progress` is told each cell's rows."""
    m = len(queries)
    best_rows = np.full((m, limit), -1, dtype=np.int32)
    best = np.full((m, limit), -np.inf, dtype=np.float32)  # a score: larger is nearer
    if not grouped.in_place and m * probed.shape[1] < SCAN_BY_QUERY * grouped.cells:
        norms = grouped.norms if grouped.norms is not None else np.zeros(0, np.float32)
        _scan_each(queries, probed.astype(np.int64), grouped.base, grouped.members,
                   grouped.bounds, norms, best_rows, best)  # fmt: skip
    else:
        _scan_by_cell(queries, probed, grouped, best_rows, best, limit, progress)
    if grouped.norms is not None:
        best = np.maximum(np.einsum("ij,ij->i", queries, queries)[:, None] - best, 0.0)
    best_rows[~np.isfinite(best)] = -1
    return best_rows, best.astype(np.float32)


def _scan_by_cell(
    queries: np.ndarray,
    probed: np.ndarray,
    grouped: CellRows,
    best_rows: np.ndarray,
    best: np.ndarray,
    limit: int,
    progress: Callable[[int], None] | None,
) -> None:
    """scan_cells by one matrix product per cell: the queries that probe it × its rows."""
    flat = probed.ravel()
    order = np.argsort(flat, kind="stable")
    askers = order // probed.shape[1]  # queries, grouped by the cell they probe
    ask_bounds = np.searchsorted(flat[order], np.arange(grouped.cells + 1))
    for cell in range(grouped.cells):
        base_rows, base, norms = grouped.block(cell)
        if not len(base_rows):
            continue
        for start in range(ask_bounds[cell], ask_bounds[cell + 1], QUERY_BLOCK):
            asking = askers[start : min(start + QUERY_BLOCK, ask_bounds[cell + 1])]
            scores = queries[asking] @ base.T
            if norms is not None:  # -|q - x|² + |q|², which orders as -|q - x|² does
                scores = 2 * scores - norms[None, :]
            _merge(best_rows, best, asking, base_rows, scores, limit)
        if progress:
            progress(len(base_rows))


@numba.njit(cache=True, nogil=True, fastmath=True)
def _scan_each(
    queries: np.ndarray,
    probed: np.ndarray,
    base: np.ndarray,
    members: np.ndarray,
    bounds: np.ndarray,
    norms: np.ndarray,
    best_rows: np.ndarray,
    best: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """scan_cells query by query, compiled and without the GIL, over rows kept in cell
    order: for the vote's small batches (a rewrite's 500 rows), where one matrix product
    per cell would be a loop of a thousand tiny ones in Python, holding the GIL that the
    rewrites' gRPC threads need."""
    limit = best.shape[1]
    for i in range(len(queries)):
        query, row_best, row_rows = queries[i], best[i], best_rows[i]
        for p in range(probed.shape[1]):
            cell = probed[i, p]
            for j in range(bounds[cell], bounds[cell + 1]):
                score = np.float32(0.0)
                for d in range(len(query)):
                    score += query[d] * base[j, d]
                if len(norms):
                    score = 2 * score - norms[j]
                if score > row_best[limit - 1]:
                    _keep(row_best, row_rows, score, members[j])


def nearest_cells(
    vectors: np.ndarray, cells: int, probes: int, metric: str, seed: int
) -> np.ndarray:
    """Each row's `probes` nearest k-means centroids (centroids_of), nearest first
    (n × probes)."""
    _, probed = centroids_of(vectors, cells, metric, seed).search(vectors, probes)
    return probed.astype(np.int32)


def centroids_of(
    vectors: np.ndarray, cells: int, metric: str, seed: int, per_cell: int = TRAIN_PER_CELL
) -> Any:
    """A faiss index over `cells` k-means centroids, trained on an evenly spaced sample
    of `per_cell` rows a cell."""
    import faiss

    n, dim = vectors.shape
    step = max(1, n // (per_cell * cells))
    sample = np.ascontiguousarray(vectors[::step])
    kmeans = faiss.Kmeans(
        dim,
        cells,
        niter=KMEANS_ITERATIONS,
        seed=seed,
        spherical=metric != "L2",
        max_points_per_centroid=per_cell,
    )
    kmeans.train(sample)
    # Its index is L2 over the centroids: for unit rows and (spherical) unit centroids,
    # nearest by L2 is nearest by inner product.
    return kmeans.index


@numba.njit(cache=True, nogil=True)
def _merge(
    best_rows: np.ndarray,
    best: np.ndarray,
    queries: np.ndarray,
    base_rows: np.ndarray,
    scores: np.ndarray,
    limit: int,
) -> None:  # pragma: no cover - compiled
    """Fold one cell's scores into each query's running top `limit` (kept sorted, best
    first; a tie keeps the earlier hit). Compiled: most scores lose to the query's
    current worst hit and cost one comparison, where numpy's argpartition and re-sort of
    every block took 60 % of the graph's time (measured at 200,000 rows). One thread:
    numba's OpenMP threads, spinning between calls, fought the matrix products' BLAS
    threads for the two cores (10,000 queries against 50,000 sampled rows: 4.1 s in
    parallel, 0.27 s in one thread; the 200,000-row graph 43 s and 35 s)."""
    for i in range(len(queries)):
        query = queries[i]
        row_best, row_rows = best[query], best_rows[query]
        worst = row_best[limit - 1]
        for j in range(scores.shape[1]):
            if scores[i, j] > worst:
                _keep(row_best, row_rows, scores[i, j], base_rows[j])
                worst = row_best[limit - 1]


@numba.njit(cache=True, nogil=True, inline="always")
def _keep(
    row_best: np.ndarray, row_rows: np.ndarray, score: float | np.floating, row: int
) -> None:  # pragma: no cover - compiled
    """Put a hit that beats a query's worst into its top list (sorted, best first; a tie
    keeps the earlier hit), the worst falling out."""
    at = len(row_best) - 1
    while at > 0 and row_best[at - 1] < score:
        row_best[at], row_rows[at] = row_best[at - 1], row_rows[at - 1]
        at -= 1
    row_best[at], row_rows[at] = score, row
