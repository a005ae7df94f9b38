"""Rollback to, and cleanup of, what the shadow strategy leaves behind.

Rollback keeps what the application wrote since the label: the labelled copy's rows
are written back into the backup (copy.py's Mirror, label fields left out) before
clients are switched back, and once more after, for writes made meanwhile.

After a shadow migration the labelled collection carries COPIED_FROM, the name
of the collection it was copied from (the backup): `<name>_mc_backup` when the
two swapped names, the original collection itself when an alias moved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from milvus_cluster.core.keys import as_key_array
from milvus_cluster.errors import MigrationError
from milvus_cluster.migration.copy import Keys, Mirror
from milvus_cluster.migration.plan import (
    BACKUP_OF,
    COPIED_FROM,
    LABEL_FIELDS,
    SHADOW_OF,
    backup_name,
    shadow_name,
)
from milvus_cluster.migration.shadow import finish_switch
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.probe import PROBE_PREFIX, stale_probes


@dataclass(frozen=True)
class Rollback:
    collection: str  # what clients use (name or alias), now the backup again
    restored: str  # the collection they reach now
    set_aside: str  # the labelled copy, kept until `cleanup`
    carried_over: int = 0  # rows the application wrote to the labelled copy, carried back

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rollback(milvus: Milvus, name: str) -> Rollback:
    """Point `name` (a collection or an alias) back at the collection it was copied from."""
    finish_switch(milvus, name)
    if not milvus.has(name):
        raise MigrationError(f"Collection {name!r} does not exist; nothing to roll back.")
    labelled = milvus.resolve(name)
    backup = milvus.property(labelled, COPIED_FROM)
    if not backup or not milvus.has(backup):
        raise MigrationError(
            f"{name!r} has no backup to roll back to (it was labelled in place, or its backup "
            "was cleaned up)."
        )
    mirror = mirror_back(milvus, labelled, backup)
    for collection in (labelled, backup):  # read now; clients reach the backup in a moment
        if not milvus.loaded(collection):  # (a new process finds Milvus Lite's released)
            milvus.load(collection)
    mirror.learn(backup)
    carried = mirror.catch_up(labelled, backup)  # what the application wrote since the label
    aliases = milvus.aliases(labelled)
    if labelled == name:  # the names were swapped: swap them back
        aside = shadow_name(name)
        if milvus.has(aside):
            cleanup = milvus.hint(f"cleanup -c {name} --yes")
            raise MigrationError(f"{aside!r} exists; run `{cleanup}` first.")
        milvus.set_properties(labelled, {SHADOW_OF: name})
        milvus.rename(labelled, aside)
        milvus.rename(backup, name)
        milvus.clear_properties(name, [BACKUP_OF])
        milvus.load(name)
        restored = name
    else:  # clients came through aliases: point them back
        aside, restored = labelled, backup
        milvus.set_properties(labelled, {SHADOW_OF: backup})
    for alias in aliases:
        milvus.point_alias(alias, restored)
    milvus.clear_properties(aside, [COPIED_FROM])
    if not milvus.loaded(aside):  # a renamed collection comes back released
        milvus.load(aside)
    carried += mirror.carry_over(aside, restored)  # what reached the copy as we switched
    milvus.release(aside)  # nobody reads it any more; `cleanup` drops it
    return Rollback(name, restored, aside, carried)


def mirror_back(milvus: Milvus, labelled: str, backup: str) -> Mirror:
    """A mirror that writes the labelled copy's rows back into its backup without the
    labels (the fields the copy has and the backup has not, and the dynamic keys the
    marker names). A field of the user's that the labels went into (`--overwrite-field`)
    keeps, in the backup, its values from before the label; in a row the application
    wrote since, the value the application gave it."""
    copy, original = milvus.describe(labelled), milvus.describe(backup)
    marked = frozenset(filter(None, (copy.property(LABEL_FIELDS) or "").split(",")))
    added = frozenset(f.name for f in copy.fields) - {f.name for f in original.fields}
    labels = added | {name for name in marked if original.field(name) is None}
    keys = Keys(copy.primary.name, copy.primary.type, copy.auto_id)

    def without_labels(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k not in labels} for row in rows]

    return Mirror(milvus, keys, labels | marked, copy.function_outputs, without_labels)


def leftovers(milvus: Milvus, name: str) -> list[str]:
    """Collections that milvus-cluster made or kept for `name` and that nothing uses:
    an unfinished or rolled-back copy, the backup of a finished migration, and the
    scratch collections of a capability probe that was killed. Only collections whose
    marker properties say they are ours (or that our copy records as its source)."""
    finish_switch(milvus, name)
    found = []
    live = milvus.resolve(name) if milvus.has(name) else name
    for candidate in dict.fromkeys((shadow_name(live), shadow_name(name))):
        ours = milvus.has(candidate) and milvus.property(candidate, SHADOW_OF)
        if ours and candidate != live:
            found.append(candidate)
    backup = milvus.property(live, COPIED_FROM) if milvus.has(live) else None  # ours
    named = backup_name(name)  # ours only when marked so: a user may have such a name
    marked = milvus.has(named) and milvus.property(named, BACKUP_OF) == name
    backups: tuple[str | None, ...] = (backup, named if marked else None)
    for kept in backups:
        if kept and kept != live and kept not in found and milvus.has(kept):
            found += [] if milvus.aliases(kept) else [kept]
    return found + stale_probes(milvus)


def cleanup(milvus: Milvus, name: str, drop: bool, discard: bool = False) -> list[str]:
    """The leftovers of `name`, dropped when `drop` is true. A leftover that holds rows
    the collection clients reach has not (the application deleted them since, or wrote
    to the leftover directly) is dropped only with `discard`: otherwise the whole
    cleanup is refused, before anything is dropped, with the count."""
    found = leftovers(milvus, name)
    if drop and not discard and milvus.has(name):
        live = milvus.resolve(name)
        for collection in found:
            if collection.startswith(PROBE_PREFIX):
                continue
            extra = rows_not_in(milvus, collection, live)
            if extra:
                raise MigrationError(
                    f"{collection!r} holds {extra:,} rows that {live!r} has not (deleted there "
                    "since the label, or written to the copy directly); nothing was dropped; "
                    f"`milvus-cluster cleanup -c {name} --yes --discard-changes` drops them too."
                )
    if drop:
        for collection in found:
            milvus.drop(collection)
        if milvus.has(name):
            live = milvus.resolve(name)
            if milvus.property(live, COPIED_FROM) in found:
                milvus.clear_properties(live, [COPIED_FROM])
    return found


def rows_not_in(milvus: Milvus, leftover: str, live: str) -> int:
    """How many keys of `leftover` `live` does not have (key-only passes over both)."""
    pk = milvus.describe(live).primary.name
    with milvus.loaded_for_run(leftover):
        theirs = as_key_array(milvus.keys(leftover, pk))
    with milvus.loaded_for_run(live):
        ours = as_key_array(milvus.keys(live, pk))
    return len(np.setdiff1d(theirs, ours))
