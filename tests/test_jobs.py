"""The periodic jobs against a real Milvus: assign, relabel, show, the noise policy, the
lock between processes, and jobs killed half-way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import (
    Processes,
    Table,
    all_rows,
    backend_independent,
    create_table,
    fingerprint,
    read_labels,
    unique_name,
)
from pymilvus import DataType, MilvusClient
from sklearn.datasets import load_digits

from milvus_cluster import Parameters, label_collection
from milvus_cluster.cli import main
from milvus_cluster.commands.assign import assign_collection
from milvus_cluster.commands.relabel import relabel_collection
from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.core.stable_ids import IdLedger
from milvus_cluster.jobs.catalog import Catalog
from milvus_cluster.milvus.client import Milvus

PARAMS = Parameters(min_cluster_size=20, min_samples=5)
UNSET = (None, UNLABELLED)  # a row without a label: null, or the placeholder of Milvus 2.3


def run(*args: str):
    return CliRunner().invoke(main, list(args))


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
    """The filter for rows without a label on this server."""
    return "cluster_id is null" if not unset(client, name) else f"cluster_id == {UNLABELLED}"


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


# -- catalog, assign, relabel -------------------------------------------------


def test_label_fills_the_catalog_and_show_matches_the_collection(client, uri):
    table = labelled_table(client, uri)
    shown = assert_show_matches(client, table.name, uri)
    assert shown["text_field"] == "title"
    assert all(len(c["texts"]) == len(c["exemplars"]) for c in shown["clusters"])
    assert [run["command"] for run in shown["runs"]] == ["label"]
    assert shown["runs"][0]["state"] == "done" and shown["lock"] == ""
    text = run("show", "-c", table.name, "--uri", uri)
    assert text.exit_code == 0 and "4 clusters in 600 rows" in text.output
    assert "label    done" in text.output and "lock: free" in text.output


def test_assign_labels_new_rows_with_their_true_clusters(client, uri):
    table = labelled_table(client, uri)
    ids = true_ids(client, table)
    keys, truth = insert_new_rows(client, table, 30)  # 5 %
    before = fingerprint(client, table.name)
    result = run("assign", "-c", table.name, "--uri", uri, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 30 and report["assigned"] + report["noise"] == 30
    labels = read_labels(client, table.name)
    assert all(labels[key] not in UNSET for key in keys)
    right = sum(labels[key] == ids[group] for key, group in zip(keys, truth))
    assert right >= 0.95 * len(keys)
    old = {pk: label for pk, label in labels.items() if pk not in set(keys)}
    assert all(label not in UNSET for label in old.values())
    assert_show_matches(client, table.name, uri)  # the catalog's sizes grew with the rows
    assert fingerprint(client, table.name) == before  # nothing but labels changed
    again = run("assign", "-c", table.name, "--uri", uri)
    assert again.exit_code == 0 and "nothing to assign" in again.output


@backend_independent
def test_assign_after_a_topic_model_label_measures_in_the_collection_space(client, uri):
    """label --reduce clusters in a UMAP embedding; the catalog's scales must still be
    distances between the collection's vectors, which is where assign searches."""
    pytest.importorskip("umap")
    from milvus_cluster.core.reduce import Reduction

    table = create_table(client)
    params = Parameters(min_cluster_size=20, min_samples=5, reduce=Reduction(dim=2))
    label_collection(table.name, uri=uri, parameters=params)
    ids = true_ids(client, table)
    keys, truth = insert_new_rows(client, table, 30)
    result = assign_collection(table.name, uri=uri)
    labels = read_labels(client, table.name)
    assert result.rows == 30 and result.noise == 0
    assert sum(labels[key] == ids[group] for key, group in zip(keys, truth)) >= 0.95 * 30
    relabelled = relabel_collection(table.name, uri=uri)  # the reduction is the last run's
    assert relabelled.parameters.reduce == Reduction(dim=2) and relabelled.drift.changed <= 3


