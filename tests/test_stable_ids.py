"""Stable ids and the drift report, on label arrays made by hand (no Milvus)."""

from __future__ import annotations

import numpy as np
import pytest

from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.core.stable_ids import DriftGuard, IdLedger, check_drift, stable_ids
from milvus_cluster.errors import DriftTooLarge


def labels(*groups: tuple[int, int]) -> np.ndarray:
    """(label, count) pairs → one label array."""
    return np.concatenate([np.full(count, label, dtype=np.int64) for label, count in groups])


def test_first_run_numbers_clusters_by_size_from_zero():
    new = labels((0, 50), (1, 30), (-1, 5), (2, 10))
    result = stable_ids(None, new, IdLedger())
    assert np.array_equal(result.labels, new)
    assert result.ledger == IdLedger(3, ())
    assert result.drift is None


def test_same_clusters_keep_their_ids_whatever_the_new_numbering():
    old = labels((7, 50), (3, 30), (12, 20))
    new = labels((1, 50), (0, 30), (2, 20))  # same groups, numbered otherwise
    result = stable_ids(old, new, IdLedger(13, (0, 1, 2)))
    assert np.array_equal(result.labels, old)
    assert result.drift.changed == 0 and result.drift.adjusted_rand == 1.0
    assert result.drift.kept == [3, 7, 12]
    assert result.ledger == IdLedger(13, (0, 1, 2))


def test_fresh_ids_are_never_reused():
    old = labels((4, 60), (5, 40))
    new = labels((0, 60), (1, 40), (2, 30))  # a third cluster appears, on rows new to it
    old = np.concatenate([old, np.full(30, UNLABELLED)])
    result = stable_ids(old, new, IdLedger(9, (0, 1, 2, 3, 6, 7, 8)))
    assert set(result.labels[-30:]) == {9}  # not 0..3 or 6..8, retired long ago
    assert result.ledger.next_id == 10
    assert result.drift.born == [9] and result.drift.compared == 100


def test_vanished_cluster_is_retired_and_its_id_not_given_to_a_newcomer():
    old = labels((0, 60), (1, 40), (-1, 20))
    new = labels((0, 60), (-1, 40), (1, 20))  # cluster 1 dissolves; the noise forms one
    result = stable_ids(old, new, IdLedger(2, ()))
    assert set(result.labels[:60]) == {0}
    assert set(result.labels[-20:]) == {2}
    assert result.ledger == IdLedger(3, (1,))
    assert result.drift.died == [1] and result.drift.born == [2]


def test_split_and_merge_are_told_apart_from_birth_and_death():
    old = labels((0, 100), (1, 50), (2, 50))
    # 0 splits in two (60 keep its id, 40 split off); 1 and 2 merge into one
    new = labels((0, 60), (2, 40), (1, 50), (1, 50))
    result = stable_ids(old, new, IdLedger(3, ()))
    drift = result.drift
    assert set(result.labels[:60]) == {0}
    assert drift.split == [3] and set(result.labels[60:100]) == {3}
    assert len(drift.merged) == 1 and drift.merged[0] in (1, 2)
    assert drift.born == [] and drift.died == []
    assert sorted(drift.kept) == sorted({0, 1, 2} - set(drift.merged))
    assert drift.changed == 40 + 50


def test_a_small_overlap_is_not_a_match():
    old = labels((0, 100), (-1, 100))
    new = labels((-1, 90), (0, 10), (-1, 100))  # ten old members among noise otherwise
    new[100:140] = 0  # the new cluster: 10 old members of 0 + 40 old noise rows
    result = stable_ids(old, new, IdLedger(1, ()))
    assert set(result.labels[new >= 0]) == {1}  # shares 10 of 50: less than half of it
    assert result.drift.died == [0] and result.drift.born == [1]


def test_rows_without_a_label_before_are_not_compared():
    old = labels((0, 50), (UNLABELLED, 50))
    new = labels((0, 100))
    result = stable_ids(old, new, IdLedger(1, ()))
    assert result.drift.compared == 50 and result.drift.changed == 0
    assert set(result.labels) == {0}


def test_drift_guard_refuses_beyond_max_changed_unless_forced():
    old = labels((0, 80), (1, 20))
    new = labels((0, 70), (1, 30))
    drift = stable_ids(old, new, IdLedger(2, ())).drift
    assert drift.changed == 10 and drift.changed_share == pytest.approx(0.1)
    check_drift(drift, DriftGuard(max_changed=0.1))
    check_drift(drift, DriftGuard(max_changed=0.05, force=True))
    check_drift(drift, None)
    with pytest.raises(DriftTooLarge, match="10 of 100 rows.*--force"):
        check_drift(drift, DriftGuard(max_changed=0.05))
