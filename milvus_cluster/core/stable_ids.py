"""Stable cluster ids: a new clustering takes the ids of the old clusters it overlaps.

The contract: `old` (n,) int64 holds each row's label before the run (-1 noise,
UNLABELLED for rows that had none: new since the last run), `new` (n,) the run's
labels (0..c-1 by size, -1 noise), and the collection's IdLedger. Out: the labels
to write, with ids that applications already filter on kept where the cluster is
still there, a ledger to store, and a Drift report.

The matching is one-to-one and maximises the rows shared (scipy's
linear_sum_assignment on the c × c' overlap counts); a pair that shares less than half
of the smaller of the two is no match. Then, on a relabel, the hysteresis of anchor.py
holds rows to their old labels where the new clustering gives no reason to move them.
Last, no id changes meaning: an old id whose cluster (as it will be written) shares
less than half of its rows labelled before, noise included, with the old cluster of
that id is retired, and the cluster gets a fresh id instead; an application filtering
on the old id would otherwise get mostly other rows. Fresh ids go to the clusters
without a match, largest first, from the ledger's next id, which only ever grows (ids
of vanished clusters are retired, never given out again).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from milvus_cluster.core.anchor import anchored, crosstab, dense
from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.errors import DriftTooLarge

MIN_SHARED = 0.5


@dataclass(frozen=True)
class IdLedger:
    """Cluster ids handed out so far: fresh ids start at next_id, retired ids stay retired."""

    next_id: int = 0
    retired: tuple[int, ...] = ()


@dataclass(frozen=True)
class Drift:
    """How the labels moved, on the rows that had a label before (noise included)."""

    compared: int  # rows labelled before and now
    changed: int  # of those, rows whose label changed
    adjusted_rand: float  # old vs new labels of the compared rows (noise a group of its own)
    kept: list[int]  # ids that live on
    born: list[int]  # fresh ids of clusters made mostly of rows no kept cluster had
    split: list[int]  # fresh ids of clusters split off a cluster that lives on
    died: list[int]  # retired ids of clusters whose rows went mostly to noise or apart
    merged: list[int]  # retired ids of clusters whose rows went mostly into a kept one

    @property
    def changed_share(self) -> float:
        return self.changed / self.compared if self.compared else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"changed_share": round(self.changed_share, 6)}

    def describe(self) -> str:
        def ids(values: list[int]) -> str:
            if not values:
                return "0"
            more = ", …" if len(values) > 8 else ""
            return f"{len(values)} ({', '.join(map(str, values[:8]))}{more})"

        return (
            f"kept {len(self.kept)}, born {ids(self.born)}, died {ids(self.died)}, merged "
            f"{ids(self.merged)}, split {ids(self.split)}; {self.changed:,} of {self.compared:,} "
            f"rows changed label ({100 * self.changed_share:.1f} %), adjusted Rand index "
            f"{self.adjusted_rand:.3f}"
        )


@dataclass(frozen=True)
class StableLabels:
    labels: np.ndarray  # (n,) int64: the labels to write
    ledger: IdLedger  # to store before the labels are written
    drift: Drift | None  # None when no row had a label before
    held: np.ndarray  # (n,) bool: rows that kept their old label against the new clustering


def stable_ids(
    old: np.ndarray | None,
    new: np.ndarray,
    ledger: IdLedger,
    anchor: bool = True,
    near: np.ndarray | None = None,
    min_cluster_size: int = 2,
) -> StableLabels:
    """New labels renamed to stable ids (see the module's contract); `anchor` holds rows
    to their old labels where the new clustering gives no reason to move (anchor.py;
    `near` and `min_cluster_size` are its arguments)."""
    new = np.asarray(new, dtype=np.int64)
    old = np.full(len(new), UNLABELLED, np.int64) if old is None else np.asarray(old, np.int64)
    old_ids = np.unique(old[old >= 0])
    count = int(new.max()) + 1 if (new >= 0).any() else 0
    matched = _matching(_overlap(old, new, old_ids, count), new, old, old_ids)
    next_id = max(ledger.next_id, int(old_ids.max()) + 1 if len(old_ids) else 0)
    ids = np.full(count, -1, dtype=np.int64)
    for cluster, old_index in matched.items():
        ids[cluster] = old_ids[old_index]
    fresh = [cluster for cluster in range(count) if cluster not in matched]  # largest first
    ids[fresh] = np.arange(next_id, next_id + len(fresh))  # provisional: compacted below
    labels = np.where(new >= 0, ids[np.maximum(new, 0)] if count else -1, -1)
    held = np.zeros(len(new), dtype=bool)
    relabel = bool((old != UNLABELLED).any())
    if anchor and relabel:
        anchored_labels = anchored(old, labels, near, min_cluster_size)
        labels, held = anchored_labels.labels, anchored_labels.held
    labels = retire_changed_meaning(old, labels, next_id + len(fresh))
    labels, next_free = _compacted(labels, next_id)
    retired = sorted(set(old_ids.tolist()) - set(labels.tolist()))
    ledger = IdLedger(next_free, tuple(sorted(set(ledger.retired) | set(retired))))
    drift = _drift(old, labels, old_ids) if relabel else None
    return StableLabels(labels, ledger, drift, held & (labels == old))


def retire_changed_meaning(old: np.ndarray, labels: np.ndarray, first_free: int) -> np.ndarray:
    """No id changes meaning: an old id whose cluster now shares less than half of its
    rows labelled before (noise included) with the old cluster of that id is retired,
    and that cluster gets a fresh id from `first_free` on."""
    compared = old != UNLABELLED
    values, old_values, counts = crosstab(labels[compared], old[compared])
    column = {int(v): j for j, v in enumerate(old_values.tolist())}
    renamed = labels.copy()
    fresh = first_free
    for row, cluster in enumerate(values.tolist()):
        if cluster < 0 or cluster not in column:
            continue
        if 2 * counts[row, column[cluster]] < counts[row].sum():
            renamed[labels == cluster] = fresh
            fresh += 1
    return renamed


def _compacted(labels: np.ndarray, next_id: int) -> tuple[np.ndarray, int]:
    """Fresh ids (next_id and above) that rows still carry, renumbered next_id, next_id+1,
    … in their order, so that an id the anchoring folded away is not spent; and the next
    free id after them."""
    fresh = np.unique(labels[labels >= next_id])
    if len(fresh) == 0:
        return labels, next_id
    slot = np.searchsorted(fresh, labels)
    is_fresh = labels >= next_id
    return np.where(is_fresh, next_id + slot, labels), next_id + len(fresh)


def _overlap(old: np.ndarray, new: np.ndarray, old_ids: np.ndarray, count: int) -> np.ndarray:
    """Rows shared by new cluster i and old cluster old_ids[j], as a count × len(old_ids) array."""
    both = (new >= 0) & (old >= 0)
    overlap = np.zeros((count, len(old_ids)), dtype=np.int64)
    np.add.at(overlap, (new[both], np.searchsorted(old_ids, old[both])), 1)
    return overlap


def _matching(
    overlap: np.ndarray, new: np.ndarray, old: np.ndarray, old_ids: np.ndarray
) -> dict[int, int]:
    """New cluster → index into old_ids, for the pairs that may keep the old id (the
    rule that the id keeps its meaning is checked on the final labels)."""
    if overlap.size == 0:
        return {}
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    new_sizes = np.bincount(new[new >= 0], minlength=overlap.shape[0])
    labelled = old >= 0
    old_sizes = np.bincount(np.searchsorted(old_ids, old[labelled]), minlength=len(old_ids))
    return {
        int(r): int(c)
        for r, c in zip(rows, cols)
        if overlap[r, c] > 0 and overlap[r, c] >= MIN_SHARED * min(new_sizes[r], old_sizes[c])
    }


def _drift(old: np.ndarray, labels: np.ndarray, old_ids: np.ndarray) -> Drift:
    """What happened to each id, from the labels before and the labels to write."""
    compared = old != UNLABELLED
    new_ids = np.unique(labels[labels >= 0])
    kept = np.intersect1d(old_ids, new_ids)
    fresh, gone = np.setdiff1d(new_ids, old_ids), np.setdiff1d(old_ids, new_ids)
    both = (labels >= 0) & (old >= 0)
    new_values, old_values, overlap = crosstab(labels[both], old[both])
    by_column = overlap.tocsc()
    row = {int(v): i for i, v in enumerate(new_values.tolist())}
    column = {int(v): j for j, v in enumerate(old_values.tolist())}
    kept_columns = {column[int(v)] for v in kept if int(v) in column}
    kept_rows = {row[int(v)] for v in kept if int(v) in row}
    split = [
        int(c)
        for c in fresh.tolist()
        if c in row and _mostly_from(dense(overlap[row[c]]), kept_columns)
    ]
    merged = [
        int(g)
        for g in gone.tolist()
        if g in column and _mostly_from(dense(by_column[:, column[g]]), kept_rows)
    ]
    return Drift(
        compared=int(compared.sum()),
        changed=int(np.count_nonzero(old[compared] != labels[compared])),
        adjusted_rand=round(float(adjusted_rand_score(old[compared], labels[compared])), 6),
        kept=kept.tolist(),
        born=sorted(set(fresh.tolist()) - set(split)),
        split=sorted(split),
        died=sorted(set(gone.tolist()) - set(merged)),
        merged=sorted(merged),
    )


def _mostly_from(shared: np.ndarray, matched: set[int]) -> bool:
    """Whether more than half of a cluster's rows that are in clusters on the other side
    lie in one cluster there, and that one was matched (lives on under another)."""
    total = int(shared.sum())
    if total == 0:
        return False
    top = int(np.argmax(shared))
    return top in matched and shared[top] * 2 > total


@dataclass(frozen=True)
class DriftGuard:
    """A relabel's limit: refuse when more than `max_changed` (a fraction of the rows
    labelled before) would change label, unless `force`."""

    max_changed: float | None = None
    force: bool = False


def check_drift(drift: Drift | None, guard: DriftGuard | None) -> None:
    """Raise DriftTooLarge when the drift exceeds the guard's limit."""
    if drift is None or guard is None or guard.max_changed is None or guard.force:
        return
    max_changed = guard.max_changed
    if drift.changed_share <= max_changed:
        return
    raise DriftTooLarge(
        f"This relabel would change the label of {drift.changed:,} of {drift.compared:,} rows "
        f"({100 * drift.changed_share:.1f} %), more than --max-changed allows "
        f"({100 * max_changed:.1f} %); nothing was written. Check the drift "
        f"({drift.describe()}) and run again with --force to write it."
    )
