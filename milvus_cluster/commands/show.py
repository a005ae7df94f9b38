"""show: the clusters of a labelled collection, as its catalog knows them.

Read-only: no lock, no run row. Sizes, exemplars, scales and keywords come from the
catalog (as the last job left them); the noise and the rows still without a label
are counted in the collection now. When the collection has a text field
(describe.choose_text_field, as `plot` picks it), the exemplars' texts are read
from the collection too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from milvus_cluster.commands.connect import connect
from milvus_cluster.errors import CollectionError
from milvus_cluster.jobs.catalog import Catalog, ClusterEntry, RunRecord
from milvus_cluster.jobs.run import holder_of
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import Description, choose_text_field
from milvus_cluster.milvus.expressions import labelled


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
    assign_command: str = ""  # the command that labels the rows without one

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
    with connect(uri, token, db_name) as milvus:
        if not milvus.has(collection):
            raise CollectionError(
                f"Collection {collection!r} does not exist; check -c/--collection."
            )
        catalog = Catalog.open(milvus, collection)
        if catalog is None:
            raise CollectionError(
                f"{collection!r} has no catalog (it was never labelled under this name); "
                f"label it first: {milvus.hint(f'label -c {collection}')}"
            )
        description = milvus.describe(collection)
        text = choose_text_field(description.fields, description.properties, text_field, collection)
        with milvus.loaded_for_run(collection):
            rows = milvus.count(collection)
            noise, unlabelled = _label_counts(milvus, description, rows, label_field)
            clusters = catalog.clusters()
            texts = exemplar_texts(milvus, description, clusters, text) if text else {}
        views = [
            ClusterView(c, c.size / max(rows, 1), [texts[k] for k in c.exemplars if k in texts])
            for c in clusters
        ]
        holder = holder_of(catalog)
        return ShowResult(
            collection=collection,
            catalog=catalog.name,
            rows=rows,
            noise=noise,
            unlabelled=unlabelled,
            label_field=label_field,
            text_field=text,
            clusters=views,
            runs=catalog.runs(runs),
            lock=holder.describe() if holder else "",
            assign_command=milvus.hint(f"assign -c {collection}"),
        )


def exemplar_texts(
    milvus: Milvus, description: Description, clusters: list[ClusterEntry], text: str
) -> dict[Any, str]:
    """Exemplar key → its text."""
    pk = description.primary
    keys = [key for cluster in clusters for key in cluster.exemplars]
    found = milvus.values_by_key(description.name, pk.name, pk.type, text, keys)
    return {key: str(value) for key, value in found.items() if value is not None}


def _label_counts(
    milvus: Milvus, description: Description, rows: int, label: str
) -> tuple[int, int]:
    """Rows labelled noise, and rows without a label (null, placeholder, no dynamic key)."""
    if description.field(label) is None and not description.dynamic:
        return 0, rows  # no label field (rolled back to the collection before labelling)
    noise = milvus.count(description.name, f"{label} == -1")
    return noise, rows - milvus.count(description.name, labelled(label))
