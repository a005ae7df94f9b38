"""The catalog's rows and the lock, against a real Milvus."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import asdict, replace

import numpy as np
import pytest
from conftest import create_table

from milvus_cluster.core.stable_ids import IdLedger
from milvus_cluster.errors import LockHeld, LockLost
from milvus_cluster.jobs.catalog import Catalog, ClusterEntry, RunRecord, catalog_name
from milvus_cluster.jobs.lock import Holder, Lock, lite_job_holding
from milvus_cluster.jobs.run import run_job
from milvus_cluster.milvus.client import Milvus


@pytest.fixture
def milvus(uri, client):
    milvus = Milvus.connect(uri)
    yield milvus
    milvus.close()


@pytest.fixture
def catalog(milvus, client):
    table = create_table(client, n=50)
    catalog = Catalog.open(milvus, table.name, dim=24)
    assert catalog is not None and catalog.name == catalog_name(table.name)
    return catalog


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


def test_one_of_two_jobs_racing_for_the_lock_wins(catalog):
    outcomes: list[object] = []

    def take() -> None:
        try:
            outcomes.append(Lock.acquire(catalog, "docs", "relabel")[0])
        except LockHeld as error:
            outcomes.append(error)

    racers = [threading.Thread(target=take) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    locks = [o for o in outcomes if isinstance(o, Lock)]
    assert len(locks) == 1 and isinstance(next(o for o in outcomes if o not in locks), LockHeld)
    assert catalog.read_lock()["token"] == locks[0].holder.token
    locks[0].release()
    assert catalog.read_lock() is None


def test_the_heartbeat_renews_the_lease(catalog):
    lock, previous = Lock.acquire(catalog, "docs", "assign", ttl=1.0)
    try:
        assert previous is None
        first = catalog.read_lock()["expires"]
        time.sleep(1.5)  # longer than the lease: only renewals keep it
        lock.check()
        assert catalog.read_lock()["expires"] > first
        with pytest.raises(LockHeld, match="assign by .* pid"):
            Lock.acquire(catalog, "docs", "relabel")
    finally:
        lock.release()


def test_a_job_whose_lock_was_taken_over_stops(catalog):
    lock, _ = Lock.acquire(catalog, "docs", "relabel", ttl=0.8)
    try:
        thief = replace(Holder.me("relabel", 60), owner="thief@elsewhere", place="elsewhere")
        catalog.write_lock(asdict(thief))
        time.sleep(0.6)  # a heartbeat comes by and sees another token
        with pytest.raises(LockLost, match="thief@elsewhere"):
            lock.check()
    finally:
        lock.release()
    assert catalog.read_lock()["owner"] == "thief@elsewhere"  # not ours to remove


def test_a_failing_job_records_its_error_and_frees_the_lock(milvus, client):
    table = create_table(client, n=50)
    info = milvus.inspect(table.name)
    Catalog.open(milvus, info.requested, info.dim)  # a catalog from an earlier run
    with pytest.raises(RuntimeError), run_job(milvus, info, "relabel", {"k": 5}) as job:
        raise RuntimeError("disk full")
    catalog = job.catalog
    assert catalog.read_lock() is None
    (record,) = catalog.runs()
    assert record.state == "failed" and record.error == "disk full" and record.finished


def test_a_first_job_refused_before_writing_leaves_no_catalog(milvus, client):
    table = create_table(client, n=50)
    info = milvus.inspect(table.name)
    with pytest.raises(RuntimeError), run_job(milvus, info, "label", {"k": 5}):
        raise RuntimeError("refused")
    assert not milvus.has(catalog_name(info.requested))


def test_holders_are_alive_dead_or_expired():
    me = Holder.me("label", 60)
    assert me.alive
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert replace(me, pid=gone.pid).dead
    assert not replace(me, pid=gone.pid, place="another host").dead
    assert replace(me, expires="2020-01-01T00:00:00.000+00:00").expired


@pytest.mark.backends("lite")  # what it checks is a Lite file
def test_a_lite_file_held_by_a_milvus_cluster_process_names_it(uri, spawn, tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pymilvus import MilvusClient
        MilvusClient({uri!r}).list_collections()
        print("open", flush=True)
        time.sleep(120)
    """)
    # The milvus-cluster script run by its interpreter is a job; any other program is
    # not, even one whose path holds the name (a checkout called milvus-cluster).
    job, other = tmp_path / "bin" / "milvus-cluster", tmp_path / "milvus-cluster" / "hold.py"
    for program, expected in [(job, "milvus-cluster assign"), (other, None)]:
        program.parent.mkdir()
        program.write_text(script)
        holder = spawn.start(str(program), "assign")
        assert holder.stdout.readline().strip() == "open"
        found = lite_job_holding(uri)
        assert found == f"pid {holder.pid}, {expected}" if expected else found is None
        holder.kill()
        holder.wait()
