"""show: the clusters of a labelled collection, as its catalog knows them.

Read-only: no lock, no run row. Sizes, exemplars, scales and keywords come from the
catalog (as the last job left them); the noise and the rows still without a label
are counted in the collection now. When the collection has a text field
(fields.choose_text_field, as `plot` picks it), the exemplars' texts are read
from the collection too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .assign import labelled
from .catalog import Catalog, ClusterEntry, RunRecord
from .collection import Milvus
from .errors import CollectionError
from .fields import choose_text_field, type_name
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
        description = milvus.describe(collection)
        fields = description["fields"]
        text = choose_text_field(fields, description.get("properties") or {}, text_field,
                                 collection)  # fmt: skip
        with milvus.loaded_for_run(collection):
            rows = milvus.count(collection)
            noise, unlabelled = _label_counts(milvus, collection, rows, label_field)
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


def exemplar_texts(
    milvus: Milvus, collection: str, fields: list[dict], clusters: list[ClusterEntry], text: str
) -> dict[Any, str]:
    """Exemplar key → its text."""
    pk = next(f for f in fields if f.get("is_primary"))
    keys = [key for cluster in clusters for key in cluster.exemplars]
    found = milvus.values_by_key(collection, pk["name"], type_name(pk["type"]), text, keys)
    return {key: str(value) for key, value in found.items() if value is not None}


def _label_counts(milvus: Milvus, collection: str, rows: int, label: str) -> tuple[int, int]:
    """Rows labelled noise, and rows without a label (null, placeholder, no dynamic key)."""
    description = milvus.describe(collection)
    known = {f["name"] for f in description["fields"]}
    if label not in known and not description.get("enable_dynamic_field"):
        return 0, rows  # no label field (rolled back to the collection before labelling)
    noise = milvus.count(collection, f"{label} == -1")
    return noise, rows - milvus.count(collection, labelled(label))
