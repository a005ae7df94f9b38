"""The nearest-cluster rule that assign uses (core/vote.py), without Milvus."""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.vote import cluster_scales, nearest_cluster

SCALES = np.array([1.0, 2.0, np.nan, 5.0])  # cluster 2 has no scale (retired)


def verdict(labels, distances):
    return nearest_cluster(np.array(labels), np.array(distances, dtype=float), SCALES)


def test_the_heaviest_vote_wins_not_the_most_voters():
    found = verdict([[1, 0, 0]], [[0.1, 0.5, 0.6]])
    assert found.labels.tolist() == [1]  # 1/0.1 = 10 outweighs 2 + 1.67
    assert 0.7 < found.shares[0] < 0.8


def test_a_row_farther_than_the_members_are_is_noise():
    near = verdict([[0, 0, 0]], [[0.9, 1.5, 1.9]])  # nearest member 0.9: within scale 1.0
    far = verdict([[0, 0, 0]], [[1.2, 1.5, 1.6]])  # nearest member 1.2 > scale 1.0
    assert near.labels.tolist() == [0] and far.labels.tolist() == [-1]
    assert far.shares[0] == 0


def test_noise_neighbours_do_not_vote():
    found = verdict([[-1, -1, 3, -1]], [[0.1, 0.2, 0.3, 0.4]])
    assert found.labels.tolist() == [3]
    assert found.shares[0] == 1.0
    alone = verdict([[-1, -1, -1]], [[0.1, 0.2, 0.3]])
    assert alone.labels.tolist() == [-1]


def test_unknown_ids_and_missing_neighbours_are_ignored():
    found = verdict([[2, 7, 1, -1]], [[0.01, 0.02, 0.5, np.inf]])  # 2 retired, 7 unknown
    assert found.labels.tolist() == [1]
    nothing = verdict([[-1, -1]], [[np.inf, np.inf]])
    assert nothing.labels.tolist() == [-1]


def test_exact_duplicate_of_a_member_takes_its_cluster():
    found = verdict([[0, 1, 1]], [[0.0, 0.4, 0.4]])
    assert found.labels.tolist() == [0]


def test_many_rows_at_once():
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 4, size=(1000, 8))
    distances = np.sort(rng.uniform(0.01, 3, size=(1000, 8)), axis=1)
    found = nearest_cluster(labels, distances, SCALES)
    assert found.labels.shape == (1000,) and set(found.labels) <= {-1, 0, 1, 3}
    for row in np.flatnonzero(found.labels >= 0)[:50]:
        assert found.labels[row] in labels[row]


def test_scales_are_the_largest_core_distance_of_each_cluster():
    scales = cluster_scales(np.array([0, 0, 2, -1, 2]), np.array([1.0, 3.0, 0.5, 9.0, 0.7]))
    assert np.isnan(scales[1]) and scales[0] == 3.0 and scales[2] == 0.7


# -- the sample's index (vote_index) ---------------------------------------------


def clustered_sample(rows: int, seed: int = 0):
    """Unit vectors round 24 centres in 32 dimensions, some close enough to share rows,
    labelled by their centre, with each cluster's scale from exact core distances."""
    from milvus_cluster.core.knn import LocalIndex, to_distances

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(24, 32))
    truth = rng.integers(0, 24, rows)
    vectors = centres[truth] + rng.normal(scale=1.2, size=(rows, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    _, raw = LocalIndex(vectors, "COSINE", 17, exact_limit=rows).search(vectors, 17)
    return vectors, truth, cluster_scales(truth, to_distances(raw[:, 16], "COSINE"))


def test_the_vote_index_is_exact_up_to_its_limit():
    from milvus_cluster.core.knn import LocalIndex
    from milvus_cluster.core.vote import vote_index

    vectors, labels, scales = clustered_sample(1_500)
    index = vote_index(vectors, labels, "COSINE", 16, scales, exact_limit=1_500)
    assert isinstance(index, LocalIndex) and index.hnsw is None


def test_beyond_it_ivf_probes_the_fewest_lists_that_give_the_exact_votes():
    """The probes are chosen on the sample's own rows; rows outside the sample then get
    the exact search's votes too, from a fraction of the lists."""
    from milvus_cluster.core.knn import IvfIndex, LocalIndex
    from milvus_cluster.core.vote import VOTE_PROBES, vote_in_sample, vote_index

    vectors, labels, scales = clustered_sample(12_000)
    sample, others = vectors[:8_000], vectors[8_000:]
    index = vote_index(sample, labels[:8_000], "COSINE", 16, scales, exact_limit=1_000)
    assert isinstance(index, IvfIndex) and index.probes in VOTE_PROBES
    assert index.probes < index.lists / 4  # a small share of the lists: the point of it
    exact = LocalIndex(sample, "COSINE", 16, exact_limit=len(sample))
    expected = vote_in_sample(exact, labels[:8_000], others, 16, scales).labels
    found = vote_in_sample(index, labels[:8_000], others, 16, scales).labels
    assert (found == expected).mean() >= 0.995 and (expected >= 0).mean() > 0.5
    if index.probes > VOTE_PROBES[0]:  # the count before it did not agree as often
        fewer = VOTE_PROBES[VOTE_PROBES.index(index.probes) - 1]
        index.probes = fewer
        assert (
            vote_in_sample(index, labels[:8_000], others, 16, scales).labels == expected
        ).mean() < 1.0


def test_where_no_probe_count_gives_the_exact_votes_the_search_stays_exact():
    """Labels that have nothing to do with where rows lie: one probe of 75 lists cannot
    give the exact votes, so the vote keeps exact search."""
    from milvus_cluster.core.knn import LocalIndex
    from milvus_cluster.core.vote import vote_index

    vectors, _, _ = clustered_sample(3_000)
    labels = np.random.default_rng(1).integers(0, 5, 3_000)
    scales = np.full(5, 10.0)
    index = vote_index(vectors, labels, "COSINE", 16, scales, exact_limit=1_000, probes=(1,))
    assert isinstance(index, LocalIndex) and index.hnsw is None
