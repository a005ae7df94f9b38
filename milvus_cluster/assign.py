"""assign: a label for every row that has none, without clustering again.

Rows inserted since the last run have no label: null, or the UNLABELLED
placeholder where the field cannot be null. For each of them, a Milvus search
among the labelled rows (`filter="cluster_id >= -1"`: noise counts) finds its k
nearest labelled neighbours, and the nearest-cluster rule of vote.py, with the
catalog's cluster scales, gives it a cluster id or -1 (k: that of the labelling
run that made the clusters). Its `cluster_prob` is its cluster's
share of the distance-weighted vote.

All searches run before any label is written, so a row never takes its label from
another row labelled in the same run (which would let a new group of rows creep
into a cluster a row at a time). The writes touch only the new rows, partition by
partition. A killed run leaves some rows labelled and the rest null: the next run
labels the rest. A run with nothing to label ends at once, without lock or run row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import knn as knn_stage
from .catalog import Catalog
from .collection import CollectionInfo, Milvus
from .errors import CollectionError
from .jobs import Job, run_job
from .keys import KeyIndex
from .lock import LOCK_TTL, connect
from .pipeline import Parameters, StageProgress, checked, has_labels, stage, timed
from .read import collect_vectors
from .schema import UNLABELLED, Plan, plan
from .vote import nearest_cluster
from .write import LabelColumns, write_some


@dataclass(frozen=True)
class Model:
    """What the rule needs from the catalog: each cluster's scale, and k."""

    scales: np.ndarray  # indexed by cluster id, NaN for ids without a cluster
    k: int


@dataclass(frozen=True)
class Found:
    """The labels found for the rows of one partition (None: no manual partitions)."""

    partition: str | None
    columns: LabelColumns


@dataclass(frozen=True)
class AssignResult:
    collection: str
    requested: str
    rows: int  # rows that had no label
    assigned: int  # of those, rows given a cluster id
    noise: int  # of those, rows labelled -1
    by_cluster: dict[int, int] = field(default_factory=dict)  # rows given each cluster id
    seconds: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    catalog: str = ""
    took_over: str = ""

    @property
    def rows_per_second(self) -> float:
        busy = sum(s for stage, s in self.seconds.items() if stage != "inspect")
        return self.rows / busy if busy > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rows_per_second": round(self.rows_per_second, 1)}

    def counts(self) -> dict[str, Any]:
        return {"rows": self.rows, "assigned": self.assigned, "noise": self.noise}


def assign_collection(
    collection: str,
    *,
    uri: str = "./milvus.db",
    token: str = "",
    db_name: str = "",
    vector_field: str | None = None,
    label_field: str = "cluster_id",
    prob_field: str | None = "cluster_prob",
    progress: StageProgress | None = None,
    lock_ttl: float = LOCK_TTL,
) -> AssignResult:
    """Label the rows of `collection` whose label is null (see the module's contract)."""
    seconds: dict[str, float] = {}
    milvus = connect(uri, token, db_name)
    try:
        with timed(seconds, "inspect"):
            milvus.inspect(collection, vector_field)  # refuse what cannot be read first
        with milvus.loaded_for_run(collection):  # counting rows needs a loaded collection
            with timed(seconds, "inspect"):
                info = milvus.inspect(collection, vector_field, count=True)
                the_plan = labelled_plan(milvus, info, label_field, prob_field)
                model = model_of(Catalog.open(milvus, info.requested), info.requested)
                waiting = info.rows - milvus.count(info.name, labelled(label_field))
            if waiting == 0:
                return AssignResult(info.name, info.requested, 0, 0, 0, seconds=seconds)
            with run_job(milvus, info, "assign", {"k": model.k}, lock_ttl) as job:
                result = _run(milvus, info, the_plan, model, job, waiting, seconds, progress)
                job.finish(result.counts(), seconds)
                return result
    finally:
        milvus.close()


def _run(milvus, info, the_plan, model, job: Job, waiting, seconds, progress) -> AssignResult:
    nullable = may_be_null(milvus, info, the_plan.label_field)
    with stage(seconds, progress, "search", waiting) as advance:
        found = find_labels(milvus, info, the_plan, model, nullable, advance)
    labels = np.concatenate([f.columns.labels for f in found]) if found else np.zeros(0, int)
    with stage(seconds, progress, "write", len(labels)) as advance:
        advance = checked(job, advance)
        for part in found:
            write_some(milvus, info, the_plan, part.columns, part.partition, advance)
        milvus.flush(info.name)
        clusters, sizes = np.unique(labels[labels >= 0], return_counts=True)
        by_cluster = dict(zip(clusters.tolist(), sizes.tolist()))
        job.catalog.add_to_sizes(by_cluster)
    noise = int(np.count_nonzero(labels < 0))
    return AssignResult(
        info.name, info.requested, len(labels), len(labels) - noise, noise, by_cluster, seconds,
        job.run_id, job.catalog.name, job.took_over,
    )  # fmt: skip


