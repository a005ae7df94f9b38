"""The baseline: the bootcamp notebook's method, a dense n x n matrix and precomputed HDBSCAN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.children import child
from bench.data import ari, load_data
from bench.lite import COLLECTION, remove_lite
from bench.measure import log, proc_status
from bench.tables import GIB
from milvus_cluster.commands.stages import timed

NOTEBOOK_LIMIT, NOTEBOOK_BATCH, NOTEBOOK_MIN = 50, 10, 3
BASELINE_COPIES = 4  # dense n x n float64 copies alive at once inside hdbscan (~3-4)
BASELINE_BUDGET = 20 * 2**30

Json = dict[str, Any]
Neighbours = dict[int, list[tuple[int, float]]]  # id: [(neighbour id, squared L2)]


def bench_baseline(n: int, skip: bool, largest: int, search: str | None, workdir: Path) -> Json:
    """The notebook on a FLAT L2 Lite file, unless skipped, above `largest` or too big.
    search: "milvus" (as the notebook) or "local" (faiss); None: milvus up to 5,000 rows."""
    search = search or ("milvus" if n <= 5_000 else "local")
    needed = BASELINE_COPIES * n * n * 8
    base: Json = {"search": search, "estimated_bytes": needed}
    if skip:
        return base | {"skipped": "--skip-baseline"}
    if n > largest:
        return base | {"skipped": f"n above --baseline-max ({largest:,})"}
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
    remove_lite(uri)
    return base | {"prepare": prepare, "run": run}


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
        model = hdbscan.HDBSCAN(
            min_samples=NOTEBOOK_MIN, min_cluster_size=NOTEBOOK_MIN, metric="precomputed"
        )
        labels = model.fit(matrix).labels_
    return {
        "search": job["search"],
        "seconds": seconds,
        "total": round(sum(seconds.values()), 3),
        "peak_rss": proc_status("VmHWM"),
        **ari(truth[order], labels),
    }


def notebook_read_and_search(client: Any) -> tuple[Neighbours, list[int]]:
    """As the notebook does: 10 rows at a time, each batch searched at once (limit 50)."""
    dist: Neighbours = {}
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


def notebook_read(client: Any) -> tuple[list[int], list[list[float]]]:
    ids: list[int] = []
    embeddings: list[list[float]] = []
    for batch in _batches_of_ten(client):
        ids.extend(row["id"] for row in batch)
        embeddings.extend(row["embedding"] for row in batch)
    return ids, embeddings


def _batches_of_ten(client: Any) -> Iterator[list[dict]]:
    iterator = client.query_iterator(
        COLLECTION, batch_size=NOTEBOOK_BATCH, output_fields=["id", "embedding"]
    )
    while batch := iterator.next():
        yield batch
    iterator.close()


def local_search(ids: list[int], embeddings: list) -> Neighbours:
    """Exact squared-L2 top 50 with faiss: what the FLAT search returns, without Milvus."""
    import faiss

    points = np.asarray(embeddings, dtype=np.float32)
    index = faiss.IndexFlatL2(points.shape[1])
    index.add(points)
    squared, rows = index.search(points, NOTEBOOK_LIMIT)
    keys = np.asarray(ids)
    return {ids[i]: list(zip(keys[rows[i]].tolist(), squared[i].tolist())) for i in range(len(ids))}


def notebook_matrix(dist: Neighbours, n: int) -> tuple[np.ndarray, list]:
    """The notebook's dense matrix: inf everywhere but the searched pairs."""
    ids2index: dict[int, int] = {}
    for key in dist:
        ids2index[key] = len(ids2index)
    matrix = np.full((n, n), np.inf, dtype=np.float64)
    for key in dist:
        for hit, distance in dist[key]:
            matrix[ids2index[key]][ids2index[hit]] = distance
    return matrix, list(ids2index)
