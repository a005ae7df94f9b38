"""show: the clusters of a labelled collection, as its catalog knows them.

Read-only: no lock, no run row. Sizes, exemplars, scales and keywords come from the
catalog (as the last job left them); the noise and the rows still without a label
are counted in the collection now. When the collection has a text field (the one
named, or else its longest VARCHAR field that is not the key), the exemplars'
texts are read from the collection too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .catalog import Catalog, ClusterEntry, RunRecord
from .collection import Milvus
from .errors import CollectionError
from .fields import key_filter, type_name
from .jobs import holder_of
from .lock import connect


@dataclass(frozen=True)
class ClusterView:
    cluster: ClusterEntry
    share: float  # of the collection's rows
    texts: list[str] = field(default_factory=list)  # the exemplars' texts, in their order

    def as_dict(self) -> dict[str, Any]:
        return self.cluster.as_dict() | {"share": round(self.share, 6), "texts": self.texts}


@dataclass(frozen=True)
class ShowResult:
    collection: str
    catalog: str
    rows: int
    noise: int  # rows labelled -1 now
    unlabelled: int  # rows without a label now (assign gives them one)
    label_field: str
    text_field: str | None
    clusters: list[ClusterView]  # largest first
    runs: list[RunRecord]  # newest first
    lock: str  # the job holding the lock, described; "" when free

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["clusters"] = [view.as_dict() for view in self.clusters]
        result["runs"] = [run.as_dict() for run in self.runs]
        return result


def show_collection(
    collection: str,
    *,
    uri: str = "./milvus.db",
    token: str = "",
    db_name: str = "",
    label_field: str = "cluster_id",
    text_field: str | None = None,
    runs: int = 5,
) -> ShowResult:
    """What the catalog of `collection` holds, with live counts (see the module)."""
    milvus = connect(uri, token, db_name)
    try:
        if not milvus.has(collection):
            raise CollectionError(
                f"Collection {collection!r} does not exist; check -c/--collection."
            )
        catalog = Catalog.open(milvus, collection)
        if catalog is None:
            raise CollectionError(
                f"{collection!r} has no catalog (it was never labelled under this name); "
                f"label it first: milvus-cluster label -c {collection}"
            )
        fields = milvus.describe(collection)["fields"]
        text = text_field_of(fields, text_field, collection)
        with milvus.loaded_for_run(collection):
            rows = milvus.count(collection)
            noise, unlabelled = _label_counts(milvus, collection, fields, label_field)
            clusters = catalog.clusters()
            texts = exemplar_texts(milvus, collection, fields, clusters, text) if text else {}
        views = [
            ClusterView(c, c.size / max(rows, 1), [texts[k] for k in c.exemplars if k in texts])
            for c in clusters
        ]
        holder = holder_of(catalog)
        return ShowResult(
            collection, catalog.name, rows, noise, unlabelled, label_field, text, views,
            catalog.runs(runs), holder.describe() if holder else "",
        )  # fmt: skip
    finally:
        milvus.close()


def text_field_of(fields: list[dict], wanted: str | None, collection: str) -> str | None:
    """The field whose texts show what a cluster holds: the one named, else the longest
    VARCHAR field that is not the primary key, else None."""
    texts = {f["name"]: f for f in fields
             if type_name(f["type"]) == "VARCHAR" and not f.get("is_primary")}  # fmt: skip
    if wanted:
        if wanted not in texts:
            raise CollectionError(
                f"Collection {collection!r} has no VARCHAR field {wanted!r}; its text fields are "
                f"{', '.join(texts) or 'none'}; check --text-field."
            )
        return wanted
    if not texts:
        return None
    return max(texts.values(), key=lambda f: int(f.get("params", {}).get("max_length", 0)))["name"]


def exemplar_texts(
    milvus: Milvus, collection: str, fields: list[dict], clusters: list[ClusterEntry], text: str
) -> dict[Any, str]:
    """Exemplar key → its text."""
    pk = next(f for f in fields if f.get("is_primary"))
    keys = [key for cluster in clusters for key in cluster.exemplars]
    found: dict[Any, str] = {}
    for start in range(0, len(keys), 1_000):
        expression = key_filter(pk["name"], type_name(pk["type"]), keys[start : start + 1_000])
        for row in milvus.query(collection, expression, [pk["name"], text]):
            found[row[pk["name"]]] = str(row[text])
    return found


def _label_counts(
    milvus: Milvus, collection: str, fields: list[dict], label: str
) -> tuple[int, int]:
    if label not in {f["name"] for f in fields}:
        return 0, 0
    return milvus.count(collection, f"{label} == -1"), milvus.count(collection, f"{label} is null")
