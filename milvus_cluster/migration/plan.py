"""Plan how the label field gets into the collection, before anything changes.

`plan()` looks at the collection and the server's capabilities and returns a
Plan: which strategy, why, and every collection that will be created, renamed
or re-pointed. `--dry-run` prints `Plan.describe()`; the pipeline carries out
exactly that plan.

Strategies (`auto` takes the first that is safe here, in this order):
- in-place: the label field exists (every run after the first).
- add-field: Milvus >= 2.6 adds a nullable field to the live collection.
- dynamic: the collection has a dynamic field; the labels become keys of it.
- shadow: a copy of the collection with the label fields added (same schema,
  functions, indexes, partitions, properties, same primary keys), filled with
  the labels in one pass, verified, then switched in: aliases move to it, or,
  when clients use the name, the two collections swap names and the original
  stays as a backup. Where fields cannot be nullable (Milvus < 2.5) the copy gets
  the dynamic field instead and the labels are its keys: a field with a default
  value would crash Milvus 2.3.5 at the application's first insert after the switch.
Writes are partial upserts (key + labels) where the server has them, full-row
upserts otherwise. Nothing that would change a primary key is ever chosen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from milvus_cluster.core.labels import UNLABELLED, UNLABELLED_PROBABILITY
from milvus_cluster.errors import MigrationError, ParameterError
from milvus_cluster.milvus.capabilities import Capabilities
from milvus_cluster.milvus.describe import CollectionInfo

Strategy = Literal["in-place", "add-field", "dynamic", "shadow"]
Requested = Literal["auto", "add-field", "dynamic", "shadow"]
Declared = Literal["nullable", "default", "dynamic"]
SHADOW_OF = "milvus_cluster.shadow_of"  # property that marks a copy as ours
BACKUP_OF = "milvus_cluster.backup_of"  # property that marks a backup as ours
COPIED_FROM = "milvus_cluster.copied_from"  # on a labelled copy: the backup it came from
LABEL_FIELDS = "milvus_cluster.label_fields"  # the fields milvus-cluster made: "cluster_id,…"
LAYER_FIELDS = "milvus_cluster.layer_fields"  # which of them hold layers 1, 2, …: "cluster_id_1,…"
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
    declared: Declared = "nullable"  # how new label fields are declared
    passed_over: tuple[str, ...] = ()  # strategies not taken, and why
    overwritten: tuple[str, ...] = ()  # the user's fields the copy's labels go into
    layer_fields: tuple[str, ...] = ()  # INT64 fields of layers 1, 2, … (core/layers.py)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the labels go into: label, probability, layers."""
        return tuple(f for f in (self.label_field, self.prob_field) if f) + self.layer_fields

    @property
    def marker(self) -> dict[str, str]:
        """The properties that tell later runs these label fields are milvus-cluster's, and
        which of them hold the layers (so that assign, unlabel and relabel find them)."""
        layers = {LAYER_FIELDS: ",".join(self.layer_fields)} if self.layer_fields else {}
        return {LABEL_FIELDS: ",".join(self.fields)} | layers

    @property
    def has_labels(self) -> bool:
        """Whether rows may carry labels already: the field exists, or they are dynamic keys."""
        return self.strategy in ("in-place", "dynamic")

    def field_specs(self) -> list[dict[str, Any]]:
        """How the label fields are declared where they are created."""
        specs: list[tuple[str, str, float]] = [(self.label_field, "INT64", UNLABELLED)]
        if self.prob_field:
            specs.append((self.prob_field, "FLOAT", UNLABELLED_PROBABILITY))
        specs += [(name, "INT64", UNLABELLED) for name in self.layer_fields]
        specs = [spec for spec in specs if spec[0] not in self.overwritten]  # there already
        if self.declared == "nullable":
            return [{"name": name, "type": kind, "nullable": True} for name, kind, _ in specs]
        if self.declared == "default":
            return [{"name": name, "type": kind, "default_value": v} for name, kind, v in specs]
        return []  # keys of the dynamic field: nothing to declare

    @property
    def dynamic_copy(self) -> bool:
        """Whether the shadow copy keeps the labels as keys of its dynamic field."""
        return self.strategy == "shadow" and self.declared == "dynamic"

    @property
    def label_index(self) -> bool:
        """Whether the copy gets an index on the label field (not on a dynamic key; a
        field of the user's keeps the indexes it has)."""
        return not self.dynamic_copy and self.label_field not in self.overwritten

    @property
    def indexed_fields(self) -> tuple[str, ...]:
        """The fields the copy indexes: the label field and the layer fields (so that
        `cluster_id_1 == 3` is as fast as `cluster_id == 3`), where they are fields."""
        if self.dynamic_copy:
            return ()
        wanted = (self.label_field, *self.layer_fields)
        return tuple(name for name in wanted if name not in self.overwritten)

    def describe(self) -> str:
        """What applying the plan will do, one step a line."""
        via = f" (alias {self.requested!r})" if self.requested != self.collection else ""
        fields = " and ".join(f"{f!r}" for f in self.fields)
        lines = [f"Collection {self.collection!r}{via}: strategy {self.strategy}. {self.reason}"]
        lines += [f"  (not {why})" for why in self.passed_over]
        how = {
            "nullable": "nullable",
            "default": f"defaulting to {UNLABELLED} (not labelled yet)",
            "dynamic": "as keys of its dynamic field (filterable, not indexed)",
        }[self.declared]
        if self.strategy == "add-field":
            lines.append(f"- add {fields} to {self.collection!r}, {how}, and index them;")
        if self.strategy == "dynamic":
            lines.append(
                f"- write {fields} as keys of the dynamic field (filterable, not indexed);"
            )
        if self.strategy != "shadow":
            lines.append(f"- write {fields} on every row with a {self.write}.")
            return "\n".join(lines)
        indexed = " and ".join(map(repr, self.indexed_fields))
        index = f", and an index on {indexed}" if indexed else ""
        added = [f for f in self.fields if f not in self.overwritten]
        plus = (
            f"plus {' and '.join(repr(f) for f in added)}, {how}{index}"
            if added
            else "no new field"
        )
        lines += [
            f"- create {self.shadow!r}: the same schema, indexes, partitions and properties, "
            f"{plus};",
            "- copy every row into it with its label, keeping its primary key"
            + (
                f", the labels written over your {' and '.join(map(repr, self.overwritten))} "
                "(the original keeps their values: `rollback` brings them back);"
                if self.overwritten
                else ";"
            ),
            "- copy what the application wrote meanwhile, drop what it deleted;",
            "- verify: row count, key set and a checksum of every other field;",
        ]
        if self.swap_names:
            lines.append(
                f"- rename {self.collection!r} to {self.backup!r} (kept as a backup) and "
                f"{self.shadow!r} to {self.collection!r};"
            )
        target = self.collection if self.swap_names else self.shadow
        lines += [f"- point alias {alias!r} at {target!r};" for alias in self.aliases]
        if not self.swap_names:
            lines.append(f"- keep {self.collection!r} unchanged as the backup.")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"steps": self.describe().splitlines()[1:]}


