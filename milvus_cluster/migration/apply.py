"""Carry out a plan: the one place that branches on the strategy.

The contract: a Plan from plan.py, the collection it was made for, and the labels
of the rows read (LabelColumns). Afterwards the collection (or, for the shadow
strategy, the copy switched in where clients look) has the label fields, every
row read carries its label, and the label field is indexed where it is a field.
"""

from __future__ import annotations

from collections.abc import Callable

from milvus_cluster.checkpoints import checkpoint
from milvus_cluster.migration.plan import Plan
from milvus_cluster.migration.shadow import migrate
from milvus_cluster.migration.write import LabelColumns, write_in_place
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo


def apply(
    milvus: Milvus,
    info: CollectionInfo,
    plan: Plan,
    columns: LabelColumns,
    scalar_index: str,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write `columns` into `info`'s collection the way `plan` says (`scalar_index`: the
    index kind the server takes for an INT64 field)."""
    if plan.strategy == "shadow":
        migrate(milvus, info, plan, columns, scalar_index, progress)
        return
    if plan.strategy == "add-field":
        for spec in plan.field_specs():
            milvus.add_field(info.name, spec["name"], spec["type"])
    if plan.strategy in ("add-field", "dynamic"):
        milvus.set_properties(info.name, plan.marker)  # the fields are ours from now on
    write_in_place(milvus, info, plan, columns, progress)
    checkpoint("written")
    if plan.strategy != "dynamic":  # a dynamic key has no index of its own
        added = plan.strategy == "add-field"  # `info` predates the fields it added
        layers = [name for name in plan.layer_fields if added or info.field(name)]
        for name in (plan.label_field, *layers):
            milvus.ensure_scalar_index(info.name, name, scalar_index)
