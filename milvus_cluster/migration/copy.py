"""Keeping one collection in step with another: the shadow copy, and rollback.

The contract: a Mirror remembers, for every key the target holds, a 64-bit hash of
the row's own fields (the label fields and function outputs left out), as it put
the row there or found it. That is what makes the rest work:

- `copy_all()`: every row of the source into the target (the shadow copy);
- `catch_up()`: passes over the source until one finds nothing to do (at most
  ROUNDS); a row whose hash differs was written by the application since, and is
  written again; a new key is written; a key gone is deleted from the target;
- `verify()`: the target's key set and the order-free sum of its row hashes must be
  exactly the remembered ones;
- `carry_over()`, after a switch: passes over the collection switched out (two at
  least), for the writes that reached it between the last pass and the switch. The application
  writes to the target by then, so a row of the target is overwritten or deleted
  only while it is still exactly as remembered: a write the application made there
  after the switch always wins.

Each pass reads the source whole (Milvus cannot hash rows for us). Rows are written
with their own key: upserted, or deleted and inserted on auto_id collections, where
an upsert may make a new key. `prepare` turns a source row into a target row (the
copy adds the labels; rollback takes them off).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from milvus_cluster.checkpoints import checkpoint
from milvus_cluster.core.fingerprint import Fingerprint, Fingerprinter, row_hash
from milvus_cluster.core.keys import as_key_array, same_key_set
from milvus_cluster.errors import WriteError
from milvus_cluster.migration.plan import Plan
from milvus_cluster.migration.write import FRESH_BATCH, LabelColumns, with_labels
from milvus_cluster.milvus.client import WRITE_BATCH, Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.expressions import key_filter

Progress = Callable[[int], None]
Rows = list[dict[str, Any]]
ROUNDS = 5  # catch-up passes before a switch; a busy application may never let one be empty
# Inserts of the copy sent while the next batch is read; on Milvus Lite, which runs in
# this process, the read and the insert contend for the same interpreter.
INSERTS_IN_FLIGHT = 2


@dataclass(frozen=True)
class Keys:
    """The primary key of both collections."""

    name: str
    type: str  # INT64 or VARCHAR
    auto_id: bool

    def filter(self, keys: list[Any]) -> str:
        return key_filter(self.name, self.type, keys)


class Mirror:
    """What `target` holds of the user's rows, by key, and how to keep it in step."""

    def __init__(
        self,
        milvus: Milvus,
        keys: Keys,
        labels: Iterable[str],
        computed: frozenset[str],
        prepare: Callable[[Rows], Rows],
        keys_read: np.ndarray | None = None,
    ) -> None:
        self.milvus, self.keys, self.prepare = milvus, keys, prepare
        self.computed = computed  # Milvus fills these itself: never read, never written
        self.user_fields_only = computed | frozenset(labels)
        self.hashes: dict[Any, int] = {}
        self.keys_read = keys_read  # the source's keys as the label run read them

    @classmethod
    def for_copy(
        cls, milvus: Milvus, info: CollectionInfo, plan: Plan, columns: LabelColumns
    ) -> Mirror:
        """The shadow copy: rows gain their labels on the way."""
        labels = plan.fields
        keys = Keys(info.pk, info.pk_type, info.auto_id)
        return cls(
            milvus,
            keys,
            labels,
            info.function_outputs,
            lambda rows: with_labels([dict(row) for row in rows], info.pk, columns, plan),
            columns.keys.pks,
        )

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint.of(self.hashes.values())

    def copy_all(self, source: str, target: str, progress: Progress | None = None) -> None:
        """Every row of `source` into `target`, partition by partition, streamed: a
        batch is inserted from a thread while the next is read, INSERTS_IN_FLIGHT at
        most, so no more than that many batches are held (README, Scale)."""
        in_flight: deque[Future[None]] = deque()
        with ThreadPoolExecutor(INSERTS_IN_FLIGHT, thread_name_prefix="copy-insert") as pool:
            for partition, batch in self._read(source):
                self._remember(batch)
                rows = self.prepare(batch)
                in_flight.append(pool.submit(self.milvus.insert, target, rows, partition))
                if len(in_flight) >= INSERTS_IN_FLIGHT:
                    in_flight.popleft().result()  # raises what the insert raised
                checkpoint("copy-batch")
                if progress:
                    progress(len(batch))
            while in_flight:
                in_flight.popleft().result()
        self.milvus.flush(target)

    def learn(self, target: str) -> None:
        """Remember what `target` holds now (for a mirror that did not fill it)."""
        for _, batch in self._read(target):
            self._remember(batch)

    def catch_up(self, source: str, target: str) -> int:
        """Passes over `source` until one finds nothing new; returns the rows redone."""
        return self._passes(source, target, guarded=False, at_least=1)

    def carry_over(self, old: str, target: str) -> int:
        """Guarded passes from the collection switched out (`old`) into `target`, which
        clients reach now; returns the rows carried over. Two at least: a write in flight
        at the instant of the switch had found the old collection before the rename and
        lands in it within one request's time, maybe where the first pass had already
        read; the second pass, which starts after the first one ended, finds it."""
        return self._passes(old, target, guarded=True, at_least=2)

    def _passes(self, source: str, target: str, guarded: bool, at_least: int) -> int:
        """Passes until one finds nothing, `at_least` of them, at most ROUNDS."""
        redone = 0
        for number in range(ROUNDS):
            done = self._sync(source, target, guarded)
            redone += done
            if not done and number + 1 >= at_least:
                break
        return redone

    def verify(self, source: str, target: str) -> None:
        """Count, key set and fingerprint of `target` must equal what was remembered."""
        found = Fingerprinter(leave_out=self.user_fields_only)
        keys: list = []
        for _, batch in self._read(target):
            found.add(batch)
            keys.extend(row[self.keys.name] for row in batch)
        expected = self.fingerprint
        same_keys = same_key_set(as_key_array(keys), as_key_array(list(self.hashes)))
        if found.result() != expected or not same_keys:
            self.milvus.drop(target)
            raise WriteError(
                f"The copy of {source!r} did not match it ({found.result()} against "
                f"{expected}); nothing was switched and the copy was dropped; run again."
            )

    # -- a pass ------------------------------------------------------------------

    def _sync(self, source: str, target: str, guarded: bool) -> int:
        """Bring `target` in step with `source` for the rows that changed since they were
        remembered; with `guarded`, only where `target` still holds what we remember."""
        seen: set[Any] = set()
        redone = 0
        # Guarded, a row is checked and then written: two requests, between which a write
        # of the application's to that row would be overwritten; small batches keep that
        # window short (README, Reliability).
        size = FRESH_BATCH if guarded else WRITE_BATCH
        for partition, batch in self._read(source):
            seen.update(row[self.keys.name] for row in batch)
            changed = [row for row in batch if self._hash(row) != self.hashes.get(self._key(row))]
            for start in range(0, len(changed), size):
                rows = changed[start : start + size]
                rows = self._untouched(target, rows) if guarded else rows
                self._put(target, rows, partition)
                redone += len(rows)
        gone = [key for key in self.hashes if key not in seen]
        for start in range(0, len(gone), size):
            keys = gone[start : start + size]
            keys = self._untouched(target, keys) if guarded else keys
            if keys:
                self.milvus.delete(target, self.keys.filter(keys))
                for key in keys:
                    del self.hashes[key]
                redone += len(keys)
        if redone:
            self.milvus.flush(target)
        return redone

    def _untouched(self, target: str, wanted: list) -> list:
        """Of `wanted` (rows of the source, or keys), those whose row in `target` is still
        exactly as remembered, or absent where we never put one: the ones we may
        overwrite without undoing a write the application made to `target`."""
        keys = [self._key(item) if isinstance(item, dict) else item for item in wanted]
        rows = self.milvus.query(target, self.keys.filter(keys), ["*"])
        now = {self._key(row): self._hash(row) for row in rows}
        return [item for item, key in zip(wanted, keys) if now.get(key) == self.hashes.get(key)]

    def _put(self, target: str, rows: Rows, partition: str | None) -> None:
        if not rows:
            return
        self._remember(rows)
        prepared = self.prepare(rows)
        if self.keys.auto_id:  # an upsert could give the row a new key here
            self.milvus.delete(target, self.keys.filter([self._key(row) for row in rows]))
            self.milvus.insert(target, prepared, partition)
        else:
            self.milvus.upsert(target, prepared, partial=False, partition=partition)

    def _read(self, source: str) -> Iterator[tuple[str | None, Rows]]:
        """Every row of `source` without the fields Milvus computes, by partition. Each
        of a copy's passes reads a whole collection, so on a server with INT64 keys they
        are read by ranges cut at known keys (_cuts)."""
        pk = self.keys.name
        cuts = self._cuts(source) if self.keys.type == "INT64" and not self.milvus.lite else None
        for partition, batch in self.milvus.iterate_by_partition(source, pk, ["*"], int_keys=cuts):
            if self.computed:  # most collections have none: no copy of every row then
                batch = [{k: v for k, v in r.items() if k not in self.computed} for r in batch]
            yield partition, batch

    def _cuts(self, source: str) -> np.ndarray:
        """The sorted keys a pass cuts its key ranges at: the keys remembered; before any
        are, the keys the label run read, where they are nearly all the rows there (so a
        range of READ_BATCH of them stays within a query's limit), else the keys of
        `source` read now. Any keys will do for what is read: the end ranges are open."""
        if self.hashes:
            keys = np.fromiter(self.hashes.keys(), dtype=np.int64, count=len(self.hashes))
        elif self.keys_read is not None and len(self.keys_read) >= 0.9 * self.milvus.count(source):
            keys = np.asarray(self.keys_read, dtype=np.int64)
        else:
            keys = np.asarray(self.milvus.keys(source, self.keys.name), dtype=np.int64)
        return np.sort(keys)

    def _key(self, row: dict[str, Any]) -> Any:
        return row[self.keys.name]

    def _hash(self, row: dict[str, Any]) -> int:
        return row_hash(row, self.user_fields_only)

    def _remember(self, rows: Rows) -> None:
        self.hashes.update((self._key(row), self._hash(row)) for row in rows)
