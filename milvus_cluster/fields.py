"""Reading a collection's description: field types, the vector field to cluster,
its metric, index specifications, and filter expressions over primary keys.

Pure functions of the plain values `describe_collection` and `describe_index`
return; nothing here talks to Milvus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import CollectionError
from .knn import Metric

DENSE = "FLOAT_VECTOR"
OTHER_VECTORS = {"BINARY_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR", "SPARSE_FLOAT_VECTOR",
                 "INT8_VECTOR"}  # fmt: skip


def type_name(data_type: Any) -> str:
    """'INT64' for DataType.INT64 (describe_collection returns enum members)."""
    return getattr(data_type, "name", str(data_type))


def choose_vector_field(fields: list[dict], wanted: str | None, collection: str) -> dict:
    """The FLOAT_VECTOR field to cluster: the one named, or the only one there is."""
    by_name = {f["name"]: f for f in fields}
    dense = [f["name"] for f in fields if type_name(f["type"]) == DENSE]
    if wanted:
        if wanted not in by_name:
            raise CollectionError(
                f"Collection {collection!r} has no field {wanted!r}; its fields are "
                f"{', '.join(by_name)}; check --vector-field."
            )
        kind = type_name(by_name[wanted]["type"])
        if kind != DENSE:
            raise CollectionError(_not_dense(collection, wanted, kind))
        return by_name[wanted]
    if len(dense) == 1:
        return by_name[dense[0]]
    if len(dense) > 1:
        raise CollectionError(
            f"Collection {collection!r} has several vector fields ({', '.join(dense)}); "
            "choose one with --vector-field."
        )
    others = [f"{f['name']} ({type_name(f['type'])})" for f in fields
              if type_name(f["type"]) in OTHER_VECTORS]  # fmt: skip
    found = f"; it has only {', '.join(others)}" if others else ""
    raise CollectionError(
        f"Collection {collection!r} has no FLOAT_VECTOR field to cluster{found}: "
        "milvus-cluster clusters dense float vectors."
    )


TEXT_FIELD_PROPERTY = "milvus_cluster.text_field"  # `ingest` records its text field here
TEXT_NAMES = ("text", "content", "document", "body", "chunk", "description", "title")


def choose_text_field(
    fields: list[dict], properties: dict[str, str], wanted: str | None, collection: str
) -> str | None:
    """The VARCHAR field whose texts show what a cluster is about: the one named ('' for
    none), the one `ingest` recorded, one with a usual name (text, content, …), else the
    widest; None when the collection has no text field."""
    if wanted == "":
        return None
    texts = {f["name"]: f for f in fields
             if type_name(f["type"]) == "VARCHAR" and not f.get("is_primary")}  # fmt: skip
    if wanted is not None:
        if wanted not in texts:
            raise CollectionError(
                f"Collection {collection!r} has no VARCHAR field {wanted!r}; its text fields "
                f"are {', '.join(texts) or 'none'}; check --text-field."
            )
        return wanted
    recorded = properties.get(TEXT_FIELD_PROPERTY)
    if recorded in texts:
        return recorded
    usual = [name for name in TEXT_NAMES if name in texts]
    if usual:
        return usual[0]
    widths = {name: int(f.get("params", {}).get("max_length", 0)) for name, f in texts.items()}
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


def metric_of(index: dict, field: str) -> Metric:
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


def quoted(text: str) -> str:
    """A string literal for a Milvus filter expression."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def key_filter(pk: str, pk_type: str, keys: Sequence[Any]) -> str:
    """`pk in [...]` for these keys, VARCHAR keys quoted and escaped."""
    if pk_type == "VARCHAR":
        return f"{pk} in [{', '.join(quoted(str(key)) for key in keys)}]"
    return f"{pk} in [{', '.join(str(int(key)) for key in keys)}]"
