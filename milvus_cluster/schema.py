"""Plan how the label field gets into the collection, before anything changes.

`plan()` looks at the collection and the server's capabilities and returns a
Plan: which strategy, why, and every collection that will be created, renamed
or re-pointed. `--dry-run` prints `Plan.describe()`; the pipeline carries out
exactly that plan.

Strategies:
- in-place: the label field exists; labels are written with partial upserts
  (key + label) where the server has them, full-row upserts otherwise.
- shadow: a copy of the collection with the label fields added (same schema,
  functions, indexes, partitions, properties, same primary keys), filled with
  the labels in one pass, verified, then switched in: aliases move to it, or,
  when clients use the name, the two collections swap names and the original
  stays as a backup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .capabilities import Capabilities
from .collection import CollectionInfo
from .errors import MigrationError
from .fields import type_name

Strategy = Literal["in-place", "shadow"]
SHADOW_OF = "milvus_cluster.shadow_of"  # property that marks a copy as ours
BACKUP_OF = "milvus_cluster.backup_of"  # property that marks a backup as ours
LABEL_TYPES = {"label": "INT64", "probability": "FLOAT"}


def shadow_name(collection: str) -> str:
    return f"{collection}_mc_shadow"


def backup_name(collection: str) -> str:
    return f"{collection}_mc_backup"


@dataclass(frozen=True)
class Plan:
    collection: str
    requested: str
    strategy: Strategy
    reason: str
    label_field: str
    prob_field: str | None
    write: Literal["partial upsert", "full-row upsert", "copy"]
    shadow: str | None = None
    backup: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)
    swap_names: bool = False

    def describe(self) -> str:
        """What applying the plan will do, one step a line."""
        via = f" (alias {self.requested!r})" if self.requested != self.collection else ""
        fields = " and ".join(f"{f!r}" for f in (self.label_field, self.prob_field) if f)
        lines = [f"Collection {self.collection!r}{via}: strategy {self.strategy}. {self.reason}"]
        if self.strategy == "in-place":
            lines.append(f"- write {fields} on every row with a {self.write}.")
            return "\n".join(lines)
        lines.append(
            f"- create {self.shadow!r}: the same schema, indexes, partitions and properties, "
            f"plus nullable {fields}, and an index on {self.label_field!r};"
        )
        lines.append("- copy every row into it with its label, keeping its primary key;")
        lines.append("- verify: row count, key set and a checksum of every other field;")
        if self.swap_names:
            lines.append(
                f"- rename {self.collection!r} to {self.backup!r} (kept as a backup) and "
                f"{self.shadow!r} to {self.collection!r};"
            )
        for alias in self.aliases:
            target = self.collection if self.swap_names else self.shadow
            lines.append(f"- point alias {alias!r} at {target!r};")
        if not self.swap_names:
            lines.append(f"- keep {self.collection!r} unchanged as the backup.")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"steps": self.describe().splitlines()[1:]}


def plan(
    info: CollectionInfo,
    fields: list[dict[str, Any]],
    capabilities: Capabilities,
    label_field: str,
    prob_field: str | None,
) -> Plan:
    """Choose how to write labels into `info`'s collection (see the module's strategies)."""
    existing = {f["name"]: type_name(f["type"]) for f in fields}
    _check_type(existing, label_field, LABEL_TYPES["label"], info.name)
    if prob_field:
        _check_type(existing, prob_field, LABEL_TYPES["probability"], info.name)
    write = "partial upsert" if capabilities.partial_upsert else "full-row upsert"
    common = dict(collection=info.name, requested=info.requested, label_field=label_field)
    if label_field in existing:
        kept = prob_field if prob_field in existing else None
        note = "" if kept or not prob_field else f" ({prob_field!r} is absent and is skipped)"
        return Plan(
            **common,
            prob_field=kept,
            strategy="in-place",
            write=write,
            reason=f"The label field {label_field!r} exists, so labels are written in place{note}.",
        )
    if not capabilities.nullable:
        raise MigrationError(
            f"This Milvus ({capabilities.version}) has no nullable fields, so a new label field "
            "would break inserts that do not send it; upgrade Milvus to 2.5 or later."
        )
    swap = not info.via_alias
    return Plan(
        **common,
        prob_field=prob_field,
        strategy="shadow",
        write="copy",
        reason=(
            f"{'Milvus Lite' if capabilities.lite else 'This server'} cannot add a field to an "
            "existing collection, so the rows are copied into a collection that has it."
        ),
        shadow=shadow_name(info.name),
        backup=backup_name(info.name) if swap else info.name,
        aliases=tuple(sorted(set(info.aliases) | ({info.requested} if info.via_alias else set()))),
        swap_names=swap,
    )


def _check_type(existing: dict[str, str], name: str, wanted: str, collection: str) -> None:
    if name in existing and existing[name] != wanted:
        raise MigrationError(
            f"Collection {collection!r} already has a field {name!r} of type {existing[name]}, "
            f"where milvus-cluster writes {wanted}; choose another name with --label-field "
            "or --prob-field."
        )
