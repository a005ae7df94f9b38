"""What the tests share: collections of clustered data made on a real Milvus, ways to
read them back, the command line in-process (`run`) and in processes of its own
(`Processes`, the `spawn` fixture), and the parameters most tests label with.
Fixtures and the markers' rules are in conftest.py."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from pymilvus import DataType, MilvusClient
from sklearn.datasets import make_blobs

from milvus_cluster import Parameters, label_collection
from milvus_cluster.cli import main
from milvus_cluster.core.fingerprint import Fingerprint, Fingerprinter
from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.milvus.capabilities import Capabilities, capabilities_of
from milvus_cluster.milvus.describe import (
    FieldSpec,
)
from milvus_cluster.milvus.expressions import unlabelled

LABEL_FIELDS = ("cluster_id", "cluster_prob")
ROOT = Path(__file__).resolve().parent.parent
#: Small enough for the test collections' 600 rows in four blobs.
PARAMS = Parameters(min_cluster_size=20, min_samples=5)
_names = itertools.count()


#: A test whose subject does not depend on the Milvus behind it (the CLI's wording and
#: exit codes, the map page, ingest's model) runs on Milvus Lite only.
backend_independent = pytest.mark.backends("lite")


def server_available() -> bool:
    """The `milvus` package that ships a standalone server (Linux, x86_64)."""
    return importlib.util.find_spec("milvus") is not None


class Processes:
    """Python processes that a test starts, importing this checkout's package; the ones
    still running at the end are killed (by their pid)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    @staticmethod
    def environment(env: dict[str, str] | None) -> dict[str, str]:
        return os.environ | {"PYTHONPATH": str(ROOT)} | (env or {})

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
        """`python ARGS` to its end: a CompletedProcess with text stdout and stderr."""
        command = [sys.executable, *args]
        environment = self.environment(env)
        return subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """`python ARGS` in the background, stdout and stderr as text pipes."""
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        process = subprocess.Popen([sys.executable, *args], env=self.environment(env), **pipes)
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()


def ours(name: str) -> bool:
    """Made by a test of this process: every name holds the pid (unique_name), and the
    server is shared with the other workers' tests."""
    return f"_{os.getpid()}_" in name


def our_collections(client: MilvusClient) -> set[str]:
    """The collections of this process's tests; on the server, the other workers'
    come and go meanwhile."""
    return {name for name in client.list_collections() if ours(name)}


def release_lite(uri: str) -> None:
    """Milvus Lite keeps a server per file for the life of the process; release it so
    that it stops, and so that another process may open the file (the jobs a test
    starts). Nothing to do for a server's URI."""
    if uri.startswith(("http://", "https://", "tcp://")):
        return
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
    topics: bool = False,
) -> Table:
    """A collection with a key, a vector, a text, an int, a JSON and an array field.
    `topics`: each row's title speaks of its true group's topic (TOPICS), for keywords."""
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
            "title": topic_text(int(truth[i]), i) if topics else f"row {i} 'quoted' \"double\"",
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


#: The words of each true group's titles (create_table(topics=True)), best first.
TOPICS = (
    ("rocket", "orbit", "launch"),
    ("violin", "orchestra", "concert"),
    ("league", "goal", "striker"),
    ("harvest", "wheat", "farmer"),
)


def topic_text(group: int, i: int) -> str:
    first, second, third = TOPICS[group]
    return f"The {first} and the {second} today, {third} {i}" + (f" {first}" if i % 2 else "")


INDEX_STATUS = ("total_rows", "indexed_rows", "pending_index_rows", "state")


def database_fingerprint(client: MilvusClient, uri: str) -> dict[str, Any]:
    """Everything a command could change in a database, for `changed nothing` tests:
    every collection's description (schema, properties, indexes), its aliases, and a
    fingerprint of all its rows (label fields included). On a server, the collections
    of this process's tests (the other workers' come and go)."""
    found: dict[str, Any] = {}
    server = uri.startswith(("http://", "https://", "tcp://"))
    for name in sorted(client.list_collections()):
        if server and not ours(name):
            continue
        described = client.describe_collection(name)
        # An index's build progress changes by itself on a server: its definition counts.
        indexes = [
            {k: v for k, v in client.describe_index(name, index).items() if k not in INDEX_STATUS}
            for index in client.list_indexes(name)
        ]
        printer = Fingerprinter(leave_out=())
        printer.add(all_rows(client, name, ["*"]))
        found[name] = {
            "description": described,
            "indexes": indexes,
            "aliases": sorted(client.list_aliases(collection_name=name).get("aliases", [])),
            "rows": printer.result(),
        }
    return found


def create_or_skip(client: MilvusClient, name: str, schema: Any, index: Any, what: str) -> None:
    """Create the collection, or skip the test on a backend that has no `what` (Milvus
    Lite: binary vectors; Milvus 2.3: sparse vectors, BM25, several vector fields)."""
    try:
        client.create_collection(name, schema=schema, index_params=index)
    except Exception as error:
        pytest.skip(f"this backend has no {what}: {error}")


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
    """Key → label (None: no label, including a dynamic key the row does not have)."""
    rows = all_rows(client, name, [pk, "cluster_id"])
    return {row[pk]: row.get("cluster_id") for row in rows}


