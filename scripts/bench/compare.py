"""The cluster stage alone: our cluster_graph against fast_hdbscan on one kNN graph."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.children import child
from bench.data import ari, load_data
from bench.environment import library
from bench.measure import log, proc_status

COMPARE_K, COMPARE_MIN_SAMPLES, COMPARE_MIN_CLUSTER_SIZE = 20, 10, 10

Json = dict[str, Any]


def bench_compare(n: int, workdir: Path) -> Json:
    """The graph once, then ours and fast_hdbscan (cold and warm numba cache) on it."""
    job: Json = {
        "n": n,
        "workdir": str(workdir),
        "graph": str(workdir / f"graph_{n}.npz"),
        "labels": str(workdir / f"ours_labels_{n}.npy"),
    }
    log(f"n={n:,}: cluster-stage comparison: kNN graph")
    knn = child("knn", job, workdir)
    if "error" in knn:
        return {"knn": knn}
    ours = child("ours", job, workdir)
    cache = workdir / f"numba_cache_{n}"
    shutil.rmtree(cache, ignore_errors=True)
    numba = {"NUMBA_CACHE_DIR": str(cache)}
    job_fast = job | {"ours_labels": job["labels"]}
    cold = child("fast", job_fast, workdir, numba)  # empty cache: includes JIT compilation
    warm = child("fast", job_fast, workdir, numba)  # the cache the cold run left
    log(f"n={n:,}: ours {ours.get('first')} s, fast_hdbscan {cold.get('first')} s (cold)")
    for path in (Path(job["graph"]), Path(job["labels"])):
        path.unlink(missing_ok=True)
    shutil.rmtree(cache, ignore_errors=True)
    return {"knn": knn, "ours": ours, "fast_cold": cold, "fast_warm": warm}


def worker_knn(job: Json) -> Json:
    """The shared kNN graph for the cluster-stage comparison, saved for the next workers."""
    from milvus_cluster.core.knn import local_knn

    vectors, _ = load_data(Path(job["workdir"]), job["n"])
    start = time.perf_counter()
    graph = local_knn(np.asarray(vectors), COMPARE_K, "COSINE")
    seconds = round(time.perf_counter() - start, 3)
    np.savez(job["graph"], indices=graph.indices, distances=graph.distances)
    return {"seconds": seconds, "peak_rss": proc_status("VmHWM"), "library": library()}


def worker_ours(job: Json) -> Json:
    """cluster_graph twice on the saved graph, with the vectors as label_collection passes them."""
    from milvus_cluster.core.clustering import cluster_graph
    from milvus_cluster.core.knn import KnnGraph

    vectors, truth = load_data(Path(job["workdir"]), job["n"])
    saved = np.load(job["graph"])
    graph = KnnGraph(saved["indices"], saved["distances"], "COSINE")
    points = np.asarray(vectors)
    calls = []
    for _ in range(2):
        start = time.perf_counter()
        clustering = cluster_graph(
            graph, COMPARE_MIN_CLUSTER_SIZE, COMPARE_MIN_SAMPLES, vectors=points
        )
        calls.append(round(time.perf_counter() - start, 3))
    np.save(job["labels"], clustering.labels)
    return {
        "first": calls[0],
        "second": calls[1],
        "pieces": clustering.pieces,
        "peak_rss": proc_status("VmHWM"),
        **ari(truth, clustering.labels),
    }


def worker_fast(job: Json) -> Json:
    """fast_hdbscan on the same graph as a sparse precomputed distance matrix."""
    start = time.perf_counter()
    import fast_hdbscan

    imported = round(time.perf_counter() - start, 3)
    _, truth = load_data(Path(job["workdir"]), job["n"])
    saved = np.load(job["graph"])
    calls = []
    for _ in range(2):
        start = time.perf_counter()
        model = fast_hdbscan.HDBSCAN(
            metric="precomputed",
            min_samples=COMPARE_MIN_SAMPLES,
            min_cluster_size=COMPARE_MIN_CLUSTER_SIZE,
        ).fit(sparse_graph(saved["indices"], saved["distances"]))
        calls.append(round(time.perf_counter() - start, 3))
    labels = np.asarray(model.labels_, dtype=np.int64)
    record = {
        "import": imported,
        "first": calls[0],
        "second": calls[1],
        "numba_cache": os.environ.get("NUMBA_CACHE_DIR", "default"),
        "peak_rss": proc_status("VmHWM"),
        **ari(truth, labels),
    }
    if job.get("ours_labels") and Path(job["ours_labels"]).exists():
        from sklearn.metrics import adjusted_rand_score

        ours = np.load(job["ours_labels"])
        record["ari_vs_ours"] = round(float(adjusted_rand_score(ours, labels)), 4)
    return record


def sparse_graph(indices: np.ndarray, distances: np.ndarray) -> Any:
    """The kNN graph as an n x n CSR distance matrix (missing neighbours, -1, left out)."""
    from scipy.sparse import csr_matrix

    n, k = indices.shape
    rows = np.repeat(np.arange(n, dtype=np.int32), k)
    present = indices.ravel() >= 0
    values = distances.ravel()[present].astype(np.float64)
    return csr_matrix((values, (rows[present], indices.ravel()[present])), shape=(n, n))