def test_relabel_after_assign_keeps_the_ids(client, uri):
    table = labelled_table(client, uri)
    insert_new_rows(client, table, 30)
    assign_collection(table.name, uri=uri)
    old = read_labels(client, table.name)
    result = relabel_collection(table.name, uri=uri)
    new = read_labels(client, table.name)
    kept = sum(new[pk] == label for pk, label in old.items())
    assert kept >= 0.95 * len(old)
    assert result.drift is not None and result.drift.compared == 630
    assert sorted(result.drift.kept) == sorted(set(old.values()) - {-1})
    assert result.parameters.min_cluster_size == 20  # the last labelling run's parameters
    assert_show_matches(client, table.name, uri)


def test_relabel_reports_rows_moved_between_clusters(client, uri):
    table = labelled_table(client, uri)
    ids = true_ids(client, table)
    moved = move_rows(client, table, source=0, target=1, count=45)
    result = run("relabel", "-c", table.name, "--uri", uri, "--json")
    assert result.exit_code == 0, result.output
    drift = json.loads(result.output)["drift"]
    assert drift["changed"] == 45 and drift["compared"] == 600
    assert drift["changed_share"] == pytest.approx(45 / 600)
    assert sorted(drift["kept"]) == sorted(ids.values())
    assert drift["born"] == drift["died"] == drift["merged"] == drift["split"] == []
    assert 0.8 < drift["adjusted_rand"] < 1.0
    labels = read_labels(client, table.name)
    assert all(labels[pk] == ids[1] for pk in moved)
    text = run("relabel", "-c", table.name, "--uri", uri)
    assert "drift:    kept 4, born 0, died 0" in text.output and "0 of 600 rows" in text.output


def test_max_changed_refuses_and_writes_nothing(client, uri):
    table = labelled_table(client, uri)
    move_rows(client, table, source=2, target=3, count=60)
    labels = read_labels(client, table.name)
    catalog = show_json(uri, table.name)["clusters"]
    result = run("relabel", "-c", table.name, "--uri", uri, "--max-changed", "0.05")
    assert result.exit_code == 1
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "60 of 600 rows (10.0 %)" in line
    assert "nothing was written" in line and "--force" in line
    assert read_labels(client, table.name) == labels
    shown = show_json(uri, table.name)
    assert shown["clusters"] == catalog
    assert shown["runs"][0]["state"] == "failed" and "--max-changed" in shown["runs"][0]["error"]
    forced = run("relabel", "-c", table.name, "--uri", uri, "--max-changed", "0.05", "--force")
    assert forced.exit_code == 0, forced.output
    assert read_labels(client, table.name) != labels


@backend_independent
def test_relabel_and_assign_need_a_labelled_collection(client, uri):
    table = create_table(client)
    for command in ("relabel", "assign"):
        result = run(command, "-c", table.name, "--uri", uri)
        assert result.exit_code == 1 and "label it first" in result.output, result.output
    result = run("show", "-c", table.name, "--uri", uri)
    assert result.exit_code == 1 and "no catalog" in result.output


def test_label_again_keeps_ids_and_reports_drift(client, uri):
    table = labelled_table(client, uri)
    first = read_labels(client, table.name)
    result = label_collection(table.name, uri=uri, parameters=PARAMS)
    assert result.drift is not None and result.drift.changed == 0
    assert read_labels(client, table.name) == first


def test_a_new_collection_under_an_old_name_numbers_its_clusters_from_zero(client, uri):
    table = labelled_table(client, uri)
    milvus = Milvus.connect(uri)
    try:
        Catalog.open(milvus, table.name).save_ledger(IdLedger(50, (7,)))
    finally:
        milvus.close()
    for name in (table.name, f"{table.name}_mc_backup"):
        client.drop_collection(name)
    create_table(client, name=table.name)
    result = label_collection(table.name, uri=uri, parameters=PARAMS)
    assert sorted(result.cluster_ids) == [0, 1, 2, 3] and result.drift is None


# -- the noise policy ---------------------------------------------------------


