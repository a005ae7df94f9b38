"""Fixtures: a real Milvus (embedded Milvus Lite, or a server given by --milvus-uri),
and collections of clustered data to label. No mocks of Milvus anywhere."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient
from sklearn.datasets import make_blobs

from milvus_cluster.verify import Fingerprint, Fingerprinter

LABEL_FIELDS = ("cluster_id", "cluster_prob")
_names = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--milvus-uri",
        default=os.environ.get("MILVUS_TEST_URI", ""),
        help="Also run the integration tests against this Milvus server.",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["lite"]
        if metafunc.config.getoption("--milvus-uri"):
            backends.append("server")
        metafunc.parametrize("backend", backends)


@pytest.fixture
def uri(backend: str, tmp_path, request) -> str:
    """Where the integration tests find Milvus: a fresh Lite file, or the given server."""
    if backend == "lite":
        return str(tmp_path / "milvus.db")
    return request.config.getoption("--milvus-uri")


@pytest.fixture
def client(uri: str, backend: str) -> Iterator[MilvusClient]:
    client = MilvusClient(uri)
    yield client
    client.close()
    if backend == "lite":
        # Milvus Lite keeps a server per file for the life of the process; without
        # this, every test's server would go on running beside the next tests.
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)


def unique_name(prefix: str = "c") -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


def clustered_vectors(n: int = 600, dim: int = 24, centers: int = 4, seed: int = 0):
    """Well-separated blobs plus a little noise, as float32, and their true groups."""
    points, truth = make_blobs(
        n_samples=n, n_features=dim, centers=centers, cluster_std=1.0, random_state=seed
    )
    return points.astype(np.float32), truth


@dataclass
class Table:
    """A test collection and what was put in it."""

    name: str
    pks: list[Any]
    vectors: np.ndarray
    truth: np.ndarray
    pk: str = "id"


def create_table(
    client: MilvusClient,
    *,
    n: int = 600,
    pk_type: str = "INT64",
    auto_id: bool = False,
    metric: str = "L2",
    index: str = "HNSW",
    dynamic: bool = False,
    keys: list[Any] | None = None,
    name: str | None = None,
) -> Table:
    """A collection with a key, a vector, a text, an int, a JSON and an array field."""
    name = name or unique_name()
    vectors, truth = clustered_vectors(max(n, 1))
    vectors, truth = vectors[:n], truth[:n]
    if metric in ("COSINE", "IP"):
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    schema = client.create_schema(auto_id=auto_id, enable_dynamic_field=dynamic)
    if pk_type == "VARCHAR":
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=128)
    else:
        schema.add_field("id", DataType.INT64, is_primary=True, auto_id=auto_id)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    schema.add_field("title", DataType.VARCHAR, max_length=256)
    schema.add_field("group", DataType.INT64)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4)
    params = client.prepare_index_params()
    params.add_index("vector", index_type=index, metric_type=metric)
    client.create_collection(name, schema=schema, index_params=params)
    if keys is None:
        keys = [f'k"{i}\\x' if pk_type == "VARCHAR" else i - n // 2 for i in range(n)]
    rows = []
    for i in range(n):
        row = {
            "vector": vectors[i].tolist(),
            "title": f"row {i} 'quoted' \"double\"",
            "group": int(truth[i]),
            "meta": {"i": i, "even": i % 2 == 0},
            "tags": [i % 3, i % 5],
        }
        if not auto_id:
            row["id"] = keys[i]
        if dynamic:
            row["extra"] = f"dyn{i}"
        rows.append(row)
    ids = client.insert(name, rows)["ids"] if rows else []
    client.flush(name)
    return Table(name, list(ids), vectors, truth)


def all_rows(client: MilvusClient, name: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every row of a small test collection in one plain query: independent of the
    library's reading (and of pymilvus's query_iterator, which breaks on quoted keys)."""
    client.load_collection(name)
    rows = client.query(name, filter="", output_fields=fields, limit=16_384)
    assert len(rows) < 16_384, "test collections stay small enough for one query"
    return rows


def fingerprint(client: MilvusClient, name: str) -> Fingerprint:
    """Every field of every row but the labels, as verify.py sees them."""
    printer = Fingerprinter(leave_out=LABEL_FIELDS)
    printer.add(all_rows(client, name, ["*"]))
    return printer.result()


def read_labels(client: MilvusClient, name: str, pk: str = "id") -> dict[Any, Any]:
    return {row[pk]: row["cluster_id"] for row in all_rows(client, name, [pk, "cluster_id"])}
