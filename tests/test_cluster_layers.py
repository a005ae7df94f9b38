"""The coarser layers (core/layers.py), without Milvus: a hand-built condensed tree,
known nested blobs, the hdbscan package's own tree, per-row labels, stable ids.
(tests/test_layers.py is the import-layering check, hence this file's name.)"""

from __future__ import annotations

from dataclasses import replace

import hdbscan
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from milvus_cluster.core.clustering import cluster_graph, ordered_by_size
from milvus_cluster.core.evoc import with_evoc_layers
from milvus_cluster.core.knn import local_knn
from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.core.layers import (
    Layers,
    layers_from_chains,
    layers_from_labels,
    layers_from_tree,
    nested,
    stable_layers,
)
from milvus_cluster.core.settle import settle_labels
from milvus_cluster.core.stable_ids import IdLedger
from milvus_cluster.core.vectors import Vectors
from milvus_cluster.errors import ParameterError
from milvus_cluster.migration.plan import check_field_names, layer_field_names

pytestmark = pytest.mark.core

TREE = [("parent", np.intp), ("child", np.intp), ("lambda_val", float), ("child_size", np.intp)]


def hand_tree() -> tuple[np.ndarray, np.ndarray]:
    """12 rows; the root (12) splits at λ 1 into 13 and 14; 13 into 15 and 16 at λ 5, 14
    into 17 and 18 at λ 2; the four leaves hold 4, 3, 3 and 2 rows (row 11 falls out of
    14 before its split: noise)."""
    edges = [(12, 13, 1, 7), (12, 14, 1, 5), (13, 15, 5, 4), (13, 16, 5, 3), (14, 17, 2, 3)]
    edges += [(14, 18, 2, 2)]
    leaves = {15: [0, 1, 2, 3], 16: [4, 5, 6], 17: [7, 8, 9], 18: [10]}
    edges += [(node, row, 9, 1) for node, rows in leaves.items() for row in rows]
    edges += [(14, 11, 1.5, 1)]
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, -1])
    return np.array(edges, dtype=TREE), labels


def test_hand_built_tree_merges_the_densest_split_first():
    tree, labels = hand_tree()
    one = layers_from_tree(tree, labels, factor=1.5)  # 4 clusters → at most 3, then 2
    assert one.depth == 2
    assert one.parents[0].tolist() == [0, 0, 1, 2]  # 15 and 16 joined (λ 5 before λ 2)
    assert one.parents[1].tolist() == [0, 1, 1]  # then 17 and 18: 13 and 14, 7 rows vs 4
    rows = one.of_rows(labels)
    assert rows[1].tolist() == [0] * 7 + [1] * 4 + [-1]  # noise stays noise
    two = layers_from_tree(tree, labels)  # factor 3: 4 → 2 at once, and that is the top
    assert two.depth == 1 and two.parents[0].tolist() == [0, 0, 1, 1]


def test_no_layers_above_a_handful_of_clusters_or_without_a_tree():
    tree, labels = hand_tree()
    assert layers_from_tree(tree, np.where(labels > 2, 2, labels)).depth == 0  # 3 clusters
    assert layers_from_tree(None, labels).depth == 0


def nested_blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """27 blobs on a line: in threes 3 apart, the threes in threes 12 apart, those 60
    apart. The rows, and their blob, group of three, and group of nine."""
    where = [(a, b, c) for a in range(3) for b in range(3) for c in range(3)]
    centres = np.array([[60.0 * a + 12 * b + 3 * c, 0] for a, b, c in where])
    points, blob = make_blobs(n_samples=[40] * 27, centers=centres, cluster_std=0.3, random_state=0)
    three = np.array([3 * a + b for a, b, _ in where])[blob]
    nine = np.array([a for a, _, _ in where])[blob]
    return points.astype(np.float32), blob, three, nine


@pytest.mark.parametrize("selection", ["eom", "leaf"])
def test_nested_blobs_give_their_groups_as_layers(selection):
    points, blob, three, nine = nested_blobs()
    found = cluster_graph(local_knn(points, 16, "L2"), 10, 5, selection, vectors=points)
    layers = layers_from_tree(found.tree, found.labels)
    rows = layers.of_rows(found.labels)
    assert [int(r.max()) + 1 for r in (found.labels, *rows)] == [27, 9, 3]
    for truth, labels in zip((blob, three, nine), (found.labels, *rows)):
        assert adjusted_rand_score(truth, labels) == 1.0
    assert nested([found.labels, *rows])
    for parent, labels in zip(layers.parents, rows):  # ids by size: ties, equal sizes
        sizes = np.bincount(labels)
        assert list(sizes) == sorted(sizes, reverse=True)
        assert len(parent) == int(labels.max()) * 3 + 3


def test_the_hdbscan_package_tree_gives_the_same_layers():
    """The same data through hdbscan.HDBSCAN: its condensed tree and labels (numbered its
    own way) give the same grouping of rows in every layer."""
    points, *_ = nested_blobs()
    reference = hdbscan.HDBSCAN(min_cluster_size=10, min_samples=5).fit(points)
    theirs = layers_from_tree(reference.condensed_tree_._raw_tree, reference.labels_)
    found = cluster_graph(local_knn(points, 16, "L2"), 10, 5, vectors=points)
    ours = layers_from_tree(found.tree, found.labels)
    assert theirs.depth == ours.depth == 2
    for a, b in zip(theirs.of_rows(reference.labels_), ours.of_rows(found.labels)):
        assert adjusted_rand_score(a, b) == 1.0


