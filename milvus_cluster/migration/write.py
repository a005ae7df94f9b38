"""Write stage: labels onto rows, in place or while copying.

The contract: LabelColumns maps each primary key read to its label and
probability (row indices inside, keys at this edge). Rows the pipeline never
read (inserted since) get null labels, which `assign` fills later. Writes send
the row's own key, so a label write never changes a key; on auto_id
collections the key set is checked afterwards all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from milvus_cluster.checkpoints import checkpoint
from milvus_cluster.core.keys import KeyIndex
from milvus_cluster.core.labels import UNLABELLED, UNLABELLED_PROBABILITY
from milvus_cluster.core.layers import Layers
from milvus_cluster.errors import WriteError
from milvus_cluster.migration.plan import Plan
from milvus_cluster.milvus.client import (
    READ_STREAMS,
    REWRITE_BATCH,
    REWRITES_IN_FLIGHT,
    WRITE_BATCH,
    Milvus,
)
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.expressions import key_filter
from milvus_cluster.milvus.in_flight import in_order
from milvus_cluster.milvus.read import rows_by_key


@dataclass(frozen=True)
class LabelColumns:
    keys: KeyIndex
    labels: np.ndarray  # (n,) int64, -1 = noise
    probabilities: np.ndarray  # (n,) float32
    # the layers above the labels: a row's layer fields are its label's parents, so
    # that every path that writes a label (copy, catch-up, assign) writes them nested
    layers: Layers = field(default_factory=Layers)

    def only(self, rows: np.ndarray) -> LabelColumns:
        """The columns of these rows alone (a mask, or row indices)."""
        pks, labels, probabilities = (
            self.keys.pks[rows],
            self.labels[rows],
            self.probabilities[rows],
        )
        return LabelColumns(KeyIndex(pks), labels, probabilities, self.layers)

    def layer_values(self, pks: list[Any], count: int) -> list[list[int | None]]:
        """Each of `count` layers' value for each key (None where it was not clustered)."""
        labels, _ = self.values(pks)
        known = np.array([label is not None for label in labels], dtype=bool)
        base = np.array([label if label is not None else -1 for label in labels], np.int64)
        width = int(base.max()) + 1 if len(base) and base.max() >= 0 else 0
        return [
            [int(v) if ok else None for v, ok in zip(layer.tolist(), known)]
            for layer in self.layers.padded(count, width).of_rows(base)
        ]

    def values(self, pks: Iterable[Any]) -> tuple[list[int | None], list[float | None]]:
        """Label and probability of each key, None for keys that were not clustered."""
        rows = self.keys.rows(list(pks))
        known = rows >= 0
        labels = np.where(known, self.labels[np.maximum(rows, 0)], 0).tolist()
        probabilities = np.where(known, self.probabilities[np.maximum(rows, 0)], 0).tolist()
        return (
            [label if ok else None for label, ok in zip(labels, known)],
            [round(p, 6) if ok else None for p, ok in zip(probabilities, known)],
        )


@dataclass(frozen=True)
class NoLabels(LabelColumns):
    """Every key's label cleared: null, or "not labelled yet" where the fields cannot be
    null (with_labels puts the placeholder in for None). For `unlabel`."""

    def values(self, pks: Iterable[Any]) -> tuple[list[int | None], list[float | None]]:
        count = len(list(pks))
        return [None] * count, [None] * count

    def layer_values(self, pks: list[Any], count: int) -> list[list[int | None]]:
        return [[None] * len(pks) for _ in range(count)]


def with_labels(
    batch: list[dict[str, Any]], pk: str, columns: LabelColumns, plan: Plan
) -> list[dict[str, Any]]:
    """The batch's rows with the label fields set (the rows are changed and returned)."""
    pks = [row[pk] for row in batch]
    labels, probabilities = columns.values(pks)
    layers = columns.layer_values(pks, len(plan.layer_fields)) if plan.layer_fields else []
    if plan.declared != "nullable":  # fields that cannot be null get "not labelled yet"
        labels = [UNLABELLED if label is None else label for label in labels]
        probabilities = [UNLABELLED_PROBABILITY if p is None else p for p in probabilities]
        layers = [[UNLABELLED if v is None else v for v in layer] for layer in layers]
    for at, (row, label, probability) in enumerate(zip(batch, labels, probabilities)):
        row[plan.label_field] = label
        if plan.prob_field:
            row[plan.prob_field] = probability
        for name, layer in zip(plan.layer_fields, layers):
            row[name] = layer[at]
    return batch


