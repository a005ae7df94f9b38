"""A job's life (jobs/run.py): its run record, and a job killed half-way finished by the next."""

from __future__ import annotations

import signal
import textwrap

import pytest
from helpers import (
    UNSET,
    Processes,
    assert_show_matches,
    count,
    create_table,
    insert_new_rows,
    labelled_table,
    no_label,
    read_labels,
    release_lite,
    show_json,
    true_ids,
)
from pymilvus import MilvusClient

from milvus_cluster.commands.assign import assign_collection
from milvus_cluster.commands.relabel import relabel_collection
from milvus_cluster.jobs.catalog import Catalog, catalog_name
from milvus_cluster.jobs.run import run_job


def test_a_failing_job_records_its_error_and_frees_the_lock(milvus, client):
    table = create_table(client, n=50)
    info = milvus.inspect(table.name)
    Catalog.open(milvus, info.requested, info.dim)  # a catalog from an earlier run
    with pytest.raises(RuntimeError), run_job(milvus, info, "relabel", {"k": 5}) as job:
        raise RuntimeError("disk full")
    catalog = job.catalog
    assert catalog.read_lock() is None
    (record,) = catalog.runs()
    assert record.state == "failed" and record.error == "disk full" and record.finished


def test_a_first_job_refused_before_writing_leaves_no_catalog(milvus, client):
    table = create_table(client, n=50)
    info = milvus.inspect(table.name)
    with pytest.raises(RuntimeError), run_job(milvus, info, "label", {"k": 5}):
        raise RuntimeError("refused")
    assert not milvus.has(catalog_name(info.requested))


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
    release_lite(uri)  # so that the jobs it starts can open a Lite file
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
    release_lite(uri)  # so that the jobs it starts can open a Lite file
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


def test_sigterm_ends_a_job_as_failed_and_frees_the_lock(client, uri, backend, spawn):
    table = labelled_table(client, uri)
    release_lite(uri)  # so that the jobs it starts can open a Lite file
    stderr = killed_while_writing(spawn, "relabel", table.name, uri, how=signal.SIGTERM)
    assert "Stopped by SIGTERM" in stderr
    runs = show_json(uri, table.name)
    assert runs["lock"] == "" and runs["runs"][0]["state"] == "failed"
    assert "SIGTERM" in runs["runs"][0]["error"]
    result = relabel_collection(table.name, uri=uri)
    assert result.took_over == ""  # released, not left to expire
