"""The stages a label run and a sample run share: read (with the labels and texts
rows have), kNN graph, cluster and settle the ids, name the clusters, and the result.

Everything here reads Milvus and writes nothing; label.py and sample.py write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from milvus_cluster.commands.stages import Advance, Clock
from milvus_cluster.core import knn as knn_stage
from milvus_cluster.core.clustering import Clustering, cluster_graph
from milvus_cluster.core.evoc import N_NEIGHBORS as EVOC_NEIGHBORS
from milvus_cluster.core.evoc import evoc_clustering, with_evoc_layers
from milvus_cluster.core.keys import KeyIndex, aligned, as_key_array
from milvus_cluster.core.keywords import cluster_keywords
from milvus_cluster.core.labels import aligned_labels, label_array
from milvus_cluster.core.layers import Layers
from milvus_cluster.core.parameters import EVOC_ENGINES, Parameters
from milvus_cluster.core.reduce import reduce_graph
from milvus_cluster.core.refine import knn_vote
from milvus_cluster.core.settle import Settled, settle_labels
from milvus_cluster.core.stable_ids import Drift, IdLedger
from milvus_cluster.core.vectors import Vectors, in_key_order
from milvus_cluster.jobs.catalog import Catalog, ClusterEntry, LayerEntry
from milvus_cluster.jobs.run import Job
from milvus_cluster.migration.plan import Plan
from milvus_cluster.migration.write import LabelColumns
from milvus_cluster.milvus.capabilities import Capabilities
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.read import read_vectors

KEYWORDS = 10  # words kept per cluster in the catalog
# Search requests a server gets at once during `--knn milvus`: while it searches one
# batch the client sends the next and turns the last into graph rows. Measured on
# Milvus 2.3.5, 10,000 queries of 2,048 a request, 2 cores at load ~8: 271 queries/s
# with 1 in flight, 301 with 2, 616 with 4 (README, Scale).
SEARCHES_IN_FLIGHT = 4


@dataclass(frozen=True)
class LabelResult:
    collection: str
    requested: str
    rows: int
    clusters: int
    noise: int  # rows labelled -1 (after the noise policy)
    sizes: list[int]  # rows per cluster, largest first
    plan: Plan
    parameters: Parameters
    knn: str  # how the graph was built: "milvus" or "local"
    pieces: int  # pieces of the kNN graph that had to be joined
    capabilities: Capabilities | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    dry_run: bool = False
    cluster_ids: list[int] = field(default_factory=list)  # the id of each of `sizes`
    noise_before: int = 0  # rows HDBSCAN called noise, before the noise policy
    drift: Drift | None = None  # against the labels before, when there were any
    run_id: str = ""  # this run's row in the catalog
    catalog: str = ""
    took_over: str = ""  # the dead job whose lock this one took over, if any
    preview: bool = False  # clustered only: nothing was written
    text_field: str | None = None  # where the keywords came from
    keywords: dict[int, list[str]] = field(default_factory=dict)  # cluster id → top words
    columns: LabelColumns | None = field(default=None, repr=False, compare=False)
    sampled: int = 0  # sample mode: rows clustered (0: every row was)
    sample_run: str = ""  # sample mode: the run that clustered the sample
    assigned: int = 0  # sample mode: rows labelled by the vote of the sample
    assigned_written: int = 0  # of those, rows whose labels changed: the only ones written
    sample_min_cluster_size: int = 0  # sample mode: min_cluster_size scaled to the sample
    layers: list[int] = field(default_factory=list)  # clusters in layers 1, 2, … (catalog's)

    @property
    def noise_share(self) -> float:
        return self.noise / self.rows if self.rows else 0.0

    def labels(self) -> dict[Any, int]:
        """Primary key → cluster id (-1 noise) of every row this run clustered (empty
        after a dry run)."""
        if self.columns is None:
            return {}
        return dict(zip(self.columns.keys.pks.tolist(), self.columns.labels.tolist()))

    @property
    def warnings(self) -> list[str]:
        """What a person should know about a clustering that found little."""
        return clustering_warnings(self)

    def as_dict(self) -> dict[str, Any]:
        result = asdict(replace(self, columns=None))
        del result["columns"]
        result["warnings"] = self.warnings
        result["plan"] = self.plan.as_dict()
        result["noise_share"] = round(self.noise_share, 4)
        result["noise_share_before"] = round(self.noise_before / self.rows, 4) if self.rows else 0
        result["drift"] = self.drift.as_dict() if self.drift else None
        return result

    def counts(self) -> dict[str, Any]:
        """The figures a run row keeps."""
        changed = self.drift.changed if self.drift else None
        return {
            "rows": self.rows,
            "clusters": self.clusters,
            "noise": self.noise,
            "noise_before": self.noise_before,
            "changed": changed,
            "strategy": self.plan.strategy,
            "sampled": self.sampled,
            "assigned": self.assigned,
        }


@dataclass(frozen=True)
class Target:
    """A collection ready to label: what it is, what its server can do, and the plan."""

    info: CollectionInfo
    capabilities: Capabilities
    plan: Plan
    text_field: str | None = None  # the texts that name the clusters


@dataclass(frozen=True)
class Clustered:
    """What the stages before the write make: the labels by key, and their story."""

    settled: Settled
    columns: LabelColumns
    method: str  # how the graph was built
    pieces: int  # pieces of the kNN graph that had to be joined
    keywords: dict[int, list[str]]
    layer_keywords: tuple[dict[int, list[str]], ...] = ()  # the same, layers 1, 2, …

    def layer_entries(self, run_id: str) -> list[LayerEntry]:
        """The catalog's rows of the coarser layers' clusters."""
        hierarchy, entries = self.settled.hierarchy, []
        for layer, labels in enumerate(hierarchy.labels, 1):
            sizes = np.bincount(labels[labels >= 0], minlength=0)
            above = hierarchy.layers.parents[layer] if layer < hierarchy.layers.depth else None
            words = self.layer_keywords[layer - 1] if self.layer_keywords else {}
            for cluster in np.flatnonzero(sizes):
                parent = int(above[cluster]) if above is not None else -1
                entry = LayerEntry(layer, int(cluster), int(sizes[cluster]), run_id,
                                   tuple(words.get(int(cluster), ())), parent)  # fmt: skip
                entries.append(entry)
        return entries

    def cluster_entries(self, run_id: str) -> list[ClusterEntry]:
        """The catalog's rows of the clusters, with their keywords and parents."""
        layers = self.settled.layers
        return [
            ClusterEntry.of(
                s, run_id, self.keywords.get(s.cluster_id, ()), layers.chain(s.cluster_id)
            )
            for s in self.settled.summaries
        ]


