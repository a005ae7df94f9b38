"""What a Milvus server can do, as one small record the rest of the library consults.

`Milvus.capabilities()` fills it by probing the server once (with a scratch
collection it drops again); `capabilities_of()` infers it from the version alone,
for Milvus Lite (whose answers were measured) and when probing is not allowed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import MilvusClusterError

if TYPE_CHECKING:
    from .collection import Milvus


@dataclass(frozen=True)
class Capabilities:
    """What the server can do; the rest of the library consults only this."""

    version: str
    lite: bool
    nullable: bool  # nullable fields (Lite, Milvus >= 2.5)
    default_value: bool  # fields with a default value (Milvus >= 2.5)
    add_field: bool  # add_collection_field on a live collection (Milvus >= 2.6; not Lite)
    partial_upsert: bool  # upsert(partial_update=True) (Lite, Milvus >= 2.6.2)
    upsert_keeps_auto_id: bool  # upsert on an auto_id collection keeps the key it is given
    insert_auto_id: bool  # inserts may carry keys on auto_id collections (allow_insert_auto_id)
    scalar_index: str  # index kind for the INT64 label: INVERTED, or STL_SORT before 2.4
    probed: bool = False  # True when measured on the server, False when inferred

    def describe(self) -> list[str]:
        """One line a capability, for `plan`."""
        how = "probed" if self.probed else "inferred from the version"
        yes = {True: "yes", False: "no"}
        return [
            f"server: {self.version} ({'Milvus Lite' if self.lite else 'Milvus'}; {how})",
            f"  add a field to a collection: {yes[self.add_field]}",
            f"  nullable fields: {yes[self.nullable]}; default values: {yes[self.default_value]}",
            f"  partial upsert: {yes[self.partial_upsert]}",
            f"  upsert keeps auto_id keys: {yes[self.upsert_keeps_auto_id]}; "
            f"insert with keys into auto_id: {yes[self.insert_auto_id]}",
            f"  scalar index on INT64: {self.scalar_index}",
        ]


def version_tuple(version: str) -> tuple[int, ...]:
    """(2, 6, 2) from 'v2.6.2' or '2.6.2-rc1'; () when there is no number."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    return tuple(int(part) for part in match.groups(default="0")) if match else ()


def capabilities_of(version: str, lite: bool) -> Capabilities:
    """What a server of this version can do, as far as the version tells."""
    if lite:  # measured on Milvus Lite 3.2.2
        return Capabilities(version, True, True, True, False, True, True, True, "INVERTED")
    number = version_tuple(version) or (0,)
    return Capabilities(
        version=version,
        lite=False,
        nullable=number >= (2, 5),
        default_value=number >= (2, 5),
        add_field=number >= (2, 6),
        partial_upsert=number >= (2, 6, 2),
        # 2.4.10 to 2.6.x make a new key when an auto_id row is upserted.
        upsert_keeps_auto_id=(2, 4) <= number < (2, 4, 10) or number >= (2, 7),
        insert_auto_id=number >= (2, 5),
        scalar_index="INVERTED" if number >= (2, 4) else "STL_SORT",
    )


def probe(milvus: Milvus) -> Capabilities:
    """Measure what the server can do on scratch collections, dropped afterwards.

    Milvus Lite's answers are known (measured); a server that refuses the scratch
    collections (no permission) is judged by its version."""
    inferred = capabilities_of(milvus.version(), milvus.lite)
    if milvus.lite:
        return inferred
    scratch = f"mc_probe_{uuid.uuid4().hex[:12]}"
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
    created = _works(lambda: milvus.create_collection(
        scratch, [pk, *_VECTOR, _field("n", "INT64", nullable=True)], _INDEX))  # fmt: skip
    nullable = created and _works(lambda: milvus.insert(scratch, [{"id": 3, "v": [1.0, 1.0]}]))
    if not created:
        milvus.create_collection(scratch, [pk, *_VECTOR, _field("n", "INT64")], _INDEX)
    milvus.insert(scratch, [{"id": 1, "v": [0.0, 1.0], "n": 0}, {"id": 2, "v": [1.0, 0.0], "n": 0}])
    partial = _works(lambda: milvus.upsert(scratch, [{"id": 1, "n": 7}], partial=True))
    if partial:  # an old server may take the call and write a whole row of defaults
        row = milvus.query(scratch, "id == 1", ["v", "n"])[0]
        partial = row["n"] == 7 and [round(x, 3) for x in row["v"]] == [0.0, 1.0]
    add_field = _works(lambda: milvus.add_field(scratch, "added", "INT64"))
    index = "INVERTED" if _works(lambda: milvus.ensure_scalar_index(scratch, "n", "INVERTED")) \
        else "STL_SORT"  # fmt: skip
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
        return False  # fmt: skip
    if not _works(lambda: milvus.insert(scratch, [{"id": 424242, "v": [0.0, 1.0]}])):
        return False
    return [row["id"] for row in milvus.query(scratch, "", ["id"])] == [424242]
