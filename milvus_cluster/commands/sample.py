"""label's sample mode: cluster N rows, then label every other row by its nearest sampled rows.

The stages:

1. sample: a key-only pass picks the N rows whose seeded key hashes are smallest
   (core/sample.py): uniform over every partition, the same rows on every rerun,
   O(N) memory.
2. read: their vectors (and, on a relabel, their labels) fetched by key.
3. knn, cluster: the sample's own kNN graph (local faiss: a Milvus search would find
   rows outside the sample), HDBSCAN (and --reduce), ids settled as in a full run
   (core/stable_ids.py, the catalog's ledger), the drift measured on the sample.
4. write: the sample's labels (on a first run through the migration, which leaves the
   other rows without a label), the clusters and the sample record into the catalog.
5. assign: every other row labelled by the vote, a batch at a time (commands/spread.py),
   unless `sample_only`: then `assign --shard I/N` processes label the rest.

A run killed in stages 1-4 is started again by the next one (the same sample, the same
clusters and ids); killed in stage 5, the next `label` with the same parameters, or
`assign`, finds the sample record `spreading` and carries on from its progress row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from milvus_cluster.commands.labelling import LabelResult, Target, cluster_and_settle
from milvus_cluster.commands.spread import (
    SPREAD_BATCH,
    KeyPass,
    SampleSet,
    Spread,
    labelled_plan,
    spread,
)
from milvus_cluster.commands.stages import Advance, Clock
from milvus_cluster.core import knn as knn_stage
from milvus_cluster.core.keys import KeyIndex, as_key_array
from milvus_cluster.core.labels import label_array
from milvus_cluster.core.parameters import Parameters
from milvus_cluster.core.sample import SampleChooser, Shard, sample_cluster_size
from milvus_cluster.core.settle import Settled
from milvus_cluster.core.stable_ids import DriftGuard, check_drift
from milvus_cluster.core.vectors import Vectors, check_finite, collect_vectors
from milvus_cluster.jobs.catalog import ClusterEntry
from milvus_cluster.jobs.run import Job, parameters_of
from milvus_cluster.jobs.sampling import SampleRecord, load_sample, save_sample
from milvus_cluster.migration.apply import apply
from milvus_cluster.migration.write import LabelColumns, needing_labels, write_some
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.read import rows_by_key


@dataclass(frozen=True)
class Chosen:
    """The sample's keys, the partition each lives in, and the hash threshold."""

    keys: np.ndarray
    partitions: list[str | None]  # by the numbers in `where`
    where: np.ndarray  # (N,) int32 index into `partitions`
    threshold: int
    every_key: KeyPass | None = None  # every key and whether it has a label (a relabel)


def label_sampled(
    milvus: Milvus,
    target: Target,
    params: Parameters,
    size: int,
    clock: Clock,
    job: Job,
    relabel: DriftGuard | None = None,
    sample_only: bool = False,
) -> LabelResult:
    """Stages 1-5 of the module's contract, or 5 alone when a killed run left them."""
    info = target.info
    record = resumable(job, params, size)
    settled: Settled | None = None
    known: SampleSet | None = None
    every_key: KeyPass | None = None
    if record is None:
        record, settled, known, every_key = cluster_sample(
            milvus, target, params, size, clock, job, relabel
        )
    outcome: Spread | None = None
    if not sample_only:
        labelled = milvus.inspect(info.requested, info.vector_field, count=True)
        the_plan = labelled_plan(milvus, labelled, target.plan.label_field, target.plan.prob_field)
        outcome = spread(milvus, labelled, the_plan, record, Shard(), job, clock, known, every_key)
    return sampled_result(target, params, clock, job, record, settled, outcome)


def resumable(job: Job, params: Parameters, size: int) -> SampleRecord | None:
    """The sample record a killed run of the same parameters left half-spread, if any."""
    record = load_sample(job.catalog)
    wanted = json.loads(json.dumps(parameters_of(replace(params, sample=size))))
    if record is None or record.state != "spreading" or record.parameters != wanted:
        return None
    return record


def cluster_sample(
    milvus: Milvus,
    target: Target,
    params: Parameters,
    size: int,
    clock: Clock,
    job: Job,
    relabel: DriftGuard | None,
) -> tuple[SampleRecord, Settled, SampleSet, KeyPass | None]:
    """Stages 1-4: choose, read, cluster and write the sample; record it. Where the rows
    may have labels, the key pass that chose the sample is kept for stage 5."""
    info = target.info
    label_field = target.plan.label_field if target.plan.has_labels else None
    with clock.stage("sample", info.rows) as advance:
        chosen = choose_sample(milvus, info, size, params.seed, advance, label_field)
    with clock.stage("read", len(chosen.keys)) as advance:
        vectors, previous = read_sample(milvus, info, target, chosen.keys, advance)
    graph: knn_stage.KnnGraph | None = None  # engine evoc builds its own neighbours
    if params.engine != "evoc":
        with clock.stage("knn", vectors.n) as advance:
            graph = knn_stage.local_knn(vectors.vectors, params.k or 0, info.metric, advance)
    scaled = sample_cluster_size(params.min_cluster_size, vectors.n, info.rows)
    on_sample = replace(params, min_cluster_size=scaled)
    _, settled = cluster_and_settle(graph, vectors, previous, on_sample, clock, job.catalog)
    check_drift(settled.drift, relabel)
    columns = LabelColumns(KeyIndex(vectors.pks), settled.labels, settled.probabilities)
    with clock.stage("write", vectors.n) as advance:
        job.check()
        job.catalog.save_ledger(settled.ledger)  # fresh ids are spent before a row has one
        write_sample(milvus, target, columns, chosen, job.checked(advance))
        job.catalog.replace_clusters([ClusterEntry.of(s, job.run_id) for s in settled.summaries])
        record = SampleRecord(
            run_id=job.run_id,
            size=vectors.n,
            seed=params.seed,
            threshold=chosen.threshold,
            parameters=parameters_of(replace(params, sample=size)),
            sizes={s.cluster_id: s.size for s in settled.summaries},
            min_cluster_size=scaled,
        )
        save_sample(job.catalog, record)
    return record, settled, SampleSet(vectors.vectors, settled.labels), chosen.every_key