def cluster_rows(
    milvus: Milvus, target: Target, params: Parameters, clock: Clock, catalog: Catalog | None
) -> Clustered:
    """Read, kNN, (reduce,) cluster, settle the ids, name the clusters: every stage of a
    run before its write, which reads Milvus and writes nothing. `catalog` gives the ids
    handed out so far (None: no catalog yet)."""
    info = target.info
    with clock.stage("read", info.rows) as advance:
        read = read_rows(milvus, info, target.plan, target.text_field, advance)
    vectors, previous = read.vectors, read.previous
    graph: knn_stage.KnnGraph | None = None  # EVoC builds its own neighbours
    method = "evoc"
    if params.engine != "evoc":  # evoc-knn votes on the graph
        with clock.stage("knn", vectors.n) as advance:
            graph, method = build_graph(milvus, info, vectors, params, advance)
    clustering, settled = cluster_and_settle(graph, vectors, previous, params, clock, catalog)
    keywords: dict[int, list[str]] = {}
    layer_keywords: list[dict[int, list[str]]] = []
    if read.texts is not None:
        with clock.timed("keywords"):
            keywords = named_clusters(read.texts, settled)
            for labels in settled.hierarchy.labels:
                words = cluster_keywords(read.texts.tolist(), labels, top=KEYWORDS)
                layer_keywords.append(
                    {int(c): words.get(int(c), []) for c in np.unique(labels[labels >= 0])}
                )
    columns = LabelColumns(
        KeyIndex(vectors.pks), settled.labels, settled.probabilities, settled.layers
    )
    return Clustered(settled, columns, method, clustering.pieces, keywords, tuple(layer_keywords))


