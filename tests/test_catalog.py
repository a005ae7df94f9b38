"""The catalog's rows against a real Milvus (jobs/catalog.py): clusters, runs, the id ledger."""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.stable_ids import IdLedger
from milvus_cluster.jobs.catalog import Catalog, ClusterEntry, RunRecord


def entry(cluster: int, size: int, exemplars=(1, 2), keywords=()) -> ClusterEntry:
    return ClusterEntry(cluster, size, np.full(24, cluster, np.float32), tuple(exemplars),
                        0.5 * cluster, "run-1", tuple(keywords))  # fmt: skip


def test_a_catalog_is_opened_again_not_made_twice(milvus, catalog):
    again = Catalog.open(milvus, catalog.name.removesuffix("_mc_catalog"), dim=24)
    assert again.name == catalog.name and again.dim == 24
    assert Catalog.open(milvus, "no_such_collection") is None


def test_clusters_are_replaced_and_keep_their_keywords(catalog):
    big_key = 449_598_576_574_590_001  # auto_id keys exceed 2**53: kept exactly
    catalog.replace_clusters([entry(0, 10, exemplars=(big_key, -3)), entry(4, 30)])
    catalog.set_keywords({0: ["tax", "budget"]})
    catalog.replace_clusters([entry(0, 12), entry(7, 5)])  # 4 vanished, 7 is new
    found = catalog.clusters()
    assert [(c.cluster_id, c.size) for c in found] == [(0, 12), (7, 5)]
    assert found[0].keywords == ("tax", "budget") and np.all(found[0].centroid == 0)
    catalog.replace_clusters([entry(0, 12, exemplars=(big_key, 'x"y'))])
    assert catalog.clusters()[0].exemplars == (big_key, 'x"y')
    catalog.add_to_sizes({0: 3, 99: 1})
    assert catalog.clusters()[0].size == 15


def test_runs_newest_first_and_pruned_but_the_last_labelling_kept(catalog):
    for i, command in enumerate(["label", "assign", "assign", "assign"]):
        catalog.save_run(RunRecord(f"2025010{i}T000000Z-aaaaaa", command, "done", "me",
                                   "2025-01-01T00:00:00", counts={"rows": i}))  # fmt: skip
    runs = catalog.runs()
    assert [r.command for r in runs] == ["assign", "assign", "assign", "label"]
    assert runs[-1].counts == {"rows": 0}
    catalog.prune_runs(keep=2)
    assert [r.command for r in catalog.runs()] == ["assign", "assign", "label"]
    assert catalog.last_labelling().run_id == "20250100T000000Z-aaaaaa"


def test_the_id_ledger_round_trips(catalog):
    assert catalog.ledger() == IdLedger()
    catalog.save_ledger(IdLedger(12, (3, 5)))
    assert catalog.ledger() == IdLedger(12, (3, 5))
