"""milvus/in_flight.py: calls in flight from threads, results in order, and nothing
started once the caller stops taking (a lost lock must not let writes go on)."""

from __future__ import annotations

import threading
import time

import pytest

from milvus_cluster.milvus.in_flight import in_order


def test_results_come_in_the_items_order_with_calls_overlapping():
    running, most = [0], [0]
    lock = threading.Lock()

    def work(item: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02 * (5 - item % 5))  # later items finish first
        with lock:
            running[0] -= 1
        return item * item

    assert list(in_order(work, range(20), 4)) == [i * i for i in range(20)]
    assert most[0] == 4


def test_one_call_at_a_time_runs_in_this_thread():
    threads = set()
    assert list(in_order(lambda i: threads.add(threading.get_ident()) or i, range(5), 1)) == [
        0, 1, 2, 3, 4
    ]  # fmt: skip
    assert threads == {threading.get_ident()}


def test_items_not_started_when_the_caller_stops():
    started: list[int] = []

    def work(item: int) -> int:
        started.append(item)
        time.sleep(0.01)
        return item

    with pytest.raises(RuntimeError):
        for item in in_order(work, range(1_000), 3):
            if item == 2:
                raise RuntimeError("lock lost")
    time.sleep(0.05)
    assert len(started) <= 2 + 3 + 1  # those taken, those in flight, one queued


def test_an_error_in_a_call_reaches_the_caller():
    def work(item: int) -> int:
        if item == 3:
            raise ValueError("batch 3")
        return item

    with pytest.raises(ValueError, match="batch 3"):
        list(in_order(work, range(10), 2))