def cluster_and_settle(
    graph: knn_stage.KnnGraph | None,
    vectors: Vectors,
    previous: np.ndarray | None,
    params: Parameters,
    clock: Clock,
    catalog: Catalog | None,
) -> tuple[Clustering, Settled]:
    """(Reduce,) cluster, and settle the ids, the noise and the summaries: the rows of
    `graph` and `vectors` are the collection's, or its sample's; `catalog` gives the
    ids handed out so far (None: no catalog yet). Engine 'evoc' ignores `graph` (None
    is fine) and settles on the neighbours EVoC found; 'evoc-knn' votes on `graph`."""
    if params.engine in EVOC_ENGINES:
        clustering, graph = evoc_stage(graph, vectors, params, clock)
    else:
        assert graph is not None, "engine 'hdbscan' clusters the kNN graph"
        clustering = cluster_graph_stage(graph, vectors, params, clock)
    with clock.timed("cluster"):
        # Scales, the noise policy and centroids stay in the collection's own space,
        # where `assign` searches, whatever space the clustering ran in.
        settled = settle_labels(
            graph,
            clustering,
            vectors,
            previous,
            ledger_for(catalog, previous),
            params.min_samples or 0,
            params.noise,
            catalog.hierarchy() if catalog is not None and previous is not None else Layers(),
            catalog.layer_ledgers() if catalog is not None and previous is not None else (),
            anchor=params.anchor,
            min_cluster_size=params.min_cluster_size,
        )
    return clustering, settled


def evoc_stage(
    graph: knn_stage.KnnGraph | None, vectors: Vectors, params: Parameters, clock: Clock
) -> tuple[Clustering, knn_stage.KnnGraph]:
    """EVoC on the vectors (COSINE and IP collections only: Parameters.for_collection),
    then, for evoc-knn, the vote on `graph`; and the graph the summaries use: `graph`,
    or EVoC's own neighbours where there is none (engine evoc)."""
    neighbours = params.k or 0 if params.engine == "evoc" else EVOC_NEIGHBORS
    with clock.timed("cluster"):
        found = evoc_clustering(
            vectors.vectors, params.min_cluster_size, params.min_samples or 0, neighbours
        )
    if params.engine == "evoc" or graph is None:
        return with_evoc_layers(found.clustering, found.layers), found.graph
    with clock.timed("vote"):
        return with_evoc_layers(knn_vote(graph, found.clustering), found.layers), graph


def cluster_graph_stage(
    graph: knn_stage.KnnGraph, vectors: Vectors, params: Parameters, clock: Clock
) -> Clustering:
    """HDBSCAN on the kNN graph, or on the graph of its UMAP embedding (`reduce`)."""
    clustered, points = graph, vectors.vectors
    if params.reduce is not None:
        with clock.stage("reduce", vectors.n) as advance:
            clustered, points = reduce_graph(graph, points, params.reduce)
            advance(vectors.n)
    with clock.timed("cluster"):
        return cluster_graph(
            clustered,
            params.min_cluster_size,
            params.min_samples or 0,
            params.cluster_selection,
            vectors=points,
        )


def named_clusters(texts: np.ndarray, settled: Settled) -> dict[int, list[str]]:
    """The c-TF-IDF keywords (core/keywords.py) of each cluster that has members."""
    words = cluster_keywords(texts.tolist(), settled.labels, top=KEYWORDS)
    return {s.cluster_id: words.get(s.cluster_id, []) for s in settled.summaries}


@dataclass(frozen=True)
class Read:
    """The read stage's result: vectors, the labels rows had, the texts (by row)."""

    vectors: Vectors
    previous: np.ndarray | None  # (n,) int64, UNLABELLED for none; None: no label field
    texts: np.ndarray | None  # (n,) object: str or None; None: no text field


def read_rows(
    milvus: Milvus, info: CollectionInfo, the_plan: Plan, text_field: str | None, advance: Advance
) -> Read:
    """Keys and vectors, and in the same pass the label each row has now (while there
    is a label field) and its text (while there is a text field), aligned with the keys."""
    label_field = the_plan.label_field if the_plan.has_labels else None
    also = [name for name in (label_field, text_field) if name]
    pks: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    texts: list[np.ndarray] = []

    def keep(batch: list[dict]) -> None:
        pks.append(as_key_array([row[info.pk] for row in batch]))
        if label_field:
            labels.append(label_array([row.get(label_field) for row in batch]))
        if text_field:
            texts.append(np.array([row.get(text_field) for row in batch], dtype=object))

    read = read_vectors(milvus, info, advance, also=also, each_batch=keep if also else None)
    vectors = in_key_order(read)  # the same rows, the same order: the clustering depends on it
    keys = KeyIndex(vectors.pks)
    return Read(
        vectors,
        aligned_labels(keys, pks, labels) if label_field else None,
        aligned(keys, pks, texts, None, object) if text_field else None,
    )


def ledger_for(catalog: Catalog | None, previous: np.ndarray | None) -> IdLedger:
    """The ids handed out so far. Before the label field exists no row has an id to
    keep, so ids start at 0 again, even where a catalog outlived an earlier collection
    of the same name."""
    return catalog.ledger() if catalog is not None and previous is not None else IdLedger()


