"""Labels for the rows a sample left out: the vote of their nearest sampled rows.

The contract: a collection whose label field exists, a SampleRecord (jobs/sampling.py)
whose clusters are the catalog's, and a Shard. Every row of the shard that is not in
the sample gets the label `assign` would give it (core/vote.py: the clusters' scales,
the noise cut-off), with its k nearest neighbours among the sample's rows found in a
local index over the sample's vectors (core/vote.py's vote_index: exact faiss search,
or an IVF index, scanned by matrix products, probed at as few lists as give the exact
votes). Why local: Milvus cannot search "the sample" without a filter that names its
keys, and a local index answers 10-100× more queries a second than a Milvus search on
Lite or on the 2.3.5 server (README, *Sample mode*).

Streaming: a key-only pass gives the shard's keys (sorted, by partition) and which of
them have a label already; then a batch at a time the rows are read by key, voted on
and written, and every SPREAD_BATCH rows the shard's progress row records the last key
done. Only rows whose label fields the vote changes are written: a nightly relabel of
unchanged rows reads and votes, and writes next to nothing. Where the server has
partial upsert, key, vector and label fields are read and key + label written. Where it
has not, a row with a label is read (key, vector, label fields) and voted on first;
the rows without one, and those whose label the vote changes, are then read once more,
whole (Strong), voted on and upserted whole at once, REWRITE_BATCH rows at a time with
a few batches in flight (migration/write.py's rewrites), so that the window in which
the application's write to a row would be undone stays one small batch's. Memory: the
sample (N × dim), the shard's keys, the batches in flight. A shard killed half-way and
started again skips every key up to the last one recorded; the batches after it are
voted on again, with the same labels.

Also here, because `assign` and the sample share them: the vote's model from the
catalog (Model, model_of) and the in-place plan of a labelled collection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from milvus_cluster.checkpoints import checkpoint
from milvus_cluster.commands.stages import Advance, Clock
from milvus_cluster.core.keys import KeyIndex, as_key_array
from milvus_cluster.core.labels import label_array
from milvus_cluster.core.layers import Layers
from milvus_cluster.core.parameters import Parameters
from milvus_cluster.core.sample import Shard, in_sample
from milvus_cluster.core.vectors import collect_vectors
from milvus_cluster.core.vote import SampleIndex, vote_in_sample, vote_index
from milvus_cluster.errors import CollectionError, LockLost
from milvus_cluster.jobs.catalog import Catalog, catalog_name
from milvus_cluster.jobs.run import Job
from milvus_cluster.jobs.sampling import (
    Progress,
    SampleRecord,
    load_progress,
    load_sample,
    save_progress,
    settle_sizes,
)
from milvus_cluster.migration.plan import Plan, plan
from milvus_cluster.migration.write import LabelColumns, changed_keys, rewrites, write_some
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo
from milvus_cluster.milvus.in_flight import in_order
from milvus_cluster.milvus.read import rows_by_key

# Rows fetched by key, voted on and written at a time. Measured on the 2.3.5 server at
# 200,000 rows: 2,000 a batch labelled 571 rows/s, 10,000 747 rows/s, one call at a
# time; most of it was waiting on the time tick of Strong reads, which the reads and
# rewrites in flight now share (milvus/in_flight.py).
SPREAD_BATCH = 10_000
# Batches read and voted on ahead of the one being written, on a server (each a few
# hundred MB of rows as pymilvus returns them, at most VOTES_AHEAD + 1 held).
VOTES_AHEAD = 2
# Without partial upsert, a batch is voted on before its rows are read whole only while
# the last one voted on first changed at most CHANGING of its rows (measured at 1,000,000
# rows on 2.3.5: the first sample run after a full one changed 90 %, and voting first
# took its assign stage from 508 s to 789 s; the nightly relabel changed none, 354 s to
# 221 s); past it, every RECHECK-th batch is voted on first, to see.
CHANGING = 0.5
RECHECK = 8


@dataclass(frozen=True)
class Model:
    """What the rule needs from the catalog: each cluster's scale, and k; and the
    clusters' parents, which a row labelled c gets in its layer fields."""

    scales: np.ndarray  # indexed by cluster id, NaN for ids without a cluster
    k: int
    layers: Layers = field(default_factory=Layers)


@dataclass(frozen=True)
class SampleSet:
    """The sample's rows as the vote needs them: vectors (N × dim) and labels (N,)."""

    vectors: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Spread:
    """What one shard labelled: rows per label (-1 noise), this time and before."""

    progress: Progress
    labelled_now: int  # rows labelled by this process
    sizes: dict[int, int]  # every cluster's size in the catalog afterwards
    written: int = 0  # of the rows labelled by this process, those whose labels changed

    @property
    def rows(self) -> int:
        return self.progress.rows

    @property
    def noise(self) -> int:
        return self.progress.counts.get(-1, 0)


