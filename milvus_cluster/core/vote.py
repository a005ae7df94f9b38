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

from milvus_cluster.core.knn import (
    LOCAL_EXACT_LIMIT,
    IvfIndex,
    LocalIndex,
    Metric,
    to_distances,
)

NOISE = -1
# The vote's index over a sample (vote_index): the probe counts tried, fewest first;
# the sample's own rows it is checked on; the share of them whose vote must equal the
# exact search's.
VOTE_PROBES = (4, 8, 16, 32, 64, 128)
VOTE_CHECK_ROWS = 2_000
VOTE_AGREEMENT = 0.998
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


SampleIndex = LocalIndex | IvfIndex


def vote_index(
    vectors: np.ndarray,
    labels: np.ndarray,
    metric: Metric,
    k: int,
    scales: np.ndarray,
    exact_limit: int = LOCAL_EXACT_LIMIT,
    probes: tuple[int, ...] = VOTE_PROBES,
) -> SampleIndex:
    """The index a labelled sample (`vectors`, `labels`) is voted from: exact search up
    to `exact_limit` rows; beyond, an IVF index (knn.py's IvfIndex) probed at the fewest
    `probes` whose votes equal the exact search's on VOTE_AGREEMENT of VOTE_CHECK_ROWS
    of the sample's own rows (each left out of its own neighbours); exact search if none
    does.

    Why IVF with probes set by votes, not HNSW or recall (scripts/bench_sample_index.py,
    100,000 sampled rows): a row's label is its neighbours' majority, which the members
    of its nearest lists give even at low recall (8 probes, recall@32 0.66: the exact
    votes on every row, at 2× the rate of HNSW at ef 128), while HNSW's misses change
    votes (0.9984 equal at ef 128, 0.9908 at ef 32). How few probes suffice depends on
    the collection (on AG News text 8 probes gave the exact vote on 97-98 % of rows),
    so it is measured on each sample."""
    exact = LocalIndex(vectors, metric, k, exact_limit=len(vectors))
    if len(vectors) <= exact_limit:
        return exact
    check = np.linspace(0, len(vectors) - 1, min(VOTE_CHECK_ROWS, len(vectors))).astype(np.int64)
    queries = exact.base[check]
    truth = _left_out_votes(exact, queries, check, labels, k, scales)
    index = IvfIndex(exact.base, metric)
    for count in probes:
        index.probes = count
        agreed = _left_out_votes(index, queries, check, labels, k, scales) == truth
        if agreed.mean() >= VOTE_AGREEMENT:
            return index
    return exact


def _left_out_votes(
    index: SampleIndex,
    queries: np.ndarray,
    own: np.ndarray,
    labels: np.ndarray,
    k: int,
    scales: np.ndarray,
) -> np.ndarray:
    """The votes for the sample's rows `own` (their vectors `queries`) with each row left
    out of its own neighbours, as a row outside the sample would be voted on."""
    limit = max(1, min(k, len(index) - 1))
    rows, raw = index.search(queries, limit + 1)
    itself = rows == own[:, None]
    itself[~itself.any(axis=1), -1] = True  # not among its hits: the farthest goes instead
    rows = rows[~itself].reshape(len(own), limit)
    raw = raw[~itself].reshape(len(own), limit)
    return _sample_verdict(rows, raw, labels, index.metric, scales).labels


def vote_in_sample(
    index: SampleIndex, labels: np.ndarray, vectors: np.ndarray, k: int, scales: np.ndarray
) -> Verdict:
    """The rule for rows (m × dim `vectors`) whose neighbours are the k nearest rows of a
    labelled sample: `index` over the sample's vectors, `labels` (N,) their labels."""
    rows, raw = index.search(vectors, max(1, min(k, len(index))))
    return _sample_verdict(rows, raw, labels, index.metric, scales)


def _sample_verdict(
    rows: np.ndarray, raw: np.ndarray, labels: np.ndarray, metric: Metric, scales: np.ndarray
) -> Verdict:
    """The rule from a search of the sample: hit rows (-1 where fewer) and raw distances."""
    hit_labels = np.asarray(labels, dtype=np.int64)[np.maximum(rows, 0)]
    return verdict_of_hits(hit_labels, raw, rows < 0, metric, scales)


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
    # Each (row, label) pair as one integer, sorted by row then label: a 1-d unique (a
    # unique of 2-column rows sorts them as bytes, 8× slower: 0.33 s of 10,000 rows' vote).
    width = int(votes.max()) + 1
    pairs, position = np.unique(rows * width + votes, return_inverse=True)
    pair_rows, pair_labels = pairs // width, pairs % width
    sums = np.bincount(position.ravel(), weights=weight)
    order = np.lexsort((-sums, pair_rows))  # by row, heaviest label first
    first = order[np.unique(pair_rows[order], return_index=True)[1]]
    winner[pair_rows[first]] = pair_labels[first]
    totals = np.bincount(rows, weights=weight, minlength=m)
    share[pair_rows[first]] = sums[first] / totals[pair_rows[first]]
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
