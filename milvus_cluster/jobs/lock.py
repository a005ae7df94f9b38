"""The lock: one job at a time writes the labels of a collection.

Milvus has no transactions, so the lock is a lease in the catalog's `lock` row:
owner, token, heartbeat, expiry. The protocol:

1. read the row; a holder that is alive (its lease not expired, and, when it runs on
   this host, its process still there) makes this job stop with LockHeld, which the
   CLI turns into exit code 3 and one line naming the holder;
2. otherwise write our claim, wait `settle` seconds and read the row back: whoever's
   claim is there holds the lock. Claims race only when two jobs read a free row at
   nearly the same moment; both then read the last claim written, so one wins. (A
   job that stalls for longer than `settle` between its read and its write could
   still win alongside another; the heartbeat below catches that before it writes.)
3. a thread renews the lease every ttl/4. A renewal that finds another token, or a
   lease that could not be renewed in time, marks the lock lost, and `check()`,
   called before every write, stops the job.

A holder that died stops renewing: on another host its lease runs out after `ttl`;
on this host (cron on one machine, Milvus Lite always) its missing process gives it
away at once. Either way the next job takes the lock over and says whose it was.

Milvus Lite lets one process at a time open its file, so there a second job cannot
even connect: commands/connect.py reports that as LockHeld too when the process
holding the file is a milvus-cluster job (`lite_job_holding` finds it).
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from milvus_cluster.errors import LockHeld, LockLost, MilvusClusterError
from milvus_cluster.jobs.catalog import Catalog, now, seconds_since
from milvus_cluster.milvus.translate import lite_lock_holder

LOCK_TTL = 120.0  # seconds a lease lasts without a heartbeat
SETTLE_LITE = 0.2  # in one process (threads); Lite answers a write after applying it
SETTLE_SERVER = 1.0  # between hosts: longer than any read-to-write gap of a live job


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, as stored in the catalog's lock row."""

    owner: str  # user@host
    place: str  # host, boot and pid namespace: where `pid` means this process
    pid: int
    process_start: str  # the process's start time, against pid reuse
    command: str  # label, relabel, assign
    token: str
    since: str  # ISO times, UTC
    heartbeat: str
    expires: str

    @classmethod
    def me(cls, command: str, ttl: float) -> Holder:
        moment = now()
        return cls(
            owner=f"{_user()}@{socket.gethostname()}",
            place=place(),
            pid=os.getpid(),
            process_start=process_start(os.getpid()) or "",
            command=command,
            token=uuid.uuid4().hex,
            since=moment,
            heartbeat=moment,
            expires=_later(moment, ttl),
        )

    @classmethod
    def from_row(cls, data: dict[str, Any]) -> Holder:
        return cls(**{name: data.get(name, "") for name in cls.__dataclass_fields__})

    def renewed(self, ttl: float) -> Holder:
        moment = now()
        return Holder(**(asdict(self) | {"heartbeat": moment, "expires": _later(moment, ttl)}))

    @property
    def expired(self) -> bool:
        return seconds_since(self.expires) > 0

    @property
    def dead(self) -> bool:
        """Its process is gone: only knowable where its pid means the same process."""
        if self.place != place() or not self.process_start:
            return False
        return process_start(int(self.pid)) != self.process_start

    @property
    def alive(self) -> bool:
        return not self.expired and not self.dead

    def describe(self) -> str:
        age = seconds_since(self.heartbeat)
        left = -seconds_since(self.expires)
        lease = f"expires in {left:.0f} s" if left > 0 else f"expired {-left:.0f} s ago"
        return (
            f"{self.command} by {self.owner} pid {self.pid}, since {self.since[:19]}Z, last "
            f"heartbeat {age:.0f} s ago ({lease})"
        )


