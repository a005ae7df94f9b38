"""Benchmark `label_collection` on Milvus Lite against the Milvus bootcamp notebook's method.

What it measures, for each n in --sizes, on synthetic clustered 384-d data (40 clusters of
unequal sizes and spreads on the unit sphere plus 10 % uniform noise, seeded):

1. ours: `label_collection` on a fresh Milvus Lite file (HNSW, COSINE), first run, so the
   figures include the shadow-collection migration. Seconds per stage and in total, peak RSS
   (VmHWM of the child; Milvus Lite runs inside it) and the peak RSS within each stage,
   clusters, noise share, adjusted Rand index (ARI) of the labels read back from Milvus
   against the truth. Inserting the data ("prepare") is timed apart and not counted.
2. baseline: the notebook "HDBSCAN Clustering with Milvus" rebuilt: query_iterator with
   batch_size=10, a search (limit=50, L2, FLAT index) per batch of 10, a dense n x n float64
   matrix of squared L2 distances (inf elsewhere), hdbscan.HDBSCAN(min_samples=3,
   min_cluster_size=3, metric="precomputed"). As written that matrix is not symmetric and
   the fit does not finish; it is symmetrised (np.minimum(m, m.T)) so that it runs. With
   --baseline-search local (default above n=5,000) the search is exact faiss in the child
   instead of Milvus: a lower bound of the notebook's cost.
3. cluster stage alone: on one kNN graph (local_knn, k=20, COSINE), our `cluster_graph`
   against `fast_hdbscan.HDBSCAN(metric="precomputed")` (min_samples=10,
   min_cluster_size=10), each in a fresh process; fast_hdbscan's first call runs with an
   empty numba cache, so it includes JIT compilation.

Every measured run is a fresh child process (this script with --worker), so peak RSS is per run.

Run:
    /work/venv/bin/python scripts/bench_label.py                      # 5,000 20,000 100,000
    /work/venv/bin/python scripts/bench_label.py --sizes 1000000 --skip-baseline \\
        --skip-cluster-compare
Results: a markdown table on stdout, everything in --out (bench-results/bench_label.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
CLUSTERS = 40
NOISE_SHARE = 0.10
SEED = 20240611
COLLECTION = "bench"
INSERT_BATCH = 5_000
HNSW_PARAMS = {"M": 16, "efConstruction": 200}
MIN_CLUSTER_SIZE = 10  # ours: Parameters(min_cluster_size=10) -> min_samples 10, k 20
COMPARE_K, COMPARE_MIN_SAMPLES, COMPARE_MIN_CLUSTER_SIZE = 20, 10, 10
NOTEBOOK_LIMIT, NOTEBOOK_BATCH, NOTEBOOK_MIN = 50, 10, 3
BASELINE_COPIES = 4  # dense n x n float64 copies alive at once inside hdbscan (~3-4)
BASELINE_BUDGET = 20 * 2**30
GIB = 2**30
TARGETS = {20_000: (60.0, 1.5), 100_000: (300.0, 3.0)}  # n: (seconds, GiB)
CHILD_TIMEOUT = 3 * 3600

Json = dict[str, Any]


# -- data -------------------------------------------------------------------


def make_data(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors (float32) and their true groups (-1 = noise), shuffled.

    The 40 centres, sizes (a power law, ~19x between largest and smallest) and spreads
    (offset norm 0.3-0.7) depend on the seed only; the points on seed and n."""
    structure = np.random.default_rng(seed)
    centres = _unit(structure.standard_normal((CLUSTERS, DIM)))
    weights = 1.0 / np.arange(1, CLUSTERS + 1) ** 0.8
    spreads = structure.uniform(0.3, 0.7, CLUSTERS)
    rng = np.random.default_rng([seed, n])
    truth = rng.permutation(_group_of_rows(n, weights / weights.sum()))
    vectors = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 50_000):
        group = truth[start : start + 50_000]
        offsets = rng.standard_normal((len(group), DIM))
        clustered = group >= 0
        points = offsets.copy()  # noise: uniform on the sphere once normalised
        scale = spreads[group[clustered]] / np.sqrt(DIM)
        points[clustered] = centres[group[clustered]] + offsets[clustered] * scale[:, None]
        vectors[start : start + len(group)] = _unit(points)
    return vectors, truth