def test_layers_from_labels_maps_each_cluster_to_its_majority():
    fine = np.array([0, 0, 0, 1, 1, 2, 2, -1])
    coarse = np.array([5, 5, 7, 7, 7, 5, 5, 5])  # cluster 0: two rows in 5, one in 7
    layers = layers_from_labels([fine, coarse])
    assert layers.parents[0].tolist() == [5, 7, 5]
    assert not nested([fine, coarse])
    renumbered = layers_from_labels([fine, coarse, np.zeros(8, np.int64)], renumber=True)
    assert renumbered.parents[0].tolist() == [0, 1, 0]  # 5 holds more rows: id 0
    assert renumbered.parents[1].tolist() == [0, 0]
    assert nested([fine, renumbered.of_rows(fine)[0]])


def test_padded_repeats_the_top_layer_and_chains_round_trip():
    layers = Layers((np.array([0, 0, 1]),))
    padded = layers.padded(3, 3)
    assert [p.tolist() for p in padded.parents] == [[0, 0, 1], [0, 1], [0, 1]]
    assert Layers().padded(1, 2).parents[0].tolist() == [0, 1]
    assert layers.padded(0, 3).depth == 0
    chains = {c: padded.chain(c) for c in range(3)}
    assert chains == {0: [0, 0, 0], 1: [0, 0, 0], 2: [1, 1, 1]}
    again = layers_from_chains(chains)
    assert [p.tolist() for p in again.parents] == [p.tolist() for p in padded.parents]


def test_coarser_ids_are_kept_across_runs():
    """A second run whose clusters come out numbered the other way round keeps the
    coarser ids the first run gave, as layer 0 keeps its own."""
    tree, labels = hand_tree()
    layers = layers_from_tree(tree, labels, factor=1.5)
    first = stable_layers(layers, labels, labels, None, Layers(), ())
    assert [led.next_id for led in first.ledgers] == [3, 2]
    previous_layers = layers_from_labels([labels, *first.labels])
    # the second run: the same rows, its own numbering reversed; layer 0 ids kept as before
    run = np.where(labels >= 0, 3 - labels, -1)
    second_layers = Layers((np.array([0, 1, 2, 2]), np.array([0, 0, 1])))
    second = stable_layers(second_layers, run, labels, labels, previous_layers, first.ledgers)
    for before, after in zip(first.labels, second.labels):
        assert after.tolist() == before.tolist()
    unlabelled = np.full(len(labels), UNLABELLED)
    fresh = stable_layers(layers, labels, labels, unlabelled, Layers(), first.ledgers)
    assert fresh.labels[0].max() >= 3  # nothing to match: ids from the ledger on


def test_layer_fields_go_through_the_label_fields_checks():
    from test_plan import info

    with pytest.raises(ParameterError, match="more than one"):
        check_field_names(info(), "cluster_id", "cluster_prob", ("cluster_id_1", "cluster_id"))
    with pytest.raises(ParameterError, match="not a name Milvus takes"):
        check_field_names(info(), "cluster_id", None, ("1st",))
    with pytest.raises(ParameterError, match="primary key"):
        check_field_names(info(), "cluster_id", None, ("id",))
    assert layer_field_names(info(), "topic", 2, None) == ("topic_1", "topic_2")
    recorded = info(properties={"milvus_cluster.layer_fields": "a,b"})
    assert layer_field_names(recorded, "topic", 2, None) == ("a", "b")
    assert layer_field_names(recorded, "topic", 0, None) == ("a", "b")  # kept current
    assert layer_field_names(info(), "topic", 0, None) == ()
    with pytest.raises(ParameterError, match="as many names as layers"):
        layer_field_names(info(), "topic", 2, ("a",))


def test_settle_takes_an_engines_own_layers_and_keeps_noise_assigned_rows_nested():
    """An engine with its own layers (EVoC: per-row labels, finest first) hands them to
    settle as they are; rows that --noise assign gives a cluster get its parents too."""
    points, blob, three, nine = nested_blobs()
    graph = local_knn(points, 16, "L2")
    found = cluster_graph(graph, 10, 5, vectors=points)
    coarse = layers_from_labels([found.labels, three, nine], renumber=True)
    engine = replace(found, tree=None, layers=coarse)
    pks = np.arange(len(points))
    settled = settle_labels(graph, engine, Vectors(pks, points), None, IdLedger(), 5, "assign")
    rows = settled.hierarchy.labels
    assert adjusted_rand_score(three, rows[0]) == 1.0 and adjusted_rand_score(nine, rows[1]) == 1.0
    assert nested([settled.labels, *rows])


def test_evoc_layers_coarser_than_its_pick_become_the_hierarchy():
    """EVoC's layers (finest first) above the clustering it picked, or the vote refined:
    each cluster goes under the coarse cluster most of its rows are in; layers as fine
    as the pick or finer are no layer of it."""
    labels = np.repeat([0, 1, 2, 3], 10)
    finer = np.repeat(np.arange(8), 5)
    coarse = np.repeat([1, 1, 0, 0], 10)  # clusters 0, 1 together; 2, 3 together
    coarse[:3] = 0  # a few rows of cluster 0 elsewhere: the majority decides
    clustering = ordered_by_size(labels, np.ones(40), np.zeros(40), 1)
    layered = with_evoc_layers(clustering, [finer, labels, coarse, np.zeros(40, np.int64)])
    assert layered.layers is not None and layered.layers.depth == 2
    first = layered.layers.parents[0].tolist()
    assert first[0] == first[1] != first[2] == first[3]
    assert layered.layers.parents[1].tolist() == [0, 0]
    assert with_evoc_layers(clustering, [finer, labels]).layers is None
