"""The shadow copy's rows: copied with their labels, kept in step with the source, checked.

The contract: a Copy remembers, for every key it copied, a 64-bit hash of the row's
own fields (labels and function outputs left out). That is what makes the rest work:

- `catch_up()` before the switch: passes over the source until one finds nothing to
  do (at most ROUNDS); a row whose hash differs was updated by the application since
  it was copied, and is copied again; a new key is copied; a key gone is deleted;
- `verify()`: the copy's key set and the order-free sum of its row hashes must be
  exactly the remembered ones;
- `carry_over()` after the switch: one more pass over the collection that was
  switched out, for the writes that reached it between the last pass and the
  switch. The application writes to the copy by then, so a row of the copy is
  overwritten or deleted only while it is still exactly as we copied it: a write the
  application made to the copy after the switch always wins.

Each pass reads the source whole (Milvus cannot hash rows for us); rows re-copied are
upserted with the row's own key (deleted and inserted on auto_id collections, where
an upsert may make a new key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from milvus_cluster.checkpoints import checkpoint
from milvus_cluster.core.fingerprint import Fingerprint, Fingerprinter, row_hash
from milvus_cluster.core.keys import as_key_array, same_key_set
from milvus_cluster.errors import WriteError
from milvus_cluster.migration.plan import Plan
from milvus_cluster.migration.write import LabelColumns, with_labels
from milvus_cluster.milvus.client import WRITE_BATCH, Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.expressions import key_filter

Progress = Callable[[int], None]
ROUNDS = 5  # catch-up passes before the switch; a busy application may never let one be empty


class Copy:
    """Rows copied from `info`'s collection into the plan's shadow, and their hashes."""

    def __init__(self, milvus: Milvus, info: CollectionInfo, plan: Plan, columns: LabelColumns):
        assert plan.shadow
        self.milvus, self.info, self.plan, self.columns = milvus, info, plan, columns
        self.target = plan.shadow
        self.computed = info.function_outputs  # Milvus fills these itself
        labels = [plan.label_field] + ([plan.prob_field] if plan.prob_field else [])
        self.leave_out = frozenset(self.computed)
        self.leave_out_copied = self.leave_out | frozenset(labels)
        self.hashes: dict[Any, int] = {}

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint.of(self.hashes.values())

    def rows(self, progress: Progress | None = None) -> None:
        """Copy every row, partition by partition, with its label."""
        for partition, batch in self._read(self.info.name):
            self._remember(batch)
            self.milvus.insert(self.target, self._labelled(batch), partition)
            checkpoint("copy-batch")
            if progress:
                progress(len(batch))
        self.milvus.flush(self.target)

    def catch_up(self) -> int:
        """Passes over the source until one finds nothing new; returns the rows redone."""
        redone = 0
        for _ in range(ROUNDS):
            done = self._sync(self.info.name, self.target, guarded=False)
            redone += done
            if not done:
                break
        return redone

    def carry_over(self, old: str, labelled: str) -> int:
        """One guarded pass from the collection switched out (`old`) into the labelled
        one that clients reach now; returns the rows carried over."""
        return self._sync(old, labelled, guarded=True)

    def verify(self) -> None:
        """Count, key set and fingerprint of the copy must equal what was copied."""
        copied = Fingerprinter(leave_out=self.leave_out_copied)
        keys: list = []
        for batch in self.milvus.iterate(self.target, ["*"]):
            copied.add(batch)
            keys.extend(row[self.info.pk] for row in batch)
        expected = self.fingerprint
        same_keys = same_key_set(as_key_array(keys), as_key_array(list(self.hashes)))
        if copied.result() != expected or not same_keys:
            self.milvus.drop(self.target)
            raise WriteError(
                f"The copy of {self.info.name!r} did not match it ({copied.result()} against "
                f"{expected}); nothing was switched and the copy was dropped; run again."
            )

    # -- a pass ------------------------------------------------------------------

    def _sync(self, source: str, target: str, guarded: bool) -> int:
        """Bring `target` in step with `source` for the rows that changed since they were
        copied; with `guarded`, only where `target` still holds what we copied."""
        seen: set[Any] = set()
        redone = 0
        for partition, batch in self._read(source):
            seen.update(row[self.info.pk] for row in batch)
            changed = [
                row for row in batch if self._hash(row) != self.hashes.get(row[self.info.pk])
            ]
            for start in range(0, len(changed), WRITE_BATCH):
                rows = changed[start : start + WRITE_BATCH]
                rows = self._untouched(target, rows) if guarded else rows
                self._put(target, rows, partition)
                redone += len(rows)
        gone = [key for key in self.hashes if key not in seen]
        for start in range(0, len(gone), WRITE_BATCH):
            keys = gone[start : start + WRITE_BATCH]
            keys = self._untouched(target, keys) if guarded else keys
            if keys:
                self.milvus.delete(target, key_filter(self.info.pk, self.info.pk_type, keys))
                for key in keys:
                    del self.hashes[key]
                redone += len(keys)
        if redone:
            self.milvus.flush(target)
        return redone

    def _untouched(self, target: str, wanted: list) -> list:
        """Of `wanted` (rows of the source, or keys), those whose row in `target` is still
        exactly as we copied it, or absent where we never copied it: the ones we may
        overwrite without undoing a write the application made to `target`."""
        keys = [item[self.info.pk] if isinstance(item, dict) else item for item in wanted]
        now = {
            row[self.info.pk]: row_hash(row, self.leave_out_copied)
            for row in self.milvus.query(
                target, key_filter(self.info.pk, self.info.pk_type, keys), ["*"]
            )
        }
        return [item for item, key in zip(wanted, keys) if now.get(key) == self.hashes.get(key)]

    def _put(self, target: str, rows: list[dict[str, Any]], partition: str | None) -> None:
        if not rows:
            return
        self._remember(rows)
        labelled = self._labelled(rows)
        if self.info.auto_id:  # an upsert could give the row a new key here
            keys = [row[self.info.pk] for row in rows]
            self.milvus.delete(target, key_filter(self.info.pk, self.info.pk_type, keys))
            self.milvus.insert(target, labelled, partition)
        else:
            self.milvus.upsert(target, labelled, partial=False, partition=partition)

    def _read(self, source: str) -> Iterator[tuple[str | None, list[dict[str, Any]]]]:
        """Every row of `source` without the fields Milvus computes, by partition."""
        for partition, batch in self.milvus.iterate_by_partition(source, self.info.pk, ["*"]):
            yield (
                partition,
                [{k: v for k, v in row.items() if k not in self.computed} for row in batch],
            )

    def _hash(self, row: dict[str, Any]) -> int:
        return row_hash(row, self.leave_out)

    def _remember(self, rows: list[dict[str, Any]]) -> None:
        self.hashes.update((row[self.info.pk], self._hash(row)) for row in rows)

    def _labelled(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows with their label fields set (copies: the rows themselves stay as read)."""
        return with_labels([dict(row) for row in rows], self.info.pk, self.columns, self.plan)