def plan(
    info: CollectionInfo,
    capabilities: Capabilities,
    label_field: str,
    prob_field: str | None,
    strategy: Requested = "auto",
    overwrite: bool = False,
    layer_fields: Sequence[str] | None = None,
) -> Plan:
    """Choose how to write labels into `info`'s collection (see the module's strategies).
    An existing label field is written only when milvus-cluster made it (the LABEL_FIELDS
    property, or a catalog from earlier runs: `overwrite` is then true too) or when
    `overwrite` says the user allows it. `layer_fields` name the fields of the coarser
    layers (None: those the collection's LAYER_FIELDS marker names, if any); they go
    through the label field's checks and ways in."""
    layers = tuple(recorded_layer_fields(info) if layer_fields is None else layer_fields)
    check_field_names(info, label_field, prob_field, layers)
    existing = {f.name: f.type for f in info.fields}
    _check_type(existing, label_field, LABEL_TYPES["label"], info.name)
    if prob_field:
        _check_type(existing, prob_field, LABEL_TYPES["probability"], info.name)
    for name in layers:
        _check_type(existing, name, LABEL_TYPES["label"], info.name)
    check_ours(info, label_field, prob_field, overwrite, layers)
    write = "partial upsert" if capabilities.partial_upsert else "full-row upsert"
    common: dict[str, Any] = dict(
        collection=info.name,
        requested=info.requested,
        label_field=label_field,
        write=write,
        layer_fields=layers,
    )
    theirs = _theirs(info, label_field, prob_field, layers)
    if theirs:  # allowed by `overwrite` (check_ours): their values stay in the original
        why_not = _unusable("shadow", info, capabilities)
        if why_not:
            raise MigrationError(
                f"{theirs[0]!r} is a field of yours, and its values would be lost without a "
                f"copy of {info.name!r}, which cannot be made here: {why_not}."
            )
        declared = _declared(capabilities, "shadow")
        reason = (
            f"{' and '.join(map(repr, theirs))} of yours get the labels in a copy, so that "
            "the original keeps their values."
        )
        made = _planned("shadow", info, common | {"prob_field": prob_field}, declared, ())
        return replace(made, reason=reason, overwritten=theirs)
    if label_field in existing:
        missing = [name for name in layers if name not in existing]
        if missing and not info.dynamic:
            raise MigrationError(
                f"{info.name!r} has the label field {label_field!r} but not "
                f"{', '.join(map(repr, missing))}, and this Milvus cannot add a field to it "
                "(the layer fields come with the first label, in its copy); run `rollback -c "
                f"{info.requested}` and label it again with --layers, or leave out --layers."
            )
        if info.auto_id and not capabilities.upsert_keeps_auto_id:
            raise MigrationError(_no_upsert_on_auto_id(info.name, capabilities))
        kept = prob_field if prob_field in existing else None
        note = "" if kept or not prob_field else f" ({prob_field!r} is absent and is skipped)"
        reason = f"The label field {label_field!r} exists, so labels are written in place{note}."
        if missing:  # the collection has a dynamic field: there they go
            reason += f" {', '.join(map(repr, missing))} become keys of the dynamic field."
        return Plan(**common, prob_field=kept, strategy="in-place", reason=reason)
    passed_over: list[str] = []
    candidates: tuple[Strategy, ...] = (
        ("add-field", "dynamic", "shadow") if strategy == "auto" else (strategy,)
    )
    for candidate in candidates:
        why_not = _unusable(candidate, info, capabilities)
        if why_not is None:
            declared = _declared(capabilities, candidate)
            return _planned(
                candidate, info, common | {"prob_field": prob_field}, declared, tuple(passed_over)
            )
        passed_over.append(f"{candidate}: {why_not}")
    raise MigrationError(
        f"No safe way to add {label_field!r} to {info.name!r} on this Milvus "
        f"({capabilities.version}): {'; '.join(passed_over)}. Options: upgrade Milvus (2.6 can "
        "add fields), enable the dynamic field, or label a copy you make yourself."
    )