def labelled_plan(
    milvus: Milvus, info: CollectionInfo, label_field: str, prob_field: str | None
) -> Plan:
    """How labels are written in place; refuses a collection that has no labels yet."""
    labelled_before = milvus.has(catalog_name(info.requested))  # else plan() refuses
    the_plan = plan(info, milvus.capabilities(), label_field, prob_field, overwrite=labelled_before)
    if not the_plan.has_labels:
        raise CollectionError(
            f"{info.requested!r} has no {label_field!r} field yet, so there are no clusters to "
            f"assign rows to; label it first: {milvus.hint(f'label -c {info.requested}')}"
        )
    return the_plan


def model_of(
    catalog: Catalog | None,
    collection: str,
    k: int | None = None,
    label_hint: str | None = None,
) -> Model:
    """Scales from the catalog's clusters, k from their labelling run (or `k`);
    `label_hint` is the command that labels the collection, for the refusal."""
    clusters = catalog.clusters() if catalog is not None else []
    if not clusters:
        raise CollectionError(
            f"{collection!r} has no clusters in its catalog, so new rows have nothing to join; "
            f"label it first: {label_hint or f'milvus-cluster label -c {collection}'}"
        )
    scales = np.full(max(c.cluster_id for c in clusters) + 1, np.nan)
    for cluster in clusters:
        scales[cluster.cluster_id] = cluster.scale
    if k is None:
        run = catalog.last_labelling() if catalog is not None else None
        k = Parameters.of(run.parameters if run else {}).resolved().k
    hierarchy = catalog.hierarchy() if catalog is not None else Layers()
    return Model(scales, k or 0, hierarchy)


def spread(
    milvus: Milvus,
    info: CollectionInfo,
    the_plan: Plan,
    record: SampleRecord,
    shard: Shard,
    job: Job,
    clock: Clock,
    known: SampleSet | None = None,
    keys: KeyPass | None = None,
) -> Spread:
    """Label the shard's rows outside the sample (see the module's contract); `known`:
    the sample as the clustering left it, else fetched again by key; `keys`: the sample's
    own pass over keys and labels, else the keys are read here."""
    model = model_of(job.catalog, info.requested, Parameters.of(record.parameters).k)
    if keys is not None:
        groups, sample_keys = keys.groups(record.seed, record.threshold, shard)
    else:
        with clock.stage("keys", info.rows) as advance:
            label_field = the_plan.label_field
            groups, sample_keys = shard_keys(milvus, info, record, shard, label_field, advance)
    if known is None:
        with clock.stage("read", len(sample_keys)) as advance:
            known = fetch_sample(milvus, info, the_plan.label_field, sample_keys, advance)
    progress = load_progress(job.catalog, record.run_id, shard)
    waiting = [group.after(_resume_at(group.keys, progress, group.partition)) for group in groups]
    done_before = progress.rows
    index = vote_index(known.vectors, known.labels, info.metric, model.k, model.scales)
    voter = Voter(index, known, model)
    labelled = _upserted if the_plan.write == "partial upsert" else _rewritten
    written = Written()
    with clock.stage("assign", sum(len(group.keys) for group in waiting)) as advance:
        advance = job.checked(advance)
        for group in waiting:
            batches = labelled(milvus, info, the_plan, voter, group, written, advance)
            for last, labels in _every(SPREAD_BATCH, batches):
                progress = progress.advanced(group.partition, last, labels)
                save_progress(job.catalog, progress)
                checkpoint("spread-batch")
                check_current(job.catalog, record)
        milvus.flush(info.name)
        progress = replace(progress, finished=True)
        save_progress(job.catalog, progress)
        sizes = settle_sizes(job.catalog, record)
    return Spread(progress, progress.rows - done_before, sizes, written.rows)


@dataclass(frozen=True)
class KeyGroup:
    """A partition's keys in the shard (sorted), and which of them have a label."""

    partition: str | None
    keys: np.ndarray
    labelled: np.ndarray  # (len(keys),) bool

    def after(self, start: int) -> KeyGroup:
        return KeyGroup(self.partition, self.keys[start:], self.labelled[start:])

    def batches(self) -> Iterator[KeyGroup]:
        for start in range(0, len(self.keys), SPREAD_BATCH):
            stop = start + SPREAD_BATCH
            yield KeyGroup(self.partition, self.keys[start:stop], self.labelled[start:stop])


