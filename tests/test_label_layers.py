"""`label --layers`: the layer fields on a real Milvus (Lite, and the 2.3.5 server where
they are dynamic keys), nested in the catalog's tree, filterable, kept by relabel and
assign, cleared by unlabel; `show --tree`."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from helpers import (
    UNSET,
    all_rows,
    backend_independent,
    count,
    create_table,
    insert_new_rows,
    run,
)

from milvus_cluster import Parameters, label_collection
from milvus_cluster.commands.plot import _in_layer, _layer, plot_collection
from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.errors import ParameterError

LAYER_FIELDS = ["cluster_id_1", "cluster_id_2"]


def label_rows(client, name: str) -> dict:
    rows = all_rows(client, name, ["id", "cluster_id", *LAYER_FIELDS])
    return {row["id"]: [row.get(f) for f in ["cluster_id", *LAYER_FIELDS]] for row in rows}


def tree_json(uri: str, name: str) -> dict:
    shown = run("show", "-c", name, "--uri", uri, "--tree", "--json")
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output)


def assert_nested(client, name: str, uri: str) -> tuple[dict, dict]:
    """Every labelled row's layer fields are its cluster's parents in the catalog, noise
    is -1 in every layer, and the tree's sizes add up to the rows."""
    shown = tree_json(uri, name)
    parents = {c["id"]: c["parents"] for c in shown["clusters"]}
    rows = label_rows(client, name)
    for values in rows.values():
        label, *layers = values
        assert label not in UNSET
        assert layers == ([-1, -1] if label == -1 else (parents[label] + parents[label][-1:])[:2])
    clustered = sum(1 for label, *_ in rows.values() if label >= 0)
    assert sum(node["size"] for node in shown["tree"]) == clustered
    for node in shown["tree"]:
        assert node["layer"] == 1 and node["children"]  # 4 clusters: one layer of 2
        assert sum(child["size"] for child in node["children"]) == node["size"]
    return rows, shown


def test_layer_fields_nest_filter_and_follow_relabel_assign_and_unlabel(client, uri, backend):
    table = create_table(client, topics=True)
    options = ["-c", table.name, "--uri", uri, "--json"]
    labelled = run("label", *options, "--layers", "2", "--min-cluster-size", "20",
                   "--min-samples", "5")  # fmt: skip
    assert labelled.exit_code == 0, labelled.output
    rows, shown = assert_nested(client, table.name, uri)
    for layer, field in enumerate(LAYER_FIELDS, 1):  # applications filter on each layer
        sizes = Counter(values[layer] for values in rows.values())
        for value, size in sizes.items():
            assert count(client, table.name, f"{field} == {value}") == size
    assert all(node["keywords"] for node in shown["tree"])  # c-TF-IDF of the layer's texts

    if backend == "lite":  # the server's rewrite of every row: test_relabel's (~20 s)
        relabelled = run("relabel", *options)  # the last run's --layers 2, ids kept
        assert relabelled.exit_code == 0, relabelled.output
        assert label_rows(client, table.name) == rows

    keys, _ = insert_new_rows(client, table, 20)
    assigned = run("assign", *options)
    assert assigned.exit_code == 0, assigned.output
    after, _ = assert_nested(client, table.name, uri)
    assert all(after[key][0] not in UNSET for key in keys)

    cleared = run("unlabel", "-c", table.name, "--uri", uri, "--yes")
    assert cleared.exit_code == 0, cleared.output
    assert all(v in UNSET for values in label_rows(client, table.name).values() for v in values)


@backend_independent  # the write paths on the server: the test above
def test_show_tree_prints_each_layer_indented(client, uri):
    table = create_table(client, n=300, topics=True)
    labelled = run("label", "-c", table.name, "--uri", uri, "--layer-fields", "topic,theme",
                   "--min-cluster-size", "20", "--min-samples", "5")  # fmt: skip
    assert labelled.exit_code == 0, labelled.output
    assert "  layers:   4 → 2 clusters (written to topic, theme)" in labelled.output
    shown = run("show", "-c", table.name, "--uri", uri, "--tree")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "  tree (layer: id, size, keywords):" in lines
    assert sum(1 for line in lines if line.startswith("  1: ")) == 2  # the top layer
    assert sum(1 for line in lines if line.startswith("      0: ")) == 4
    rows = all_rows(client, table.name, ["topic", "theme"])
    assert all(row["topic"] == row["theme"] for row in rows)  # theme repeats the top layer
    assert all(client.list_indexes(table.name, field_name=f) for f in ("topic", "theme"))


@backend_independent
def test_plot_colours_by_a_layer(client, uri, milvus, tmp_path):
    """The layer is resolved from the catalog before the map's work (and refused when
    there is no such layer); each row then takes its cluster's parent. The page itself
    is test_plot.py's (UMAP costs ~20 s here: not paid twice)."""
    from test_plot import topical_table

    name, _ = topical_table(client, n=200)
    label_collection(name, uri=uri, parameters=Parameters(min_cluster_size=20, min_samples=5))
    with pytest.raises(ParameterError, match="choose --layer 0 to 1"):
        plot_collection(name, tmp_path / "map.html", uri=uri, layer=2)
    hierarchy, colour = _layer(milvus, milvus.inspect(name, None), "cluster_id", 1)
    assert colour == "layer 1 of cluster_id"
    labels = np.array([0, 1, 2, 3, -1, UNLABELLED])
    coarse = _in_layer(hierarchy, labels, 1)
    assert coarse[4:].tolist() == [-1, UNLABELLED] and sorted(set(coarse[:4])) == [0, 1]