def find_labels(
    milvus: Milvus,
    info: CollectionInfo,
    the_plan: Plan,
    model: Model,
    nullable: bool,
    advance: Callable[[int], None],
) -> list[Found]:
    """Read the unlabelled rows (keys and vectors, a batch at a time) and find each one's
    label; what is kept is keys and labels, by partition."""
    fields = [info.pk, info.vector_field]
    waiting = unlabelled(the_plan.label_field, nullable)
    parts: dict[str | None, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for partition, batch in milvus.iterate_by_partition(info.name, info.pk, fields, waiting):
        rows = collect_vectors([batch], info.pk, info.vector_field, info.dim, len(batch))
        verdict = label_rows(milvus, info, the_plan, model, rows.vectors)
        parts.setdefault(partition, []).append((rows.pks, verdict.labels, verdict.shares))
        advance(rows.n)
    return [
        Found(partition, LabelColumns(KeyIndex(np.concatenate([p for p, _, _ in found])),
                                      np.concatenate([labels for _, labels, _ in found]),
                                      np.concatenate([shares for _, _, shares in found])))
        for partition, found in parts.items()
    ]  # fmt: skip


def label_rows(milvus: Milvus, info: CollectionInfo, the_plan: Plan, model: Model,
               vectors: np.ndarray):  # fmt: skip
    """The rule's verdict for these vectors, from their nearest labelled rows in Milvus."""
    lite_flat = milvus.lite and info.index_type.upper() in ("FLAT", "")
    size = knn_stage.search_batch_size(info.rows, info.dim, model.k, lite_flat)
    labels = np.empty((len(vectors), model.k), dtype=np.int64)
    distances = np.empty((len(vectors), model.k), dtype=np.float32)
    for start in range(0, len(vectors), size):
        batch = vectors[start : start + size]
        query_index, _, raw, values = milvus.search_where(
            info, batch, model.k, labelled(the_plan.label_field), the_plan.label_field
        )
        hit_labels = np.asarray(values, dtype=np.int64)
        rows, found = knn_stage.hits_to_matrix(query_index, hit_labels, raw, len(batch), model.k)
        stop = start + len(batch)
        distances[start:stop] = np.where(np.isnan(found), np.inf,
                                         knn_stage.to_distances(found, info.metric))  # fmt: skip
        labels[start:stop] = np.where(np.isnan(found), -1, rows)
    return nearest_cluster(labels, distances, model.scales)


def labelled_plan(
    milvus: Milvus, info: CollectionInfo, label_field: str, prob_field: str | None
) -> Plan:
    """How labels are written in place; refuses a collection that has no labels yet."""
    fields = milvus.describe(info.name)["fields"]
    the_plan = plan(info, fields, milvus.capabilities(), label_field, prob_field)
    if not has_labels(the_plan):
        raise CollectionError(
            f"{info.requested!r} has no {label_field!r} field yet, so there are no clusters to "
            f"assign rows to; label it first: milvus-cluster label -c {info.requested}"
        )
    return the_plan


def model_of(catalog: Catalog | None, collection: str) -> Model:
    """Scales from the catalog's clusters, k from their labelling run."""
    clusters = catalog.clusters() if catalog is not None else []
    if not clusters:
        raise CollectionError(
            f"{collection!r} has no clusters in its catalog, so new rows have nothing to join; "
            f"label it first: milvus-cluster label -c {collection}"
        )
    scales = np.full(max(c.cluster_id for c in clusters) + 1, np.nan)
    for cluster in clusters:
        scales[cluster.cluster_id] = cluster.scale
    run = catalog.last_labelling() if catalog is not None else None
    params = Parameters.of(run.parameters if run else {}).resolved()
    return Model(scales, params.k or 0)


def may_be_null(milvus: Milvus, info: CollectionInfo, field: str) -> bool:
    """Whether a row without a label can have a null one. The field's own description
    decides (Milvus 2.3 takes the nullable flag at creation and ignores it); a dynamic
    key can be missing wherever the server knows nulls at all."""
    spec = next((f for f in milvus.describe(info.name)["fields"] if f["name"] == field), None)
    return bool(spec.get("nullable")) if spec else milvus.capabilities().nullable


def labelled(field: str) -> str:
    """Rows with a label, noise included. A comparison is false on null and on a missing
    dynamic key, so this works on every server and however the field was declared."""
    return f"{field} >= -1"


def unlabelled(field: str, nullable: bool) -> str:
    """Rows without a label: null, or the UNLABELLED placeholder where fields cannot be
    null (servers before 2.5 have no `is null` either)."""
    placeholder = f"{field} == {UNLABELLED}"
    return f"{field} is null or {placeholder}" if nullable else placeholder