def digits_table(client) -> str:
    """The 1,797 digits as a collection: more noise than the blobs (about a third)."""
    name = unique_name("digits")
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=64)
    index = client.prepare_index_params()
    index.add_index(
        "vector", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 64}
    )  # Milvus 2.3 needs them
    client.create_collection(name, schema=schema, index_params=index)
    data = load_digits().data.astype(np.float32)
    client.insert(name, [{"id": i, "vector": v.tolist()} for i, v in enumerate(data)])
    client.flush(name)
    return name


@backend_independent
def test_noise_assign_lowers_the_noise_and_marks_those_rows(client, uri):
    name = digits_table(client)
    options = ["--min-cluster-size", "15", "--min-samples", "5", "--json"]
    kept = json.loads(run("label", "-c", name, "--uri", uri, *options).output)
    assert kept["noise"] == kept["noise_before"] > 0.2 * kept["rows"]
    result = run("relabel", "-c", name, "--uri", uri, "--noise", "assign", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["parameters"]["noise"] == "assign"
    assert report["parameters"]["min_cluster_size"] == 15  # the rest as the last run had it
    assert report["noise_before"] == kept["noise"] and report["noise"] < 0.75 * kept["noise"]
    assert report["noise_share_before"] > report["noise_share"]
    rows = all_rows(client, name, ["cluster_id", "cluster_prob"])
    joined = [r for r in rows if r["cluster_id"] >= 0 and r["cluster_prob"] == 0]
    assert len(joined) == report["noise_before"] - report["noise"]
    text = run("relabel", "-c", name, "--uri", uri, "--noise", "assign")
    assert "before --noise assign" in text.output


# -- the lock between processes, and jobs killed half-way ---------------------


def let_go(uri: str, backend: str) -> None:
    """Milvus Lite lets one process at a time use a file: this one lets go of it, so
    that the jobs it starts can open it (the client fixture's client is then closed)."""
    if backend == "lite":
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)


def test_two_relabels_at_once_one_exits_3_naming_the_other(client, uri, backend, spawn):
    table = labelled_table(client, uri, n=3000)
    let_go(uri, backend)
    relabel = ["-m", "milvus_cluster", "relabel", "-c", table.name, "--uri", uri, "--json"]
    jobs = [spawn.start(*relabel) for _ in range(2)]
    outcomes = sorted((job.wait(timeout=300), *job.communicate()) for job in jobs)
    assert [code for code, _, _ in outcomes] == [0, 3], outcomes
    done, skipped = outcomes
    assert json.loads(done[1])["drift"]["changed"] == 0
    assert skipped[1] == ""  # stdout empty: a scheduler reads the exit code
    line = skipped[2].strip()
    assert len(line.splitlines()) == 1 and "relabel" in line and "pid" in line, line


CHILD = textwrap.dedent("""
    import sys, time
    from milvus_cluster.commands.assign import assign_collection
    from milvus_cluster.commands.relabel import relabel_collection

    from milvus_cluster.cli.runtime import sigterm_as_error

    command, collection, uri = sys.argv[1:4]

    def progress(stage, total):
        def advance(rows):
            if stage == "write":
                print("wrote", rows, flush=True)
                time.sleep(120)  # killed here, with more rows to write
        return advance

    job = relabel_collection if command == "relabel" else assign_collection
    with sigterm_as_error():  # as the command line runs it
        job(collection, uri=uri, progress=progress)
""")


def killed_while_writing(
    spawn: Processes, command: str, name: str, uri: str, how=signal.SIGKILL
) -> str:
    """Start a job, stop it with `how` once it has written a batch; its stderr."""
    child = spawn.start("-c", CHILD, command, name, uri)
    try:
        assert child.stdout.readline().startswith("wrote"), child.stderr.read()
    finally:
        child.send_signal(how)
        child.wait(timeout=60)
    return child.stderr.read()


