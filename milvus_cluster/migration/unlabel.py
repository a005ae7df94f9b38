"""Unlabel, its migration half: the label fields' values cleared, and what must stay.

Only the fields that milvus-cluster's LABEL_FIELDS marker names are written, so a
user's own field or row is never touched: their values become null, or "not labelled
yet" (-2) where the fields cannot be null. What stays, because Milvus cannot take it
away or because it is still of use: the label fields themselves (Milvus cannot drop a
field; their marker stays with them, so that a later `label` writes into them again),
keys of the dynamic field (set to null), and a backup from a labelling through a copy
(`rollback` brings the collection back as it was). The catalog is jobs/' business:
commands/unlabel.py drops it.
"""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.keys import KeyIndex, as_key_array
from milvus_cluster.migration.plan import COPIED_FROM, LABEL_FIELDS, plan, recorded_layer_fields
from milvus_cluster.migration.write import NoLabels, write_in_place
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo

OURS = "milvus_cluster."  # the prefix of every property milvus-cluster sets


def label_fields(info: CollectionInfo) -> list[str]:
    """The label fields milvus-cluster made, as its marker names them, where they are."""
    marked = [f for f in (info.properties.get(LABEL_FIELDS) or "").split(",") if f]
    return [f for f in marked if info.field(f) is not None or info.dynamic]


def emptied_properties(info: CollectionInfo) -> list[str]:
    """milvus-cluster's marker properties that were cleared (Milvus 2.3 empties rather
    than drops): leftovers that mean nothing any more."""
    return [k for k, v in info.properties.items() if k.startswith(OURS) and not v]


def clear_labels(milvus: Milvus, info: CollectionInfo, fields: list[str]) -> int:
    """Null (or the placeholder) in `fields` of every row, written in place; the rows
    written."""
    layers = [f for f in recorded_layer_fields(info) if f in fields]
    label_field, *rest = [f for f in fields if f not in layers]
    prob_field = rest[0] if rest else None
    the_plan = plan(
        info, milvus.capabilities(), label_field, prob_field, overwrite=True, layer_fields=layers
    )
    keys = as_key_array(milvus.keys(info.name, info.pk))
    if not len(keys):
        return 0
    columns = NoLabels(KeyIndex(keys), np.zeros(0, np.int64), np.zeros(0, np.float32))
    return write_in_place(milvus, info, the_plan, columns)


def what_stays(milvus: Milvus, info: CollectionInfo, fields: list[str]) -> list[str]:
    """What unlabel leaves in place, and why, in words."""
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
