"""The benchmarks' Milvus Lite collection: create it, fill it, read its labels, close the file."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import DIM
from bench.measure import proc_status

COLLECTION = "bench"
INSERT_BATCH = 5_000
HNSW_PARAMS = {"M": 16, "efConstruction": 200}

Json = dict[str, Any]


def create_collection(client: Any, index: str = "HNSW", metric: str = "COSINE") -> None:
    """An id primary key and a DIM-d vector field with one index (HNSW_PARAMS for HNSW)."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
    index_params = client.prepare_index_params()
    params = {"HNSW": HNSW_PARAMS, "IVF_FLAT": {"nlist": 1024}}.get(index, {})
    index_params.add_index("embedding", index_type=index, metric_type=metric, params=params)
    client.create_collection(COLLECTION, schema=schema, index_params=index_params)


def insert_rows(
    client: Any,
    vectors: np.ndarray,
    first_id: int = 0,
    advance: Callable[[int], None] | None = None,
) -> None:
    """Insert the vectors in batches with ids first_id, first_id + 1, ...; not flushed."""
    for start in range(0, len(vectors), INSERT_BATCH):
        block = np.asarray(vectors[start : start + INSERT_BATCH])
        rows = [{"id": first_id + start + i, "embedding": v} for i, v in enumerate(block)]
        client.insert(COLLECTION, rows)
        if advance:
            advance(len(rows))


def read_labels(client: Any) -> dict[int, int | None]:
    """Every row's cluster_id by id (None where it has none)."""
    client.load_collection(COLLECTION)  # label_collection leaves it as it found it: released
    found: dict[int, int | None] = {}
    iterator = client.query_iterator(
        COLLECTION, batch_size=10_000, output_fields=["id", "cluster_id"]
    )
    while batch := iterator.next():
        found.update((row["id"], row["cluster_id"]) for row in batch)
    iterator.close()
    return found


def close_lite(uri: str) -> Json:
    """Stop the in-process Milvus Lite server, as the CLI's exit does: it first drains the
    background compaction and index builds that the run queued. label_collection returns
    before they finish, so its own total leaves this out. Another process can then open
    the file."""
    from milvus_lite.server_manager import server_manager_instance

    start = time.perf_counter()
    server_manager_instance.release_server(uri)
    return {
        "close_seconds": round(time.perf_counter() - start, 3),
        "peak_rss_with_close": proc_status("VmHWM"),
    }


def remove_lite(uri: str) -> None:
    """Delete a Lite database, a file or a folder depending on the Milvus Lite version."""
    path = Path(uri)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
