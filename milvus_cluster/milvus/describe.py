"""Typed descriptions of a collection, made from the dictionaries pymilvus returns.

`describe_collection` and `describe_index` answer with nested dicts whose shape
differs between Milvus Lite and servers and between versions; this module reads
them once into frozen values (FieldSpec, Description, CollectionInfo), so that
nothing outside the adapter ever indexes into them. Pure: no Milvus calls here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from milvus_cluster.core.knn import Metric
from milvus_cluster.errors import CollectionError

DENSE = "FLOAT_VECTOR"
OTHER_VECTORS = frozenset(
    {"BINARY_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR", "SPARSE_FLOAT_VECTOR", "INT8_VECTOR"}
)
TEXT_FIELD_PROPERTY = "milvus_cluster.text_field"  # `ingest` records its text field here
# `ingest` records the model that embedded the texts here: the vectors are text embeddings
EMBEDDED_BY_PROPERTY = "milvus_cluster.embedded_by"
TEXT_NAMES = ("text", "content", "document", "body", "chunk", "description", "title")


def type_name(data_type: Any) -> str:
    """'INT64' for DataType.INT64 (describe_collection returns enum members)."""
    return getattr(data_type, "name", str(data_type))


@dataclass(frozen=True)
class FieldSpec:
    """One field of a schema, as far as milvus-cluster cares."""

    name: str
    type: str  # the DataType's name: "INT64", "FLOAT_VECTOR", …
    is_primary: bool = False
    auto_id: bool = False
    nullable: bool = False
    partition_key: bool = False
    params: dict[str, Any] = field(default_factory=dict)  # dim, max_length, …

    @classmethod
    def of(cls, raw: dict[str, Any]) -> FieldSpec:
        return cls(
            name=raw["name"],
            type=type_name(raw["type"]),
            is_primary=bool(raw.get("is_primary")),
            auto_id=bool(raw.get("auto_id")),
            nullable=bool(raw.get("nullable")),
            partition_key=bool(raw.get("is_partition_key")),
            params=dict(raw.get("params") or {}),
        )

    @property
    def dim(self) -> int:
        return int(self.params.get("dim", 0))

    @property
    def max_length(self) -> int:
        return int(self.params.get("max_length", 0))


@dataclass(frozen=True)
class Description:
    """A collection's schema and properties, read once."""

    name: str  # the collection itself (resolved when described through an alias)
    fields: tuple[FieldSpec, ...]
    properties: dict[str, str]
    function_outputs: frozenset[str] = frozenset()  # fields Milvus computes (BM25, …)
    dynamic: bool = False
    auto_id: bool = False

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Description:
        functions = raw.get("functions") or []
        fields = tuple(FieldSpec.of(f) for f in raw["fields"])
        return cls(
            name=raw["collection_name"],
            fields=fields,
            properties=dict(raw.get("properties") or {}),
            function_outputs=frozenset(
                out for f in functions for out in f.get("output_field_names", [])
            ),
            dynamic=bool(raw.get("enable_dynamic_field")),
            auto_id=bool(raw.get("auto_id")) or any(f.auto_id for f in fields if f.is_primary),
        )

    @property
    def primary(self) -> FieldSpec:
        return next(f for f in self.fields if f.is_primary)

    @property
    def partition_key(self) -> bool:
        return any(f.partition_key for f in self.fields)

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def property(self, key: str) -> str | None:
        return self.properties.get(key)


@dataclass(frozen=True)
class CollectionInfo:
    """What the pipeline needs to know about a collection to cluster, read once."""

    name: str  # the collection itself (resolved when reached through an alias)
    requested: str  # the name or alias the user gave
    aliases: tuple[str, ...]  # every alias pointing at it
    pk: str
    pk_type: str  # "INT64" or "VARCHAR"
    auto_id: bool
    vector_field: str
    dim: int
    metric: Metric
    index_type: str
    fields: tuple[FieldSpec, ...]  # every schema field, in order
    dynamic: bool
    rows: int  # -1 when not counted
    properties: dict[str, str]
    function_outputs: frozenset[str] = frozenset()

    @property
    def via_alias(self) -> bool:
        return self.requested != self.name

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