class Lock:
    """A lock this job holds; renewed by a thread until `release()`."""

    def __init__(self, catalog: Catalog, holder: Holder, ttl: float, key: str = "lock") -> None:
        self.catalog = catalog
        self.key = key  # the catalog row: "lock", or a shard's own ("lock:1/4")
        self.holder = holder
        self.ttl = ttl
        self.renewed_at = time.monotonic()
        self.lost = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._heartbeat, name="milvus-cluster-lock", daemon=True
        )

    @classmethod
    def acquire(
        cls,
        catalog: Catalog,
        collection: str,
        command: str,
        ttl: float = LOCK_TTL,
        key: str = "lock",
    ) -> tuple[Lock, Holder | None]:
        """Take the lock of `collection` (`key`: the row, "lock" unless a shard's);
        returns it and the dead holder it replaced, if any. Raises LockHeld, naming the
        holder, when a live job has it."""
        current = _holder(catalog, key)
        if current is not None and current.alive:
            raise LockHeld(held_message(collection, current))
        mine = Holder.me(command, ttl)
        catalog.write_lock(asdict(mine), key)
        time.sleep(SETTLE_LITE if catalog.milvus.lite else SETTLE_SERVER)
        winner = _holder(catalog, key)
        if winner is None or winner.token != mine.token:
            raise LockHeld(held_message(collection, winner or current or mine))
        lock = cls(catalog, mine, ttl, key)
        lock._thread.start()
        return lock, current

    def check(self) -> None:
        """Raise LockLost unless this job still holds the lock; call it before writing."""
        if not self.lost and time.monotonic() - self.renewed_at > self.ttl:
            self.lost = f"its lease could not be renewed for {self.ttl:.0f} s"
        if self.lost:
            raise LockLost(
                f"This job lost the lock of its collection ({self.lost}) and stopped before "
                "writing more; run it again when the other job has finished."
            )

    def release(self) -> None:
        """Stop renewing and remove the lock row if it is still ours (else leave it);
        a second call does nothing."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with suppress(MilvusClusterError):  # an unreleased lease simply expires
            current = _holder(self.catalog, self.key)
            if current is not None and current.token == self.holder.token:
                self.catalog.delete_lock(self.key)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                current = _holder(self.catalog, self.key)
                if current is None or current.token != self.holder.token:
                    taker = current.describe() if current else "the lock row was removed"
                    self.lost = f"taken over: {taker}"
                    return
                self.holder = self.holder.renewed(self.ttl)
                self.catalog.write_lock(asdict(self.holder), self.key)
                self.renewed_at = time.monotonic()
            except MilvusClusterError:
                continue  # Milvus unreachable for now; check() gives up after ttl


def held_message(collection: str, holder: Holder) -> str:
    return (
        f"Another job holds the lock of {collection!r}: {holder.describe()}; this job did "
        "nothing and can simply run again later."
    )


def _holder(catalog: Catalog, key: str = "lock") -> Holder | None:
    data = catalog.read_lock(key)
    return Holder.from_row(data) if data else None


def lite_job_holding(uri: str) -> str | None:
    """'pid 123, milvus-cluster relabel' when a milvus-cluster process holds the Lite
    file's lock (Linux: /proc/locks names the process of each flock), else None."""
    pid = lite_lock_holder(uri)
    return _milvus_cluster_process(pid) if pid is not None else None


COMMANDS = ("label", "relabel", "assign", "show", "demo", "plot", "rollback", "cleanup")


def _milvus_cluster_process(pid: int) -> str | None:
    """'pid 123, milvus-cluster assign' if that process runs milvus-cluster. Only the
    command word is shown: the rest of a command line may hold a token."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None
    words = arguments.split("\0")
    if not _runs_milvus_cluster(words):
        return None
    command = next((w for w in words if w in COMMANDS), "")
    return f"pid {pid}, milvus-cluster {command}".rstrip()


def _runs_milvus_cluster(words: list[str]) -> bool:
    """The program itself, not a path that merely contains the name (a checkout called
    milvus-cluster, its .venv/bin/python): the `milvus-cluster` script, as argv[0] or
    run by an interpreter, or `python -m milvus_cluster`."""
    script = any(Path(word).name == "milvus-cluster" for word in words[:2])
    module = any(pair == ("-m", "milvus_cluster") for pair in zip(words, words[1:]))
    return script or module or "-mmilvus_cluster" in words


def process_start(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (Linux), None elsewhere or
    when there is no such process. With the pid it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[19]


def place() -> str:
    """Host name, boot and pid namespace: two jobs with the same place see the same
    processes (containers on one host share its name but not its pids)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""  # not Linux: liveness is left to the lease
    return f"{socket.gethostname()} {boot[:8]} {namespace}"


def _later(moment: str, seconds: float) -> str:
    later = datetime.fromisoformat(moment) + timedelta(seconds=seconds)
    return later.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return str(os.getuid())
