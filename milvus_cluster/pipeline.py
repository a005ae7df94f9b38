"""label_collection: connect, inspect, read, knn, cluster, write — in that order."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from . import knn as knn_stage
from . import shadow
from .capabilities import Capabilities
from .catalog import ClusterEntry, IdLedger
from .clustering import SelectionMethod, check_parameters, cluster_graph
from .collection import CollectionInfo, Milvus
from .errors import CollectionError
from .faults import checkpoint
from .jobs import Job, parameters_of, run_job
from .keys import KeyIndex, as_key_array
from .lock import LOCK_TTL, connect
from .read import Vectors, aligned_labels, check_complete, collect_vectors, label_array
from .reduce import Reduction, reduce_graph, require_umap
from .schema import Plan, Requested, plan
from .settle import NoisePolicy, Settled, settle_labels
from .stable_ids import Drift, DriftGuard, check_drift
from .write import LabelColumns, write_in_place

KnnMethod = Literal["auto", "milvus", "local"]
StageProgress = Callable[[str, int], Callable[[int], None]]
"""progress(stage, total) is called as a stage starts and returns advance(rows)."""


@dataclass(frozen=True)
class Parameters:
    min_cluster_size: int = 10
    min_samples: int | None = None  # default: min(min_cluster_size, 16)
    k: int | None = None  # default: max(2 * min_samples, 16)
    method: SelectionMethod = "eom"
    knn: KnnMethod = "auto"
    noise: NoisePolicy = "keep"  # "assign": noise rows close enough to a cluster join it
    reduce: Reduction | None = None  # topic-model mode: cluster in a UMAP embedding

    def resolved(self) -> Parameters:
        min_samples = self.min_samples or min(self.min_cluster_size, 16)
        k = self.k or max(2 * min_samples, 16)
        return replace(self, min_samples=min_samples, k=k)

    @classmethod
    def of(cls, values: dict[str, Any]) -> Parameters:
        """Parameters as a run row stores them (unknown keys ignored)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if isinstance(known.get("reduce"), dict):
            known["reduce"] = Reduction(**known["reduce"])
        return cls(**known)


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
        return {"rows": self.rows, "clusters": self.clusters, "noise": self.noise,
                "noise_before": self.noise_before, "changed": changed,
                "strategy": self.plan.strategy}  # fmt: skip


def label_collection(
    collection: str,
    *,
    uri: str = "./milvus.db",
    token: str = "",
    db_name: str = "",
    vector_field: str | None = None,
    label_field: str = "cluster_id",
    prob_field: str | None = "cluster_prob",
    parameters: Parameters = Parameters(),
    strategy: Requested = "auto",
    allow_required: bool = False,
    dry_run: bool = False,
    progress: StageProgress | None = None,
    relabel: DriftGuard | None = None,
    lock_ttl: float = LOCK_TTL,
) -> LabelResult:
    """Cluster `collection` with HDBSCAN on its kNN graph and write the labels into it.

    `strategy` and `allow_required` choose how the label field gets in (see
    schema.py); `dry_run` returns the plan without reading or writing anything.
    Under the collection's lock, recorded in its catalog. Where rows have labels
    already, clusters keep their ids (stable_ids.py) and the drift is reported;
    `relabel` (a DriftGuard) requires such labels and refuses too much drift."""
    params = parameters.resolved()
    seconds: dict[str, float] = {}
    milvus = connect(uri, token, db_name)
    try:
        with timed(seconds, "inspect"):
            shadow.finish_switch(milvus, collection)
            milvus.inspect(collection, vector_field)  # refuse what cannot be clustered first
        with milvus.loaded_for_run(collection):  # counting rows needs a loaded collection
            with timed(seconds, "inspect"):
                info = milvus.inspect(collection, vector_field, count=True)
                capabilities = milvus.capabilities()
                fields = milvus.describe(info.name)["fields"]
                the_plan = plan(info, fields, capabilities, label_field, prob_field, strategy,
                                allow_required)  # fmt: skip
                check_parameters(info.rows, params.k or 0, params.min_cluster_size,
                                 params.min_samples or 0)  # fmt: skip
                if params.reduce is not None:
                    require_umap()
            if relabel is not None and not has_labels(the_plan):
                raise CollectionError(
                    f"{info.requested!r} has no {label_field!r} labels yet, so there is nothing "
                    f"to relabel; label it first: milvus-cluster label -c {info.requested}"
                )
            if dry_run:
                return _result(info, the_plan, params, None, "none", seconds, capabilities,
                               dry_run=True)  # fmt: skip
            command = "relabel" if relabel is not None else "label"
            with run_job(milvus, info, command, parameters_of(params), lock_ttl) as job:
                result = _run(milvus, info, the_plan, capabilities, params, seconds,
                              progress, job, relabel)  # fmt: skip
                job.finish(result.counts(), seconds)
                return result
    finally:
        milvus.close()


