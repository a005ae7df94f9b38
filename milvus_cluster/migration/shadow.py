"""The shadow strategy: copy the collection with its labels, verify, switch.

Every step can be interrupted and the next run finishes the job: a copy that
did not complete is dropped and made again (it is only ever ours: it carries
the SHADOW_OF property), and a switch that stopped half-way is completed by
`finish_switch` before anything else looks at the collection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from milvus_cluster.checkpoints import checkpoint
from milvus_cluster.core.fingerprint import Fingerprinter
from milvus_cluster.core.keys import as_key_array, same_key_set
from milvus_cluster.errors import MigrationError, WriteError
from milvus_cluster.migration.plan import (
    BACKUP_OF,
    COPIED_FROM,
    SHADOW_OF,
    Plan,
    backup_name,
    shadow_name,
)
from milvus_cluster.migration.write import LabelColumns, with_labels
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.expressions import key_filter

Progress = Callable[[int], None]


def migrate(
    milvus: Milvus,
    info: CollectionInfo,
    plan: Plan,
    columns: LabelColumns,
    scalar_index: str,
    progress: Progress | None = None,
) -> int:
    """Carry out a shadow plan; returns the rows in the labelled collection."""
    assert plan.shadow and plan.backup
    clear_leftovers(milvus, plan)
    properties = {SHADOW_OF: info.name, COPIED_FROM: plan.backup}
    if info.auto_id:  # keep auto_id for the application, yet insert the keys we have
        properties["allow_insert_auto_id"] = "true"
    milvus.create_like(
        info.name, plan.shadow, plan.field_specs(), properties, (plan.label_field, scalar_index)
    )
    copy = Copy(milvus, info, plan, columns)
    copy.rows(progress=progress)
    checkpoint("copied")
    if not milvus.lite:  # Milvus Lite's file admits one process: nobody wrote meanwhile
        copy.catch_up()
    copy.verify()
    checkpoint("verified")
    switch(milvus, info, plan)
    return copy.fingerprint.rows


def clear_leftovers(milvus: Milvus, plan: Plan) -> None:
    """Drop our own unfinished copy; refuse names that belong to someone else."""
    assert plan.shadow and plan.backup
    if milvus.has(plan.shadow):
        if milvus.property(plan.shadow, SHADOW_OF) != plan.collection:
            raise MigrationError(_collision(plan.shadow, plan.collection))
        milvus.drop(plan.shadow)
    if plan.swap_names and milvus.has(plan.backup):
        raise MigrationError(
            f"A collection {plan.backup!r} already exists, where the backup of "
            f"{plan.collection!r} would go; drop or rename it (it may be an earlier backup: "
            "`milvus-cluster cleanup`) and run again."
        )


def _collision(name: str, collection: str) -> str:
    return (
        f"A collection {name!r} exists that milvus-cluster did not make, where the copy of "
        f"{collection!r} would go; rename or drop it, and run again."
    )


class Copy:
    """Rows copied from the collection into its shadow, with what the copy saw of them:
    their keys and row hashes, so that later changes can be caught up and checked."""

    def __init__(self, milvus: Milvus, info: CollectionInfo, plan: Plan, columns: LabelColumns):
        assert plan.shadow
        self.milvus, self.info, self.plan, self.columns = milvus, info, plan, columns
        self.target = plan.shadow
        self.computed = info.function_outputs  # Milvus fills these itself
        self.fingerprint = Fingerprinter(leave_out=self.computed)
        self.hashes: dict[Any, int] = {}

    def rows(self, filter: str = "", progress: Progress | None = None) -> None:
        """Copy the rows that match `filter`, partition by partition, with their labels."""
        batches = self.milvus.iterate_by_partition(self.info.name, self.info.pk, ["*"], filter)
        for partition, batch in batches:
            rows = [{k: v for k, v in row.items() if k not in self.computed} for row in batch]
            hashes = self.fingerprint.add(rows)
            self.hashes.update(zip((row[self.info.pk] for row in rows), hashes))
            labelled = with_labels(rows, self.info.pk, self.columns, self.plan)
            self.milvus.insert(self.target, labelled, partition)
            checkpoint("copy-batch")
            if progress:
                progress(len(rows))
        self.milvus.flush(self.target)

    def catch_up(self, rounds: int = 5) -> None:
        """Copy what the application inserted while we copied, delete what it deleted."""
        for _ in range(rounds):
            now = set(self.milvus.keys(self.info.name, self.info.pk))
            new = [key for key in now if key not in self.hashes]
            gone = [key for key in self.hashes if key not in now]
            if not new and not gone:
                return
            for start in range(0, len(new), 1000):
                self.rows(key_filter(self.info.pk, self.info.pk_type, new[start : start + 1000]))
            for start in range(0, len(gone), 1000):
                chunk = gone[start : start + 1000]
                self.milvus.delete(self.target, key_filter(self.info.pk, self.info.pk_type, chunk))
                self.fingerprint.remove([self.hashes.pop(key) for key in chunk])
            self.milvus.flush(self.target)

    def verify(self) -> None:
        """Count, key set and fingerprint of the copy must equal what was copied."""
        plan = self.plan
        leave_out = {plan.label_field, *self.computed} | (
            {plan.prob_field} if plan.prob_field else set()
        )
        copied = Fingerprinter(leave_out=leave_out)
        keys: list = []
        for batch in self.milvus.iterate(self.target, ["*"]):
            copied.add(batch)
            keys.extend(row[self.info.pk] for row in batch)
        expected = self.fingerprint.result()
        same_keys = same_key_set(as_key_array(keys), as_key_array(list(self.hashes)))
        if copied.result() != expected or not same_keys:
            self.milvus.drop(self.target)
            raise WriteError(
                f"The copy of {self.info.name!r} did not match it ({copied.result()} against "
                f"{expected}); nothing was switched and the copy was dropped; run again."
            )


def switch(milvus: Milvus, info: CollectionInfo, plan: Plan) -> None:
    """Put the copy where clients look: swap names, then move every alias."""
    assert plan.shadow and plan.backup
    checkpoint("switch-start")
    if plan.swap_names:
        milvus.set_properties(info.name, {BACKUP_OF: info.name})
        milvus.rename(info.name, plan.backup)  # aliases follow the backup...
        checkpoint("switch")
        milvus.rename(plan.shadow, info.name)
        target = info.name
        milvus.load(target)  # a renamed collection comes back released
    else:
        target = plan.shadow
    checkpoint("switched")
    for alias in plan.aliases:  # ...until they are pointed at the labelled collection
        milvus.point_alias(alias, target)
    milvus.clear_properties(target, [SHADOW_OF])


def finish_switch(milvus: Milvus, name: str) -> None:
    """Complete a switch that an earlier run began, so that `name` is whole again.

    The states a killed switch can leave, and what finishes each:
    - `name` gone, its backup and shadow present: rename the shadow to `name`;
    - `name` still marked as a shadow: move the aliases still on the backup to it.
    """
    backup, shadow = backup_name(name), shadow_name(name)
    if not milvus.has(name) and milvus.has(backup) and milvus.has(shadow):
        ours = _marked(milvus, backup, BACKUP_OF, name) and _marked(milvus, shadow, SHADOW_OF, name)
        if ours:
            milvus.rename(shadow, name)
            milvus.load(name)
    if not milvus.has(name):
        return
    target = milvus.resolve(name)
    source = milvus.property(target, SHADOW_OF)
    if not source:
        return
    old = backup if milvus.has(backup) and _marked(milvus, backup, BACKUP_OF, source) else source
    if milvus.has(old):
        for alias in milvus.aliases(old):
            milvus.point_alias(alias, target)
    milvus.clear_properties(target, [SHADOW_OF])


def _marked(milvus: Milvus, name: str, key: str, value: str) -> bool:
    return milvus.property(name, key) == value
