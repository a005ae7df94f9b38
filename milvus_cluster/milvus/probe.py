"""The capability probe: what a server can do, measured on scratch collections.

Each scratch collection is named `mc_probe_<hex>` (PROBE_PREFIX) and dropped in a
`finally`. Milvus Lite's answers were measured once, so Lite is never probed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from milvus_cluster.errors import MilvusClusterError
from milvus_cluster.milvus.capabilities import Capabilities, capabilities_of

if TYPE_CHECKING:
    from milvus_cluster.milvus.client import Milvus

PROBE_PREFIX = "mc_probe_"


def probe(milvus: Milvus) -> Capabilities:
    """Measure what the server can do on scratch collections, dropped afterwards.

    Milvus Lite's answers are known (measured); a server that refuses the scratch
    collections (no permission) is judged by its version."""
    inferred = capabilities_of(milvus.version(), milvus.lite)
    if milvus.lite:
        return inferred
    scratch = f"{PROBE_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        return _probe(milvus, inferred, scratch)
    except MilvusClusterError:
        return inferred
    finally:
        for name in (scratch, scratch + "_auto", scratch + "_keys", scratch + "_default"):
            with suppress(MilvusClusterError):
                if milvus.has(name):
                    milvus.drop(name)


def _field(name: str, kind: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **options}


_VECTOR = [_field("v", "FLOAT_VECTOR", dim=2)]
_INDEX = [{"field_name": "v", "index_type": "FLAT", "metric_type": "L2"}]


def _works(attempt: Callable[[], Any]) -> bool:
    try:
        attempt()
    except MilvusClusterError:
        return False
    return True


def _probe(milvus: Milvus, inferred: Capabilities, scratch: str) -> Capabilities:
    pk = _field("id", "INT64", is_primary=True)
    # Milvus 2.3 accepts nullable=True and drops it silently: a row without the field tells.
    created = _works(
        lambda: milvus.create_collection(
            scratch, [pk, *_VECTOR, _field("n", "INT64", nullable=True)], _INDEX
        )
    )
    nullable = created and _works(lambda: milvus.insert(scratch, [{"id": 3, "v": [1.0, 1.0]}]))
    if not created:
        milvus.create_collection(scratch, [pk, *_VECTOR, _field("n", "INT64")], _INDEX)
    milvus.insert(scratch, [{"id": 1, "v": [0.0, 1.0], "n": 0}, {"id": 2, "v": [1.0, 0.0], "n": 0}])
    partial = _works(lambda: milvus.upsert(scratch, [{"id": 1, "n": 7}], partial=True))
    if partial:  # an old server may take the call and write a whole row of defaults
        row = milvus.query(scratch, "id == 1", ["v", "n"])[0]
        partial = row["n"] == 7 and [round(x, 3) for x in row["v"]] == [0.0, 1.0]
    add_field = _works(lambda: milvus.add_field(scratch, "added", "INT64"))
    index = (
        "INVERTED"
        if _works(lambda: milvus.ensure_scalar_index(scratch, "n", "INVERTED"))
        else "STL_SORT"
    )
    return replace(
        inferred,
        nullable=nullable,
        default_value=nullable or _default_value(milvus, scratch + "_default"),
        add_field=add_field,
        partial_upsert=partial,
        upsert_keeps_auto_id=_upsert_keeps_auto_id(milvus, scratch + "_auto"),
        insert_auto_id=_insert_auto_id(milvus, scratch + "_keys"),
        scalar_index=index,
        probed=True,
    )


def _default_value(milvus: Milvus, scratch: str) -> bool:
    pk = _field("id", "INT64", is_primary=True)
    with_default = _field("n", "INT64", default_value=-2)
    if not _works(lambda: milvus.create_collection(scratch, [pk, *_VECTOR, with_default], _INDEX)):
        return False
    if not _works(lambda: milvus.insert(scratch, [{"id": 1, "v": [0.0, 1.0]}])):
        return False
    return [row["n"] for row in milvus.query(scratch, "", ["n"])] == [-2]


def _upsert_keeps_auto_id(milvus: Milvus, scratch: str) -> bool:
    pk = _field("id", "INT64", is_primary=True, auto_id=True)
    milvus.create_collection(scratch, [pk, *_VECTOR], _INDEX, auto_id=True)
    milvus.insert(scratch, [{"v": [0.0, 1.0]}])
    key = milvus.query(scratch, "", ["id"])[0]["id"]
    if not _works(lambda: milvus.upsert(scratch, [{"id": key, "v": [1.0, 1.0]}], partial=False)):
        return False
    return [row["id"] for row in milvus.query(scratch, "", ["id"])] == [key]


def _insert_auto_id(milvus: Milvus, scratch: str) -> bool:
    pk = _field("id", "INT64", is_primary=True, auto_id=True)
    properties = {"allow_insert_auto_id": "true"}
    if not _works(
        lambda: milvus.create_collection(
            scratch, [pk, *_VECTOR], _INDEX, auto_id=True, properties=properties
        )
    ):
        return False
    if not _works(lambda: milvus.insert(scratch, [{"id": 424242, "v": [0.0, 1.0]}])):
        return False
    return [row["id"] for row in milvus.query(scratch, "", ["id"])] == [424242]