def choose_vector_field(
    fields: Sequence[FieldSpec], wanted: str | None, collection: str
) -> FieldSpec:
    """The FLOAT_VECTOR field to cluster: the one named, or the only one there is."""
    by_name = {f.name: f for f in fields}
    dense = [f for f in fields if f.type == DENSE]
    if wanted:
        if wanted not in by_name:
            raise CollectionError(
                f"Collection {collection!r} has no field {wanted!r}; its fields are "
                f"{', '.join(by_name)}; check --vector-field."
            )
        if by_name[wanted].type != DENSE:
            raise CollectionError(_not_dense(collection, wanted, by_name[wanted].type))
        return by_name[wanted]
    if len(dense) == 1:
        return dense[0]
    if len(dense) > 1:
        raise CollectionError(
            f"Collection {collection!r} has several vector fields "
            f"({', '.join(f.name for f in dense)}); choose one with --vector-field."
        )
    others = [f"{f.name} ({f.type})" for f in fields if f.type in OTHER_VECTORS]
    found = f"; it has only {', '.join(others)}" if others else ""
    raise CollectionError(
        f"Collection {collection!r} has no FLOAT_VECTOR field to cluster{found}: "
        "milvus-cluster clusters dense float vectors."
    )


def choose_text_field(
    fields: Sequence[FieldSpec], properties: Mapping[str, str], wanted: str | None, collection: str
) -> str | None:
    """The VARCHAR field whose texts show what a cluster is about: the one named ('' for
    none), the one `ingest` recorded, one with a usual name (text, content, …), else the
    widest; None when the collection has no text field."""
    if wanted == "":
        return None
    texts = {f.name: f for f in fields if f.type == "VARCHAR" and not f.is_primary}
    if wanted is not None:
        if wanted not in texts:
            raise CollectionError(
                f"Collection {collection!r} has no VARCHAR field {wanted!r}; its text "
                f"fields are {', '.join(texts) or 'none'}; check --text-field."
            )
        return wanted
    recorded = properties.get(TEXT_FIELD_PROPERTY)
    if recorded in texts:
        return recorded
    usual = [name for name in TEXT_NAMES if name in texts]
    if usual:
        return usual[0]
    widths = {name: spec.max_length for name, spec in texts.items()}
    return max(widths, key=widths.__getitem__) if widths else None


def _not_dense(collection: str, field: str, kind: str) -> str:
    if kind in OTHER_VECTORS:
        return (
            f"Field {field!r} of {collection!r} holds {kind} vectors; milvus-cluster clusters "
            "dense FLOAT_VECTOR fields only; choose another --vector-field."
        )
    return (
        f"Field {field!r} of {collection!r} is a {kind} field, not a vector field; "
        "choose a FLOAT_VECTOR field with --vector-field."
    )


def metric_of(index: dict[str, Any], field: str) -> Metric:
    metric = str(index.get("metric_type", "")).upper()
    if metric not in ("L2", "COSINE", "IP"):
        raise CollectionError(
            f"The index on {field!r} uses metric {metric or 'unknown'!r}; milvus-cluster "
            "works with L2, COSINE and IP."
        )
    return metric  # type: ignore[return-value]


_INDEX_STATUS = ("total_rows", "indexed_rows", "pending_index_rows", "state")


def index_spec(index: dict[str, Any]) -> dict[str, Any]:
    """add_index arguments that rebuild an index as describe_index reports it: its build
    parameters as they came, nested under "params" (Milvus Lite, which drops them when
    pymilvus sends them flat) or flat (servers, which want them so)."""
    spec = {k: v for k, v in index.items() if k not in _INDEX_STATUS}
    field, kind = spec.pop("field_name"), spec.pop("index_type", "")
    name, metric = spec.pop("index_name", field), spec.pop("metric_type", None)
    arguments = {"field_name": field, "index_type": kind, "index_name": name}
    if metric not in (None, "", "NONE"):
        arguments["metric_type"] = metric
    if isinstance(spec.get("params"), dict):
        arguments["params"] = {"params": spec.pop("params") | spec}
    elif spec:
        arguments["params"] = spec
    return arguments
