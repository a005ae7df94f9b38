"""show: the clusters of a labelled collection, as its catalog knows them.

Read-only: no lock, no run row. Sizes, exemplars, scales and keywords come from the
catalog (as the last job left them); the noise and the rows still without a label
are counted in the collection now. When the collection has a text field
(describe.choose_text_field, as `plot` picks it), the exemplars' texts are read
from the collection too.

With `tree`, the layers too (core/layers.py): each top cluster with its size and
keywords, the clusters of the layer below it nested in it, down to layer 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from milvus_cluster.commands.connect import connect
from milvus_cluster.errors import CollectionError
from milvus_cluster.jobs.catalog import Catalog, ClusterEntry, LayerEntry, RunRecord
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
class TreeNode:
    """A cluster of some layer and the clusters of the layer below that lie in it."""

    layer: int  # 0: the clusters cluster_id holds; 1, 2, …: the coarser layers
    cluster_id: int
    size: int
    keywords: tuple[str, ...]
    children: tuple[TreeNode, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "id": self.cluster_id,
            "size": self.size,
            "keywords": list(self.keywords),
            "children": [child.as_dict() for child in self.children],
        }


def tree_of(clusters: list[ClusterEntry], layers: list[LayerEntry]) -> list[TreeNode]:
    """The top layer's clusters, largest first, each with its children nested, down to
    layer 0 (the clusters themselves when there are no layers)."""
    nodes = [TreeNode(0, c.cluster_id, c.size, c.keywords) for c in clusters]
    parent_of = {c.cluster_id: c.parents[0] for c in clusters if c.parents}
    top = max((e.layer for e in layers), default=0)
    for layer in range(1, top + 1):
        entries = [e for e in layers if e.layer == layer]
        nodes = [
            TreeNode(layer, e.cluster_id, e.size, e.keywords,
                     tuple(n for n in nodes if parent_of.get(n.cluster_id) == e.cluster_id))
            for e in entries
        ]  # fmt: skip
        parent_of = {e.cluster_id: e.parent for e in entries}
    return sorted(nodes, key=lambda n: (-n.size, n.cluster_id))


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
    tree: list[TreeNode] | None = None  # with show --tree: the layers, top first

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["clusters"] = [view.as_dict() for view in self.clusters]
        result["runs"] = [run.as_dict() for run in self.runs]
        result["tree"] = None if self.tree is None else [node.as_dict() for node in self.tree]
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
    tree: bool = False,
) -> ShowResult:
    """What the catalog of `collection` holds, with live counts (see the module); `tree`:
    the layers too, as a tree."""
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
            tree=tree_of(clusters, catalog.layers()) if tree else None,
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
