"""The Milvus calls alone, at the rates their parameters give: read (query_iterator
batch sizes; several `query` streams over disjoint key ranges in threads), search
(nq per request, requests in flight) and insert (batch size, inserts in flight).
What our stages are measured against: a stage cannot beat the call it makes."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np

from bench.cli_runs import load
from bench.lite import COLLECTION
from bench.measure import log

Json = dict[str, Any]


def timed(name: str, rows: int, call: Callable[[], Any], **params: Any) -> Json:
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    log(f"rate {name} {params}: {rows / seconds:,.0f} rows/s")
    return {
        "call": name,
        **params,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "load": load(),
    }


def read_iterator(client: Any, batch: int) -> int:
    iterator = client.query_iterator(COLLECTION, batch_size=batch, output_fields=["embedding"])
    seen = 0
    while rows := iterator.next():
        np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        seen += len(rows)
    iterator.close()
    return seen


def read_ranges(client: Any, n: int, streams: int, page: int = 10_000) -> int:
    """`streams` threads, each querying its own range of ids, `page` ids a request
    (the benchmark's ids are 0..n-1: a key range is a filter Milvus plans cheaply)."""

    def stream(part: int) -> int:
        low, high = part * n // streams, (part + 1) * n // streams
        seen = 0
        for start in range(low, high, page):
            stop = min(start + page, high)
            rows = client.query(
                COLLECTION,
                filter=f"id >= {start} and id < {stop}",
                output_fields=["embedding"],
                limit=page,
            )
            np.asarray([row["embedding"] for row in rows], dtype=np.float32)
            seen += len(rows)
        return seen

    with ThreadPoolExecutor(streams) as pool:
        return sum(pool.map(stream, range(streams)))


def search_all(client: Any, queries: np.ndarray, nq: int, in_flight: int, limit: int) -> np.ndarray:
    """Every query's hit ids (len(queries) × limit, -1 where fewer), nq a request."""

    def one(start: int) -> list[list[int]]:
        found = client.search(COLLECTION, data=list(queries[start : start + nq]), limit=limit,
                              search_params={"params": {"ef": max(64, 2 * limit)}})  # fmt: skip
        return [[hit["id"] for hit in hits] + [-1] * (limit - len(hits)) for hits in found]

    with ThreadPoolExecutor(in_flight) as pool:
        return np.array([ids for part in pool.map(one, range(0, len(queries), nq)) for ids in part])


def search_recall(client: Any, vectors: np.ndarray, k: int) -> float:
    """recall@k of Milvus's own search (as the kNN stage asks it) on RECALL_SAMPLE rows."""
    from bench.knn_methods import RECALL_SAMPLE, exact_neighbours, recall, without_self

    rows = np.arange(min(len(vectors), RECALL_SAMPLE))
    found = search_all(client, np.ascontiguousarray(vectors[rows]), 2048, 2, k + 1)
    graph = np.full((len(vectors), k), -1, dtype=np.int64)
    graph[rows] = without_self(found, rows, k)
    return recall(graph, exact_neighbours(np.ascontiguousarray(vectors), rows, k), rows)


def insert_copy(client: Any, name: str, vectors: np.ndarray, batch: int, in_flight: int) -> None:
    def one(start: int) -> None:
        block = vectors[start : start + batch]
        client.insert(
            name, [{"id": start + i, "embedding": v, "cluster_id": 1} for i, v in enumerate(block)]
        )

    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(one, range(0, len(vectors), batch)))


def rewrite_rows(client: Any, keys: np.ndarray, batch: int, in_flight: int) -> None:
    """What an in-place write does without partial upsert (migration/write.py): a Strong
    read of `batch` whole rows by key, then their upsert, `in_flight` batches at once."""

    def one(start: int) -> None:
        chunk = keys[start : start + batch].tolist()
        rows = client.query(COLLECTION, filter=f"id in {chunk}", output_fields=["*"],
                            consistency_level="Strong")  # fmt: skip
        client.upsert(COLLECTION, rows)

    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(one, range(0, len(keys), batch)))


def milvus_rates(client: Any, vectors: np.ndarray, k: int) -> Json:
    """Every call's rows/s on the benchmark's collection (loaded), on a server or Lite."""
    n = len(vectors)
    client.load_collection(COLLECTION)
    out: Json = {"read": [], "search": [], "insert": []}
    for batch in (10_000,):
        call = partial(read_iterator, client, batch)
        out["read"].append(timed("query_iterator", n, call, batch=batch))
    for streams in (1, 4):
        call = partial(read_ranges, client, n, streams)
        out["read"].append(timed("query ranges", n, call, streams=streams))
    queries = np.ascontiguousarray(vectors[: min(n, 10_000)])
    for nq, in_flight in ((2048, 1), (2048, 2), (2048, 4)):
        call = partial(search_all, client, queries, nq, in_flight, k + 1)
        out["search"].append(timed("search", len(queries), call, nq=nq, in_flight=in_flight))
    out["search_recall"] = search_recall(client, vectors, k)
    log(f"rate: Milvus search recall@{k} {out['search_recall']}")
    keys = np.arange(min(n, 20_000))  # rewritten as they are: the data does not change
    out["rewrite"] = [  # 500 × 4: what migration/write.py ships (REWRITE_BATCH, in flight)
        timed(
            "rewrite",
            len(keys),
            partial(rewrite_rows, client, keys, batch, in_flight),
            batch=batch,
            in_flight=in_flight,
        )  # fmt: skip
        for batch, in_flight in ((200, 1), (200, 8), (500, 4), (500, 8), (1000, 4))
    ]
    block = np.ascontiguousarray(vectors[: min(n, 20_000)])
    for batch, in_flight in ((2_000, 1), (2_000, 4)):
        name = f"rates_insert_{batch}_{in_flight}"
        _plain_collection(client, name)
        call = partial(insert_copy, client, name, block, batch, in_flight)
        out["insert"].append(timed("insert", len(block), call, batch=batch, in_flight=in_flight))
        client.drop_collection(name)
    return out


def _plain_collection(client: Any, name: str) -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=vectors_dim())
    client.create_collection(name, schema=schema)


def vectors_dim() -> int:
    from bench.data import DIM

    return DIM
