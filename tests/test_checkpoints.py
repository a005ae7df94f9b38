"""`label` stopped at its checkpoints (milvus_cluster/checkpoints.py): runs that die
half-way, servers that go away, applications that write meanwhile: the next run
finishes the job and nothing is lost or doubled.

Each run here is a real `python -m milvus_cluster label` process, killed with
SIGKILL at a named checkpoint (milvus_cluster/checkpoints.py) or paused there while
the test acts on Milvus.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import Processes, Table, create_table, fingerprint, read_labels, release_lite
from pymilvus import MilvusClient

from milvus_cluster.jobs.catalog import catalog_name

ARGS = ["--min-cluster-size", "20", "--min-samples", "5"]


@contextmanager
def connected(uri: str) -> Iterator[MilvusClient]:
    """A client for a moment: Milvus Lite lets one process at a time hold its file."""
    client = MilvusClient(uri)
    try:
        yield client
    finally:
        client.close()
        release_lite(uri)


def label(spawn: Processes, uri: str, name: str, **env: str) -> subprocess.CompletedProcess:
    return spawn.run("-m", "milvus_cluster", "label", "-c", name, "--uri", uri, *ARGS, env=env)


def two_partitions(uri: str) -> Table:
    """A collection of 2,500 rows in two partitions (so that copies and writes take
    several batches), with an alias, and its fingerprint before any run."""
    with connected(uri) as client:
        made = create_table(client, n=2_500)
        recent = made.pks[-1_000:]
        client.create_partition(made.name, "recent")
        rows = client.query(made.name, filter=f"id >= {recent[0]}", output_fields=["*"],
                            limit=2_000)  # fmt: skip
        client.delete(made.name, filter=f"id >= {recent[0]}")
        client.insert(made.name, rows, partition_name="recent")
        client.create_alias(made.name, f"{made.name}_app")
        made.before = fingerprint(client, made.name)
    return made


@pytest.fixture
def partitioned(uri, backend):
    """two_partitions() on the test's Milvus, dropped afterwards from a server."""
    made = two_partitions(uri)
    yield made
    if backend != "lite":
        with connected(uri) as client:
            for name in client.list_collections():
                if name.startswith(made.name):
                    client.drop_collection(name)


def assert_finished(uri: str, partitioned: Table) -> None:
    """Labels on every row, nothing else changed, no leftover copy, aliases on it."""
    with connected(uri) as client:
        assert fingerprint(client, partitioned.name) == partitioned.before
        labels = read_labels(client, partitioned.name)
        assert len(labels) == 2_500 and None not in labels.values()
        assert not client.has_collection(f"{partitioned.name}_mc_shadow")
        alias = client.describe_alias(f"{partitioned.name}_app")["collection_name"]
        assert alias == partitioned.name


@pytest.mark.parametrize(
    "point", ["copy-batch:1", "copied", "verified", "switch-start", "switch", "switched"]
)
def test_killed_during_the_copy_or_the_switch(uri, backend, partitioned, spawn, point):
    killed = label(spawn, uri, partitioned.name, MILVUS_CLUSTER_KILL_AT=point)
    assert killed.returncode == -9, killed.stderr
    with connected(uri) as client:
        if point != "switch":  # between its two renames the name does not resolve
            assert (
                client.query(partitioned.name, filter="", output_fields=["count(*)"])[0]["count(*)"]
                == 2_500
            )
        backup = f"{partitioned.name}_mc_backup"
        if client.has_collection(backup):  # the original, whole
            assert fingerprint(client, backup) == partitioned.before
    again = label(spawn, uri, partitioned.name)
    assert again.returncode == 0, again.stderr
    assert_finished(uri, partitioned)


@pytest.mark.parametrize("point", ["write-batch:1", "write-batch:2", "written"])
def test_killed_during_in_place_writes(uri, backend, partitioned, spawn, point):
    assert label(spawn, uri, partitioned.name).returncode == 0
    killed = label(spawn, uri, partitioned.name, MILVUS_CLUSTER_KILL_AT=point)
    assert killed.returncode == -9, killed.stderr
    again = label(spawn, uri, partitioned.name)
    assert again.returncode == 0, again.stderr
    assert_finished(uri, partitioned)


@pytest.mark.backends("lite")
def test_an_index_file_a_killed_process_left_half_written_is_built_again(uri, partitioned, spawn):
    """Milvus Lite writes index files in place: a process killed while Lite wrote one
    leaves it truncated (seen: 8 bytes of an inverted index after a kill at `written`),
    and Lite refuses the collection until the file is gone (milvus/lite_files.py)."""
    assert label(spawn, uri, partitioned.name).returncode == 0
    indexes = sorted(Path(uri).glob(f"collections/{partitioned.name}/partitions/*/indexes/*"))
    scalar = next(path for path in indexes if path.suffix == ".sidx")
    vector = next(path for path in indexes if path.suffix == ".idx")
    scalar.write_bytes(scalar.read_bytes()[:8])
    vector.write_bytes(vector.read_bytes()[:100])
    again = label(spawn, uri, partitioned.name)
    assert again.returncode == 0, again.stderr
    assert scalar.stat().st_size > 8 and vector.stat().st_size > 100  # built again
    assert_finished(uri, partitioned)


