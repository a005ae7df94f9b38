"""The lock between jobs (jobs/lock.py), against a real Milvus: one of two racers wins, the
lease is renewed, a live holder makes a job exit 3, a dead or expired one is taken over."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import asdict, replace

import pytest
from helpers import (
    count,
    insert_new_rows,
    labelled_table,
    no_label,
    release_lite,
    run,
    show_json,
)

from milvus_cluster.commands.assign import assign_collection
from milvus_cluster.errors import LockHeld, LockLost
from milvus_cluster.jobs.catalog import Catalog
from milvus_cluster.jobs.lock import Holder, Lock, lite_job_holding
from milvus_cluster.milvus.client import Milvus


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
        # A heartbeat (every ttl / 4) comes by and sees another token; on a busy server
        # one read can take longer than a fixed sleep (a Strong read waits for the time
        # tick), so wait for it, a few seconds at most.
        deadline = time.monotonic() + 5
        with pytest.raises(LockLost, match="thief@elsewhere"):
            while time.monotonic() < deadline:
                lock.check()
                time.sleep(0.1)
    finally:
        lock.release()
    assert catalog.read_lock()["owner"] == "thief@elsewhere"  # not ours to remove


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


def test_two_relabels_at_once_one_exits_3_naming_the_other(client, uri, backend, spawn):
    table = labelled_table(client, uri, n=3000)
    release_lite(uri)  # so that the jobs it starts can open a Lite file
    relabel = ["-m", "milvus_cluster", "relabel", "-c", table.name, "--uri", uri, "--json"]
    jobs = [spawn.start(*relabel) for _ in range(2)]
    outcomes = sorted((job.wait(timeout=300), *job.communicate()) for job in jobs)
    assert [code for code, _, _ in outcomes] == [0, 3], outcomes
    done, skipped = outcomes
    assert json.loads(done[1])["drift"]["changed"] == 0
    # --json: the skip is one JSON object on stdout (a JSON Lines log stays JSON), stderr empty
    assert skipped[2] == "" and len(skipped[1].strip().splitlines()) == 1, skipped
    error = json.loads(skipped[1])
    assert error["exit_code"] == 3 and error["time"] and error["run_id"]
    assert "relabel" in error["error"] and "pid" in error["error"], error


def lock_row(uri: str, name: str, **holder) -> None:
    """Write a lock row as another job would have."""
    from milvus_cluster.jobs.lock import Holder

    milvus = Milvus.connect(uri)
    try:
        catalog = Catalog.open(milvus, name)
        values = Holder.me("relabel", 60).__dict__ | holder
        catalog.write_lock(values)
    finally:
        milvus.close()


def test_a_live_lock_makes_a_job_exit_3_naming_its_holder(client, uri):
    table = labelled_table(client, uri)
    insert_new_rows(client, table, 10)
    lock_row(uri, table.name, owner="cron@elsewhere", place="elsewhere", pid=4242)
    result = run("assign", "-c", table.name, "--uri", uri)
    assert result.exit_code == 3, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert "relabel by cron@elsewhere pid 4242" in line and "did nothing" in line
    assert count(client, table.name, no_label(client, table.name)) == 10
    assert show_json(uri, table.name)["lock"].startswith("relabel by cron@elsewhere")


def test_a_stale_lock_is_taken_over(client, uri):
    table = labelled_table(client, uri)
    insert_new_rows(client, table, 10)
    lock_row(uri, table.name, owner="cron@elsewhere", place="elsewhere", pid=4242,
             heartbeat="2020-01-01T00:00:00.000+00:00",
             expires="2020-01-01T00:02:00.000+00:00")  # fmt: skip
    result = assign_collection(table.name, uri=uri)
    assert result.rows == 10 and "cron@elsewhere" in result.took_over
    assert "expired" in result.took_over
    assert show_json(uri, table.name)["lock"] == ""


def test_a_lock_whose_process_died_here_is_taken_over_at_once(client, uri):
    table = labelled_table(client, uri)
    insert_new_rows(client, table, 10)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_row(uri, table.name, pid=dead.pid)  # this host, lease still running
    result = assign_collection(table.name, uri=uri)
    assert result.rows == 10 and f"pid {dead.pid}" in result.took_over
