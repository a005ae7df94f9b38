"""The capability probe: what a server can do, measured on scratch collections.

Each scratch collection is named `mc_probe_<unix time>_<hex>`, carries the PROBE_MARK
property and is dropped in a `finally`; what a killed probe leaves, `stale_probes`
finds (milvus-cluster cleanup drops it). Milvus Lite's answers were measured once, so
Lite is never probed.
"""

from __future__ import annotations

import time
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
PROBE_MARK = "milvus_cluster.probe"  # property of every scratch collection
STALE_AFTER = 600  # seconds: a probe takes a few; older scratch collections are leftovers


def probe(milvus: Milvus) -> Capabilities:
    """Measure what the server can do on scratch collections, dropped afterwards.

    Milvus Lite's answers are known (measured); a server that refuses the scratch
    collections (no permission) is judged by its version."""
    inferred = capabilities_of(milvus.version(), milvus.lite)
    if milvus.lite:
        return inferred
    scratch = f"{PROBE_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:8]}"
    try:
        return _probe(milvus, inferred, scratch)
    except MilvusClusterError:
        return inferred
    finally:
        for name in (scratch, scratch + "_auto", scratch + "_keys", scratch + "_default"):
            with suppress(MilvusClusterError):
                if milvus.has(name):
                    milvus.drop(name)


def stale_probes(milvus: Milvus) -> list[str]:
    """Scratch collections of probes that were killed (marked, and older than STALE_AFTER)."""
    found = []
    for name in milvus.collections():
        stamp = name.removeprefix(PROBE_PREFIX).split("_")[0]
        old = stamp.isdigit() and time.time() - int(stamp) > STALE_AFTER
        if name.startswith(PROBE_PREFIX) and old and milvus.property(name, PROBE_MARK):
            found.append(name)
    return found


def _create(
    milvus: Milvus,
    name: str,
    fields: list[dict[str, Any]],
    indexes: list[dict[str, Any]],
    auto_id: bool = False,
    properties: dict[str, str] | None = None,
) -> None:
    """A scratch collection, marked as the probe's."""
    marked = {PROBE_MARK: "true", **(properties or {})}
    milvus.create_collection(name, fields, indexes, auto_id=auto_id, properties=marked)


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
        lambda: _create(
            milvus, scratch, [pk, *_VECTOR, _field("n", "INT64", nullable=True)], _INDEX
        )
    )
    nullable = created and _works(lambda: milvus.insert(scratch, [{"id": 3, "v": [1.0, 1.0]}]))
    if not created:
        _create(milvus, scratch, [pk, *_VECTOR, _field("n", "INT64")], _INDEX)
    milvus.insert(scratch, [{"id": 1, "v": [0.0, 1.0], "n": 0}, {"id": 2, "v": [1.0, 0.0], "n": 0}])
    partial = _works(lambda: milvus.upsert(scratch, [{"id": 1, "n": 7}], partial=True))
    if partial:  # an old server may take the call and write a whole row of defaults
        row = milvus.query(scratch, "id == 1", ["v", "n"])[0]
        partial = row["n"] == 7 and [round(x, 3) for x in row["v"]] == [0.0, 1.0]
    add_field = _works(lambda: milvus.add_field(scratch, "added", "INT64"))
    milvus.release(scratch)  # an index is made on a released collection (ensure_scalar_index)
    index = (
        "INVERTED"
        if _works(lambda: milvus.ensure_scalar_index(scratch, "n", "INVERTED"))
        else "STL_SORT"
    )
    return replace(
        inferred,
        nullable=nullable,
        # Never probed before 2.5: 2.3.5 takes default values, then crashes on them after
        # a rename (migration/plan.py's _declared); only the version can say.
        default_value=nullable
        or (inferred.default_value and _default_value(milvus, scratch + "_default")),
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
    if not _works(lambda: _create(milvus, scratch, [pk, *_VECTOR, with_default], _INDEX)):
        return False
    if not _works(lambda: milvus.insert(scratch, [{"id": 1, "v": [0.0, 1.0]}])):
        return False
    return [row["n"] for row in milvus.query(scratch, "", ["n"])] == [-2]


def _upsert_keeps_auto_id(milvus: Milvus, scratch: str) -> bool:
    pk = _field("id", "INT64", is_primary=True, auto_id=True)
    _create(milvus, scratch, [pk, *_VECTOR], _INDEX, auto_id=True)
    milvus.insert(scratch, [{"v": [0.0, 1.0]}])
    key = milvus.query(scratch, "", ["id"])[0]["id"]
    if not _works(lambda: milvus.upsert(scratch, [{"id": key, "v": [1.0, 1.0]}], partial=False)):
        return False
    return [row["id"] for row in milvus.query(scratch, "", ["id"])] == [key]


def _insert_auto_id(milvus: Milvus, scratch: str) -> bool:
    pk = _field("id", "INT64", is_primary=True, auto_id=True)
    properties = {"allow_insert_auto_id": "true"}
    if not _works(
        lambda: _create(
            milvus, scratch, [pk, *_VECTOR], _INDEX, auto_id=True, properties=properties
        )
    ):
        return False
    if not _works(lambda: milvus.insert(scratch, [{"id": 424242, "v": [0.0, 1.0]}])):
        return False
    return [row["id"] for row in milvus.query(scratch, "", ["id"])] == [424242]
