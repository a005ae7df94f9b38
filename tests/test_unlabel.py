"""`unlabel` and `export` (commands/unlabel.py, migration/unlabel.py): labels taken away,
or taken out, and nothing of the user's touched."""

from __future__ import annotations

import pandas as pd
from helpers import (
    PARAMS,
    UNSET,
    backend_independent,
    create_table,
    database_fingerprint,
    fingerprint,
    labelled_table,
    read_labels,
    run,
)

from milvus_cluster import label_collection


def test_unlabel_lists_first_then_removes_only_what_labelling_added(client, uri, backend):
    table = labelled_table(client, uri)
    before, rows_before = database_fingerprint(client, uri), fingerprint(client, table.name)
    listed = run("unlabel", "-c", table.name, "--uri", uri)
    assert listed.exit_code == 0 and "Would remove" in listed.output, listed.output
    assert database_fingerprint(client, uri) == before, "without --yes nothing changes"

    done = run("unlabel", "-c", table.name, "--uri", uri, "--yes")
    assert done.exit_code == 0, done.output
    assert not client.has_collection(f"{table.name}_mc_catalog")
    assert set(read_labels(client, table.name).values()) <= set(UNSET)
    assert fingerprint(client, table.name) == rows_before, "the user's fields are untouched"
    properties = client.describe_collection(table.name).get("properties", {})
    emptied = [k for k, v in properties.items() if k.startswith("milvus_cluster.") and not v]
    assert not emptied or "cannot drop a property" in done.output  # Milvus 2.3
    assert "label it first" in run("show", "-c", table.name, "--uri", uri).output
    if backend == "lite":  # the fields are still milvus-cluster's: a new label writes them
        again = label_collection(table.name, uri=uri, parameters=PARAMS)
        assert again.clusters == 4 and None not in read_labels(client, table.name).values()


@backend_independent
def test_unlabel_of_a_collection_never_labelled_does_nothing(client, uri):
    table = create_table(client, n=30)
    before = database_fingerprint(client, uri)
    result = run("unlabel", "-c", table.name, "--uri", uri, "--yes")
    assert result.exit_code == 0 and "nothing to remove" in result.output
    assert database_fingerprint(client, uri) == before


@backend_independent
def test_export_writes_keys_labels_and_the_clusters_keywords(client, uri, tmp_path):
    table = create_table(client, n=200, topics=True)
    label_collection(table.name, uri=uri, parameters=PARAMS)
    labels = read_labels(client, table.name)
    for suffix, read in ((".csv", pd.read_csv), (".parquet", pd.read_parquet)):
        output = tmp_path / f"labels{suffix}"
        result = run("export", "-c", table.name, "--uri", uri, "-o", str(output))
        assert result.exit_code == 0, result.output
        rows = read(output)
        assert list(rows.columns) == ["id", "cluster_id", "cluster_prob"]
        assert dict(zip(rows.id, rows.cluster_id)) == labels
        clusters = read(tmp_path / f"labels.clusters{suffix}")
        assert sorted(clusters.cluster_id) == sorted(set(labels.values()) - {-1})
        assert all(clusters.keywords.str.len() > 0)
    wrong = run("export", "-c", table.name, "--uri", uri, "-o", str(tmp_path / "x.xlsx"))
    assert wrong.exit_code == 1 and ".parquet or a .csv" in wrong.output
