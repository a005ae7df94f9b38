"""Unlabel: take away what labelling added to a collection, and nothing of the user's.

What goes: the catalog (`<name>_mc_catalog`, only when its marker says it is the
catalog of `name`), the label values (null, or "not labelled yet" -2 where the fields
cannot be null), and milvus-cluster's emptied marker properties. What stays, because
Milvus cannot take it away or because it is still of use: the label fields themselves
(Milvus cannot drop a field; their LABEL_FIELDS marker stays with them, so that a later
`label` writes into them again), keys of the dynamic field (set to null), and a backup
from a labelling through a copy (`rollback` brings the collection back as it was). A
user's own field or row is never touched: only fields the marker names are written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from milvus_cluster.core.keys import KeyIndex, as_key_array
from milvus_cluster.errors import LockHeld
from milvus_cluster.jobs.catalog import CATALOG_OF, Catalog, catalog_name
from milvus_cluster.jobs.run import holder_of
from milvus_cluster.migration.plan import COPIED_FROM, LABEL_FIELDS, plan
from milvus_cluster.migration.write import NoLabels, write_in_place
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo

OURS = "milvus_cluster."  # the prefix of every property milvus-cluster sets


@dataclass(frozen=True)
class Unlabelled:
    collection: str  # the name or alias given
    catalog: str | None  # the catalog dropped (or that would be)
    cleared: list[str]  # label fields whose values were cleared (or would be)
    rows: int  # rows whose label fields were written
    properties: list[str]  # emptied marker properties removed (or that would be)
    kept: list[str] = field(default_factory=list)  # what stays, and why
    done: bool = False  # False: only listed (no --yes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unlabel(milvus: Milvus, info: CollectionInfo, drop: bool) -> Unlabelled:
    """Remove what labelling added to `info`'s collection (see the module); with `drop`
    false, only say what that would be."""
    catalog = _our_catalog(milvus, info.requested)
    fields = [f for f in _marked_fields(info) if info.field(f) is not None or info.dynamic]
    empty = [k for k, v in info.properties.items() if k.startswith(OURS) and not v]
    kept = _kept(milvus, info, fields)
    rows = 0
    if drop:
        if catalog is not None:
            _check_unlocked(milvus, info.requested)
        if fields:
            rows = _clear_values(milvus, info, fields)
        if empty and not milvus.drop_properties(info.name, empty):
            names = ", ".join(empty)
            kept.append(
                f"the emptied properties {names} stay: this server cannot drop a property "
                "(Milvus 2.3); empty, they read as unset"
            )
            empty = []
        if catalog is not None:
            milvus.drop(catalog)
    return Unlabelled(info.requested, catalog, fields, rows, empty, kept, drop)


def _our_catalog(milvus: Milvus, name: str) -> str | None:
    catalog = catalog_name(name)
    ours = milvus.has(catalog) and milvus.property(catalog, CATALOG_OF) == name
    return catalog if ours else None


def _marked_fields(info: CollectionInfo) -> list[str]:
    """The label fields milvus-cluster made, as its marker property names them."""
    return [f for f in (info.properties.get(LABEL_FIELDS) or "").split(",") if f]


def _check_unlocked(milvus: Milvus, name: str) -> None:
    catalog = Catalog.open(milvus, name)
    holder = holder_of(catalog) if catalog is not None else None
    if holder is not None:
        raise LockHeld(
            f"{holder.describe()} holds the lock of {name!r}; unlabel did nothing and can "
            "run once that job has ended."
        )


def _clear_values(milvus: Milvus, info: CollectionInfo, fields: list[str]) -> int:
    """Null (or the placeholder) in the label fields of every row, written in place."""
    label_field, prob_field = fields[0], (fields[1] if len(fields) > 1 else None)
    the_plan = plan(info, milvus.capabilities(), label_field, prob_field, overwrite=True)
    keys = as_key_array(milvus.keys(info.name, info.pk))
    if not len(keys):
        return 0
    columns = NoLabels(KeyIndex(keys), np.zeros(0, np.int64), np.zeros(0, np.float32))
    return write_in_place(milvus, info, the_plan, columns)


def _kept(milvus: Milvus, info: CollectionInfo, fields: list[str]) -> list[str]:
    kept = []
    schema = [f for f in fields if info.field(f) is not None]
    if schema:
        kept.append(
            f"the fields {', '.join(schema)} stay, their values cleared: Milvus cannot drop a "
            "field from a collection (their marker stays, so a later label writes into them)"
        )
    if info.dynamic and len(schema) < len(fields):
        kept.append("the keys of the dynamic field stay, set to null")
    backup = info.properties.get(COPIED_FROM)
    if backup and milvus.has(backup):
        kept.append(
            f"the backup {backup!r} stays: `rollback` brings back the collection as it was "
            "before labelling, `cleanup --yes` drops it"
        )
    return kept
