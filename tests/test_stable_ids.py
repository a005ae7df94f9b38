"""Stable ids and the drift report, on label arrays made by hand (no Milvus)."""

from __future__ import annotations

import numpy as np
import pytest

from milvus_cluster.core.anchor import anchored
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
    result = stable_ids(old, new, IdLedger(2, ()), anchor=False)  # (it would hold both)
    assert set(result.labels[:60]) == {0}
    assert set(result.labels[-20:]) == {2}
    assert result.ledger == IdLedger(3, (1,))
    assert result.drift.died == [1] and result.drift.born == [2]


def test_split_and_merge_are_told_apart_from_birth_and_death():
    old = labels((0, 100), (1, 50), (2, 50))
    # 0 splits in two (60 keep its id, 40 split off); 1 and 2 merge into one
    new = labels((0, 60), (2, 40), (1, 50), (1, 50))
    result = stable_ids(old, new, IdLedger(3, ()), anchor=False)  # the anchoring undoes both
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
    result = stable_ids(old, new, IdLedger(1, ()), anchor=False)
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
    drift = stable_ids(old, new, IdLedger(2, ()), anchor=False).drift
    assert drift.changed == 10 and drift.changed_share == pytest.approx(0.1)
    check_drift(drift, DriftGuard(max_changed=0.1))
    check_drift(drift, DriftGuard(max_changed=0.05, force=True))
    check_drift(drift, None)
    with pytest.raises(DriftTooLarge, match="10 of 100 rows.*--force"):
        check_drift(drift, DriftGuard(max_changed=0.05))


def test_an_id_whose_cluster_is_mostly_other_rows_is_retired_not_reused():
    old = labels((0, 20), (-1, 80), (1, 100))
    new = labels((1, 100), (0, 100))  # old 0's 20 rows joined by 80 rows that were noise
    result = stable_ids(old, new, IdLedger(2, ()), anchor=False)
    assert set(result.labels[:100]) == {2}  # 20 of 100 shared: 0 would now mean other rows
    assert set(result.labels[100:]) == {1}
    assert result.ledger == IdLedger(3, (0,))
    assert result.drift.died == [0] and result.drift.born == [2]


def test_an_id_keeps_its_meaning_when_half_of_its_rows_were_its_own():
    old = labels((0, 50), (-1, 50), (UNLABELLED, 400))
    new = labels((0, 500))  # rows new since the last run do not count against it
    result = stable_ids(old, new, IdLedger(1, ()), anchor=False)
    assert set(result.labels) == {0} and result.ledger == IdLedger(1, ())


def test_anchoring_holds_boundary_rows_and_keeps_every_id_meaning_its_rows():
    old = labels((0, 20), (-1, 80), (1, 100))
    new = labels((1, 100), (0, 100))
    result = stable_ids(old, new, IdLedger(2, ()))
    assert np.array_equal(result.labels, old)  # the rows that were noise stay noise
    assert result.held.sum() == 80 and result.ledger == IdLedger(2, ())


def test_anchoring_undoes_a_split_and_spends_no_id_on_it():
    old = labels((0, 100), (1, 50))
    new = labels((0, 60), (2, 40), (1, 50))  # 40 rows of 0 split off
    result = stable_ids(old, new, IdLedger(2, ()))
    assert np.array_equal(result.labels, old)
    assert result.ledger == IdLedger(2, ()) and result.drift.changed == 0


def test_anchoring_undoes_a_merge():
    old = labels((0, 100), (1, 50), (2, 50))
    new = labels((0, 100), (1, 100))  # 1 and 2 merged
    result = stable_ids(old, new, IdLedger(3, ()))
    assert np.array_equal(result.labels, old) and result.drift.kept == [0, 1, 2]
    assert result.held.sum() == 50  # the merged cluster's rows kept their own id


def test_anchoring_holds_noise_both_ways_but_lets_clusters_be_born_and_die():
    old = labels((0, 100), (1, 30), (-1, 40), (UNLABELLED, 10))
    new = labels((0, 90), (-1, 10), (-1, 30), (0, 10), (1, 30), (0, 10))
    # 0 loses 10 rows to noise and takes 10 noise rows: both held; 1 dissolves into
    # noise, its rows far apart now: it died; 30 noise rows form a new cluster: it is
    # born; new rows join 0
    near = np.ones(len(old), dtype=bool)
    near[100:130] = False
    result = stable_ids(old, new, IdLedger(2, ()), near=near, min_cluster_size=5)
    assert set(result.labels[:100]) == {0}
    assert set(result.labels[100:130]) == {-1} and result.drift.died == [1]
    assert set(result.labels[130:140]) == {-1}
    assert set(result.labels[140:170]) == {2} and result.drift.born == [2]
    assert set(result.labels[170:]) == {0}  # rows new since the last run take the new label
    assert result.held.sum() == 20 and result.ledger == IdLedger(3, (1,))


def test_a_row_no_longer_near_its_cluster_is_not_held_there():
    old = labels((0, 100), (1, 50))
    new = labels((0, 95), (-1, 5), (1, 50))  # five rows of 0 now noise
    near = np.ones(150, dtype=bool)
    near[95:98] = False  # three of them moved away (assign's rule would not give them 0)
    result = stable_ids(old, new, IdLedger(2, ()), near=near)
    assert result.labels[95:98].tolist() == [-1, -1, -1]
    assert result.labels[98:100].tolist() == [0, 0] and result.held.sum() == 2


