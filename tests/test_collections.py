"""`collections` (commands/collections.py): what a database holds, and what is labelled."""

from __future__ import annotations

import json

from helpers import PARAMS, backend_independent, create_table, run

from milvus_cluster import label_collection, list_collections


@backend_independent  # reading descriptions and statistics; labelling it on 2.3.5 is slow
def test_lists_rows_vectors_label_field_and_last_run(client, uri):
    labelled = create_table(client, n=200)
    other = create_table(client, n=30, metric="COSINE")
    client.create_alias(other.name, f"{other.name}_app")
    label_collection(labelled.name, uri=uri, parameters=PARAMS)
    found = {c.name: c for c in list_collections(uri=uri).collections}
    assert set(found) == {labelled.name, other.name}, "milvus-cluster's own are left out"
    done, plain = found[labelled.name], found[other.name]
    assert (done.rows, done.vectors, done.label_field) == (200, {"vector": "L2"}, "cluster_id")
    assert (done.last_run, done.state, done.catalog) == (
        "label",
        "done",
        f"{labelled.name}_mc_catalog",
    )
    assert (plain.rows, plain.vectors, plain.label_field, plain.last_run) == (
        30,
        {"vector": "COSINE"},
        None,
        "",
    )
    assert plain.aliases == [f"{other.name}_app"]

    everything = {c.name: c.kind for c in list_collections(uri=uri, everything=True).collections}
    assert everything[f"{labelled.name}_mc_catalog"] == "catalog"
    assert everything[f"{labelled.name}_mc_backup"] == "backup"

    text = run("collections", "--uri", uri)
    assert text.exit_code == 0 and "never labelled" in text.output and "label done" in text.output
    as_json = json.loads(run("collections", "--uri", uri, "--json").stdout)
    assert as_json["hidden"] == 2 and len(as_json["collections"]) == 2