def write_in_place(
    milvus: Milvus,
    info: CollectionInfo,
    plan: Plan,
    columns: LabelColumns,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every label into the existing field; returns the rows written."""
    if plan.write == "partial upsert":
        written = _partial_upserts(milvus, info, plan, columns, progress)
    else:
        written = _full_row_upserts(milvus, info, plan, columns, progress)
    milvus.flush(info.name)
    if info.auto_id:
        check_keys_kept(milvus, info.name, info.pk, columns.keys.pks)
    return written


def _partial_upserts(milvus, info, plan, columns, progress) -> int:
    """Key + label rows, partition by partition (an upsert moves a row to the partition
    it names), leaving out keys deleted since the read."""
    written = 0
    for partition, pks in _keys_by_partition(milvus, info, columns):
        written += _upsert_labels(milvus, info, plan, columns, pks, partition, progress)
    return written


def _upsert_labels(milvus, info, plan, columns, pks: list, partition, progress) -> int:
    """Key + label rows for `pks`, all of them in `partition`, a batch at a time, a few
    batches in flight on a server."""
    starts = range(0, len(pks), WRITE_BATCH)

    def one(start: int) -> int:
        batch = pks[start : start + WRITE_BATCH]
        rows = with_labels([{info.pk: pk} for pk in batch], info.pk, columns, plan)
        _upsert_existing(milvus, info, rows, partition)
        checkpoint("write-batch")
        return len(rows)

    for count in in_order(one, starts, milvus.calls(READ_STREAMS)):
        if progress:
            progress(count)
    return len(pks)


def _keys_by_partition(milvus, info, columns) -> list[tuple[str | None, list]]:
    if milvus.manual_partitions(info.name) == [None]:
        return [(None, columns.keys.pks.tolist())]
    groups: dict[str | None, list] = {}
    for partition, batch in milvus.iterate_by_partition(info.name, info.pk, [info.pk]):
        groups.setdefault(partition, []).extend(row[info.pk] for row in batch)
    return list(groups.items())


def _upsert_existing(milvus: Milvus, info: CollectionInfo, rows: list[dict], partition) -> None:
    """A partial upsert of a key that was deleted since the read fails the whole batch
    (Milvus would have to insert it, without its vector); such keys are left out. While
    the application goes on deleting, what remains is written in halves, each smaller
    part less likely to lose a key meanwhile; a failure with every key still there is
    Milvus's own, and raised."""
    try:
        milvus.upsert(info.name, rows, partial=True, partition=partition)
        return
    except Exception:
        present = set(existing_keys(milvus, info, [row[info.pk] for row in rows]))
        remaining = [row for row in rows if row[info.pk] in present]
        if len(remaining) == len(rows):
            raise
    half = (len(remaining) + 1) // 2
    for part in (remaining[:half], remaining[half:]):
        if part:
            _upsert_existing(milvus, info, part, partition)


def existing_keys(milvus: Milvus, info: CollectionInfo, pks: list) -> list:
    rows = milvus.query(info.name, key_filter(info.pk, info.pk_type, pks), [info.pk])
    return [row[info.pk] for row in rows]


FRESH_BATCH = 200  # whole rows checked and written at once by the copy's carry-over


def _full_row_upserts(milvus, info, plan, columns, progress) -> int:
    """Servers without partial upsert: the rows read, whole, a small batch at a time."""
    written = 0
    for partition, pks in _keys_by_partition(milvus, info, columns):
        written += _rewrite(milvus, info, plan, columns, pks, partition, progress)
    return written


def _rewrite(milvus, info, plan, columns, pks: list, partition, progress) -> int:
    """The rows of these keys, whole, with their labels (see rewrites); keys the
    pipeline never read (inserted since: assign's) are left alone."""
    known = [pk for pk, row in zip(pks, columns.keys.rows(pks)) if row >= 0]
    if progress and len(known) < len(pks):
        progress(len(pks) - len(known))
    written = 0
    for batch, _, count in rewrites(milvus, info, plan, known, partition, lambda rows: columns):
        written += count
        if progress:  # here, not in the threads: it may raise (a lock lost)
            progress(len(batch))
    return written


def rewrites(
    milvus: Milvus,
    info: CollectionInfo,
    plan: Plan,
    pks: list,
    partition: str | None,
    label: Callable[[list[dict[str, Any]]], LabelColumns],
) -> Iterator[tuple[list, LabelColumns, int]]:
    """The rows of these keys rewritten whole (_rewrite_batch), REWRITE_BATCH at a time,
    several batches in flight on a server: each batch's own read-to-upsert window stays
    as narrow as one batch's, while the time-tick waits overlap. Per batch, in order:
    its keys, the labels `label` gave its rows, the rows written."""
    batches = [pks[start : start + REWRITE_BATCH] for start in range(0, len(pks), REWRITE_BATCH)]

    def one(batch: list) -> tuple[LabelColumns, int]:
        return _rewrite_batch(milvus, info, plan, batch, partition, label)

    for batch, (columns, count) in zip(
        batches, in_order(one, batches, milvus.calls(REWRITES_IN_FLIGHT))
    ):
        yield batch, columns, count


def _rewrite_batch(
    milvus: Milvus,
    info: CollectionInfo,
    plan: Plan,
    pks: list,
    partition: str | None,
    label: Callable[[list[dict[str, Any]]], LabelColumns],
) -> tuple[LabelColumns, int]:
    """Re-read these rows (Strong) and upsert at once, with the labels `label` gives the
    rows read (it may vote on their vectors), those whose label is not right already;
    returns those labels and the rows written. Without partial upsert the whole row goes
    back, so an update the application makes to one of them between the read and the
    upsert is undone: the batch is kept small and rows that need no new label are not
    written at all, to keep that window narrow (README, Reliability). Fields a function
    computes are left for Milvus to compute again."""
    found = milvus.query(info.name, key_filter(info.pk, info.pk_type, pks), ["*"]) if pks else []
    columns = label(found)
    rows = [{k: v for k, v in row.items() if k not in info.function_outputs} for row in found]
    changed = changed_rows(rows, info.pk, columns, plan)
    if changed:
        milvus.upsert(info.name, changed, partial=False, partition=partition)
    checkpoint("write-batch")
    return columns, len(changed)


def changed_rows(
    rows: list[dict[str, Any]], pk: str, columns: LabelColumns, plan: Plan
) -> list[dict[str, Any]]:
    """Copies of the rows whose label fields `columns` changes, with the new labels
    (the rows read must hold the label fields, or read as unlabelled)."""
    labelled = with_labels([dict(row) for row in rows], pk, columns, plan)
    return [new for old, new in zip(rows, labelled) if _relabelled(old, new, plan)]


def changed_keys(
    rows: list[dict[str, Any]], pk: str, columns: LabelColumns, plan: Plan
) -> np.ndarray:
    """Which of `columns`'s keys it gives other labels than `rows` (as read) hold: a
    mask over its keys, False for keys not among the rows."""
    changed = {row[pk] for row in changed_rows(rows, pk, columns, plan)}
    return np.array([key in changed for key in columns.keys.pks.tolist()], bool)


def needing_labels(
    milvus: Milvus, info: CollectionInfo, plan: Plan, columns: LabelColumns
) -> LabelColumns:
    """The columns of the rows whose label fields they change, the fields read by key
    first: a relabel that gives most rows the labels they have then writes the others
    only (rows deleted since are left out too)."""
    rows = rows_by_key(milvus, info, columns.keys.pks, [info.pk, *plan.fields])
    return columns.only(changed_keys(rows, info.pk, columns, plan))


def _relabelled(old: dict[str, Any], new: dict[str, Any], plan: Plan) -> bool:
    """Whether the row's label fields change (probabilities to 4 digits)."""
    if any(old.get(name) != new[name] for name in (plan.label_field, *plan.layer_fields)):
        return True
    if not plan.prob_field:
        return False
    before, after = old.get(plan.prob_field), new[plan.prob_field]
    return before is None or after is None or abs(before - after) > 1e-4


def check_keys_kept(milvus: Milvus, name: str, pk: str, expected: np.ndarray) -> None:
    """Refuse to call a write good if the collection's keys are not the keys we read."""
    missing = np.setdiff1d(expected, np.asarray(milvus.keys(name, pk)))
    # Applications may delete a few rows meanwhile; a regenerating upsert loses them all.
    if len(missing) and len(missing) >= len(expected) // 2:
        raise WriteError(
            f"After writing labels, {len(missing)} primary keys of {name!r} that were read are "
            "gone (this server's upsert on auto_id collections makes new keys); use "
            "--strategy shadow, and restore the rows from a backup."
        )


def write_some(
    milvus: Milvus,
    info: CollectionInfo,
    plan: Plan,
    columns: LabelColumns,
    partition: str | None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the labels of `columns`'s keys only, rows that are all in `partition`
    (None: no manual partitions); every other row is left as it is. For `assign`;
    the caller flushes."""
    pks = columns.keys.pks.tolist()
    if plan.write == "partial upsert":
        return _upsert_labels(milvus, info, plan, columns, pks, partition, progress)
    return _rewrite(milvus, info, plan, columns, pks, partition, progress)
