"""plot_collection: the clusters of a labelled collection as a map in one HTML file.

read (keys, vectors, labels) ──> sample ──> kNN graph ──> UMAP 2-D ──> texts ──> keywords ──> page

- read: as `label` reads, plus the label field; rows without a label yet are
  shown apart ("not labelled yet").
- sample: at most `max_points` rows (50,000: what a browser draws smoothly),
  every cluster represented, the rest in proportion to cluster size.
- kNN graph: `build_graph`, the same graph `label` clusters (Milvus search on a
  server, faiss on Milvus Lite). When the map shows a sample, the graph is the
  sample's own (faiss over the sampled vectors): the neighbours of a sampled row
  in the whole collection are mostly not on the map.
- UMAP: from that graph (`precomputed_knn`, see core/reduce.py), no search of its own.
- texts: the text field (milvus/describe.py's choose_text_field) of the rows on the map, read
  by key; hover text and c-TF-IDF keywords (core/keywords.py) come from them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from milvus_cluster.commands.connect import connect
from milvus_cluster.commands.labelling import build_graph
from milvus_cluster.commands.map_page import cluster_figure, write_page
from milvus_cluster.commands.stages import Advance, Clock, StageProgress
from milvus_cluster.core.keys import as_key_array, unique_keys
from milvus_cluster.core.keywords import cluster_keywords
from milvus_cluster.core.knn import local_knn
from milvus_cluster.core.labels import UNLABELLED, label_array
from milvus_cluster.core.layers import Layers
from milvus_cluster.core.parameters import Parameters
from milvus_cluster.core.reduce import require_umap, umap_embedding
from milvus_cluster.core.vectors import Vectors
from milvus_cluster.errors import CollectionError, ParameterError
from milvus_cluster.jobs.catalog import Catalog
from milvus_cluster.migration.plan import recorded_layer_fields
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo, choose_text_field
from milvus_cluster.milvus.read import read_vectors

MAX_POINTS = 50_000


@dataclass(frozen=True)
class MapResult:
    collection: str
    output: str
    rows: int  # rows in the collection
    points: int  # rows on the map
    clusters: int
    noise: int  # noise rows on the map
    text_field: str | None
    keywords: dict[int, list[str]]
    sizes: dict[int, int]  # rows on the map per cluster
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def sampled(self) -> bool:
        return self.points < self.rows

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"sampled": self.sampled}


def plot_collection(
    collection: str,
    output: str | Path = "clusters.html",
    *,
    uri: str = "./milvus.db",
    token: str = "",
    db_name: str = "",
    vector_field: str | None = None,
    label_field: str = "cluster_id",
    text_field: str | None = None,
    max_points: int = MAX_POINTS,
    parameters: Parameters | None = None,
    seed: int | None = 0,
    progress: StageProgress | None = None,
    layer: int = 0,
) -> MapResult:
    """Write the map of a labelled collection to `output` (see the module).

    `text_field`: None chooses one (milvus/describe.py's choose_text_field), '' uses none.
    `layer` colours by a coarser layer (core/layers.py): each row by its cluster's
    parent in that layer, as the catalog keeps them (0: the clusters themselves)."""
    require_umap()
    params = (parameters or Parameters()).resolved()
    clock = Clock(progress)
    with connect(uri, token, db_name) as milvus:
        milvus.inspect(collection, vector_field)  # refuse what cannot be mapped first
        with milvus.loaded_for_run(collection):  # counting rows needs a loaded collection
            info = milvus.inspect(collection, vector_field, count=True)
            check_label_field(info, label_field, milvus.hint(f"label -c {info.requested}"))
            text = choose_text_field(info.fields, info.properties, text_field, info.requested)
            sampling = Sampling(label_field, max_points, seed)
            hierarchy, colour = _layer(milvus, info, label_field, layer)  # before the work
            layout = _layout(milvus, info, sampling, params, clock)
            if layer:
                layout = replace(layout, labels=_in_layer(hierarchy, layout.labels, layer))
            with clock.stage("texts", layout.n):
                texts = read_texts(milvus, info, text, layout.pks) if text else None
    keywords = cluster_keywords(texts, layout.labels) if texts is not None else {}
    title = f"{info.requested}: {layout.n:,} of {info.rows:,} rows, colour = {colour}"
    figure = cluster_figure(layout.xy, layout.labels, layout.pks, texts, keywords, title)
    write_page(figure, output, title)
    return _result(info, output, layout, text, keywords, clock.seconds)


@dataclass(frozen=True)
class Sampling:
    """Which rows go on the map: those of `label_field`, at most `max_points` of them."""

    label_field: str
    max_points: int
    seed: int | None


@dataclass(frozen=True)
class Layout:
    pks: np.ndarray  # (m,) keys of the rows on the map
    labels: np.ndarray  # (m,) int64: cluster id, -1 noise, UNLABELLED
    xy: np.ndarray  # (m, 2) float32 UMAP coordinates

    @property
    def n(self) -> int:
        return len(self.pks)


def _layout(
    milvus: Milvus, info: CollectionInfo, sampling: Sampling, params: Parameters, clock: Clock
) -> Layout:
    """Read, sample, graph, UMAP: the coordinates of the rows on the map."""
    if info.rows == 0:
        raise CollectionError(f"Collection {info.requested!r} is empty: there is nothing to map.")
    with clock.stage("read", info.rows) as advance:
        vectors, labels = read_labelled(milvus, info, sampling.label_field, advance)
    rows = sample_rows(labels, sampling.max_points, sampling.seed)
    sampled = len(rows) < vectors.n
    points = vectors.vectors[rows] if sampled else vectors.vectors
    with clock.stage("knn", len(rows)) as advance:
        if sampled:
            graph = local_knn(points, params.k or 0, info.metric, advance)
        else:
            graph, _ = build_graph(milvus, info, vectors, params, advance)
    with clock.stage("layout", len(rows)) as advance:
        xy = umap_embedding(graph, points, 2, min_dist=0.1, seed=sampling.seed)
        advance(len(rows))
    return Layout(vectors.pks[rows], labels[rows], xy)


def _layer(
    milvus: Milvus, info: CollectionInfo, label_field: str, layer: int
) -> tuple[Layers, str]:
    """The catalog's layers, as many as the collection has layer fields at least, and
    what the colour is called: the layer's field where the collection has one."""
    if not layer:
        return Layers(), label_field
    catalog = Catalog.open(milvus, info.requested)
    hierarchy = catalog.hierarchy() if catalog is not None else Layers()
    fields = recorded_layer_fields(info)
    depth = max(hierarchy.depth, len(fields))
    if layer > depth:
        raise ParameterError(
            f"{info.requested!r} has {depth} layers above {label_field!r}; choose --layer "
            f"0 to {depth} (label --layers N writes more, where there is a hierarchy)."
        )
    name = fields[layer - 1] if layer <= len(fields) else f"layer {layer} of {label_field}"
    ids = catalog.ledger().next_id if catalog is not None else 0  # every id is below it
    return hierarchy.padded(depth, ids), name


def _in_layer(hierarchy: Layers, labels: np.ndarray, layer: int) -> np.ndarray:
    """Each row's cluster in `layer`: its cluster's parent there (noise -1, rows without
    a label stay without)."""
    parents = hierarchy.of_rows(labels)[layer - 1]
    return np.where(labels == UNLABELLED, UNLABELLED, parents)


def read_labelled(
    milvus: Milvus, info: CollectionInfo, label_field: str, advance: Advance
) -> tuple[Vectors, np.ndarray]:
    """Keys, vectors (milvus/read.py) and the label of each row, UNLABELLED for null."""
    keys: list[Any] = []
    labels: list[int] = []

    def remember(batch: list[dict]) -> None:
        keys.extend(row[info.pk] for row in batch)
        labels.extend(label_array([row.get(label_field) for row in batch]).tolist())

    vectors = read_vectors(milvus, info, advance, also=[label_field], each_batch=remember)
    first = unique_keys(as_key_array(keys)) if keys else np.zeros(0, dtype=np.int64)
    return vectors, np.asarray(labels, dtype=np.int64)[first]


def sample_rows(labels: np.ndarray, max_points: int, seed: int | None = 0) -> np.ndarray:
    """Sorted row indices of at most `max_points` rows, at least one of every label
    (cluster, noise, unlabelled), the rest in proportion to each label's rows."""
    n = len(labels)
    if n <= max_points:
        return np.arange(n)
    groups, sizes = np.unique(labels, return_counts=True)
    if len(groups) > max_points:
        raise ParameterError(
            f"The collection has {len(groups)} clusters, more than --max-points ({max_points}) "
            "can show with one row each; raise --max-points."
        )
    # One row per group, then the rest shared out: the total stays within max_points.
    share = (max_points - len(groups)) / (n - len(groups))
    quotas = 1 + np.floor((sizes - 1) * share).astype(np.int64)
    rng = np.random.default_rng(seed)
    by_group = np.split(np.argsort(labels, kind="stable"), np.cumsum(sizes)[:-1])
    chosen = [rng.choice(rows, quota, replace=False) for rows, quota in zip(by_group, quotas)]
    return np.sort(np.concatenate(chosen))


def read_texts(
    milvus: Milvus, info: CollectionInfo, text_field: str, pks: np.ndarray
) -> list[str | None]:
    """The text of each key in `pks`, in that order (None where a row has none)."""
    found = milvus.values_by_key(info.name, info.pk, info.pk_type, text_field, pks.tolist())
    return [None if found.get(key) is None else str(found[key]) for key in pks.tolist()]


def check_label_field(info: CollectionInfo, label_field: str, label_hint: str) -> None:
    """The label field must exist and hold INT64 cluster ids; `label_hint` is the
    command that labels the collection, for the refusal."""
    spec, collection = info.field(label_field), info.requested
    if spec is None:
        raise CollectionError(
            f"Collection {collection!r} has no field {label_field!r}; label it first "
            f"({label_hint}) or name the field with --label-field."
        )
    if spec.type != "INT64":
        raise CollectionError(
            f"Field {label_field!r} of {collection!r} is {spec.type}, not the INT64 "
            "cluster ids `label` writes; check --label-field."
        )


def _result(
    info: CollectionInfo,
    output: str | Path,
    layout: Layout,
    text: str | None,
    keywords: dict[int, list[str]],
    seconds: dict[str, float],
) -> MapResult:
    clustered = layout.labels[layout.labels >= 0]
    ids, counts = np.unique(clustered, return_counts=True)
    return MapResult(
        collection=info.name,
        output=str(output),
        rows=info.rows,
        points=layout.n,
        clusters=len(ids),
        noise=int(np.count_nonzero(layout.labels == -1)),
        text_field=text,
        keywords={int(c): words for c, words in keywords.items()},
        sizes={int(c): int(size) for c, size in zip(ids, counts)},
        seconds=seconds,
    )
