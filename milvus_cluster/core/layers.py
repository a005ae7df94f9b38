"""Layers: the coarser clusterings above a run's clusters, each nested in the next.

The contract: `Layers.parents[i]` is an int64 array; `parents[i][c]` is the cluster of
layer i + 1 that cluster c of layer i lies in (layer 0: the run's clusters), -1 where
c is no cluster of layer i. Noise (-1) stays -1 in every layer; every row of cluster c
is in c's parent, and in its parent's parent, up to the top layer. Ids in each layer
made here are ordered by size in rows (0 the largest), like the clusters.

What a layer is (`layers_from_tree`). HDBSCAN's condensed tree is binary: each
cluster node splits into two at some density λ (1 / distance), and the clusters a
run selects are nodes of it, none above another. A layer undoes the splits of the
tree from the densest one down, as single linkage would merge them, each merge
joining two clusters of the layer below into their common parent node, until the
number of clusters has dropped by FACTOR (3): layer 1 has at most a third of the
clusters of layer 0, layer 2 a third of layer 1's, and so on, until at most FACTOR
clusters are left at the top. Why this rule and not EOM selection re-run above the
selected clusters: EOM picks the same nodes again or jumps straight to the root's
two children, so it gives no steps in between; and cutting the tree at one λ gives
layers of any sizes (one giant and many small), where a fixed factor gives an
application the zoom levels it expects (about 3 topics per super-topic). Merging by
λ keeps what HDBSCAN found: two clusters join in a layer only where the data joins
them, at the density where their branches meet.

`layers_from_labels` makes the same value from per-row label arrays, finest first
(EVoC's `cluster_layers_`, or labels of any nested clusterings): each cluster of a
layer goes to the coarser cluster most of its rows are in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.core.stable_ids import IdLedger, stable_ids

FACTOR = 3.0  # each layer has at most 1/FACTOR of the clusters of the layer below


@dataclass(frozen=True)
class Layers:
    parents: tuple[np.ndarray, ...] = ()  # parents[i][c]: c's cluster in layer i + 1

    @property
    def depth(self) -> int:
        """Layers above layer 0."""
        return len(self.parents)

    def of_rows(self, labels: np.ndarray) -> list[np.ndarray]:
        """Each row's cluster in layers 1..depth, from its layer-0 `labels` (n,): a list
        of (n,) int64 arrays, -1 where the row is noise (or its cluster unknown)."""
        found, current = [], np.asarray(labels, dtype=np.int64)
        for parent in self.parents:
            current = _looked_up(parent, current)
            found.append(current)
        return found

    def chain(self, cluster: int) -> list[int]:
        """The clusters of layers 1..depth that layer-0 `cluster` lies in."""
        return [int(row[0]) for row in self.of_rows(np.array([cluster]))]

    def padded(self, count: int, width: int) -> Layers:
        """Exactly `count` layers above a layer 0 of ids below `width`: the top layer
        repeated where there are fewer (so that every layer field an application filters
        on exists), cut where there are more."""
        parents = list(self.parents[:count])
        while len(parents) < count:
            below = _id_count(parents[-1]) if parents else width
            parents.append(np.arange(below, dtype=np.int64))
        return Layers(tuple(np.asarray(p, dtype=np.int64) for p in parents))

    def as_dict(self) -> dict[str, list[list[int]]]:
        return {"parents": [p.tolist() for p in self.parents]}


def _looked_up(parent: np.ndarray, labels: np.ndarray) -> np.ndarray:
    known = (labels >= 0) & (labels < len(parent))
    return np.where(known, parent[np.where(known, labels, 0)] if len(parent) else -1, -1)


def _id_count(parent: np.ndarray) -> int:
    return int(parent.max()) + 1 if len(parent) and parent.max() >= 0 else 0


# -- from HDBSCAN's condensed tree -------------------------------------------


def layers_from_tree(tree: np.ndarray | None, labels: np.ndarray, factor: float = FACTOR) -> Layers:
    """The layers above `labels` (n,), the clusters HDBSCAN selected from its condensed
    `tree` (hdbscan's record array: parent, child, lambda_val, child_size); see the
    module's contract. No layer when the tree is empty or there are at most `factor`
    clusters."""
    labels = np.asarray(labels, dtype=np.int64)
    count = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    if tree is None or len(tree) == 0 or count <= factor:
        return Layers()
    up, split = _cluster_tree(tree)
    tops = _selected_nodes(tree, labels, count, up)
    sizes = np.bincount(labels[labels >= 0], minlength=count)
    parents = []
    while len(tops) > factor:
        merged = _merged(tops, up, split, max(2, math.ceil(len(tops) / factor)))
        parent, tops, sizes = _numbered(merged, sizes)
        if len(tops) == len(parent):  # nothing merged (a forest): no coarser layer
            break
        parents.append(parent)
    return Layers(tuple(parents))


def _cluster_tree(tree: np.ndarray) -> tuple[dict[int, int], dict[int, float]]:
    """The tree's cluster nodes: each node's parent, and the λ at which each parent
    splits into its children (larger: denser, a split single linkage undoes first)."""
    nodes = tree[tree["child_size"] > 1]
    up = {int(c): int(p) for p, c in zip(nodes["parent"], nodes["child"])}
    split: dict[int, float] = {}
    for p, lam in zip(nodes["parent"], nodes["lambda_val"]):
        split[int(p)] = max(split.get(int(p), 0.0), float(lam))
    return up, split


def _selected_nodes(
    tree: np.ndarray, labels: np.ndarray, count: int, up: dict[int, int]
) -> list[int]:
    """The tree node of each cluster: the lowest common ancestor of the nodes its rows
    fall out of (a selected node's rows fall out of it or of nodes below it, which
    spares us hdbscan's private selection code)."""
    points = tree[tree["child_size"] == 1]
    fall_out = np.full(len(labels), -1, dtype=np.int64)
    fall_out[points["child"].astype(np.int64)] = points["parent"]
    nodes = []
    for cluster in range(count):
        found = np.unique(fall_out[labels == cluster])
        nodes.append(_common_ancestor([int(n) for n in found if n >= 0], up))
    return nodes


def _path(node: int, up: dict[int, int]) -> list[int]:
    path = [node]
    while path[-1] in up:
        path.append(up[path[-1]])
    return path


def _common_ancestor(nodes: list[int], up: dict[int, int]) -> int:
    first = _path(nodes[0], up)
    shared = set(first)
    for node in nodes[1:]:
        shared &= set(_path(node, up))
    return next(node for node in first if node in shared)


def _merged(tops: list[int], up: dict[int, int], split: dict[int, float], target: int) -> list[int]:
    """Each cluster's node after merging, densest split first, until at most `target`
    distinct nodes are left. Nodes below a node are merged before it (they split at a
    larger λ), so each merge joins clusters whose nodes are the merged node's children."""
    current = list(tops)
    above = sorted(
        {a for node in tops for a in _path(node, up)[1:]},
        key=lambda node: (-split.get(node, 0.0), -node),
    )
    for node in above:
        if len(set(current)) <= target:
            break
        current = [node if up.get(c) == node else c for c in current]
    return current


def _numbered(nodes: list[int], sizes: np.ndarray) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Number the distinct `nodes` by the rows they hold (largest first, ties: the node
    of the lower cluster first): each cluster's parent id, the new layer's nodes, and
    their sizes."""
    distinct = list(dict.fromkeys(nodes))
    totals = np.array([sizes[[n == d for n in nodes]].sum() for d in distinct], dtype=np.int64)
    order = sorted(range(len(distinct)), key=lambda i: -totals[i])
    rank = {distinct[i]: r for r, i in enumerate(order)}
    parent = np.array([rank[n] for n in nodes], dtype=np.int64)
    return parent, [distinct[i] for i in order], totals[order]


# -- from per-row labels --------------------------------------------------------


def layers_from_labels(layer_labels: Sequence[np.ndarray], renumber: bool = False) -> Layers:
    """Layers from per-row labels, finest first (`layer_labels[0]` is layer 0; -1 noise):
    each cluster of a layer goes to the coarser cluster most of its rows are in (its
    rows' coarser labels that are noise do not vote). With `renumber`, the ids of the
    coarser layers are renumbered by size (layer 0's are kept as given)."""
    arrays = [np.asarray(labels, dtype=np.int64) for labels in layer_labels]
    parents: list[np.ndarray] = []
    for fine, coarse in zip(arrays, arrays[1:]):
        if renumber:
            coarse = _by_size(coarse)
        parents.append(_majority(fine, coarse))
        if renumber:  # the next layer maps from the renumbered ids
            arrays[len(parents)] = coarse
    return Layers(tuple(parents))


def _majority(fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    both = (fine >= 0) & (coarse >= 0)
    width = int(fine.max()) + 1 if len(fine) and fine.max() >= 0 else 0
    parent = np.full(width, -1, dtype=np.int64)
    if not both.any():
        return parent
    pairs, counts = np.unique(
        np.column_stack([fine[both], coarse[both]]), axis=0, return_counts=True
    )
    order = np.lexsort((pairs[:, 1], -counts))  # most rows first, then the lower coarse id
    for f, c in pairs[order][::-1]:  # the last written wins: the majority
        parent[f] = c
    return parent


def _by_size(labels: np.ndarray) -> np.ndarray:
    clustered = labels >= 0
    if not clustered.any():
        return labels
    sizes = np.bincount(labels[clustered])
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[np.lexsort((np.arange(len(sizes)), -sizes))] = np.arange(len(sizes))
    return np.where(clustered, rank[np.where(clustered, labels, 0)], -1)


def nested(layer_labels: Sequence[np.ndarray]) -> bool:
    """Whether each cluster's rows all lie in one cluster of the next layer (noise
    stays noise): what the layer fields of a labelled collection must show."""
    arrays = [np.asarray(labels, dtype=np.int64) for labels in layer_labels]
    for fine, coarse in zip(arrays, arrays[1:]):
        if np.any((fine < 0) & (coarse >= 0)) or np.any((fine >= 0) & (coarse < 0)):
            return False
        pairs = np.unique(np.column_stack([fine[fine >= 0], coarse[fine >= 0]]), axis=0)
        if len(np.unique(pairs[:, 0])) != len(pairs):
            return False
    return True


# -- stable ids ---------------------------------------------------------------


@dataclass(frozen=True)
class StableLayers:
    """The layers of a run in the ids it writes: each coarser layer's ids kept across
    runs by the rule of core/stable_ids.py, as layer 0's are."""

    layers: Layers  # parents in stable ids (arrays as long as the largest id + 1)
    labels: tuple[np.ndarray, ...]  # each row's stable id in layers 1..depth
    ledgers: tuple[IdLedger, ...]  # one per layer above 0, to store with layer 0's


def stable_layers(
    layers: Layers,
    run_labels: np.ndarray,
    labels: np.ndarray,
    previous: np.ndarray | None,
    previous_layers: Layers,
    ledgers: Sequence[IdLedger],
) -> StableLayers:
    """`layers` over the run's own cluster ids (`run_labels`, (n,)) renamed to stable ids:
    `labels` (n,) are the stable layer-0 ids of the same rows; `previous` (n,) the labels
    rows had (UNLABELLED for none; None on a first run), and `previous_layers` the
    parents the catalog kept from the last run. Coarser layers get stable ids too, for
    the same reason as layer 0: an application that filters on `cluster_id_1 == 3`
    keeps getting the same super-topic after a relabel. A layer's ids are matched the
    same way, by the rows it shares with the last run's layer (the rows' last-run
    coarser ids are their layer-0 ids taken up the catalog's parents)."""
    rows_before = _previous_rows(previous, previous_layers, layers.depth)
    found, kept = [], []
    for depth, run in enumerate(layers.of_rows(run_labels)):
        ledger = ledgers[depth] if depth < len(ledgers) else IdLedger()
        stable = stable_ids(rows_before[depth] if rows_before else None, run, ledger)
        found.append(stable.labels)
        kept.append(stable.ledger)
    renamed = layers_from_labels([labels, *found])
    kept_parents = _kept_parents(renamed, previous_layers, [labels, *found])
    return StableLayers(kept_parents, tuple(found), tuple(kept))


def _kept_parents(layers: Layers, previous: Layers, rows: Sequence[np.ndarray]) -> Layers:
    """A cluster that relabel's anchoring (core/anchor.py) kept alive on rows this run
    calls noise has no rows in the run's coarser layers, hence no parent by majority: it
    keeps the parent it had, where that cluster of the layer above is still there."""
    parents = []
    for depth, parent in enumerate(layers.parents):
        parent = parent.copy()
        before = previous.parents[depth] if depth < previous.depth else np.empty(0, np.int64)
        here = set(np.unique(rows[depth]).tolist())
        alive = set(np.unique(rows[depth + 1]).tolist())
        for cluster in np.flatnonzero(parent[: len(before)] < 0):
            if int(cluster) in here and int(before[cluster]) >= 0 and int(before[cluster]) in alive:
                parent[cluster] = before[cluster]
        parents.append(parent)
    return Layers(tuple(parents))


def _previous_rows(
    previous: np.ndarray | None, previous_layers: Layers, depth: int
) -> list[np.ndarray] | None:
    """Each row's last-run id in layers 1..depth: UNLABELLED where it had no label or its
    cluster has no parent on record (not compared), -1 where it was noise."""
    if previous is None:
        return None
    rows: list[np.ndarray] = []
    padded = previous_layers.padded(depth, 0) if previous_layers.depth else None
    for found in padded.of_rows(previous) if padded is not None else [None] * depth:
        if found is None:
            rows.append(np.full(len(previous), UNLABELLED, dtype=np.int64))
            continue
        unknown = (previous == UNLABELLED) | ((previous >= 0) & (found < 0))
        rows.append(np.where(unknown, UNLABELLED, found))
    return rows


def layers_from_chains(chains: dict[int, Sequence[int]]) -> Layers:
    """Layers from each layer-0 cluster's chain of parents (layer 1 first), as the catalog
    keeps them; chains shorter than the longest end where they end."""
    depth = max((len(chain) for chain in chains.values()), default=0)
    parents = []
    below = {cluster: cluster for cluster in chains}  # each cluster's id in the layer below
    for layer in range(depth):
        pairs = {below[c]: int(chain[layer]) for c, chain in chains.items() if len(chain) > layer}
        parent = np.full(max(pairs, default=-1) + 1, -1, dtype=np.int64)
        for child, up in pairs.items():
            parent[child] = up
        parents.append(parent)
        below = {c: int(chain[layer]) for c, chain in chains.items() if len(chain) > layer}
    return Layers(tuple(parents))