def _run(milvus, info, the_plan, capabilities, params, seconds, progress, job: Job,
         relabel: DriftGuard | None) -> LabelResult:  # fmt: skip
    """Read, kNN, (reduce,) cluster and settle the ids, write: the stages after a plan."""
    with stage(seconds, progress, "read", info.rows) as advance:
        vectors, previous = read_with_labels(milvus, info, the_plan, advance)
    with stage(seconds, progress, "knn", vectors.n) as advance:
        graph, method = build_graph(milvus, info, vectors.vectors, vectors.pks, params, advance)
    clustered, points = graph, vectors.vectors
    if params.reduce is not None:
        with stage(seconds, progress, "reduce", vectors.n) as advance:
            clustered, points = reduce_graph(graph, points, params.reduce)
            advance(vectors.n)
    with timed(seconds, "cluster"):
        clustering = cluster_graph(clustered, params.min_cluster_size, params.min_samples or 0,
                                   params.method, vectors=points)  # fmt: skip
        # Scales, the noise policy and centroids stay in the collection's own space,
        # where `assign` searches, whatever space the clustering ran in.
        settled = settle_labels(
            graph, clustering, vectors.vectors, vectors.pks, previous, ledger_for(job, previous),
            params.min_samples or 0, params.noise,
        )  # fmt: skip
    check_drift(settled.drift, relabel)
    columns = LabelColumns(KeyIndex(vectors.pks), settled.labels, settled.probabilities)
    del graph, clustered, points, vectors  # the write stage needs keys and labels only
    with stage(seconds, progress, "write", len(columns.labels)) as advance:
        job.check()
        job.catalog.save_ledger(settled.ledger)  # fresh ids are spent before a row has one
        advance = checked(job, advance)
        if the_plan.strategy == "shadow":
            shadow.migrate(milvus, info, the_plan, columns, capabilities.scalar_index, advance)
        else:
            if the_plan.strategy == "add-field":
                for spec in the_plan.field_specs():
                    milvus.add_field(info.name, spec["name"], spec["type"])
            write_in_place(milvus, info, the_plan, columns, advance)
            checkpoint("written")
            if the_plan.strategy != "dynamic":  # a dynamic key has no index of its own
                milvus.ensure_scalar_index(info.name, the_plan.label_field,
                                           capabilities.scalar_index)  # fmt: skip
        job.catalog.replace_clusters([ClusterEntry.of(s, job.run_id) for s in settled.summaries])
    return _result(info, the_plan, params, settled, method, seconds, capabilities, job,
                   clustering.pieces)  # fmt: skip


def has_labels(the_plan: Plan) -> bool:
    """Whether rows may carry labels already: the field exists, or they are dynamic keys."""
    return the_plan.strategy in ("in-place", "dynamic")


def read_with_labels(
    milvus: Milvus, info: CollectionInfo, the_plan: Plan, advance: Callable[[int], None]
) -> tuple[Vectors, np.ndarray | None]:
    """Keys and vectors, and in the same pass the label each row has now (UNLABELLED
    where it has none), aligned with the keys; None while there is no label field."""
    if not has_labels(the_plan):
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