@pytest.mark.backends("lite")  # a process per kill: on the server each would probe it again
def test_killed_at_ten_random_moments(uri, partitioned, spawn):
    """SIGKILL at 10 random moments (not checkpoints) of `label` runs: five through a
    fresh copy (rolled back and cleaned up before each), five relabelling in place. Each
    kill is followed by a run to the end; after it nothing is lost or changed, and
    nothing is left but the collection, its backup and its catalog."""
    seed = time.time_ns() % 10_000
    rng = random.Random(seed)
    started = time.monotonic()
    assert label(spawn, uri, partitioned.name).returncode == 0
    whole_run = time.monotonic() - started
    allowed = {partitioned.name, f"{partitioned.name}_mc_backup", catalog_name(partitioned.name)}
    for kill in range(10):
        command = "relabel" if kill >= 5 else "label"
        if command == "label":  # back to the unlabelled collection: the next run copies
            for step in (["rollback"], ["cleanup", "--yes"]):
                done = spawn.run(
                    "-m", "milvus_cluster", *step, "-c", partitioned.name, "--uri", uri
                )
                assert done.returncode == 0, done.stderr
        options = ARGS if command == "label" else []  # relabel reuses the last run's
        run = spawn.start(
            "-m", "milvus_cluster", command, "-c", partitioned.name, "--uri", uri, *options
        )
        moment = rng.uniform(0.5, whole_run)
        time.sleep(moment)
        run.kill()
        run.wait()
        again = label(spawn, uri, partitioned.name)
        assert again.returncode == 0, (seed, kill, moment, again.stderr)
        assert_finished(uri, partitioned)
        with connected(uri) as client:
            left = {n for n in client.list_collections() if n.startswith(partitioned.name)}
        assert left <= allowed, (seed, kill, moment, left)


@contextmanager
def paused_at(
    spawn: Processes, uri: str, name: str, point: str, tmp_path: Path
) -> Iterator[subprocess.Popen]:
    """A label run paused at `point`; it goes on when the block ends (the spawn
    fixture kills it if the test fails meanwhile)."""
    flag = tmp_path / "paused"
    env = {"MILVUS_CLUSTER_PAUSE_AT": point, "MILVUS_CLUSTER_PAUSE_FILE": str(flag)}
    run = spawn.start("-m", "milvus_cluster", "label", "-c", name, "--uri", uri, *ARGS, env=env)
    deadline = time.monotonic() + 300
    while not flag.exists():
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield run
    flag.unlink()
    run.wait(timeout=600)


# Milvus Lite lets one process at a time open its file.
@pytest.mark.backends("server", "remote")
@pytest.mark.parametrize("point", ["read-batch:1", "copied", "verified"])
def test_application_writes_during_the_copy_are_kept(
    uri, backend, partitioned, spawn, tmp_path, point
):
    """Inserts, an update and deletes while the vectors are read ("read-batch:1": the run
    goes on), while the copy runs ("copied": caught up before the switch) or after its
    last catch-up pass ("verified": carried over after it)."""
    client = MilvusClient(uri)
    with paused_at(spawn, uri, partitioned.name, point, tmp_path) as run:
        new = [{"id": 50_000 + i, "vector": partitioned.vectors[i].tolist(), "title": "late",
                "group": 0, "meta": {}, "tags": []} for i in range(20)]  # fmt: skip
        # partition "recent" is read first: rows put there now are not read (the count
        # then matches neither before nor after the read), those in _default are
        client.insert(partitioned.name, new[:15], partition_name="recent")
        client.insert(partitioned.name, new[15:])
        client.delete(partitioned.name, filter=f"id in {partitioned.pks[:10]}")
        updated = client.query(
            partitioned.name, filter=f"id == {partitioned.pks[20]}", output_fields=["*"]
        )
        client.upsert(partitioned.name, [updated[0] | {"title": "updated"}])
    assert run.returncode == 0, run.stderr.read()
    row = client.query(
        partitioned.name, filter=f"id == {partitioned.pks[20]}", output_fields=["title"]
    )
    assert row[0]["title"] == "updated"
    ids = {row["id"] for row in client.query(partitioned.name, filter="", output_fields=["id"],
                                              limit=10_000)}  # fmt: skip
    assert {row["id"] for row in new} <= ids
    assert not ids & set(partitioned.pks[:10])
    assert len(ids) == 2_500 + 20 - 10
    late = client.query(partitioned.name, filter="title == 'late'", output_fields=["cluster_id"])
    assert len(late) == 20
    if point != "read-batch:1":  # not clustered yet: null, or -2 where fields cannot be null
        assert all(row.get("cluster_id") in (None, -2) for row in late)
    assert fingerprint(client, partitioned.name) == fingerprint(
        client, f"{partitioned.name}_mc_backup"
    )
    client.close()


def test_server_stopped_in_the_middle(own_server, spawn, tmp_path):
    server = own_server()  # not the run's shared one, which other tests are using
    uri, partitioned = server.uri, two_partitions(server.uri)
    with paused_at(spawn, uri, partitioned.name, "copy-batch:1", tmp_path) as run:
        server.stop()
    lines = run.stderr.read().strip().splitlines()
    assert run.returncode == 1
    assert lines[-1].startswith("Error: ") and "Milvus" in lines[-1], lines
    assert "Traceback" not in "\n".join(lines)
    server.restart()
    again = label(spawn, uri, partitioned.name)
    assert again.returncode == 0, again.stderr
    assert_finished(uri, partitioned)
