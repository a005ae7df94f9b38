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

Sample mode: while the catalog's sample record is `spreading` (after `label --sample N
--sample-only`, or a sample run killed half-way), assign labels the rows the sample
left instead, by the vote of the sample (commands/spread.py), all of them or, with
`--shard I/N`, one share, under that share's own lock so that the shards run at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from milvus_cluster.commands.connect import connect
from milvus_cluster.commands.spread import Model, labelled_plan, model_of, spread
from milvus_cluster.commands.stages import Advance, Clock, StageProgress
from milvus_cluster.core import knn as knn_stage
from milvus_cluster.core.keys import KeyIndex
from milvus_cluster.core.layers import Layers
from milvus_cluster.core.parameters import Parameters
from milvus_cluster.core.sample import Shard, parse_shard
from milvus_cluster.core.vectors import collect_vectors
from milvus_cluster.core.vote import Verdict, joined, verdict_of_hits
from milvus_cluster.errors import LockHeld, ParameterError
from milvus_cluster.jobs.catalog import Catalog
from milvus_cluster.jobs.lock import LOCK_TTL, held_message
from milvus_cluster.jobs.run import Job, holder_of, run_job
from milvus_cluster.jobs.sampling import SampleRecord, load_sample
from milvus_cluster.migration.plan import Plan
from milvus_cluster.migration.write import LabelColumns, write_some
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.expressions import labelled, unlabelled


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
    shard: str = ""  # sample mode: the share labelled ("1/4"), "0/1" for all
    sample_run: str = ""  # sample mode: the run whose sample the rows were voted against

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
    shard: str | None = None,
) -> AssignResult:
    """Label the rows of `collection` whose label is null (see the module's contract).

    After `label --sample N --sample-only` (or a sample run killed half-way), the rows
    the sample left are labelled instead, by the vote of the sample (commands/spread.py),
    and `shard` ("I/N") labels only share I of N of them, so that N processes run
    side by side."""
    share = parse_shard(shard)  # before anything is opened: a bad value changes nothing
    clock = Clock(progress)
    with connect(uri, token, db_name) as milvus:
        with clock.timed("inspect"):
            milvus.inspect(collection, vector_field)  # refuse what cannot be read first
        with milvus.loaded_for_run(collection):  # counting rows needs a loaded collection
            with clock.timed("inspect"):
                info = milvus.inspect(collection, vector_field, count=True)
                the_plan = labelled_plan(milvus, info, label_field, prob_field)
                catalog = Catalog.open(milvus, info.requested)
                record = load_sample(catalog)
                if record is not None and record.state == "spreading":
                    return assign_share(milvus, info, the_plan, record, share, clock, lock_ttl)
                if share.count > 1:
                    raise ParameterError(
                        f"--shard {share}: no sample run of {info.requested!r} is waiting for "
                        "its other rows (label --sample N --sample-only starts one); run "
                        "assign without --shard to label new rows."
                    )
                model = model_of(
                    catalog, info.requested, label_hint=milvus.hint(f"label -c {info.requested}")
                )
                waiting = info.rows - milvus.count(info.name, labelled(label_field))
            if waiting == 0:
                return AssignResult(info.name, info.requested, 0, 0, 0, seconds=clock.seconds)
            with run_job(milvus, info, "assign", {"k": model.k}, lock_ttl) as job:
                result = _run(milvus, Task(info, the_plan, model), job, waiting, clock)
                job.finish(result.counts(), clock.seconds)
                return result


def assign_share(
    milvus: Milvus,
    info: CollectionInfo,
    the_plan: Plan,
    record: SampleRecord,
    share: Shard,
    clock: Clock,
    lock_ttl: float,
) -> AssignResult:
    """Label a share of the rows a sample run left, under that share's own lock (the
    collection's when it is all of them); refused while a label or relabel runs."""
    catalog = Catalog.open(milvus, info.requested)
    holder = holder_of(catalog) if catalog is not None and share.count > 1 else None
    if holder is not None:
        raise LockHeld(held_message(info.requested, holder))
    shard = str(share) if share.count > 1 else ""
    parameters = {"k": Parameters.of(record.parameters).k, "sample_run": record.run_id}
    with run_job(milvus, info, "assign", parameters, lock_ttl, shard=shard) as job:
        outcome = spread(milvus, info, the_plan, record, share, job, clock)
        counts = outcome.progress.counts
        result = AssignResult(
            collection=info.name,
            requested=info.requested,
            rows=outcome.rows,
            assigned=outcome.rows - outcome.noise,
            noise=outcome.noise,
            by_cluster={c: n for c, n in sorted(counts.items()) if c >= 0},
            seconds=clock.seconds,
            run_id=job.run_id,
            catalog=job.catalog.name,
            took_over=job.took_over,
            shard=str(share),
            sample_run=record.run_id,
        )
        job.finish(result.counts(), clock.seconds)
        return result


@dataclass(frozen=True)
class Task:
    """The collection to assign rows of, how its labels are written, and the rule's model."""

    info: CollectionInfo
    plan: Plan
    model: Model


def _run(milvus: Milvus, task: Task, job: Job, waiting: int, clock: Clock) -> AssignResult:
    info, the_plan = task.info, task.plan
    with clock.stage("search", waiting) as advance:
        unlabelled = unlabelled_rows(milvus, info, the_plan.label_field)
        found = find_labels(milvus, task, unlabelled, advance, most=waiting)
    labels = np.concatenate([f.columns.labels for f in found]) if found else np.zeros(0, int)
    with clock.stage("write", len(labels)) as advance:
        advance = job.checked(advance)
        for part in found:
            write_some(milvus, info, the_plan, part.columns, part.partition, advance)
        milvus.flush(info.name)
        clusters, sizes = np.unique(labels[labels >= 0], return_counts=True)
        by_cluster = dict(zip(clusters.tolist(), sizes.tolist()))
        job.catalog.add_to_sizes(by_cluster)
    noise = int(np.count_nonzero(labels < 0))
    return AssignResult(
        collection=info.name,
        requested=info.requested,
        rows=len(labels),
        assigned=len(labels) - noise,
        noise=noise,
        by_cluster=by_cluster,
        seconds=clock.seconds,
        run_id=job.run_id,
        catalog=job.catalog.name,
        took_over=job.took_over,
    )


def find_labels(
    milvus: Milvus, task: Task, waiting: str, advance: Advance, most: int
) -> list[Found]:
    """Read the unlabelled rows (`waiting`: their filter; keys and vectors, a batch at a
    time) and find each one's label; what is kept is keys and labels, by partition.
    At `most` rows (as many as were waiting at the start) the run stops: Milvus 2.3's
    iterator shows rows inserted after it began, and an application that inserts
    faster than rows are searched would otherwise keep a run going for ever (seen:
    over 900 s for 300 rows); the rows it adds meanwhile wait for the next run."""
    info = task.info
    fields = [info.pk, info.vector_field]
    parts: dict[str | None, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    done = 0
    for partition, batch in milvus.iterate_by_partition(info.name, info.pk, fields, waiting):
        batch = batch[: max(most - done, 0)]
        if not batch:
            break
        rows = collect_vectors([batch], info.pk, info.vector_field, info.dim, len(batch))
        verdict = label_rows(milvus, task, rows.vectors)
        parts.setdefault(partition, []).append((rows.pks, verdict.labels, verdict.shares))
        advance(rows.n)
        done += rows.n
    layers = task.model.layers
    return [Found(partition, _columns(found, layers)) for partition, found in parts.items()]


def _columns(
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]], layers: Layers
) -> LabelColumns:
    """One LabelColumns from the (keys, labels, shares) of several batches; a row's layer
    fields get its cluster's parents (the catalog's)."""
    keys, labels, shares = (np.concatenate(column) for column in zip(*found))
    return LabelColumns(KeyIndex(keys), labels, shares, layers)


def label_rows(milvus: Milvus, task: Task, vectors: np.ndarray) -> Verdict:
    """The rule's verdict for these vectors, from their nearest labelled rows in Milvus."""
    info, the_plan, model = task.info, task.plan, task.model
    lite_flat = milvus.lite and info.index_type.upper() in ("FLAT", "")
    size = knn_stage.search_batch_size(info.rows, info.dim, model.k, lite_flat)
    verdicts = []
    for start in range(0, len(vectors), size):
        batch = vectors[start : start + size]
        query_index, _, raw, values = milvus.search_where(
            info, batch, model.k, labelled(the_plan.label_field), the_plan.label_field
        )
        hit_labels = np.asarray(values, dtype=np.int64)
        rows, found = knn_stage.hits_to_matrix(query_index, hit_labels, raw, len(batch), model.k)
        verdicts.append(verdict_of_hits(rows, found, np.isnan(found), info.metric, model.scales))
    return joined(verdicts)


def unlabelled_rows(milvus: Milvus, info: CollectionInfo, field: str) -> str:
    """The filter for rows without a label. A declared field's own description says
    whether it can be null (Milvus 2.3 takes the nullable flag at creation and ignores
    it); a dynamic key is missing on rows never labelled, found as the server allows."""
    spec = info.field(field)
    if spec is not None:
        return unlabelled(field, spec.nullable)
    return unlabelled(field, milvus.capabilities().nullable, dynamic_key=True)