def checked(job: Job, advance: Callable[[int], None]) -> Callable[[int], None]:
    """A progress callback that also stops the job when it has lost its lock."""

    def advance_checked(rows: int) -> None:
        job.check()
        advance(rows)

    return advance_checked


def read_vectors(
    milvus: Milvus,
    info: CollectionInfo,
    advance: Callable[[int], None],
    also: Sequence[str] = (),
    each_batch: Callable[[list[dict]], None] | None = None,
):
    """Keys and vectors of every row, checked against count(*). Fields named in `also`
    are read too, for `each_batch` to see (every batch, repeated rows included)."""
    counted = milvus.count(info.name)
    batches = milvus.iterate(info.name, [info.pk, info.vector_field, *also])
    if each_batch is not None:
        batches = _seen(batches, each_batch)
    vectors = collect_vectors(batches, info.pk, info.vector_field, info.dim, counted, advance)
    check_complete(vectors.n, counted, milvus.count(info.name))
    if info.metric == "IP":
        knn_stage.check_unit_length(vectors.vectors)
    return vectors


def _seen(batches: Iterable[list[dict]], each_batch: Callable[[list[dict]], None]):
    for batch in batches:
        each_batch(batch)
        yield batch


def build_graph(
    milvus: Milvus,
    info: CollectionInfo,
    vectors: np.ndarray,
    pks: np.ndarray,
    params: Parameters,
    advance: Callable[[int], None],
) -> tuple[knn_stage.KnnGraph, str]:
    """The kNN graph by Milvus search, or locally over the vectors already read.

    auto: local on Milvus Lite, which searches inside this process and at
    ~420 queries/s (HNSW) or ~23 (FLAT) is far slower than faiss over the same
    vectors; Milvus search on a server, which has the index and the cores."""
    method = params.knn if params.knn != "auto" else ("local" if milvus.lite else "milvus")
    k = params.k or 0
    if method == "local":
        return knn_stage.local_knn(vectors, k, info.metric, advance), method
    lite_flat = milvus.lite and info.index_type.upper() in ("FLAT", "")
    batch = knn_stage.search_batch_size(len(vectors), info.dim, k, lite_flat)
    search = lambda batch_vectors, limit: milvus.search(info, batch_vectors, limit)  # noqa: E731
    graph = knn_stage.milvus_knn(vectors, KeyIndex(pks), k, info.metric, search, batch, advance)
    return graph, method


@contextmanager
def timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall time to seconds[name]."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - start, 3)


@contextmanager
def stage(
    seconds: dict[str, float], progress: StageProgress | None, name: str, total: int
) -> Iterator[Callable[[int], None]]:
    """Time a stage and hand it the caller's progress callback, advance(rows)."""
    with timed(seconds, name):
        yield progress(name, total) if progress else (lambda rows: None)


def _result(
    info, the_plan, params, settled: Settled | None, method, seconds,
    capabilities: Capabilities | None, job: Job | None = None, pieces: int = 0,
    dry_run: bool = False,
) -> LabelResult:  # fmt: skip
    summaries = settled.summaries if settled is not None else []
    return LabelResult(
        collection=info.name
        if the_plan.swap_names or the_plan.strategy != "shadow"
        else (the_plan.shadow or info.name),
        requested=info.requested,
        rows=len(settled.labels) if settled is not None else info.rows,
        clusters=len(summaries),
        noise=settled.noise if settled is not None else 0,
        sizes=[summary.size for summary in summaries],
        plan=the_plan,
        parameters=params,
        knn=method,
        pieces=pieces,
        capabilities=capabilities,
        seconds=seconds,
        dry_run=dry_run,
        cluster_ids=[summary.cluster_id for summary in summaries],
        noise_before=settled.noise_before if settled is not None else 0,
        drift=settled.drift if settled is not None else None,
        run_id=job.run_id if job else "",
        catalog=job.catalog.name if job else "",
        took_over=job.took_over if job else "",
    )