def set_label(client: MilvusClient, name: str, pk: Any, label: int) -> None:
    """Overwrite one row's label the way every server allows: the whole row, upserted."""
    row = client.query(name, filter=f"id == {pk}", output_fields=["*"], consistency_level="Strong")[
        0
    ]
    client.upsert(name, [row | {"cluster_id": label}])


def takes_nulls(capabilities: Capabilities) -> bool:
    """Whether the server stores null values. By version: Milvus 2.3.5 accepts a
    nullable field at create time (so the probe says yes) but refuses the nulls."""

    return (
        capabilities.nullable and capabilities_of(capabilities.version, capabilities.lite).nullable
    )


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """The command line, in this process: `run("label", "-c", name, "--uri", uri)`."""
    return CliRunner().invoke(main, list(args), env=env)


FIELDS = [
    FieldSpec.of({"name": "id", "type": DataType.INT64, "is_primary": True}),
    FieldSpec.of({"name": "dense", "type": DataType.FLOAT_VECTOR, "params": {"dim": 4}}),
    FieldSpec.of({"name": "bits", "type": DataType.BINARY_VECTOR, "params": {"dim": 32}}),
    FieldSpec.of({"name": "title", "type": DataType.VARCHAR, "params": {"max_length": 9}}),
]


UNSET = (None, UNLABELLED)  # a row without a label: null, or the placeholder of Milvus 2.3


def labelled_table(client, uri, **options) -> Table:
    table = create_table(client, **options)
    label_collection(table.name, uri=uri, parameters=PARAMS)
    return table


def unset(client, name: str) -> dict:
    """What an application inserts into the label fields: nothing where they may be null;
    on servers that cannot have nulls (Milvus 2.3), the placeholder for "no label yet"."""
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    if "cluster_id" not in fields or fields["cluster_id"].get("nullable"):
        return {}
    return {"cluster_id": UNLABELLED, "cluster_prob": 0.0}


def no_label(client, name: str) -> str:
    """The filter for rows without a label on this server, as the library writes it."""
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    if "cluster_id" in fields:
        return unlabelled("cluster_id", bool(fields["cluster_id"].get("nullable")))
    lite = client.get_server_version().startswith("milvus_lite")
    return unlabelled("cluster_id", nullable=lite, dynamic_key=True)


def insert_new_rows(client, table: Table, count: int, seed: int = 7) -> tuple[list, np.ndarray]:
    """Rows drawn from the table's own clusters (its groups' means, the blobs' spread)."""
    rng = np.random.default_rng(seed)
    means = np.array([table.vectors[table.truth == g].mean(axis=0) for g in range(4)])
    truth = rng.integers(0, 4, count)
    vectors = (means[truth] + rng.normal(0, 1.0, (count, means.shape[1]))).astype(np.float32)
    keys = [10_000 + seed * 100_000 + i for i in range(count)]
    rows = [
        {"id": key, "vector": v.tolist(), "title": f"new {key}", "group": int(g), "meta": {},
         "tags": []} | unset(client, table.name)
        for key, v, g in zip(keys, vectors, truth)
    ]  # fmt: skip
    client.insert(table.name, rows)
    client.flush(table.name)
    return keys, truth


def true_ids(client, table: Table) -> dict[int, int]:
    """Each true group's cluster id: the label most of its original rows carry."""
    labels = read_labels(client, table.name)
    votes = [Counter(labels[pk] for pk, g in zip(table.pks, table.truth) if g == group)
             for group in range(4)]  # fmt: skip
    return {group: vote.most_common(1)[0][0] for group, vote in enumerate(votes)}


def move_rows(client, table: Table, source: int, target: int, count: int) -> list:
    """Give `count` rows of group `source` a vector from group `target`'s blob."""
    rng = np.random.default_rng(3)
    centre = table.vectors[table.truth == target].mean(axis=0)
    moved = [pk for pk, g in zip(table.pks, table.truth) if g == source][:count]
    rows = [row for row in all_rows(client, table.name, ["*"]) if row["id"] in set(moved)]
    for row in rows:
        row["vector"] = (centre + rng.normal(0, 1.0, len(centre))).astype(np.float32).tolist()
    client.upsert(table.name, rows)
    client.flush(table.name)
    return moved


def count(client, name: str, filter: str) -> int:
    client.load_collection(name)  # a reopened Milvus Lite file has every collection released
    return client.query(name, filter=filter, output_fields=["count(*)"])[0]["count(*)"]


def show_json(uri: str, name: str) -> dict:
    result = run("show", "-c", name, "--uri", uri, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def assert_show_matches(client, name: str, uri: str) -> dict:
    """show --json agrees with the collection: ids, sizes, noise, exemplars' clusters."""
    shown = show_json(uri, name)
    labels = read_labels(client, name)
    sizes = Counter(label for label in labels.values() if label not in UNSET and label >= 0)
    assert {c["id"]: c["size"] for c in shown["clusters"]} == dict(sizes)
    assert shown["rows"] == len(labels)
    assert shown["noise"] == sum(1 for label in labels.values() if label == -1)
    assert shown["unlabelled"] == sum(1 for label in labels.values() if label in UNSET)
    for cluster in shown["clusters"]:
        assert cluster["exemplars"] and all(
            labels[k] == cluster["id"] for k in cluster["exemplars"]
        )
    return shown
