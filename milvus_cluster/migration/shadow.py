"""The shadow strategy: copy the collection with its labels, catch up, verify, switch,
carry over (the copy's rows and their catch-up are copy.py's).

Every step can be interrupted and the next run finishes the job: a copy that
did not complete is dropped and made again (it is only ever ours: it carries
the SHADOW_OF property), and a switch that stopped half-way is completed by
`finish_switch` before anything else looks at the collection.
"""

from __future__ import annotations

from collections.abc import Callable

from milvus_cluster.checkpoints import checkpoint
from milvus_cluster.errors import MigrationError
from milvus_cluster.migration.copy import Mirror
from milvus_cluster.migration.plan import (
    BACKUP_OF,
    COPIED_FROM,
    SHADOW_OF,
    Plan,
    backup_name,
    shadow_name,
)
from milvus_cluster.migration.write import LabelColumns
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo

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
    properties = {SHADOW_OF: info.name, COPIED_FROM: plan.backup, **plan.marker}
    if info.auto_id:  # keep auto_id for the application, yet insert the keys we have
        properties["allow_insert_auto_id"] = "true"
    indexes = [(field, scalar_index) for field in plan.indexed_fields]
    milvus.create_like(
        info.name, plan.shadow, plan.field_specs(), properties, indexes, plan.dynamic_copy
    )
    copy = Mirror.for_copy(milvus, info, plan, columns)
    copy.copy_all(info.name, plan.shadow, progress)
    checkpoint("copied")
    # The application may write meanwhile: on a server from any process, on Milvus Lite
    # from another thread of this one.
    copy.catch_up(info.name, plan.shadow)
    copy.verify(info.name, plan.shadow)
    checkpoint("verified")
    switch(milvus, info, plan)
    labelled = plan.collection if plan.swap_names else plan.shadow
    with milvus.loaded_for_run(plan.backup):  # a renamed collection comes back released
        copy.carry_over(plan.backup, labelled)
    checkpoint("carried-over")
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
            f"`{milvus.hint(f'cleanup -c {plan.requested}')}`) and run again."
        )


def _collision(name: str, collection: str) -> str:
    return (
        f"A collection {name!r} exists that milvus-cluster did not make, where the copy of "
        f"{collection!r} would go; rename or drop it, and run again."
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
