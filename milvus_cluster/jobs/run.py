"""A job's life in the catalog: lock, run row, heartbeat, and the end it comes to.

`run_job` opens (or creates) the collection's catalog, takes its lock, marks runs
that an earlier job left `running` (it was killed, or lost Milvus) as failed, and
writes this job's run row as `running`. The job then does its work, calling
`job.check()` before it writes; `job.finish(...)` records it as done. An exception
records it as failed, with the error's message, and goes on up. The lock is
released in every case; if the process is killed, the lock's lease runs out and
the run row stays `running` until the next job marks it failed and does the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, replace
from typing import Any

from milvus_cluster.errors import MilvusClusterError
from milvus_cluster.jobs.catalog import Catalog, RunRecord, new_run_id, now
from milvus_cluster.jobs.lock import LOCK_TTL, Holder, Lock
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo


class Job:
    """The running job: its catalog, its run row and its lock."""

    def __init__(self, catalog: Catalog, lock: Lock, record: RunRecord) -> None:
        self.catalog = catalog
        self.lock = lock
        self.record = record
        self.took_over = ""  # the dead holder whose lock this job took, described
        self.abandoned: tuple[str, ...] = ()  # runs found `running` and marked failed

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def check(self) -> None:
        """Raise unless this job still holds the lock (call it before writing)."""
        self.lock.check()

    def checked(self, advance: Callable[[int], None]) -> Callable[[int], None]:
        """A progress callback that also stops the job when it has lost its lock."""

        def advance_checked(rows: int) -> None:
            self.check()
            advance(rows)

        return advance_checked

    def finish(self, counts: dict[str, Any], seconds: dict[str, float]) -> None:
        self.record = replace(
            self.record, state="done", finished=now(), counts=counts, seconds=dict(seconds)
        )
        self.catalog.save_run(self.record)

    def fail(self, error: BaseException) -> None:
        message = str(error) or type(error).__name__
        self.record = replace(self.record, state="failed", finished=now(), error=message)
        self.catalog.save_run(self.record)


@contextmanager
def run_job(
    milvus: Milvus,
    info: CollectionInfo,
    command: str,
    parameters: dict[str, Any],
    ttl: float = LOCK_TTL,
    shard: str = "",
) -> Iterator[Job]:
    """Run a job on `info`'s collection under its lock, recorded in its catalog. A
    `shard` ("1/4") takes that shard's own lock instead, so that the shards of one
    collection run side by side, and records the shard among the parameters."""
    catalog = Catalog.open(milvus, info.requested, info.dim)
    assert catalog is not None
    key = f"lock:{shard}" if shard else "lock"
    parameters = parameters | {"shard": shard} if shard else parameters
    lock, previous = Lock.acquire(catalog, info.requested, command, ttl, key)
    try:
        record = RunRecord(
            new_run_id(), command, "running", lock.holder.owner, now(), parameters=parameters
        )
        job = Job(catalog, lock, record)
        job.took_over = previous.describe() if previous is not None else ""
        job.abandoned = fail_abandoned(catalog, record.run_id, shard)
        catalog.save_run(record)
        try:
            yield job
        except BaseException as error:
            with suppress(AttributeError):  # the run row it failed in, for --json's error
                error.run_id = record.run_id  # type: ignore[attr-defined]
            job.fail(error)
            lock.release()
            with suppress(MilvusClusterError):  # the error itself matters more
                catalog.drop_if_new_and_unused()
            raise
        catalog.prune_runs()
    finally:
        lock.release()


def fail_abandoned(catalog: Catalog, successor: str, shard: str = "") -> tuple[str, ...]:
    """Mark as failed the runs still `running` under the lock we now hold (the
    collection's, or this shard's): with it ours, none of them is."""
    stale = [
        record
        for record in catalog.runs()
        if record.state == "running" and record.parameters.get("shard", "") == shard
    ]
    for record in stale:
        error = (
            f"abandoned: the job stopped without finishing (killed, or it lost Milvus); "
            f"run {successor} took over"
        )
        catalog.save_run(replace(record, state="failed", error=error))
    return tuple(record.run_id for record in stale)


def holder_of(catalog: Catalog) -> Holder | None:
    """Who holds the lock now, if anyone (for `show`)."""
    data = catalog.read_lock()
    holder = Holder.from_row(data) if data else None
    return holder if holder is not None and holder.alive else None


def parameters_of(value: Any) -> dict[str, Any]:
    """A parameters dataclass as the plain dict a run row stores."""
    return asdict(value) if hasattr(value, "__dataclass_fields__") else dict(value)