def _group_of_rows(n: int, shares: np.ndarray) -> np.ndarray:
    clustered = n - round(n * NOISE_SHARE)
    counts = np.floor(shares * clustered).astype(np.int64)
    counts[: clustered - counts.sum()] += 1
    return np.concatenate([np.repeat(np.arange(CLUSTERS), counts), np.full(n - clustered, -1)])


def _unit(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def data_paths(workdir: Path, n: int) -> tuple[Path, Path]:
    return workdir / f"vectors_{n}.npy", workdir / f"truth_{n}.npy"


def load_data(workdir: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    vectors, truth = data_paths(workdir, n)
    return np.load(vectors, mmap_mode="r"), np.load(truth)


def ari(truth: np.ndarray, labels: np.ndarray) -> Json:
    """ARI with noise as a group of its own, and on the rows the labels put in clusters."""
    from sklearn.metrics import adjusted_rand_score

    clustered = labels >= 0
    return {
        "ari_all": round(float(adjusted_rand_score(truth, labels)), 4),
        "ari_clustered": round(float(adjusted_rand_score(truth[clustered], labels[clustered])), 4)
        if clustered.any()
        else None,
        "clusters": int(labels.max()) + 1 if clustered.any() else 0,
        "noise_share": round(float(np.mean(~clustered)), 4),
    }


def library() -> Json:
    """Which milvus_cluster this process imported, and a hash of its sources: the package
    may be edited while a run goes on (PYTHONPATH=<a git archive> pins a version)."""
    import hashlib

    import milvus_cluster

    folder = Path(milvus_cluster.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return {"path": str(folder), "sha256": digest.hexdigest()[:16]}


# -- memory -----------------------------------------------------------------


def proc_status(key: str) -> int:
    """A /proc/self/status figure (VmHWM, VmRSS) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


SAMPLER_THREAD = "bench-sampler"  # the measuring threads, which the stack sampler skips


class RssSampler:
    """Samples VmRSS every 50 ms in a thread, so peaks can be attributed to time windows."""

    def __init__(self, interval: float = 0.05) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(interval,), daemon=True, name=SAMPLER_THREAD
        )

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), proc_status("VmRSS")))
            self._stop.wait(interval)

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        after = next((rss for t, rss in self.samples if t > end), 0)  # a stage shorter than
        return max(inside, default=after)  # the interval: the sample just after it


@contextmanager
def timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = round(time.perf_counter() - start, 3)


# -- workers (each runs in its own child process) ------------------------------


def worker_prepare(job: Json) -> Json:
    """Create the collection in a fresh Lite file and insert the data in batches."""
    from pymilvus import DataType, MilvusClient

    vectors, _ = load_data(Path(job["workdir"]), job["n"])
    seconds: dict[str, float] = {}
    client = MilvusClient(job["uri"])
    with timed(seconds, "create"):
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
        index = client.prepare_index_params()
        params = HNSW_PARAMS if job["index"] == "HNSW" else {}
        index.add_index(
            "embedding", index_type=job["index"], metric_type=job["metric"], params=params
        )
        client.create_collection(COLLECTION, schema=schema, index_params=index)
    advance = _every_tenth("insert", len(vectors))
    with timed(seconds, "insert"):
        for start in range(0, len(vectors), INSERT_BATCH):
            block = np.asarray(vectors[start : start + INSERT_BATCH])
            rows = [{"id": start + i, "embedding": v} for i, v in enumerate(block)]
            client.insert(COLLECTION, rows)
            advance(len(rows))
    with timed(seconds, "flush"):
        client.flush(COLLECTION)
    count = client.query(COLLECTION, filter="", output_fields=["count(*)"])[0]["count(*)"]
    client.close()
    seconds["close"] = close_lite(job["uri"])["close_seconds"]  # background index builds
    return {
        "seconds": seconds,
        "total": round(sum(seconds.values()), 3),
        "rows": count,
        "index": job["index"],
        "metric": job["metric"],
        "peak_rss": proc_status("VmHWM"),
    }


def worker_label(job: Json) -> Json:
    """label_collection on the prepared file; then the labels read back and compared."""
    from milvus_cluster import Parameters, label_collection

    marks: dict[str, float] = {}

    cpu: dict[str, float] = {}

    def progress(stage: str, total: int) -> Callable[[int], None]:
        marks[stage] = time.perf_counter()
        cpu[stage] = _cpu()
        log(f"{stage}: {total:,} rows; RSS {gib(proc_status('VmRSS'))} GiB")
        return _every_tenth(stage, total)

    stacks = StackSampler() if job.get("profile") else None
    with RssSampler() as sampler, stacks or _nothing():
        start, cpu["start"] = time.perf_counter(), _cpu()
        result = label_collection(
            COLLECTION,
            uri=job["uri"],
            parameters=Parameters(min_cluster_size=MIN_CLUSTER_SIZE),
            progress=progress,
        )
        end, cpu["end"] = time.perf_counter(), _cpu()
    peak = proc_status("VmHWM")
    closed = close_lite(job["uri"])
    windows = stage_windows(result.seconds, marks, start, end)
    record = result.as_dict()
    record.pop("sizes")
    record |= {
        "total": round(end - start, 3),
        "cpu_seconds": round(sum(os.times()[:2]), 1),
        "stage_cpu_s": cpu_spans(cpu),
        "peak_rss": peak,
        "stage_peak_rss": {stage: sampler.peak(*span) for stage, span in windows.items()},
    }
    record["other_seconds"] = round(record["total"] - sum(result.seconds.values()), 3)
    record |= closed | {"total_with_close": round(record["total"] + closed["close_seconds"], 3)}
    record["library"] = library()
    if stacks:
        record["profile"] = stacks.summary(windows)
    record["check"] = read_back(job)
    return record


def close_lite(uri: str) -> Json:
    """Stop the in-process Milvus Lite server, as the CLI's exit does: it first drains the
    background compaction and index builds that the run queued. label_collection returns
    before they finish, so its own total leaves this out."""
    from milvus_lite.server_manager import server_manager_instance

    start = time.perf_counter()
    server_manager_instance.release_server(uri)
    return {
        "close_seconds": round(time.perf_counter() - start, 3),
        "peak_rss_with_close": proc_status("VmHWM"),
    }


def _cpu() -> float:
    """CPU seconds of this process so far, all threads (Milvus Lite's included)."""
    return sum(os.times()[:2])


def cpu_spans(cpu: dict[str, float]) -> dict[str, float]:
    """CPU seconds between the marks: inspect+load, read, knn+cluster, write."""
    order = [key for key in ("start", "read", "knn", "write", "end") if key in cpu]
    names = {"start": "inspect+load", "read": "read", "knn": "knn+cluster", "write": "write"}
    return {names[a]: round(cpu[b] - cpu[a], 1) for a, b in zip(order, order[1:])}


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _every_tenth(stage: str, total: int) -> Callable[[int], None]:
    """A progress callback that logs at every tenth of the rows, with the RSS."""
    done = [0, 0]  # rows, tenths logged

    def advance(rows: int) -> None:
        done[0] += rows
        tenth = done[0] * 10 // max(total, 1)
        if tenth > done[1]:
            done[1] = tenth
            log(f"{stage}: {done[0]:,}/{total:,}; RSS {gib(proc_status('VmRSS'))} GiB")

    return advance


def stage_windows(
    seconds: dict[str, float], marks: dict[str, float], start: float, end: float
) -> dict[str, tuple[float, float]]:
    """When each stage ran: starts from the progress marks (read, knn, write) and the stage
    durations (inspect begins the run, cluster follows knn; load lies between inspect and
    read: loading the collection, which no stage times)."""
    windows = {"inspect": (start, start + seconds.get("inspect", 0))}
    for stage in ("read", "knn", "write"):
        if stage in marks:
            windows[stage] = (marks[stage], marks[stage] + seconds.get(stage, 0))
    if "knn" in marks:
        after_knn = marks["knn"] + seconds.get("knn", 0)
        windows["cluster"] = (after_knn, marks.get("write", end))
    if "read" in marks:
        windows["load"] = (windows["inspect"][1], marks["read"])
    return windows


def read_back(job: Json) -> Json:
    """The labels as Milvus now holds them, against the truth."""
    from pymilvus import MilvusClient

    _, truth = load_data(Path(job["workdir"]), job["n"])
    client = MilvusClient(job["uri"])
    client.load_collection(COLLECTION)  # label_collection leaves it as it found it: released
    ids, labels = [], []
    iterator = client.query_iterator(
        COLLECTION, batch_size=10_000, output_fields=["id", "cluster_id"]
    )
    while batch := iterator.next():
        ids.extend(row["id"] for row in batch)
        labels.extend(row["cluster_id"] for row in batch)
    iterator.close()
    collections = client.list_collections()
    client.close()
    found = np.full(len(truth), -2, dtype=np.int64)
    found[np.asarray(ids, dtype=np.int64)] = np.asarray(labels, dtype=np.int64)
    return {
        "rows_read_back": len(ids),
        "all_labelled": bool(np.all(found >= -1)),
        "collections_after": sorted(collections),
        **ari(truth, found),
    }


# Innermost frames of a thread that waits (for a lock, a queue, the network, the server).
IDLE_FRAMES = {
    "wait",
    "select",
    "poll",
    "_serve",
    "_blocking",
    "get",
    "_wait_for_tstate_lock",
    "_worker",
    "accept",
    "sleep",
    "_run",
    "_poll_connectivity",
    "channel_spin",
}


# Frames on every stack (thread start-up, this script): left out of the cumulative counts.
GENERIC_FRAMES = ("/", "scripts/", "milvus_cluster/pipeline.py:label_collection", "grpc/")


class StackSampler:
    """Samples the stacks of all threads every 20 ms (Milvus Lite answers in its own gRPC
    threads, where cProfile on the caller sees only waiting), to say which functions the
    busy threads were in during each stage."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.samples: list[tuple[float, bool, tuple[str, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=SAMPLER_THREAD)

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        main = threading.main_thread().ident
        while not self._stop.wait(self.interval):
            now = time.perf_counter()
            ours = {t.ident for t in threading.enumerate() if t.name == SAMPLER_THREAD}
            for ident, frame in sys._current_frames().items():
                if ident not in ours and frame.f_code.co_name not in IDLE_FRAMES:
                    self.samples.append((now, ident == main, _stack(frame)))

    def summary(self, windows: dict[str, tuple[float, float]], top: int = 12) -> Json:
        """Per stage: busy seconds of the caller's thread and of the others, and the
        functions most often on a busy stack (cumulative) or at its top (self)."""
        result = {}
        for stage, (a, b) in windows.items():
            inside = [(is_main, stack) for t, is_main, stack in self.samples if a <= t <= b]
            cumulative: dict[str, int] = {}
            innermost: dict[str, int] = {}
            for _, stack in inside:
                innermost[stack[0]] = innermost.get(stack[0], 0) + 1
                for name in set(stack):
                    if not name.startswith(GENERIC_FRAMES):
                        cumulative[name] = cumulative.get(name, 0) + 1
            result[stage] = {
                "seconds": round(b - a, 2),
                "busy_main_s": round(self.interval * sum(m for m, _ in inside), 1),
                "busy_other_threads_s": round(self.interval * sum(not m for m, _ in inside), 1),
                "cumulative_s": self._top(cumulative, top),
                "self_s": self._top(innermost, top),
            }
        return result

    def _top(self, counts: dict[str, int], top: int) -> dict[str, float]:
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return {name: round(count * self.interval, 1) for name, count in ranked}


def _stack(frame) -> tuple[str, ...]:
    names = []
    while frame is not None:
        path = frame.f_code.co_filename
        short = path.split("site-packages/")[-1].split("/work/main/")[-1]
        names.append(f"{short}:{frame.f_code.co_name}")
        frame = frame.f_back
    return tuple(names)


def worker_baseline(job: Json) -> Json:
    """The notebook's method, symmetrised so that hdbscan can finish."""
    import hdbscan
    from pymilvus import MilvusClient

    _, truth = load_data(Path(job["workdir"]), job["n"])
    seconds: dict[str, float] = {}
    client = MilvusClient(job["uri"])
    with timed(seconds, "load"):
        client.load_collection(COLLECTION)
    if job["search"] == "milvus":
        with timed(seconds, "read+search"):
            dist, ids = notebook_read_and_search(client)
    else:
        with timed(seconds, "read"):
            ids, embeddings = notebook_read(client)
        with timed(seconds, "search"):
            dist = local_search(ids, embeddings)
    client.close()
    with timed(seconds, "matrix"):
        matrix, order = notebook_matrix(dist, len(ids))
    with timed(seconds, "symmetrise"):
        matrix = np.minimum(matrix, matrix.T)
    with timed(seconds, "hdbscan"):
        labels = (
            hdbscan.HDBSCAN(
                min_samples=NOTEBOOK_MIN, min_cluster_size=NOTEBOOK_MIN, metric="precomputed"
            )
            .fit(matrix)
            .labels_
        )
    return {
        "search": job["search"],
        "seconds": seconds,
        "total": round(sum(seconds.values()), 3),
        "peak_rss": proc_status("VmHWM"),
        **ari(truth[order], labels),
    }


def notebook_read_and_search(client) -> tuple[dict[int, list[tuple[int, float]]], list[int]]:
    """As the notebook does: 10 rows at a time, each batch searched at once (limit 50)."""
    dist: dict[int, list[tuple[int, float]]] = {}
    ids: list[int] = []
    for batch in _batches_of_ten(client):
        batch_ids = [row["id"] for row in batch]
        ids.extend(batch_ids)
        results = client.search(
            COLLECTION,
            data=[row["embedding"] for row in batch],
            limit=NOTEBOOK_LIMIT,
            anns_field="embedding",
            search_params={"metric_type": "L2", "params": {"nprobe": 10}},
            output_fields=["id"],
        )
        for batch_id, hits in zip(batch_ids, results):
            dist[batch_id] = [(hit["id"], hit["distance"]) for hit in hits]
    return dist, ids


def notebook_read(client) -> tuple[list[int], list[list[float]]]:
    ids: list[int] = []
    embeddings: list[list[float]] = []
    for batch in _batches_of_ten(client):
        ids.extend(row["id"] for row in batch)
        embeddings.extend(row["embedding"] for row in batch)
    return ids, embeddings


def _batches_of_ten(client) -> Iterator[list[dict]]:
    iterator = client.query_iterator(
        COLLECTION, batch_size=NOTEBOOK_BATCH, output_fields=["id", "embedding"]
    )
    while batch := iterator.next():
        yield batch
    iterator.close()


def local_search(ids: list[int], embeddings: list) -> dict[int, list[tuple[int, float]]]:
    """Exact squared-L2 top 50 with faiss: what the FLAT search returns, without Milvus."""
    import faiss

    points = np.asarray(embeddings, dtype=np.float32)
    index = faiss.IndexFlatL2(points.shape[1])
    index.add(points)
    squared, rows = index.search(points, NOTEBOOK_LIMIT)
    keys = np.asarray(ids)
    return {ids[i]: list(zip(keys[rows[i]].tolist(), squared[i].tolist())) for i in range(len(ids))}


def notebook_matrix(dist: dict[int, list[tuple[int, float]]], n: int) -> tuple[np.ndarray, list]:
    """The notebook's dense matrix: inf everywhere but the searched pairs."""
    ids2index: dict[int, int] = {}
    for key in dist:
        ids2index[key] = len(ids2index)
    matrix = np.full((n, n), np.inf, dtype=np.float64)
    for key in dist:
        for hit, distance in dist[key]:
            matrix[ids2index[key]][ids2index[hit]] = distance
    return matrix, list(ids2index)


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
    from scipy.sparse import csr_matrix

    imported = round(time.perf_counter() - start, 3)
    _, truth = load_data(Path(job["workdir"]), job["n"])
    saved = np.load(job["graph"])
    indices, distances = saved["indices"], saved["distances"]
    n, k = indices.shape
    calls = []
    for _ in range(2):
        start = time.perf_counter()
        rows = np.repeat(np.arange(n, dtype=np.int32), k)
        present = indices.ravel() >= 0
        graph = csr_matrix(
            (
                distances.ravel()[present].astype(np.float64),
                (rows[present], indices.ravel()[present]),
            ),
            shape=(n, n),
        )
        model = fast_hdbscan.HDBSCAN(
            metric="precomputed",
            min_samples=COMPARE_MIN_SAMPLES,
            min_cluster_size=COMPARE_MIN_CLUSTER_SIZE,
        ).fit(graph)
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


WORKERS: dict[str, Callable[[Json], Json]] = {
    "prepare": worker_prepare,
    "label": worker_label,
    "baseline": worker_baseline,
    "knn": worker_knn,
    "ours": worker_ours,
    "fast": worker_fast,
}


def run_worker(kind: str, job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    result = WORKERS[kind](job)
    Path(job["result"]).write_text(json.dumps(result, default=str))


# -- the parent -------------------------------------------------------------


def child(kind: str, job: Json, workdir: Path, env: dict[str, str] | None = None) -> Json:
    """Run one worker in a fresh interpreter; its result, or what went wrong."""
    tag = f"{kind}_{job['n']}_{time.monotonic_ns()}"
    job = job | {"result": str(workdir / f"{tag}.result.json")}
    job_path = workdir / f"{tag}.job.json"
    job_path.write_text(json.dumps(job))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(job_path)]
    start = time.perf_counter()
    busy_before, children_before = _busy_seconds(), _children_cpu()
    log_path = workdir / f"{tag}.log"  # the worker's progress lines and any traceback
    try:
        with open(log_path, "w") as log_file:
            done = subprocess.run(
                command,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                timeout=CHILD_TIMEOUT,
                env={**os.environ, **(env or {})},
            )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CHILD_TIMEOUT} s"}
    wall = round(time.perf_counter() - start, 3)
    own = _children_cpu() - children_before
    foreign = max(0.0, _busy_seconds() - busy_before - own)
    shared = {
        "process_wall": wall,
        "process_cpu_s": round(own, 1),
        "foreign_cpu_s": round(foreign, 1),
        "foreign_cpu_share": round(foreign / (wall * (os.cpu_count() or 1)), 3),
    }
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}", "log": log_path.read_text()[-3000:], **shared}
    return json.loads(Path(job["result"]).read_text()) | shared


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting for I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bench_size(n: int, args: argparse.Namespace, workdir: Path) -> Json:
    log(f"n={n:,}: generating data")
    start = time.perf_counter()
    vectors, truth = make_data(n)
    paths = data_paths(workdir, n)
    np.save(paths[0], vectors)
    np.save(paths[1], truth)
    del vectors
    record: Json = {"n": n, "generate_seconds": round(time.perf_counter() - start, 3)}
    record["ours"] = bench_ours(n, workdir, args.profile)
    record["baseline"] = bench_baseline(n, args, workdir)
    record["cluster_compare"] = None if args.skip_cluster_compare else bench_compare(n, workdir)
    for path in paths:
        path.unlink()
    return record


def bench_ours(n: int, workdir: Path, profile: bool = False) -> Json:
    uri = str(workdir / f"ours_{n}.db")
    job = {"n": n, "workdir": str(workdir), "uri": uri}
    log(f"n={n:,}: prepare (insert into Lite, HNSW COSINE)")
    prepare = child("prepare", job | {"index": "HNSW", "metric": "COSINE"}, workdir)
    if "error" in prepare:
        return {"prepare": prepare}
    log(f"n={n:,}: prepared in {prepare['total']} s; label_collection")
    label = child("label", job | {"profile": profile}, workdir)
    log(f"n={n:,}: label {label.get('total', label.get('error'))} s")
    _remove(Path(uri))
    return {"prepare": prepare, "label": label, "target": target_check(n, label)}


def target_check(n: int, label: Json) -> Json | None:
    if n not in TARGETS or "error" in label:
        return None
    seconds, gib = TARGETS[n]
    return {
        "seconds": seconds,
        "gib": gib,
        "time_ok": label["total_with_close"] <= seconds,
        "memory_ok": label["peak_rss"] <= gib * GIB,
    }


def bench_baseline(n: int, args: argparse.Namespace, workdir: Path) -> Json:
    search = args.baseline_search or ("milvus" if n <= 5_000 else "local")
    needed = BASELINE_COPIES * n * n * 8
    base: Json = {"search": search, "estimated_bytes": needed}
    if args.skip_baseline:
        return base | {"skipped": "--skip-baseline"}
    if n > args.baseline_max:
        return base | {"skipped": f"n above --baseline-max ({args.baseline_max:,})"}
    if needed > BASELINE_BUDGET:
        return base | {"skipped": f"does not fit: ~{needed / GIB:.0f} GiB for the dense matrices"}
    uri = str(workdir / f"notebook_{n}.db")
    job = {"n": n, "workdir": str(workdir), "uri": uri}
    log(f"n={n:,}: baseline prepare (FLAT L2)")
    prepare = child("prepare", job | {"index": "FLAT", "metric": "L2"}, workdir)
    if "error" in prepare:
        return base | {"prepare": prepare}
    log(f"n={n:,}: baseline run, search={search}")
    run = child("baseline", job | {"search": search}, workdir)
    log(f"n={n:,}: baseline {run.get('total', run.get('error'))} s")
    _remove(Path(uri))
    return base | {"prepare": prepare, "run": run}


def bench_compare(n: int, workdir: Path) -> Json:
    job = {
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


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# -- the report -------------------------------------------------------------


def gib(value: int | None) -> str:
    return f"{value / GIB:.2f}" if value else "-"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def ours_table(results: list[Json]) -> str:
    header = [
        "n",
        "prepare s (insert+index)",
        "inspect",
        "read",
        "knn",
        "cluster",
        "write",
        "other",
        "label_collection s",
        "close s",
        "total s (end to end)",
        "peak RSS GiB",
        "clusters",
        "noise %",
        "ARI all",
        "ARI clustered",
        "CPU s",
        "other procs' CPU %",
        "target",
    ]
    rows = []
    for record in results:
        ours = record["ours"]
        label = ours.get("label", {"error": "no label run"})
        prepare = secs(ours["prepare"].get("total"))
        if "error" in label:
            rows.append([f"{record['n']:,}", prepare, *["-"] * 16, label["error"]])
            continue
        stage = label["seconds"]
        check = label["check"]
        rows.append(
            [
                f"{record['n']:,}",
                prepare,
                *(secs(stage.get(s)) for s in ("inspect", "read", "knn", "cluster", "write")),
                secs(label["other_seconds"]),
                secs(label["total"]),
                secs(label["close_seconds"]),
                secs(label["total_with_close"]),
                gib(label["peak_rss"]),
                str(check["clusters"]),
                f"{100 * check['noise_share']:.1f}",
                f"{check['ari_all']:.3f}",
                _maybe(check["ari_clustered"]),
                secs(label.get("cpu_seconds")),
                _percent(label.get("foreign_cpu_share")),
                _target_text(ours.get("target")),
            ]
        )
    return table(header, rows)


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}"


def _maybe(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _target_text(target: Json | None) -> str:
    if not target:
        return "-"
    time_text = f"{'ok' if target['time_ok'] else 'MISSED'} <= {target['seconds']:.0f} s"
    memory_text = f"{'ok' if target['memory_ok'] else 'MISSED'} <= {target['gib']} GiB"
    return f"{time_text}; {memory_text}"


def stage_memory_table(results: list[Json]) -> str:
    stages = ["inspect", "load", "read", "knn", "cluster", "write"]
    rows = []
    for record in results:
        label = record["ours"].get("label") or {}
        peaks = label.get("stage_peak_rss") or {}
        rows.append([f"{record['n']:,}", *(gib(peaks.get(s)) for s in stages)])
    return table(["n", *(f"{s} GiB" for s in stages)], rows)


def baseline_table(results: list[Json]) -> str:
    header = [
        "n",
        "search",
        "load",
        "read(+search)",
        "local search",
        "matrix",
        "symmetrise",
        "hdbscan",
        "total s",
        "peak RSS GiB",
        "clusters",
        "noise %",
        "ARI all",
        "other procs' CPU %",
        "note",
    ]
    rows = []
    for record in results:
        base = record["baseline"]
        run = base.get("run")
        n = f"{record['n']:,}"
        if not run or "error" in run:
            note = base.get("skipped") or (run or base.get("prepare", {})).get("error", "?")
            rows.append([n, base["search"], *["-"] * 12, note])
            continue
        stage = run["seconds"]
        read = stage.get("read+search", stage.get("read"))
        note = (
            "Milvus search, as the notebook"
            if run["search"] == "milvus"
            else "dense matrix + HDBSCAN only, search done locally: a lower bound of the "
            "notebook's cost"
        )
        rows.append(
            [
                n,
                run["search"],
                secs(stage["load"]),
                secs(read),
                secs(stage.get("search")),
                secs(stage["matrix"]),
                secs(stage["symmetrise"]),
                secs(stage["hdbscan"]),
                secs(run["total"]),
                gib(run["peak_rss"]),
                str(run["clusters"]),
                f"{100 * run['noise_share']:.1f}",
                f"{run['ari_all']:.3f}",
                _percent(run.get("foreign_cpu_share")),
                note,
            ]
        )
    return table(header, rows)


def compare_table(results: list[Json]) -> str:
    header = [
        "n",
        "kNN graph s",
        "ours 1st",
        "ours 2nd",
        "fast_hdbscan import (cold)",
        "fast_hdbscan 1st (cold JIT)",
        "fast 2nd",
        "fast 1st (warm cache)",
        "ours GiB",
        "fast GiB",
        "ARI ours-fast",
        "ARI ours-truth",
        "ARI fast-truth",
        "clusters ours/fast",
    ]
    rows = []
    for record in results:
        compare = record.get("cluster_compare")
        if not compare or any("error" in part for part in compare.values()):
            rows.append([f"{record['n']:,}", *["-"] * (len(header) - 1)])
            continue
        ours, cold, warm = compare["ours"], compare["fast_cold"], compare["fast_warm"]
        rows.append(
            [
                f"{record['n']:,}",
                secs(compare["knn"]["seconds"]),
                secs(ours["first"]),
                secs(ours["second"]),
                secs(cold["import"]),
                secs(cold["first"]),
                secs(cold["second"]),
                secs(warm["first"]),
                gib(ours["peak_rss"]),
                gib(cold["peak_rss"]),
                _maybe(cold.get("ari_vs_ours")),
                f"{ours['ari_all']:.3f}",
                f"{cold['ari_all']:.3f}",
                f"{ours['clusters']}/{cold['clusters']}",
            ]
        )
    return table(header, rows)


def library_line(results: list[Json]) -> str:
    """Which milvus_cluster the label runs measured; a warning if it changed during the run."""
    seen = {
        (run["library"]["path"], run["library"]["sha256"])
        for record in results
        for run in (
            record["ours"].get("label") or {},
            *(record.get("cluster_compare") or {}).values(),
        )
        if isinstance(run, dict) and "library" in run
    }
    text = "; ".join(f"{path} (sources sha256 {sha})" for path, sha in sorted(seen))
    warning = " WARNING: the library changed during the run" if len(seen) > 1 else ""
    return f"milvus_cluster measured: {text}.{warning}"


def report(results: list[Json], args: argparse.Namespace) -> str:
    parts = [
        library_line(results),
        "### label_collection on Milvus Lite (first run, incl. shadow migration; close = "
        "stopping Lite, which waits for the background index builds the run queued)",
        ours_table(results),
        "\nPeak RSS within each stage of label_collection (load: between inspect and read)",
        stage_memory_table(results),
    ]
    if not args.skip_baseline:
        parts += [
            "\n### Baseline: the bootcamp notebook's method (dense n x n matrix, symmetrised)",
            baseline_table(results),
        ]
    if not args.skip_cluster_compare:
        parts += [
            "\n### Cluster stage alone: cluster_graph vs fast_hdbscan (same kNN graph, k=20, "
            "min_samples=10, min_cluster_size=10; seconds)",
            compare_table(results),
        ]
    return "\n".join(parts)


def environment() -> Json:
    from importlib.metadata import version

    packages = [
        "milvus-lite",
        "pymilvus",
        "hdbscan",
        "fast-hdbscan",
        "faiss-cpu",
        "numpy",
        "scipy",
        "numba",
    ]
    found = {}
    for package in packages:
        try:
            found[package] = version(package)
        except Exception:
            found[package] = None
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    repository = Path(__file__).resolve().parents[1]
    head = subprocess.run(
        ["git", "-C", str(repository), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "library": library(),
        "repository_head": head,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory / GIB, 1),
        "packages": found,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="5000,20000,100000",
        help="comma-separated row counts (default: 5000,20000,100000)",
    )
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=20_000,
        help="largest n for the notebook baseline (default 20000)",
    )
    parser.add_argument(
        "--baseline-search",
        choices=["milvus", "local"],
        default=None,
        help="baseline neighbour search (default: milvus for n <= 5000, else local faiss)",
    )
    parser.add_argument("--workdir", default=None, help="where the Lite files go (default: temp)")
    parser.add_argument("--out", default="bench-results/bench_label.json")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-cluster-compare", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample all threads' stacks during label_collection (top functions in the JSON)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "JOB"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(*args.worker)
        return
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_label_"))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = []
    for n in sizes:
        results.append(bench_size(n, args, workdir))
        write_json(args, results, start)  # partial results survive an interrupted run
    text = report(results, args)
    print(text)
    write_json(args, results, start, text)
    log(f"done in {time.perf_counter() - start:.0f} s; results in {args.out}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def write_json(args: argparse.Namespace, results: list[Json], start: float, text: str = "") -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": " ".join(sys.argv),
        "environment": environment(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "settings": {
            "dim": DIM,
            "clusters": CLUSTERS,
            "noise_share": NOISE_SHARE,
            "seed": SEED,
            "hnsw": HNSW_PARAMS,
            "insert_batch": INSERT_BATCH,
            "ours_min_cluster_size": MIN_CLUSTER_SIZE,
            "notebook": {
                "limit": NOTEBOOK_LIMIT,
                "batch": NOTEBOOK_BATCH,
                "min_samples": NOTEBOOK_MIN,
                "min_cluster_size": NOTEBOOK_MIN,
                "symmetrised": True,
            },
        },
        "results": results,
        "markdown": text,
    }
    out.write_text(json.dumps(document, indent=2, default=str))


if __name__ == "__main__":
    main()
