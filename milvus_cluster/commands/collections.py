"""collections: what a database holds, and which of it milvus-cluster has labelled.

Read-only, and light: each collection is described (no load), its rows are Milvus's
statistics (no query, so nothing needs loading), and the catalog of a labelled one
gives its last run. milvus-cluster's own collections (catalogs, backups, copies not
switched in, the scratch collections of a killed probe) are told apart by their marker
properties and left out unless asked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from milvus_cluster.commands.connect import connect
from milvus_cluster.jobs.catalog import CATALOG_OF, Catalog
from milvus_cluster.migration.plan import BACKUP_OF, COPIED_FROM, LABEL_FIELDS, SHADOW_OF
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import Description
from milvus_cluster.milvus.probe import PROBE_MARK
from milvus_cluster.milvus.translate import redact

Kind = Literal["collection", "catalog", "backup", "copy", "probe"]
MARKERS: tuple[tuple[str, Kind], ...] = (
    (CATALOG_OF, "catalog"),
    (PROBE_MARK, "probe"),
    (SHADOW_OF, "copy"),
    (BACKUP_OF, "backup"),
)


@dataclass(frozen=True)
class CollectionEntry:
    name: str
    kind: Kind  # "collection": the user's; the others are milvus-cluster's own
    rows: int  # Milvus's statistics
    vectors: dict[str, str]  # vector field → the metric of its index ("" without one)
    aliases: list[str]
    label_field: str | None  # the label field milvus-cluster made, if any
    catalog: str | None  # its catalog, when it was labelled
    last_run: str = ""  # "label", "relabel" or "assign"; "" when never run
    state: str = ""  # that run's state: running, done, failed
    finished: str = ""  # when it ended (or started, while running)


@dataclass(frozen=True)
class CollectionList:
    uri: str  # credentials hidden
    database: str
    collections: list[CollectionEntry]  # by name
    hidden: int  # milvus-cluster's own collections left out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_collections(
    *, uri: str = "./milvus.db", token: str = "", db_name: str = "", everything: bool = False
) -> CollectionList:
    """The collections of the database, each with its rows, vector fields and metrics,
    label field and last run; milvus-cluster's own ones too when `everything`."""
    with connect(uri, token, db_name) as milvus:
        described = {name: milvus.describe(name) for name in sorted(milvus.collections())}
        kinds = {name: kind_of(d, described) for name, d in described.items()}
        catalogs = catalogs_by_collection(milvus, described)
        entries = [
            entry(milvus, d, kinds[name], catalogs.get(name))
            for name, d in described.items()
            if everything or kinds[name] == "collection"
        ]
        hidden = sum(1 for kind in kinds.values() if kind != "collection") if not everything else 0
        return CollectionList(redact(uri), milvus.db_name, entries, hidden)


def kind_of(description: Description, described: dict[str, Description]) -> Kind:
    """Whose a collection is, by its marker properties; a backup that kept its name (the
    alias moved to the copy) is known by the copy's COPIED_FROM."""
    for marker, kind in MARKERS:
        if description.property(marker):
            return kind
    if any(d.property(COPIED_FROM) == description.name for d in described.values()):
        return "backup"
    return "collection"


def catalogs_by_collection(milvus: Milvus, described: dict[str, Description]) -> dict[str, str]:
    """Collection → the name (or alias) its catalog was made for."""
    found = {}
    for description in described.values():
        labelled = description.property(CATALOG_OF)
        if labelled and milvus.has(labelled):
            found[milvus.resolve(labelled)] = labelled
    return found


def entry(
    milvus: Milvus, description: Description, kind: Kind, labelled_as: str | None
) -> CollectionEntry:
    name = description.name
    indexes = {index.get("field_name"): index for index in milvus.indexes(name)}
    vectors = {
        f.name: str(indexes.get(f.name, {}).get("metric_type", ""))
        for f in description.fields
        if f.type.endswith("_VECTOR")
    }
    marker = (description.property(LABEL_FIELDS) or "").split(",")[0] or None
    result = CollectionEntry(
        name=name,
        kind=kind,
        rows=milvus.row_count(name),
        vectors=vectors,
        aliases=sorted(milvus.aliases(name)),
        label_field=marker,
        catalog=None,
    )
    catalog = Catalog.open(milvus, labelled_as) if labelled_as else None
    if catalog is None:
        return result
    runs = catalog.runs(limit=1)
    last = runs[0] if runs else None
    return CollectionEntry(
        **asdict(result)
        | {
            "catalog": catalog.name,
            "last_run": last.command if last else "",
            "state": last.state if last else "",
            "finished": (last.finished or last.started) if last else "",
        }
    )
