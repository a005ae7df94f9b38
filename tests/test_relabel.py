"""`relabel` (commands/relabel.py): ids kept, drift reported, --max-changed, --noise assign."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import (
    all_rows,
    assert_show_matches,
    backend_independent,
    database_fingerprint,
    insert_new_rows,
    labelled_table,
    move_rows,
    read_labels,
    run,
    show_json,
    true_ids,
    unique_name,
)
from pymilvus import DataType
from sklearn.datasets import load_digits

from milvus_cluster.commands.assign import assign_collection
from milvus_cluster.commands.relabel import relabel_collection


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
    as_json = run("relabel", "-c", table.name, "--uri", uri, "--max-changed", "0.05", "--json")
    error = json.loads(as_json.stdout)  # the error is a JSON object, named by its run
    assert as_json.exit_code == 1 and as_json.stderr == "" and "60 of 600" in error["error"]
    runs = {r["run_id"]: r for r in show_json(uri, table.name)["runs"]}
    assert runs[error["run_id"]]["state"] == "failed" and error["time"]
    forced = run("relabel", "-c", table.name, "--uri", uri, "--max-changed", "0.05", "--force")
    assert forced.exit_code == 0, forced.output
    assert read_labels(client, table.name) != labels


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
    assert report["parameters"]["anchor"] is False  # a parameter changed: no rows held
    assert report["noise_before"] == kept["noise"] and report["noise"] < 0.75 * kept["noise"]
    assert report["noise_share_before"] > report["noise_share"]
    rows = all_rows(client, name, ["cluster_id", "cluster_prob"])
    joined = [r for r in rows if r["cluster_id"] >= 0 and r["cluster_prob"] == 0]
    assert len(joined) == report["noise_before"] - report["noise"]
    text = run("relabel", "-c", name, "--uri", uri, "--noise", "assign")
    assert "before --noise assign" in text.output


@backend_independent  # the preview's own logic is label's (test_label.py)
def test_relabel_preview_reports_the_drift_and_writes_nothing(client, uri):
    table = labelled_table(client, uri)
    move_rows(client, table, source=2, target=3, count=60)
    before = database_fingerprint(client, uri)
    result = run("relabel", "-c", table.name, "--uri", uri, "--preview", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["preview"] and shown["drift"]["changed"] == 60
    assert database_fingerprint(client, uri) == before


@backend_independent  # what it checks is the pipeline's determinism, not the server's
def test_a_fresh_relabel_with_no_change_keeps_every_label(client, uri):
    keys = np.random.default_rng(3).permutation(600).tolist()  # inserted out of key order
    table = labelled_table(client, uri, metric="COSINE", keys=keys)
    before = read_labels(client, table.name)
    result = run("relabel", "-c", table.name, "--uri", uri, "--fresh", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)  # --fresh: no anchoring to hide a difference
    assert report["parameters"]["anchor"] is False and report["drift"]["changed"] == 0
    assert read_labels(client, table.name) == before