def _declared(capabilities: Capabilities, strategy: Strategy) -> Declared:
    """Nullable where the server has it; else a default value where it is safe; else
    (Milvus < 2.5) no declared field at all: keys of the dynamic field. Milvus 2.3.5
    takes default values, but its proxy panics (`undefined data type Int64` in
    fillWithDefaultValue, a crash loop) when a client whose cached schema predates
    the rename inserts without the field, so capabilities count default values only
    from 2.5 on. That is decided by version, never probed: the probe would crash the
    server it asks."""
    if capabilities.nullable or strategy == "add-field":
        return "nullable"
    return "default" if capabilities.default_value else "dynamic"


def _planned(
    strategy: Strategy,
    info: CollectionInfo,
    common: dict[str, Any],
    declared: Declared,
    passed_over: tuple[str, ...],
) -> Plan:
    reasons = {
        "add-field": "This server adds fields to live collections: no copy is needed.",
        "dynamic": "The collection has a dynamic field: the labels go there, no copy needed.",
        "shadow": "This Milvus cannot add a field to an existing collection, so the rows "
        "are copied into a collection that has it.",
    }
    if strategy != "shadow":
        return Plan(
            **common,
            strategy=strategy,
            reason=reasons[strategy],
            declared=declared,
            passed_over=passed_over,
        )
    swap = not info.via_alias
    return Plan(
        **common | {"write": "copy"},
        strategy="shadow",
        reason=reasons["shadow"],
        shadow=shadow_name(info.name),
        backup=backup_name(info.name) if swap else info.name,
        aliases=tuple(sorted(set(info.aliases) | ({info.requested} if info.via_alias else set()))),
        swap_names=swap,
        declared=declared,
        passed_over=passed_over,
    )


def _unusable(strategy: Strategy, info: CollectionInfo, capabilities: Capabilities) -> str | None:
    """Why `strategy` is not safe for this collection on this server (None: it is)."""
    upserts = strategy in ("add-field", "dynamic")
    if strategy == "add-field" and not capabilities.add_field:
        return "this server cannot add a field to a collection (Milvus 2.6 can)"
    if strategy == "dynamic" and not info.dynamic:
        return "the collection has no dynamic field"
    if upserts and info.auto_id and not capabilities.upsert_keeps_auto_id:
        return "an upsert here would give auto_id rows new primary keys"
    if strategy == "shadow" and info.auto_id and not capabilities.insert_auto_id:
        return "a copy here cannot keep the auto_id primary keys"
    return None


