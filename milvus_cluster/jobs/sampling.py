"""Sample mode's state in the catalog: what the sample was, and how far each shard got.

Two kinds of rows, next to the clusters they belong with (jobs/catalog.py):

- `sample` (one row): the run that clustered the sample, its parameters, its seed and
  threshold (core/sample.py: a key is in the sample when its hash is at most the
  threshold), the sampled rows per cluster id, and its state: `spreading` while the
  other rows still wait for their labels, `done` once a complete set of shards has
  labelled them. A shard needs nothing else to rebuild the sample and its clusters.
- `progress` (one row per shard and sample run, `spread:<run>:<I>/<N>`): for each
  partition the last key labelled (keys go in sorted order, so a restarted shard skips
  every key up to it), the rows labelled per cluster id, and whether it finished.

The clusters' sizes are the sampled rows plus every shard's rows, written again by each
shard that finishes (from all the progress rows, so shards never add to each other's
counts: the last to finish writes the whole sum).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from milvus_cluster.core.sample import Shard
from milvus_cluster.jobs.catalog import Catalog

SAMPLE_KEY = "sample"
SampleState = Literal["spreading", "done"]


@dataclass(frozen=True)
class SampleRecord:
    run_id: str  # the run that clustered the sample
    size: int  # rows sampled
    seed: int
    threshold: int  # the largest key hash taken (uint64)
    parameters: dict[str, Any]  # of the clustering, resolved (k, min_samples, ...)
    sizes: dict[int, int] = field(default_factory=dict)  # sampled rows per cluster id
    state: SampleState = "spreading"
    min_cluster_size: int = 0  # as the sample was clustered (core/sample.py: scaled)

    def as_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["threshold"] = str(self.threshold)  # beyond JSON's int64 in Milvus
        data["sizes"] = {str(c): n for c, n in self.sizes.items()}
        return data

    @classmethod
    def of(cls, data: dict[str, Any]) -> SampleRecord:
        return cls(
            run_id=data["run_id"],
            size=int(data["size"]),
            seed=int(data["seed"]),
            threshold=int(data["threshold"]),
            parameters=dict(data.get("parameters") or {}),
            sizes={int(c): int(n) for c, n in (data.get("sizes") or {}).items()},
            state=data.get("state", "spreading"),
            min_cluster_size=int(data.get("min_cluster_size", 0)),
        )


def load_sample(catalog: Catalog | None) -> SampleRecord | None:
    data = catalog.data(SAMPLE_KEY) if catalog is not None else None
    return SampleRecord.of(data) if data else None


def save_sample(catalog: Catalog, record: SampleRecord) -> None:
    catalog.save_data(SAMPLE_KEY, "sample", record.as_data(), record.run_id)


def supersede(catalog: Catalog) -> None:
    """A full label replaced the clusters: a sample left half-spread must not go on."""
    record = load_sample(catalog)
    if record is not None and record.state == "spreading":
        save_sample(catalog, replace(record, state="done"))


@dataclass(frozen=True)
class Progress:
    """How far one shard got in labelling the rows of one sample run."""

    run_id: str
    shard: str  # "I/N"
    done: dict[str, Any] = field(default_factory=dict)  # partition ("" none) -> last key
    counts: dict[int, int] = field(default_factory=dict)  # rows per label, -1 noise
    finished: bool = False

    @property
    def key(self) -> str:
        return progress_key(self.run_id, self.shard)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def advanced(self, partition: str | None, last: Any, labels: np.ndarray) -> Progress:
        counts = Counter(self.counts)
        counts.update(np.asarray(labels, dtype=np.int64).tolist())
        done = self.done | {partition or "": _plain_key(last)}
        return replace(self, done=done, counts=dict(counts))

    def as_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = {str(c): n for c, n in self.counts.items()}
        return data

    @classmethod
    def of(cls, data: dict[str, Any]) -> Progress:
        return cls(
            run_id=data["run_id"],
            shard=data["shard"],
            done=dict(data.get("done") or {}),
            counts={int(c): int(n) for c, n in (data.get("counts") or {}).items()},
            finished=bool(data.get("finished")),
        )


def progress_key(run_id: str, shard: str) -> str:
    return f"spread:{run_id}:{shard}"


def load_progress(catalog: Catalog, run_id: str, shard: Shard) -> Progress:
    data = catalog.data(progress_key(run_id, str(shard)))
    return Progress.of(data) if data else Progress(run_id, str(shard))


def save_progress(catalog: Catalog, progress: Progress) -> None:
    catalog.save_data(progress.key, "progress", progress.as_data(), progress.run_id)


def all_progress(catalog: Catalog, run_id: str) -> list[Progress]:
    found = [Progress.of(data) for data in catalog.data_of_kind("progress").values()]
    return [p for p in found if p.run_id == run_id]


def complete(progress: list[Progress]) -> bool:
    """Whether finished shards cover every row: all of 0/N .. N-1/N for some N."""
    finished = {p.shard for p in progress if p.finished}
    counts = {int(shard.split("/")[1]) for shard in finished}
    return any(all(f"{i}/{n}" in finished for i in range(n)) for n in counts)


def settle_sizes(catalog: Catalog, record: SampleRecord, attempts: int = 3) -> dict[int, int]:
    """Write the clusters' sizes (sampled rows plus every shard's), and mark the sample
    done once a complete set of shards has finished. Read again after writing: a shard
    that finished meanwhile is then counted in (the last writer writes the whole sum)."""
    seen: list[Progress] | None = None
    for _ in range(attempts):
        progress = all_progress(catalog, record.run_id)
        if progress == seen:
            break
        sizes = Counter(record.sizes)
        for shard in _one_set(progress):
            sizes.update({c: n for c, n in shard.counts.items() if c >= 0})
        catalog.set_sizes(dict(sizes))
        if complete(progress):
            save_sample(catalog, replace(record, state="done"))
        seen = progress
    return {c: n for c, n in sizes.items()}


def _one_set(progress: list[Progress]) -> list[Progress]:
    """The progress rows of one way of sharding (the most finished one): rows labelled
    by shards 0/1 and by 1/4 of the same sample run are the same rows twice."""
    by_count: dict[int, list[Progress]] = {}
    for p in progress:
        by_count.setdefault(int(p.shard.split("/")[1]), []).append(p)
    if not by_count:
        return []
    return max(
        by_count.values(), key=lambda ps: (sum(p.finished for p in ps), sum(p.rows for p in ps))
    )


def _plain_key(key: Any) -> Any:
    return key.item() if isinstance(key, np.generic) else key
