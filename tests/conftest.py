"""Fixtures: a real Milvus (embedded Milvus Lite, or a server given by --milvus-uri),
and collections of clustered data to label. No mocks of Milvus anywhere."""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from milvus_server import MilvusServer, start_milvus_server
from pymilvus import DataType, MilvusClient
from sklearn.datasets import make_blobs

from milvus_cluster.core.fingerprint import Fingerprint, Fingerprinter
from milvus_cluster.milvus.capabilities import Capabilities
from milvus_cluster.milvus.client import Milvus

LABEL_FIELDS = ("cluster_id", "cluster_prob")
_names = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--milvus-uri",
        default=os.environ.get("MILVUS_TEST_URI", ""),
        help="Also run the integration tests against this Milvus server (auth off).",
    )
    parser.addoption(
        "--backends",
        default=os.environ.get("MILVUS_TEST_BACKENDS", "lite,server"),
        help="Comma-separated: lite (Milvus Lite), server (a Milvus 2.3.5 the tests start).",
    )


def server_available() -> bool:
    """The `milvus` package that ships a standalone server (Linux, x86_64)."""
    return importlib.util.find_spec("milvus") is not None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        wanted = metafunc.config.getoption("--backends").split(",")
        backends = [b for b in wanted if b == "lite" or (b == "server" and server_available())]
        if metafunc.config.getoption("--milvus-uri"):
            backends.append("remote")
        metafunc.parametrize("backend", backends)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    """One Milvus 2.3.5 standalone for the whole session, stopped by its pid at the end."""
    server = start_milvus_server(tmp_path_factory.mktemp("milvus-server"))
    yield server
    server.stop()


@pytest.fixture
def uri(backend: str, tmp_path, request) -> str:
    """Where the integration tests find Milvus: a fresh Lite file, or a server."""
    if backend == "lite":
        return str(tmp_path / "milvus.db")
    if backend == "server":
        return request.getfixturevalue("milvus_server").uri
    return request.config.getoption("--milvus-uri")


@pytest.fixture
def client(uri: str, backend: str) -> Iterator[MilvusClient]:
    client = MilvusClient(uri)
    existing = set(client.list_collections())
    yield client
    if backend == "lite":
        client.close()
        release_lite(uri)
        return
    for name in set(client.list_collections()) - existing:  # a shared server stays tidy
        for alias in client.list_aliases(collection_name=name).get("aliases", []):
            client.drop_alias(alias)
        client.drop_collection(name)
    client.close()


def release_lite(uri: str) -> None:
    """Milvus Lite keeps a server per file for the life of the process; release it so
    that it stops, and so that another process may open the file."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(uri)


@pytest.fixture
def capabilities(uri: str, client: MilvusClient) -> Capabilities:
    milvus = Milvus.connect(uri)
    try:
        return milvus.capabilities()
    finally:
        milvus.close()


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
    build = {"M": 16, "efConstruction": 64} if index == "HNSW" else {}  # 2.3 needs them
    params.add_index("vector", index_type=index, metric_type=metric, params=build)
    client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
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
    rows = client.query(
        name, filter="", output_fields=fields, limit=16_384, consistency_level="Strong"
    )
    assert len(rows) < 16_384, "test collections stay small enough for one query"
    return rows


def fingerprint(client: MilvusClient, name: str) -> Fingerprint:
    """Every field of every row but the labels, as verify.py sees them."""
    printer = Fingerprinter(leave_out=LABEL_FIELDS)
    printer.add(all_rows(client, name, ["*"]))
    return printer.result()


def read_labels(client: MilvusClient, name: str, pk: str = "id") -> dict[Any, Any]:
    return {row[pk]: row["cluster_id"] for row in all_rows(client, name, [pk, "cluster_id"])}


def set_label(client: MilvusClient, name: str, pk: Any, label: int) -> None:
    """Overwrite one row's label the way every server allows: the whole row, upserted."""
    row = client.query(name, filter=f"id == {pk}", output_fields=["*"], consistency_level="Strong")[
        0
    ]
    client.upsert(name, [row | {"cluster_id": label}])


def takes_nulls(capabilities: Capabilities) -> bool:
    """Whether the server stores null values. By version: Milvus 2.3.5 accepts a
    nullable field at create time (so the probe says yes) but refuses the nulls."""
    from milvus_cluster.milvus.capabilities import capabilities_of

    return (
        capabilities.nullable and capabilities_of(capabilities.version, capabilities.lite).nullable
    )
