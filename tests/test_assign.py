"""`assign` (commands/assign.py): new rows get the label of their labelled neighbours."""

from __future__ import annotations

import json

import pytest
from helpers import (
    UNSET,
    assert_show_matches,
    backend_independent,
    create_table,
    fingerprint,
    insert_new_rows,
    labelled_table,
    read_labels,
    run,
    true_ids,
)

from milvus_cluster import Parameters, label_collection
from milvus_cluster.commands.assign import assign_collection
from milvus_cluster.commands.relabel import relabel_collection


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