def _no_upsert_on_auto_id(collection: str, capabilities: Capabilities) -> str:
    return (
        f"{collection!r} has auto_id keys and an upsert on this Milvus ({capabilities.version}) "
        "would give rows new primary keys, so labels cannot be rewritten in place; label a "
        "copy, or upgrade Milvus."
    )


FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")  # what Milvus takes as a field name


def _theirs(
    info: CollectionInfo, label_field: str, prob_field: str | None, layers: Sequence[str] = ()
) -> tuple[str, ...]:
    """The label fields that exist and that milvus-cluster did not make (no marker)."""
    ours = set((info.properties.get(LABEL_FIELDS) or "").split(","))
    given = (label_field, prob_field, *layers)
    return tuple(f for f in given if f and info.field(f) and f not in ours)


def recorded_layer_fields(info: CollectionInfo) -> tuple[str, ...]:
    """The layer fields the collection's marker names (empty: none)."""
    return tuple(f for f in (info.properties.get(LAYER_FIELDS) or "").split(",") if f)


def layer_field_names(
    info: CollectionInfo, label_field: str, count: int, given: Sequence[str] | None
) -> tuple[str, ...]:
    """The names of `count` layer fields: those given (--layer-fields), else those the
    collection records when there are as many, else `<label field>_1`, `_2`, … With
    `count` 0 and none given, those the collection records: once written, the layer
    fields are kept current by every run (a stale layer would no longer nest)."""
    if given is not None:
        if count and len(given) != count:
            raise ParameterError(
                f"--layer-fields names {len(given)} fields, but --layers is {count}; give as "
                "many names as layers (or leave out one of the two)."
            )
        return tuple(given)
    recorded = recorded_layer_fields(info)
    if not count or len(recorded) == count:
        return recorded
    return tuple(f"{label_field}_{layer}" for layer in range(1, count + 1))


def check_ours(
    info: CollectionInfo,
    label_field: str,
    prob_field: str | None,
    overwrite: bool,
    layers: Sequence[str] = (),
) -> None:
    """Refuse to write into a field of the user's that only shares a name with ours."""
    theirs = _theirs(info, label_field, prob_field, layers)
    if theirs and not overwrite:
        raise MigrationError(
            f"{info.name!r} has a field {theirs[0]!r} that milvus-cluster did not make; "
            "choose another --label-field/--prob-field, or pass --overwrite-field to write "
            "the labels over its values in a copy (the original keeps them, for rollback)."
        )


def check_field_names(
    info: CollectionInfo, label_field: str, prob_field: str | None, layers: Sequence[str] = ()
) -> None:
    """Refuse label field names that Milvus cannot take or that would overwrite the
    collection's own key or vectors, or one another, before anything is created or
    written."""
    given = [("--label-field", label_field)] + (
        [("--prob-field", prob_field)] if prob_field else []
    )
    given += [("--layer-fields", name) for name in layers]
    for option, name in given:
        if not FIELD_NAME.fullmatch(name):
            raise ParameterError(
                f"{option} {name!r} is not a name Milvus takes for a field (letters, digits "
                "and _, not starting with a digit, at most 255); choose another."
            )
        spec = info.field(name)
        if spec is not None and (spec.is_primary or spec.type.endswith("VECTOR")):
            what = "primary key" if spec.is_primary else f"{spec.type} field"
            raise ParameterError(
                f"{option} {name!r} is the collection's {what}, which milvus-cluster never "
                "writes; choose another name."
            )
    if prob_field and prob_field == label_field:
        raise ParameterError(
            f"--label-field and --prob-field are both {label_field!r}; give them different "
            "names (or --prob-field '' for none)."
        )
    names = [name for _, name in given]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ParameterError(
            f"{', '.join(map(repr, repeated))} is given for more than one of --label-field, "
            "--prob-field and --layer-fields; give every field its own name."
        )


def _check_type(existing: dict[str, str], name: str, wanted: str, collection: str) -> None:
    if name in existing and existing[name] != wanted:
        raise MigrationError(
            f"Collection {collection!r} already has a field {name!r} of type {existing[name]}, "
            f"where milvus-cluster writes {wanted}; choose another name with --label-field "
            "or --prob-field."
        )
