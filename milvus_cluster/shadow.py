"""The shadow strategy: copy the collection with its labels, verify, switch.

Every step can be interrupted and the next run finishes the job: a copy that
did not complete is dropped and made again (it is only ever ours: it carries
the SHADOW_OF property), and a switch that stopped half-way is completed by
`finish_switch` before anything else looks at the collection.
"""

from __future__ import annotations

from collections.abc import Callable

from .collection import CollectionInfo, Milvus
from .errors import MigrationError, WriteError
from .keys import as_key_array, same_key_set
from .schema import BACKUP_OF, SHADOW_OF, Plan, backup_name, shadow_name
from .verify import Fingerprint, Fingerprinter
from .write import LabelColumns, with_labels

Progress = Callable[[int], None]


def migrate(
    milvus: Milvus,
    info: CollectionInfo,
    plan: Plan,
    columns: LabelColumns,
    scalar_index: str,
    progress: Progress | None = None,
) -> int:
    """Carry out a shadow plan; returns the rows copied."""
    assert plan.shadow and plan.backup
    clear_leftovers(milvus, plan)
    label_fields = [(plan.label_field, "INT64")]
    if plan.prob_field:
        label_fields.append((plan.prob_field, "FLOAT"))
    properties = {SHADOW_OF: info.name}
    if info.auto_id:  # keep auto_id for the application, yet insert the keys we have
        properties["allow_insert_auto_id"] = "true"
    milvus.create_like(info.name, plan.shadow, label_fields, properties,
                       (plan.label_field, scalar_index))  # fmt: skip
    source = copy_rows(milvus, info, plan, columns, progress)
    verify_copy(milvus, info, plan, source)
    switch(milvus, info, plan)
    return source.rows


def clear_leftovers(milvus: Milvus, plan: Plan) -> None:
    """Drop our own unfinished copy; refuse names that belong to someone else."""
    assert plan.shadow and plan.backup
    if milvus.has(plan.shadow):
        if milvus.describe(plan.shadow).get("properties", {}).get(SHADOW_OF) != plan.collection:
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


def copy_rows(
    milvus: Milvus,
    info: CollectionInfo,
    plan: Plan,
    columns: LabelColumns,
    progress: Progress | None,
) -> Fingerprint:
    """Every row of the source into the shadow with its labels; the source's fingerprint."""
    assert plan.shadow
    computed = milvus.function_outputs(info.name)
    fingerprint = Fingerprinter(leave_out=computed)
    for partition in milvus.manual_partitions(info.name):
        for batch in milvus.iterate(info.name, ["*"], partition=partition):
            rows = [{k: v for k, v in row.items() if k not in computed} for row in batch]
            fingerprint.add(rows)
            milvus.insert(plan.shadow, with_labels(rows, info.pk, columns, plan), partition)
            if progress:
                progress(len(rows))
    milvus.flush(plan.shadow)
    return fingerprint.result()


def verify_copy(milvus: Milvus, info: CollectionInfo, plan: Plan, source: Fingerprint) -> None:
    """Count, key set and fingerprint of the copy must equal the source's."""
    assert plan.shadow
    leave_out = {plan.label_field, plan.prob_field} | milvus.function_outputs(info.name)
    fingerprint = Fingerprinter(leave_out={f for f in leave_out if f})
    keys: list = []
    for batch in milvus.iterate(plan.shadow, ["*"]):
        fingerprint.add(batch)
        keys.extend(row[info.pk] for row in batch)
    copy = fingerprint.result()
    source_keys = []
    for batch in milvus.iterate(info.name, [info.pk]):
        source_keys.extend(row[info.pk] for row in batch)
    if copy != source or not same_key_set(as_key_array(keys), as_key_array(source_keys)):
        milvus.drop(plan.shadow)
        raise WriteError(
            f"The copy of {info.name!r} did not match it ({copy} against {source}); the "
            "collection may have changed during the copy. Nothing was switched; run again."
        )


def switch(milvus: Milvus, info: CollectionInfo, plan: Plan) -> None:
    """Put the copy where clients look: swap names, then move every alias."""
    assert plan.shadow and plan.backup
    if plan.swap_names:
        milvus.set_properties(info.name, {BACKUP_OF: info.name})
        milvus.rename(info.name, plan.backup)  # aliases follow the backup...
        milvus.rename(plan.shadow, info.name)
        target = info.name
        milvus.load(target)  # a renamed collection comes back released
    else:
        target = plan.shadow
    for alias in plan.aliases:  # ...until they are pointed at the labelled collection
        milvus.point_alias(alias, target)
    milvus.drop_properties(target, [SHADOW_OF])


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
    target = milvus.describe(name)["collection_name"]
    source = milvus.describe(target).get("properties", {}).get(SHADOW_OF)
    if source is None:
        return
    old = backup if milvus.has(backup) and _marked(milvus, backup, BACKUP_OF, source) else source
    if milvus.has(old):
        for alias in milvus.aliases(old):
            milvus.point_alias(alias, target)
    milvus.drop_properties(target, [SHADOW_OF])


def _marked(milvus: Milvus, name: str, key: str, value: str) -> bool:
    return milvus.describe(name).get("properties", {}).get(key) == value