@dataclass
class Written:
    """Rows whose labels were written, counted from the main thread."""

    rows: int = 0


@dataclass(frozen=True)
class Voter:
    """The sample's index, its rows and the rule's model: what a batch is voted on by."""

    index: SampleIndex
    known: SampleSet
    model: Model
    # The rewrites in flight vote from several threads; faiss's exact search runs on
    # BLAS threads of its own, and several at once fight for the cores. Measured, 40,000
    # queries against 20,000 sampled rows on 2 cores: one caller 2.7 s, four at once
    # 9.1 s, four taking turns 2.9 s. The IVF index beyond 50,000 rows (core/vote.py's
    # vote_index) spreads its matrix products over the cores too, so it takes turns.
    turns: threading.Lock = field(default_factory=threading.Lock)

    def columns(self, info: CollectionInfo, rows: list[dict]) -> LabelColumns:
        """The vote of the sample for the rows read, as the labels to write."""
        pks = as_key_array([row[info.pk] for row in rows])
        if not rows:
            return LabelColumns(KeyIndex(pks), np.zeros(0, np.int64), np.zeros(0, np.float32))
        found = collect_vectors([rows], info.pk, info.vector_field, info.dim, len(rows))
        scales = self.model.scales
        with self.turns:
            verdict = vote_in_sample(
                self.index, self.known.labels, found.vectors, self.model.k, scales
            )
        return LabelColumns(KeyIndex(pks), verdict.labels, verdict.shares, self.model.layers)

    def changes(
        self, milvus: Milvus, info: CollectionInfo, the_plan: Plan, keys: np.ndarray
    ) -> tuple[LabelColumns, np.ndarray]:
        """The vote for the rows of these keys (read by key: vector and label fields),
        and which of them it gives other labels than they have."""
        fields = [info.pk, info.vector_field, *the_plan.fields]
        rows = rows_by_key(milvus, info, keys, fields)
        columns = self.columns(info, rows)
        return columns, changed_keys(rows, info.pk, columns, the_plan)


Labelled = Iterator[tuple[Any, np.ndarray]]  # per batch: its last key, its rows' labels


def _upserted(milvus, info, the_plan, voter: Voter, group, written, advance) -> Labelled:
    """Partial upserts: a batch's rows read by key and voted on (the next batches while
    this one is written), then key + label written for the rows whose labels change."""

    def voted(batch: KeyGroup) -> tuple[LabelColumns, np.ndarray]:
        return voter.changes(milvus, info, the_plan, batch.keys)

    batches = list(group.batches())
    for batch, (columns, changed) in zip(
        batches, in_order(voted, batches, milvus.calls(VOTES_AHEAD))
    ):
        written.rows += write_some(milvus, info, the_plan, columns.only(changed), batch.partition)
        advance(len(batch.keys))
        yield batch.keys[-1], columns.labels


def _rewritten(milvus, info, the_plan, voter: Voter, group, written, advance) -> Labelled:
    """Whole-row rewrites, of only the rows whose labels change: a batch's rows with a
    label voted on first (the next batches while this one is written); then those whose
    label changes and those without one read whole, voted on and upserted at once
    (migration/write.py's rewrites), a few batches in flight. A row that needs no new
    label is never read whole, let alone written. Where most rows change (the first
    sample run after a full one: the vote's shares are not HDBSCAN's probabilities),
    that first read is wasted, so batches go straight to the rewrites while the last
    batch voted on first changed more than CHANGING of its rows, every RECHECK-th
    batch voted on first again to see."""
    changing = {"share": 0.0}

    def voted(numbered: tuple[int, KeyGroup]) -> tuple[np.ndarray, np.ndarray]:
        number, batch = numbered
        if changing["share"] > CHANGING and number % RECHECK:
            return batch.keys, np.zeros(0, np.int64)
        columns, changed = voter.changes(milvus, info, the_plan, batch.keys[batch.labelled])
        changing["share"] = float(changed.mean()) if len(changed) else 0.0
        again = columns.keys.pks[changed].astype(batch.keys.dtype)  # (an empty read: str)
        rewrite = np.sort(np.concatenate([batch.keys[~batch.labelled], again]))
        return rewrite, columns.labels[~changed]

    vote = partial(voter.columns, info)
    batches = list(group.batches())
    ahead = in_order(voted, enumerate(batches), milvus.calls(VOTES_AHEAD))
    for batch, (rewrite, kept) in zip(batches, ahead):
        labels = [kept]
        for _, columns, count in rewrites(
            milvus, info, the_plan, rewrite.tolist(), batch.partition, vote
        ):
            labels.append(columns.labels)
            written.rows += count
        advance(len(batch.keys))  # here, not in the threads: it may raise (a lock lost)
        yield batch.keys[-1], np.concatenate(labels)


