"""The nearest-cluster rule: a label for a row from its labelled neighbours.

Used by `assign` (new rows, neighbours found by a Milvus search among labelled rows)
and by `--noise assign` (noise rows, neighbours from the kNN graph). The contract:
for m rows, `labels` (m × k int64, the neighbours' cluster ids, -1 for noise or no
neighbour) and `distances` (m × k, true distances as in knn.py, ascending, +inf
where there is no neighbour), plus each cluster's `scale` (an array indexed by
cluster id, NaN for ids without one). The rule, for each row:

1. its clustered neighbours vote, each with weight 1 / distance (noise neighbours
   do not vote); the cluster with the most weight wins, and its share of the
   weight is the row's vote share;
2. the row joins the winner when its nearest neighbour in the winner is within
   the winner's scale, the largest core distance among the winner's own members
   (each member has min_samples others within it): the row is no farther from the
   cluster than its own members are. Otherwise it is noise (-1).

Why not HDBSCAN's mutual reachability, max(the row's own core distance, ...): a
noise row is noise precisely because its own neighbourhood is sparser than the
members', so that test would take in almost none (1 of 629 noise digits, against
260 with this rule, whose clustered rows still agree with the true digits at an
adjusted Rand index of 0.91 instead of 0.95).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from milvus_cluster.core.knn import LocalIndex, Metric, to_distances

NOISE = -1
_NEAR_ZERO = 1e-12  # weight of an exact duplicate: it decides the vote, without dividing by 0


@dataclass(frozen=True)
class Verdict:
    labels: np.ndarray  # (m,) int64, -1 = noise
    shares: np.ndarray  # (m,) float32: the winner's share of the vote (0 for noise)


def nearest_cluster(labels: np.ndarray, distances: np.ndarray, scales: np.ndarray) -> Verdict:
    """The rule of the module's contract, for m rows at once."""
    labels = np.asarray(labels, dtype=np.int64)
    distances = np.asarray(distances, dtype=np.float64)
    known = np.zeros_like(labels, dtype=bool)
    in_range = (labels >= 0) & (labels < len(scales))
    known[in_range] = np.isfinite(scales[labels[in_range]])
    voting = known & np.isfinite(distances)
    winner, share = _weighted_vote(labels, 1.0 / np.maximum(distances, _NEAR_ZERO), voting)
    nearest = np.where(voting & (labels == winner[:, None]), distances, np.inf).min(axis=1)
    scale = np.where(winner >= 0, scales[np.maximum(winner, 0)] if len(scales) else 0, -np.inf)
    accepted = (winner >= 0) & (nearest <= scale)
    return Verdict(
        np.where(accepted, winner, NOISE), np.where(accepted, share, 0.0).astype(np.float32)
    )


def joined(verdicts: list[Verdict]) -> Verdict:
    """The verdicts of several batches of rows as one."""
    if not verdicts:
        return Verdict(np.zeros(0, np.int64), np.zeros(0, np.float32))
    labels = np.concatenate([v.labels for v in verdicts])
    return Verdict(labels, np.concatenate([v.shares for v in verdicts]))


def verdict_of_hits(
    hit_labels: np.ndarray, raw: np.ndarray, missing: np.ndarray, metric: Metric, scales: np.ndarray
) -> Verdict:
    """The rule from search hits (m × k each): the neighbours' labels and the raw
    distances the search returned (squared L2, or similarities), `missing` where a row
    had fewer than k hits."""
    distances = np.where(missing, np.inf, to_distances(np.where(missing, 0, raw), metric))
    return nearest_cluster(np.where(missing, NOISE, hit_labels), distances, scales)


def vote_in_sample(
    index: LocalIndex, labels: np.ndarray, vectors: np.ndarray, k: int, scales: np.ndarray
) -> Verdict:
    """The rule for rows (m × dim `vectors`) whose neighbours are the k nearest rows of a
    labelled sample: `index` over the sample's vectors, `labels` (N,) their labels."""
    rows, raw = index.search(vectors, max(1, min(k, len(index))))
    missing = rows < 0
    hit_labels = np.asarray(labels, dtype=np.int64)[np.maximum(rows, 0)]
    return verdict_of_hits(hit_labels, raw, missing, index.metric, scales)


def _weighted_vote(
    labels: np.ndarray, weights: np.ndarray, voting: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the label with the largest summed weight among the voting neighbours
    (-1 where none votes) and its share of the row's voting weight."""
    m = len(labels)
    rows = np.nonzero(voting)[0]
    votes, weight = labels[voting], weights[voting]
    winner = np.full(m, NOISE, dtype=np.int64)
    share = np.zeros(m, dtype=np.float64)
    if len(rows) == 0:
        return winner, share
    pairs, position = np.unique(np.column_stack([rows, votes]), axis=0, return_inverse=True)
    sums = np.bincount(position.ravel(), weights=weight)
    order = np.lexsort((-sums, pairs[:, 0]))  # by row, heaviest label first
    first = order[np.unique(pairs[order, 0], return_index=True)[1]]
    winner[pairs[first, 0]] = pairs[first, 1]
    totals = np.bincount(rows, weights=weight, minlength=m)
    share[pairs[first, 0]] = sums[first] / totals[pairs[first, 0]]
    return winner, share


def cluster_scales(labels: np.ndarray, core: np.ndarray, size: int | None = None) -> np.ndarray:
    """Each cluster's scale: the largest core distance among its members. Indexed by
    cluster id, `size` entries at least; NaN for ids that have no member."""
    labels = np.asarray(labels, dtype=np.int64)
    members = labels >= 0
    length = max(size or 0, int(labels.max()) + 1 if members.any() else 0)
    scales = np.full(length, -np.inf)
    np.maximum.at(scales, labels[members], np.asarray(core, dtype=np.float64)[members])
    scales[~np.isfinite(scales)] = np.nan
    return scales
