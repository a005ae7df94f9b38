"""The kNN graph built several ways over the same vectors, each timed and scored by
recall@k against the exact neighbours of a sample of rows (exact faiss search of the
sample's rows against all n: O(sample·n·dim), never n × n)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

RECALL_SAMPLE = 20_000
Json = dict[str, Any]
Graph = Callable[[np.ndarray, int], np.ndarray]  # (unit vectors, k) -> n × k row indices


def exact_neighbours(vectors: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The true k nearest rows (self removed) of `rows`, by inner product on unit vectors."""
    import faiss

    _, found = faiss.knn(vectors[rows], vectors, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    return without_self(found, rows, k)


def without_self(found: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """k neighbours per row once the row itself is dropped (the last hit where it is absent)."""
    is_self = found == rows[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return found[~is_self].reshape(len(rows), -1)[:, :k]


def recall(graph: np.ndarray, truth: np.ndarray, rows: np.ndarray) -> float:
    """Share of the true neighbours of `rows` that the graph's rows hold."""
    k = truth.shape[1]
    hits = sum(len(np.intersect1d(graph[r, :k], t)) for r, t in zip(rows, truth))
    return round(hits / truth.size, 4)


def measure(
    name: str,
    build: Graph,
    vectors: np.ndarray,
    k: int,
    rows: np.ndarray,
    truth: np.ndarray,
    noise: np.ndarray | None = None,
    **params: Any,
) -> Json:
    """A method's seconds and recall@k; with `noise` (the sampled rows that are true
    noise), recall on clustered and noise rows apart, and how much farther the found
    k-th neighbour is than the true one (on uniform noise every neighbour is nearly as
    far as the next, so a missed one costs next to nothing)."""
    from bench.measure import log

    start = time.perf_counter()
    graph = build(vectors, k)
    seconds = time.perf_counter() - start
    found = recall(graph, truth, rows)
    log(f"knn {name} {params}: {seconds:.1f} s, recall@{k} {found}")
    record = {
        "method": name,
        **params,
        "seconds": round(seconds, 2),
        "recall": found,
        "rows_per_second": round(len(vectors) / seconds),
    }
    if noise is not None:
        for part, chosen in (("clustered", ~noise), ("noise", noise)):
            record[f"recall_{part}"] = recall(graph, truth[chosen], rows[chosen])
            ratio = kth_distance_ratio(vectors, graph, truth[chosen], rows[chosen])
            record[f"kth_distance_ratio_{part}"] = ratio
    return record


def kth_distance_ratio(
    vectors: np.ndarray, graph: np.ndarray, truth: np.ndarray, rows: np.ndarray
) -> float:
    """Mean over `rows` of the found k-th neighbour's distance over the true k-th's (unit
    vectors: chord distances); 1.0 for an exact graph."""
    k = truth.shape[1]

    def kth(neighbours: np.ndarray) -> np.ndarray:
        similarity = np.einsum("rd,rkd->rk", vectors[rows], vectors[neighbours[:, :k]])
        return np.sqrt(np.maximum(2 - 2 * similarity.min(axis=1), 0))

    return round(float(np.mean(kth(graph[rows]) / np.maximum(kth(truth), 1e-12))), 4)


def hnsw(m: int, ef_construction: int, ef_search: int) -> Graph:
    def build(vectors: np.ndarray, k: int) -> np.ndarray:
        import faiss

        index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.add(vectors)
        index.hnsw.efSearch = ef_search
        return _search_all(index, vectors, k)

    return build


def ivf(nlist: int, nprobe: int) -> Graph:
    def build(vectors: np.ndarray, k: int) -> np.ndarray:
        index = ivf_index(vectors, nlist, "COSINE")
        index.nprobe = nprobe
        return _search_all(index, vectors, k)

    return build


def library_local(vectors: np.ndarray, k: int) -> np.ndarray:
    """What `--knn local` does (core/knn.py's local_knn)."""
    from milvus_cluster.core.knn import local_knn

    return local_knn(vectors, k, "COSINE").indices


def nndescent(vectors: np.ndarray, k: int) -> np.ndarray:
    from pynndescent import NNDescent

    index = NNDescent(
        vectors, metric="dot", n_neighbors=k + 1, low_memory=True, compressed=True, random_state=0
    )
    found, _ = index.neighbor_graph
    return without_self(found, np.arange(len(vectors)), k)


def _search_all(index: Any, vectors: np.ndarray, k: int, batch: int = 16_384) -> np.ndarray:
    graph = np.empty((len(vectors), k), dtype=np.int64)
    for start in range(0, len(vectors), batch):
        block = vectors[start : start + batch]
        _, found = index.search(block, k + 1)
        graph[start : start + len(block)] = without_self(
            found, np.arange(start, start + len(block)), k
        )
    return graph


def compare_methods(
    vectors: np.ndarray,
    k: int,
    methods: list[tuple[str, Graph, Json]],
    groups: np.ndarray | None = None,
) -> Json:
    """Each method's seconds and recall@k on one RECALL_SAMPLE of rows; with `groups`
    (the true group of each row, -1 for noise), on clustered and noise rows apart."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    rows = np.sort(
        np.random.default_rng(0).choice(
            len(vectors), min(RECALL_SAMPLE, len(vectors)), replace=False
        )
    )
    start = time.perf_counter()
    truth = exact_neighbours(vectors, rows, k)
    exact = time.perf_counter() - start
    noise = None if groups is None else groups[rows] < 0
    results = [
        measure(name, build, vectors, k, rows, truth, noise, **params)
        for name, build, params in methods
    ]
    return {
        "k": k,
        "recall_sample": len(rows),
        "exact_sample_seconds": round(exact, 1),
        "methods": results,
    }


def cells(count: int, probes: int) -> Graph:
    def build(vectors: np.ndarray, k: int) -> np.ndarray:
        from milvus_cluster.core.knn import local_knn

        return local_knn(vectors, k, "COSINE", exact_limit=0, cells=count, probes=probes).indices

    return build


def default_methods(n: int) -> list[tuple[str, Graph, Json]]:
    """What bench_scale --knn-methods compares: the library's choice, the cell graph
    around its plan, IVF, HNSW as the old local path built it, and NN-descent."""
    from milvus_cluster.core.knn import cell_plan

    count, probes = cell_plan(n)
    nlist = int(4 * n**0.5)
    methods: list[tuple[str, Graph, Json]] = [("library local_knn", library_local, {})]
    methods += [
        ("cells (sgemm)", cells(c, p), {"cells": c, "probes": p})
        for c, p in ((count, probes), (2 * count, probes), (count, 2 * probes))
    ]
    methods += [("faiss IVFFlat", ivf(nlist, 16), {"nlist": nlist, "nprobe": 16})]
    methods += [("faiss HNSW", hnsw(32, 80, 132), {"M": 32, "efConstruction": 80, "efSearch": 132})]
    return methods + [("pynndescent", nndescent, {})]


def ivf_index(vectors: np.ndarray, nlist: int, metric: str, train_rows: int = 0) -> Any:
    """A faiss IVFFlat index over `vectors` (unit vectors for COSINE), its lists
    trained on an evenly spaced sample of `train_rows` rows (default 40 per list, the
    fewest faiss trains on without a warning)."""
    import faiss

    dim = vectors.shape[1]
    faiss_metric = faiss.METRIC_L2 if metric == "L2" else faiss.METRIC_INNER_PRODUCT
    quantizer = faiss.IndexFlat(dim, faiss_metric)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss_metric)
    train_rows = min(len(vectors), train_rows or 40 * nlist)
    step = max(1, len(vectors) // train_rows)
    index.train(np.ascontiguousarray(vectors[::step][:train_rows]))
    index.add(vectors)
    return index
