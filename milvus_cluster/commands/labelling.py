"""What `label` and its sample mode share: the result, the target, reading with the
labels, the kNN graph, and clustering with settled ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from milvus_cluster.commands.stages import Advance, Clock
from milvus_cluster.core import knn as knn_stage
from milvus_cluster.core.clustering import Clustering, cluster_graph
from milvus_cluster.core.keys import KeyIndex, as_key_array
from milvus_cluster.core.labels import aligned_labels, label_array
from milvus_cluster.core.parameters import Parameters
from milvus_cluster.core.reduce import reduce_graph
from milvus_cluster.core.settle import Settled, settle_labels
from milvus_cluster.core.stable_ids import Drift, IdLedger
from milvus_cluster.core.vectors import Vectors
from milvus_cluster.jobs.run import Job
from milvus_cluster.migration.plan import Plan
from milvus_cluster.milvus.capabilities import Capabilities
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.read import read_vectors


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
    sampled: int = 0  # sample mode: rows clustered (0: every row was)
    sample_run: str = ""  # sample mode: the run that clustered the sample
    assigned: int = 0  # sample mode: rows labelled by the vote of the sample
    sample_min_cluster_size: int = 0  # sample mode: min_cluster_size scaled to the sample

    @property
    def noise_share(self) -> float:
        return self.noise / self.rows if self.rows else 0.0

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
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


def cluster_and_settle(
    graph: knn_stage.KnnGraph,
    vectors: Vectors,
    previous: np.ndarray | None,
    params: Parameters,
    clock: Clock,
    job: Job,
) -> tuple[Clustering, Settled]:
    """(Reduce,) cluster, and settle the ids, the noise and the summaries: the rows of
    `graph` and `vectors` are the collection's, or its sample's."""
    clustered, points = graph, vectors.vectors
    if params.reduce is not None:
        with clock.stage("reduce", vectors.n) as advance:
            clustered, points = reduce_graph(graph, points, params.reduce)
            advance(vectors.n)
    with clock.timed("cluster"):
        clustering = cluster_graph(
            clustered,
            params.min_cluster_size,
            params.min_samples or 0,
            params.method,
            vectors=points,
        )
        # Scales, the noise policy and centroids stay in the collection's own space,
        # where `assign` searches, whatever space the clustering ran in.
        settled = settle_labels(
            graph,
            clustering,
            vectors,
            previous,
            ledger_for(job, previous),
            params.min_samples or 0,
            params.noise,
        )
    return clustering, settled


def read_with_labels(
    milvus: Milvus, info: CollectionInfo, the_plan: Plan, advance: Advance
) -> tuple[Vectors, np.ndarray | None]:
    """Keys and vectors, and in the same pass the label each row has now (UNLABELLED
    where it has none), aligned with the keys; None while there is no label field."""
    if not the_plan.has_labels:
        return read_vectors(milvus, info, advance), None
    field_name = the_plan.label_field
    pks: list[np.ndarray] = []
    labels: list[np.ndarray] = []

    def keep(batch: list[dict]) -> None:
        pks.append(as_key_array([row[info.pk] for row in batch]))
        labels.append(label_array([row.get(field_name) for row in batch]))

    vectors = read_vectors(milvus, info, advance, also=[field_name], each_batch=keep)
    return vectors, aligned_labels(KeyIndex(vectors.pks), pks, labels)


def ledger_for(job: Job, previous: np.ndarray | None) -> IdLedger:
    """The ids handed out so far. Before the label field exists no row has an id to
    keep, so ids start at 0 again, even where a catalog outlived an earlier collection
    of the same name."""
    return job.catalog.ledger() if previous is not None else IdLedger()


def build_graph(
    milvus: Milvus,
    info: CollectionInfo,
    vectors: Vectors,
    params: Parameters,
    advance: Advance,
) -> tuple[knn_stage.KnnGraph, str]:
    """The kNN graph by Milvus search, or locally over the vectors already read.

    auto: local on Milvus Lite, which searches inside this process and at
    ~420 queries/s (HNSW) or ~23 (FLAT) is far slower than faiss over the same
    vectors; Milvus search on a server, which has the index and the cores."""
    method = params.knn if params.knn != "auto" else ("local" if milvus.lite else "milvus")
    k = params.k or 0
    if method == "local":
        return knn_stage.local_knn(vectors.vectors, k, info.metric, advance), method
    lite_flat = milvus.lite and info.index_type.upper() in ("FLAT", "")
    batch = knn_stage.search_batch_size(vectors.n, info.dim, k, lite_flat)
    search: Callable[[np.ndarray, int], Any] = lambda queries, limit: milvus.search(  # noqa: E731
        info, queries, limit
    )
    keys = KeyIndex(vectors.pks)
    graph = knn_stage.milvus_knn(vectors.vectors, keys, k, info.metric, search, batch, advance)
    return graph, method


def result_of(
    target: Target,
    params: Parameters,
    clock: Clock,
    settled: Settled | None = None,
    method: str = "none",
    job: Job | None = None,
    pieces: int = 0,
    dry_run: bool = False,
) -> LabelResult:
    info, the_plan = target.info, target.plan
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
        knn=method,
        pieces=pieces,
        capabilities=target.capabilities,
        seconds=clock.seconds,
        dry_run=dry_run,
        cluster_ids=[summary.cluster_id for summary in summaries],
        noise_before=settled.noise_before if settled is not None else 0,
        drift=settled.drift if settled is not None else None,
        run_id=job.run_id if job else "",
        catalog=job.catalog.name if job else "",
        took_over=job.took_over if job else "",
    )