def test_a_row_moved_across_a_border_is_held_while_it_is_near_its_old_cluster():
    old = labels((0, 100), (1, 50))
    new = labels((0, 90), (1, 60))  # the border moved: ten rows of 0 now in 1
    near = np.ones(150, dtype=bool)
    near[90:93] = False  # three of them were rewritten into 1 (their neighbours are 1's)
    result = stable_ids(old, new, IdLedger(2, ()), near=near)
    assert result.labels[90:93].tolist() == [1, 1, 1]
    assert set(result.labels[93:100]) == {0} and result.held.sum() == 7


def test_anchoring_keeps_no_merged_cluster_smaller_than_min_cluster_size():
    old = labels((0, 100), (99, 3))  # an application set 99 on three rows by hand
    new = labels((0, 103))
    result = stable_ids(old, new, IdLedger(100, ()), min_cluster_size=10)
    assert set(result.labels) == {0} and result.ledger.retired == (99,)


def test_anchoring_undoes_a_death_while_enough_rows_are_near_the_cluster():
    old = labels((0, 100), (1, 30))
    new = labels((0, 100), (-1, 30))  # 1 dissolved into noise
    near = np.ones(130, dtype=bool)
    near[100:110] = False  # ten of its rows moved away
    result = stable_ids(old, new, IdLedger(2, ()), near=near, min_cluster_size=15)
    assert set(result.labels[110:]) == {1} and set(result.labels[100:110]) == {-1}
    assert result.drift.kept == [0, 1] and result.held.sum() == 20
    fewer = stable_ids(old, new, IdLedger(2, ()), near=near, min_cluster_size=25)
    assert set(fewer.labels[100:]) == {-1} and fewer.drift.died == [1]


def test_a_small_cluster_born_of_last_runs_noise_is_noise_again():
    old = labels((0, 100), (1, 40), (-1, 30))
    new = labels((0, 100), (1, 40), (2, 20), (-1, 10))  # 20 noise rows now a cluster
    result = stable_ids(old, new, IdLedger(2, ()))
    assert np.array_equal(result.labels, old) and result.drift.born == []
    assert result.held.sum() == 20 and result.ledger == IdLedger(2, ())


def test_a_cluster_born_of_noise_as_large_as_the_smallest_old_one_is_born():
    old = labels((0, 100), (1, 20), (-1, 30))
    new = labels((0, 100), (1, 20), (2, 20), (-1, 10))
    result = stable_ids(old, new, IdLedger(2, ()))
    assert set(result.labels[120:140]) == {2} and result.drift.born == [2]


def test_a_small_topic_of_new_rows_is_born_though_old_noise_joins_it():
    old = labels((0, 100), (1, 40), (-1, 10), (UNLABELLED, 15))
    new = labels((0, 100), (1, 40), (2, 10), (2, 15))  # new rows and old noise together
    result = stable_ids(old, new, IdLedger(2, ()))
    assert set(result.labels[140:]) == {2} and result.drift.born == [2]


def test_rows_of_a_living_cluster_in_a_flicker_go_back_to_it():
    old = labels((0, 100), (1, 40), (-1, 30))
    new = labels((0, 95), (2, 5), (1, 40), (2, 20), (-1, 10))  # 5 rows of 0 join 20 noise
    result = stable_ids(old, new, IdLedger(2, ()))
    assert np.array_equal(result.labels, old) and result.drift.born == []


def test_a_row_moved_into_a_born_cluster_is_held_while_it_is_near_its_old_one():
    old = labels((0, 100), (1, 50), (-1, 60))
    new = labels((0, 90), (2, 10), (1, 50), (2, 60))  # ten rows of 0 and the noise: born
    near = np.ones(210, dtype=bool)
    near[90:93] = False  # three of them are near 0 no more
    result = stable_ids(old, new, IdLedger(2, ()), near=near)
    assert set(result.labels[93:100]) == {0} and set(result.labels[90:93]) == {2}
    assert set(result.labels[150:]) == {2} and result.ledger.next_id == 3


def test_a_cluster_merged_into_a_born_one_keeps_its_id():
    old = labels((0, 100), (1, 30), (-1, 40))
    new = labels((0, 100), (5, 30), (5, 40))  # renamed already: 5 is born of 1 and noise
    result = anchored(old, new, min_cluster_size=10)
    assert set(result.labels[100:130]) == {1} and set(result.labels[130:]) == {5}
    assert result.held.sum() == 30


def test_a_cluster_torn_between_two_living_ones_keeps_its_rows_still_near_it():
    old = labels((0, 100), (1, 30), (2, 100))
    new = labels((0, 100), (0, 15), (2, 15), (2, 100))  # 1 went half to 0, half to 2
    near = np.ones(230, dtype=bool)
    near[100:110] = False  # ten of its rows moved away
    result = stable_ids(old, new, IdLedger(3, ()), near=near, min_cluster_size=15)
    assert set(result.labels[110:130]) == {1} and set(result.labels[100:110]) == {0}
    fewer = stable_ids(old, new, IdLedger(3, ()), near=near, min_cluster_size=25)
    assert set(fewer.labels[100:130]) == {0, 2} and fewer.drift.died == [1]