def _every(rows: int, batches: Labelled) -> Labelled:
    """The batches joined into groups of at least `rows` rows (the last maybe fewer):
    each group's last key and labels."""
    held: list[np.ndarray] = []
    for last, labels in batches:
        held.append(labels)
        if sum(len(part) for part in held) >= rows:
            yield last, np.concatenate(held)
            held = []
    if held:
        yield last, np.concatenate(held)


def check_current(catalog: Catalog, record: SampleRecord) -> None:
    """Stop a shard whose sample a newer label run has replaced (one small read a batch:
    its labels would otherwise overwrite the new run's)."""
    current = load_sample(catalog)
    if current is None or current.run_id != record.run_id or current.state != "spreading":
        raise LockLost(
            f"The sample of run {record.run_id} that this job labels rows by was replaced "
            "(a newer label run, or it is finished); this job stopped before writing more."
        )


def shard_keys(
    milvus: Milvus,
    info: CollectionInfo,
    record: SampleRecord,
    shard: Shard,
    label_field: str,
    advance: Advance,
) -> tuple[list[KeyGroup], np.ndarray]:
    """A pass over keys and labels: the shard's keys outside the sample, sorted, by
    partition (in the order partitions are written), with which of them have a label;
    and the sample's keys that are still there."""
    keys = KeyPass(label_field)
    for partition, batch in milvus.iterate_by_partition(info.name, info.pk, keys.fields(info)):
        keys.add(info, partition, batch)
        advance(len(batch))
    return keys.groups(record.seed, record.threshold, shard)


@dataclass
class KeyPass:
    """Every key a pass read and whether its row has a label, by partition: what the
    shard's rows are cut from (sample mode's own key pass keeps one, so that a relabel
    reads the keys once)."""

    label_field: str
    parts: dict[str | None, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def fields(self, info: CollectionInfo) -> list[str]:
        return [info.pk, self.label_field]

    def add(self, info: CollectionInfo, partition: str | None, batch: list[dict]) -> np.ndarray:
        """Keep a batch's keys and label presence; returns its keys."""
        keys = as_key_array([row[info.pk] for row in batch])
        labelled = label_array([row.get(self.label_field) for row in batch]) >= -1
        self.parts.setdefault(partition, []).append((keys, labelled))
        return keys

    def groups(self, seed: int, threshold: int, shard: Shard) -> tuple[list[KeyGroup], np.ndarray]:
        """The shard's keys outside the sample of this seed and threshold, sorted, by
        partition; and the sample's keys."""
        ordered, sampled = [], []
        for partition, chunks in self.parts.items():
            keys = np.concatenate([chunk for chunk, _ in chunks])
            labelled = np.concatenate([chunk for _, chunk in chunks])
            chosen = in_sample(keys, seed, threshold)
            sampled.append(keys[chosen])
            mine = ~chosen & shard.holds(keys, seed)
            order = np.argsort(keys[mine], kind="stable")
            ordered.append(KeyGroup(partition, keys[mine][order], labelled[mine][order]))
        return ordered, np.concatenate(sampled) if sampled else np.zeros(0, np.int64)


def fetch_sample(
    milvus: Milvus, info: CollectionInfo, label_field: str, keys: np.ndarray, advance: Advance
) -> SampleSet:
    """The sample's vectors and labels, read by key; rows without a label (inserted since
    the sample was taken, their hash below its threshold) are left out."""
    labels: list[np.ndarray] = []

    def labelled_batches() -> Iterator[list[dict]]:
        for batch in _batches(keys):
            rows = rows_by_key(milvus, info, batch, [info.pk, info.vector_field, label_field])
            found = label_array([row.get(label_field) for row in rows])
            labels.append(found[found >= -1])
            advance(len(rows))
            yield [row for row, label in zip(rows, found) if label >= -1]

    # The keys are distinct, so collect_vectors keeps every row, in reading order.
    vectors = collect_vectors(labelled_batches(), info.pk, info.vector_field, info.dim, len(keys))
    return SampleSet(vectors.vectors, np.concatenate(labels) if labels else np.zeros(0, np.int64))


def _resume_at(keys: np.ndarray, progress: Progress, partition: str | None) -> int:
    """Where a shard restarts in a partition's sorted keys: after the last key done."""
    last = progress.done.get(partition or "")
    if last is None or not len(keys):
        return 0
    return int(np.searchsorted(keys, last, side="right"))  # a str or an int: no truncation


def _batches(keys: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(keys), SPREAD_BATCH):
        yield keys[start : start + SPREAD_BATCH]