def build_graph(
    milvus: Milvus,
    info: CollectionInfo,
    vectors: Vectors,
    params: Parameters,
    advance: Advance,
) -> tuple[knn_stage.KnnGraph, str]:
    """The kNN graph by Milvus search, or locally over the vectors already read.

    auto: local, on Lite and on servers. The read stage holds every vector here
    already, and the local cell graph (core/cells.py) was measured both faster and
    closer to the exact graph than the server's own search of its HNSW index, at
    200,000 × 384-d rows on 2 shared cores (README, Scale: recall@32 against exact
    neighbours of 20,000 rows): Milvus 2.3.5 search ~540 queries/s (373 s), recall
    below the cell graph's; the cell graph 152 s at recall 0.91 (224 cells, 8
    probes) under a load average of 5–7. Milvus Lite searches inside this process at
    ~420 queries/s (HNSW) or ~23 (FLAT). `--knn milvus` stays for clusters whose
    query nodes outnumber this client's cores."""
    method = params.knn if params.knn != "auto" else "local"
    k = params.k or 0
    if method == "local":
        return knn_stage.local_knn(vectors.vectors, k, info.metric, advance), method
    lite_flat = milvus.lite and info.index_type.upper() in ("FLAT", "")
    batch = knn_stage.search_batch_size(vectors.n, info.dim, k, lite_flat)
    search: Callable[[np.ndarray, int], Any] = lambda queries, limit: milvus.search(  # noqa: E731
        info, queries, limit
    )
    keys = KeyIndex(vectors.pks)
    in_flight = 1 if milvus.lite else SEARCHES_IN_FLIGHT  # Lite searches in this process
    graph = knn_stage.milvus_knn(
        vectors.vectors, keys, k, info.metric, search, batch, advance, in_flight
    )
    return graph, method


def result_of(
    target: Target,
    params: Parameters,
    clock: Clock,
    done: Clustered | None = None,
    job: Job | None = None,
    dry_run: bool = False,
    preview: bool = False,
) -> LabelResult:
    info, the_plan = target.info, target.plan
    settled = done.settled if done is not None else None
    summaries = settled.summaries if settled is not None else []
    labelled = the_plan.swap_names or the_plan.strategy != "shadow"
    return LabelResult(
        collection=info.name if labelled else (the_plan.shadow or info.name),
        requested=info.requested,
        rows=len(settled.labels) if settled is not None else info.rows,
        clusters=len(summaries),
        noise=settled.noise if settled is not None else 0,
        sizes=[summary.size for summary in summaries],
        plan=the_plan,
        parameters=params,
        knn=done.method if done is not None else "none",
        pieces=done.pieces if done is not None else 0,
        capabilities=target.capabilities,
        seconds=clock.seconds,
        dry_run=dry_run,
        cluster_ids=[summary.cluster_id for summary in summaries],
        noise_before=settled.noise_before if settled is not None else 0,
        drift=settled.drift if settled is not None else None,
        run_id=job.run_id if job else "",
        catalog=job.catalog.name if job else "",
        took_over=job.took_over if job else "",
        preview=preview,
        text_field=target.text_field,
        keywords=done.keywords if done is not None else {},
        columns=done.columns if done is not None else None,
        layers=[int(np.unique(labels[labels >= 0]).size) for labels in settled.hierarchy.labels]
        if settled is not None
        else [],
    )


MOSTLY_NOISE = 0.9  # a share of noise rows above which a run says what to change


def clustering_warnings(result: LabelResult) -> list[str]:
    """Say so when a clustering found nothing, or almost only noise, and what to change."""
    if result.dry_run or result.rows == 0:
        return []
    p = result.parameters
    plain = p.reduce is None and p.engine == "hdbscan"
    text = " (or, for text embeddings, --engine evoc)" if plain else ""
    if result.clusters == 0:
        return [
            f"warning: no clusters found in {result.rows:,} rows: every row is noise; lower "
            f"--min-cluster-size (now {p.min_cluster_size}) or --min-samples (now "
            f"{p.min_samples}){text}."
        ]
    if result.noise_share > MOSTLY_NOISE:
        return [
            f"warning: {100 * result.noise_share:.0f} % of the rows are noise; lower "
            f"--min-samples (now {p.min_samples}) or --min-cluster-size (now "
            f"{p.min_cluster_size}){text}."
        ]
    return []