def test_killed_relabel_is_redone_by_the_next(client, uri, backend, spawn):
    table = labelled_table(client, uri, n=2500)  # two write batches
    old = read_labels(client, table.name)
    let_go(uri, backend)
    killed_while_writing(spawn, "relabel", table.name, uri)
    result = relabel_collection(table.name, uri=uri)
    assert "pid" in result.took_over  # its holder died: taken over at once
    check = MilvusClient(uri)
    try:
        new = read_labels(check, table.name)
        assert set(new) == set(old) and not set(UNSET) & set(new.values())
        assert sum(new[pk] == label for pk, label in old.items()) >= 0.95 * len(old)
        runs = show_json(uri, table.name)["runs"]
        assert [(r["command"], r["state"]) for r in runs[:2]] == [("relabel", "done"),
                                                                ("relabel", "failed")]  # fmt: skip
        assert "abandoned" in runs[1]["error"] and result.run_id in runs[1]["error"]
        assert_show_matches(check, table.name, uri)
    finally:
        check.close()


def test_killed_assign_is_finished_by_the_next(client, uri, backend, spawn):
    table = labelled_table(client, uri)
    ids = true_ids(client, table)
    keys, truth = insert_new_rows(client, table, 2500)  # two write batches
    let_go(uri, backend)
    killed_while_writing(spawn, "assign", table.name, uri)
    check = MilvusClient(uri)
    try:
        partly = count(check, table.name, no_label(check, table.name))
        assert 0 < partly < 2500
        result = assign_collection(table.name, uri=uri)
        assert result.rows == partly
        labels = read_labels(check, table.name)
        assert not set(UNSET) & set(labels.values())
        right = sum(labels[key] == ids[group] for key, group in zip(keys, truth))
        assert right >= 0.95 * len(keys)
    finally:
        check.close()


# -- locks left by other jobs ---------------------------------------------------


def lock_row(uri: str, name: str, **holder) -> None:
    """Write a lock row as another job would have."""
    from milvus_cluster.jobs.lock import Holder

    milvus = Milvus.connect(uri)
    try:
        catalog = Catalog.open(milvus, name)
        values = Holder.me("relabel", 60).__dict__ | holder
        catalog.write_lock(values)
    finally:
        milvus.close()


def test_a_live_lock_makes_a_job_exit_3_naming_its_holder(client, uri):
    table = labelled_table(client, uri)
    insert_new_rows(client, table, 10)
    lock_row(uri, table.name, owner="cron@elsewhere", place="elsewhere", pid=4242)
    result = run("assign", "-c", table.name, "--uri", uri)
    assert result.exit_code == 3, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert "relabel by cron@elsewhere pid 4242" in line and "did nothing" in line
    assert count(client, table.name, no_label(client, table.name)) == 10
    assert show_json(uri, table.name)["lock"].startswith("relabel by cron@elsewhere")


def test_a_stale_lock_is_taken_over(client, uri):
    table = labelled_table(client, uri)
    insert_new_rows(client, table, 10)
    lock_row(uri, table.name, owner="cron@elsewhere", place="elsewhere", pid=4242,
             heartbeat="2020-01-01T00:00:00.000+00:00",
             expires="2020-01-01T00:02:00.000+00:00")  # fmt: skip
    result = assign_collection(table.name, uri=uri)
    assert result.rows == 10 and "cron@elsewhere" in result.took_over
    assert "expired" in result.took_over
    assert show_json(uri, table.name)["lock"] == ""


def test_a_lock_whose_process_died_here_is_taken_over_at_once(client, uri):
    table = labelled_table(client, uri)
    insert_new_rows(client, table, 10)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_row(uri, table.name, pid=dead.pid)  # this host, lease still running
    result = assign_collection(table.name, uri=uri)
    assert result.rows == 10 and f"pid {dead.pid}" in result.took_over


def test_sigterm_ends_a_job_as_failed_and_frees_the_lock(client, uri, backend, spawn):
    table = labelled_table(client, uri)
    let_go(uri, backend)
    stderr = killed_while_writing(spawn, "relabel", table.name, uri, how=signal.SIGTERM)
    assert "Stopped by SIGTERM" in stderr
    runs = show_json(uri, table.name)
    assert runs["lock"] == "" and runs["runs"][0]["state"] == "failed"
    assert "SIGTERM" in runs["runs"][0]["error"]
    result = relabel_collection(table.name, uri=uri)
    assert result.took_over == ""  # released, not left to expire