def choose_sample(
    milvus: Milvus,
    info: CollectionInfo,
    size: int,
    seed: int,
    advance: Advance,
    label_field: str | None = None,
) -> Chosen:
    """A key-only pass over every partition; the `size` keys of smallest hash. With
    `label_field`, the label is read too and every key kept (Chosen.every_key)."""
    chooser = SampleChooser(size, seed)
    every_key = KeyPass(label_field) if label_field else None
    fields = every_key.fields(info) if every_key else [info.pk]
    partitions: list[str | None] = []
    for partition, batch in milvus.iterate_by_partition(info.name, info.pk, fields):
        if partition not in partitions:
            partitions.append(partition)
        if every_key is not None:
            keys = every_key.add(info, partition, batch)
        else:
            keys = as_key_array([row[info.pk] for row in batch])
        chooser.add(keys, partitions.index(partition))
        advance(len(batch))
    keys, where, threshold = chooser.result()
    return Chosen(keys, partitions or [None], where, threshold, every_key)


def read_sample(
    milvus: Milvus, info: CollectionInfo, target: Target, keys: np.ndarray, advance: Advance
) -> tuple[Vectors, np.ndarray | None]:
    """The sample's keys and vectors, and its labels where the label field exists
    (UNLABELLED where a row has none), aligned with the keys."""
    field = target.plan.label_field if target.plan.has_labels else None
    fields = [info.pk, info.vector_field, *([field] if field else [])]
    labels: dict[str, list] = {"pks": [], "labels": []}

    def batches() -> Iterator[list[dict]]:
        for start in range(0, len(keys), SPREAD_BATCH):
            rows = rows_by_key(milvus, info, keys[start : start + SPREAD_BATCH], fields)
            if field:
                labels["pks"] += [row[info.pk] for row in rows]
                labels["labels"] += [row.get(field) for row in rows]
            yield rows

    vectors = collect_vectors(batches(), info.pk, info.vector_field, info.dim, len(keys), advance)
    check_finite(vectors.vectors, info.vector_field)
    if info.metric == "IP":
        knn_stage.check_unit_length(vectors.vectors)
    if not field:
        return vectors, None
    previous = np.full(vectors.n, -2, dtype=np.int64)
    rows = KeyIndex(vectors.pks).rows(labels["pks"])
    previous[rows[rows >= 0]] = label_array(labels["labels"])[rows >= 0]
    return vectors, previous


def write_sample(
    milvus: Milvus, target: Target, columns: LabelColumns, chosen: Chosen, advance: Advance
) -> None:
    """The sample's labels: where rows may have labels already, only the sample's rows,
    partition by partition (the others keep theirs until stage 5); else through the
    migration the plan says (the other rows get no label until stage 5 gives them one)."""
    info, the_plan = target.info, target.plan
    if not the_plan.has_labels:  # the first run: the fields come in, the sample's labels too
        apply(milvus, info, the_plan, columns, target.capabilities.scalar_index, advance)
        return
    if the_plan.strategy == "dynamic":
        milvus.set_properties(info.name, the_plan.marker)  # the keys are ours from now on
    rows = columns.keys.rows(chosen.keys)
    for number, partition in enumerate(chosen.partitions):
        there = (chosen.where == number) & (rows >= 0)
        mine = needing_labels(milvus, info, the_plan, columns.only(rows[there]))
        advance(int(there.sum()) - len(mine.keys))  # the rows that keep their labels
        write_some(milvus, info, the_plan, mine, partition, advance)
    milvus.flush(info.name)
    if the_plan.strategy != "dynamic":  # as apply() does: a dynamic key has no index
        milvus.ensure_scalar_index(
            info.name, the_plan.label_field, target.capabilities.scalar_index
        )


def sampled_result(
    target: Target,
    params: Parameters,
    clock: Clock,
    job: Job,
    record: SampleRecord,
    settled: Settled | None,
    outcome: Spread | None,
) -> LabelResult:
    """The LabelResult of a sample run: clusters and sizes as the catalog has them now."""
    info, the_plan = target.info, target.plan
    entries = job.catalog.clusters()
    labelled = the_plan.swap_names or the_plan.strategy != "shadow"
    sample_noise = record.size - sum(record.sizes.values())
    noise = sample_noise + (outcome.noise if outcome else 0)
    return LabelResult(
        collection=info.name if labelled else (the_plan.shadow or info.name),
        requested=info.requested,
        rows=record.size + (outcome.rows if outcome else 0),
        clusters=len(entries),
        noise=noise,
        sizes=[e.size for e in entries],
        plan=the_plan,
        parameters=params,
        knn="local",
        pieces=0,
        capabilities=target.capabilities,
        seconds=clock.seconds,
        cluster_ids=[e.cluster_id for e in entries],
        noise_before=settled.noise_before if settled is not None else sample_noise,
        drift=settled.drift if settled is not None else None,
        run_id=job.run_id,
        catalog=job.catalog.name,
        took_over=job.took_over,
        sampled=record.size,
        sample_run=record.run_id,
        assigned=outcome.rows if outcome else 0,
        assigned_written=outcome.written if outcome else 0,
        sample_min_cluster_size=record.min_cluster_size,
    )
