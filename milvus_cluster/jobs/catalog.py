"""The catalog: what milvus-cluster knows about a labelled collection, kept in Milvus.

One small companion collection per labelled collection, `<name>_mc_catalog`, named
after the name (or alias) the jobs are given with -c. Its rows are of four kinds,
told apart by `kind` and keyed by `key`:

- cluster (`cluster:<id>`), one per current cluster: id, size, centroid (the mean of
  its members' vectors, unit vectors for COSINE and IP), exemplars (keys of the
  members nearest the centroid), scale (the largest core distance among its members:
  how far its own members are from their min_samples-th neighbour; `assign` calls a
  row farther from the cluster than that noise), the run that made it, and keywords
  (c-TF-IDF words from the collection's text field, computed by label and relabel in
  the pass that reads the vectors; empty when there is no text field);
- run (`run:<run id>`), one per job: command, state (running, done, failed), owner,
  parameters, counts, seconds per stage, error;
- lock (`lock`): the job that may write labels now (see jobs/lock.py);
- layer (`layer<L>:<id>`), one per cluster of each coarser layer L ≥ 1 (core/layers.py):
  id, size, keywords, the run, and in `data` its layer and its parent in layer L + 1
  (-1 at the top); a cluster row's `data` keeps its parents in layers 1, 2, … (its
  chain), which `assign` gives the rows it labels;
- ids (`ids`): the next fresh cluster id and the ids retired, so that no id is ever
  used for a second cluster; the same for each coarser layer under `layers`.

Every row carries every field (servers before 2.5 have no nullable fields); fields a
kind does not use hold zeros and empty values. JSON fields hold objects (Milvus 2.3
takes no JSON array): exemplars {"items": [...]}, keywords {"items": [...]}, so that
`json_contains(keywords["items"], "tax")` finds a cluster by a keyword. Reads are
Strong (milvus/client.py): a job reads back what it has just written, which the lock
relies on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np

from milvus_cluster.core.layers import Layers, layers_from_chains
from milvus_cluster.core.stable_ids import IdLedger
from milvus_cluster.core.summaries import ClusterSummary
from milvus_cluster.errors import MilvusClusterError
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.expressions import quoted

CATALOG_OF = "milvus_cluster.catalog_of"  # property that marks a catalog as ours
KEEP_RUNS = 200  # run rows kept; older ones are deleted (the ids row keeps what matters)
PAGE = 16_384  # rows one query returns at most
CLUSTERS = 'kind == "cluster"'
LAYERS = 'kind == "layer"'
RunState = Literal["running", "done", "failed"]


def catalog_name(collection: str) -> str:
    return f"{collection}_mc_catalog"


def now() -> str:
    """The time as stored in the catalog: ISO 8601, UTC, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def seconds_since(moment: str) -> float:
    return (datetime.now(timezone.utc) - datetime.fromisoformat(moment)).total_seconds()


def new_run_id() -> str:
    """Sortable by time, unique across hosts: 20250101T120000Z-1a2b3c."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class ClusterEntry:
    cluster_id: int
    size: int
    centroid: np.ndarray  # (dim,) float32
    exemplars: tuple[Any, ...]  # primary keys, nearest the centroid first
    scale: float  # largest core distance of a member (a true distance, see core/knn.py)
    run_id: str
    keywords: tuple[str, ...] = ()
    parents: tuple[int, ...] = ()  # its cluster in layers 1, 2, … (empty: no layers)

    @classmethod
    def of(
        cls,
        summary: ClusterSummary,
        run_id: str,
        keywords: Sequence[str] = (),
        parents: Sequence[int] = (),
    ) -> ClusterEntry:
        return cls(
            summary.cluster_id,
            summary.size,
            summary.centroid,
            summary.exemplars,
            summary.scale,
            run_id,
            tuple(keywords),
            tuple(int(p) for p in parents),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.cluster_id,
            "size": self.size,
            "exemplars": list(self.exemplars),
            "scale": round(self.scale, 6),
            "run_id": self.run_id,
            "keywords": list(self.keywords),
            "parents": list(self.parents),
        }


@dataclass(frozen=True)
class LayerEntry:
    """A cluster of a coarser layer: the clusters of the layer below whose parent it is."""

    layer: int  # 1, 2, …
    cluster_id: int
    size: int
    run_id: str
    keywords: tuple[str, ...] = ()
    parent: int = -1  # its cluster in the layer above (-1: top layer)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {
            "keywords": list(self.keywords)
        }


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    command: str  # label, relabel, assign
    state: RunState
    owner: str
    started: str
    finished: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


FIELDS: list[dict[str, Any]] = [
    {"name": "key", "type": "VARCHAR", "is_primary": True, "max_length": 128},
    {"name": "kind", "type": "VARCHAR", "max_length": 16},
    {"name": "cluster_id", "type": "INT64"},
    {"name": "size", "type": "INT64"},
    {"name": "scale", "type": "DOUBLE"},
    {"name": "exemplars", "type": "JSON"},
    {"name": "keywords", "type": "JSON"},
    {"name": "run_id", "type": "VARCHAR", "max_length": 64},
    {"name": "state", "type": "VARCHAR", "max_length": 16},
    {"name": "data", "type": "JSON"},
]
FIELD_NAMES = [spec["name"] for spec in FIELDS] + ["centroid"]


class Catalog:
    """Reads and writes the catalog rows of one collection."""

    def __init__(self, milvus: Milvus, name: str, dim: int, created: bool = False) -> None:
        self.milvus = milvus
        self.name = name
        self.dim = dim
        self.created = created  # made by this process, a moment ago
        self.holds_labels = False  # ids or clusters were written through it

    @classmethod
    def open(cls, milvus: Milvus, collection: str, dim: int | None = None) -> Catalog | None:
        """The catalog of `collection` (the name or alias jobs use); created when `dim`
        is given and there is none yet, else None when there is none."""
        name = catalog_name(collection)
        created = False
        if not milvus.has(name):
            if dim is None:
                return None
            specs = FIELDS + [{"name": "centroid", "type": "FLOAT_VECTOR", "dim": dim}]
            try:
                milvus.create_plain(name, specs, "centroid", {CATALOG_OF: collection})
                created = True
            except MilvusClusterError:
                if not milvus.has(name):  # else another job created it a moment ago
                    raise
        centroid = milvus.describe(name).field("centroid")
        assert centroid is not None
        if not milvus.loaded(name):  # Milvus Lite forgets load states between processes
            milvus.load(name)
        return cls(milvus, name, centroid.dim, created)

    # -- rows --------------------------------------------------------------

    def _row(self, key: str, kind: str, **values: Any) -> dict[str, Any]:
        row = {
            "key": key,
            "kind": kind,
            "cluster_id": -1,
            "size": 0,
            "scale": 0.0,
            "exemplars": {"items": []},
            "keywords": {"items": []},
            "run_id": "",
            "state": "",
            "data": {},
            "centroid": [0.0] * self.dim,
        }
        return row | values

    def _write(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), 1_000):
            self.milvus.upsert(self.name, rows[start : start + 1_000], partial=False)

    def _rows(self, filter: str) -> list[dict[str, Any]]:
        """Plain Strong queries, not query_iterator: on Milvus 2.3 the iterator misses rows
        written moments ago (it cannot get a server timestamp), and a job must read back
        what it wrote. A query returns at most PAGE rows: runs are fewer (KEEP_RUNS), and
        clusters are read by ranges of PAGE ids (ids never reach the ledger's next id)."""
        if filter != CLUSTERS:
            return self.milvus.query(self.name, filter, FIELD_NAMES, limit=PAGE)
        top = self.ledger().next_id
        rows = self.milvus.query(
            self.name, f"{filter} and cluster_id >= {top}", FIELD_NAMES, limit=PAGE
        )
        for start in range(0, top, PAGE):
            window = f"{filter} and cluster_id >= {start} and cluster_id < {start + PAGE}"
            rows += self.milvus.query(self.name, window, FIELD_NAMES, limit=PAGE)
        return rows

    def _get(self, key: str) -> dict[str, Any] | None:
        rows = self.milvus.query(self.name, f"key == {quoted(key)}", FIELD_NAMES, limit=1)
        return rows[0] if rows else None

    # -- clusters ----------------------------------------------------------

    def clusters(self) -> list[ClusterEntry]:
        """The current clusters, largest first."""
        entries = [_entry(row) for row in self._rows(CLUSTERS)]
        return sorted(entries, key=lambda e: (-e.size, e.cluster_id))

    def replace_clusters(self, entries: Sequence[ClusterEntry]) -> None:
        """Make `entries` the current clusters: write them, delete the others. A cluster
        that keeps its id and comes without keywords (a run with no text field) keeps
        the keywords it had."""
        self.holds_labels = True
        old = {e.cluster_id: e for e in self.clusters()}
        rows = []
        for entry in entries:
            keywords = entry.keywords or (
                old[entry.cluster_id].keywords if entry.cluster_id in old else ()
            )
            rows.append(self._cluster_row(entry, keywords))
        self._write(rows)
        gone = sorted(set(old) - {e.cluster_id for e in entries})
        if gone:
            keys = ", ".join(quoted(f"cluster:{cluster}") for cluster in gone)
            self.milvus.delete(self.name, f"key in [{keys}]")

    def _cluster_row(self, entry: ClusterEntry, keywords: Sequence[str]) -> dict[str, Any]:
        return self._row(
            f"cluster:{entry.cluster_id}",
            "cluster",
            cluster_id=entry.cluster_id,
            size=entry.size,
            scale=float(entry.scale),
            exemplars={"items": _plain(entry.exemplars)},
            keywords={"items": list(keywords)},
            run_id=entry.run_id,
            centroid=np.asarray(entry.centroid, dtype=np.float32).tolist(),
            data={"parents": list(entry.parents)},
        )

    # -- layers ------------------------------------------------------------

    def layers(self) -> list[LayerEntry]:
        """The clusters of the coarser layers, by layer, largest first."""
        rows = self.milvus.query(self.name, LAYERS, FIELD_NAMES, limit=PAGE)
        entries = [_layer_entry(row) for row in rows]
        return sorted(entries, key=lambda e: (e.layer, -e.size, e.cluster_id))

    def hierarchy(self) -> Layers:
        """The parents of the current clusters, as core/layers.py holds them (from each
        cluster's chain)."""
        return layers_from_chains({e.cluster_id: e.parents for e in self.clusters()})

    def replace_layers(self, entries: Sequence[LayerEntry]) -> None:
        """Make `entries` the clusters of the coarser layers; delete the others."""
        self.holds_labels = True
        old = {(e.layer, e.cluster_id) for e in self.layers()}
        self._write([self._layer_row(entry) for entry in entries])
        gone = sorted(old - {(e.layer, e.cluster_id) for e in entries})
        if gone:
            keys = ", ".join(quoted(f"layer{layer}:{cluster}") for layer, cluster in gone)
            self.milvus.delete(self.name, f"key in [{keys}]")

    def _layer_row(self, entry: LayerEntry) -> dict[str, Any]:
        return self._row(
            f"layer{entry.layer}:{entry.cluster_id}",
            "layer",
            cluster_id=entry.cluster_id,
            size=entry.size,
            keywords={"items": list(entry.keywords)},
            run_id=entry.run_id,
            data={"layer": entry.layer, "parent": entry.parent},
        )

    def _grow_layers(self, added: dict[int, int], clusters: dict[int, ClusterEntry]) -> None:
        """Grow the coarser clusters over the clusters `assign` gave rows to."""
        grown: dict[tuple[int, int], int] = {}
        for cluster, count in added.items():
            chain = clusters[cluster].parents if cluster in clusters else ()
            for layer, parent in enumerate(chain, 1):
                grown[layer, parent] = grown.get((layer, parent), 0) + count
        rows = [
            self._layer_row(replace(e, size=e.size + grown[e.layer, e.cluster_id]))
            for e in self.layers()
            if grown.get((e.layer, e.cluster_id))
        ]
        self._write(rows)

    def add_to_sizes(self, added: dict[int, int]) -> None:
        """Grow the clusters that `assign` gave rows to."""
        entries = {e.cluster_id: e for e in self.clusters()}
        rows = [
            self._cluster_row(_resized(entries[c], entries[c].size + n), entries[c].keywords)
            for c, n in sorted(added.items())
            if c in entries and n
        ]
        self._write(rows)
        self._grow_layers(added, entries)

    def set_sizes(self, sizes: dict[int, int]) -> None:
        """Set every cluster's size (sample mode: its sampled rows and every shard's)."""
        self._write(
            [
                self._cluster_row(_resized(e, sizes.get(e.cluster_id, e.size)), e.keywords)
                for e in self.clusters()
            ]
        )

    def set_keywords(self, keywords: dict[int, Sequence[str]]) -> None:
        """Store keywords for clusters by id."""
        entries = {e.cluster_id: e for e in self.clusters()}
        self._write(
            [
                self._cluster_row(entries[c], list(words))
                for c, words in keywords.items()
                if c in entries
            ]
        )

    # -- runs --------------------------------------------------------------

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        records = sorted(
            (_record(row) for row in self._rows('kind == "run"')),
            key=lambda r: r.run_id,
            reverse=True,
        )
        return records[:limit] if limit else records

    def save_run(self, record: RunRecord) -> None:
        data = {k: v for k, v in record.as_dict().items() if k not in ("run_id", "state")}
        row = self._row(
            f"run:{record.run_id}",
            "run",
            run_id=record.run_id,
            state=record.state,
            data=_plain(data),
        )
        self._write([row])

    def last_labelling(self) -> RunRecord | None:
        """The newest label or relabel run that finished: its parameters made the clusters."""
        return next(
            (r for r in self.runs() if r.command in ("label", "relabel") and r.state == "done"),
            None,
        )

    def prune_runs(self, keep: int = KEEP_RUNS) -> None:
        """Delete all but the newest `keep` runs (and the last labelling, kept always)."""
        labelling = self.last_labelling()
        old = [r for r in self.runs()[keep:] if labelling is None or r.run_id != labelling.run_id]
        if old:
            keys = ", ".join(quoted(f"run:{record.run_id}") for record in old)
            self.milvus.delete(self.name, f"key in [{keys}]")

    # -- ids and the lock --------------------------------------------------

    def ledger(self) -> IdLedger:
        row = self._get("ids")
        if row is None:
            return IdLedger()
        data = row["data"]
        return _ledger(data)

    def layer_ledgers(self) -> tuple[IdLedger, ...]:
        """The ids handed out so far in each coarser layer, layer 1 first."""
        row = self._get("ids")
        return tuple(_ledger(data) for data in (row["data"].get("layers", []) if row else []))

    def save_ledger(self, ledger: IdLedger, layers: Sequence[IdLedger] | None = None) -> None:
        """Store layer 0's ledger and the coarser layers' (None: keep those stored; the
        stored ledgers of layers deeper than `layers` are kept, so that a run with fewer
        layers never lets a later one hand out an id twice)."""
        self.holds_labels = True
        stored = self.layer_ledgers()
        kept = stored if layers is None else (*layers, *stored[len(layers) :])
        data = _ledger_data(ledger) | {"layers": [_ledger_data(each) for each in kept]}
        self._write([self._row("ids", "ids", data=data)])

    def read_lock(self, key: str = "lock") -> dict[str, Any] | None:
        return self.data(key)

    def write_lock(self, holder: dict[str, Any], key: str = "lock") -> None:
        self._write([self._row(key, "lock", state="held", data=_plain(holder))])

    def delete_lock(self, key: str = "lock") -> None:
        self.milvus.delete(self.name, f"key == {quoted(key)}")

    # -- rows of other kinds: sample mode's record and progress (jobs/sampling.py) --

    def data(self, key: str) -> dict[str, Any] | None:
        """The `data` of the row `key`, None when there is none."""
        row = self._get(key)
        return dict(row["data"]) if row else None

    def save_data(self, key: str, kind: str, data: dict[str, Any], run_id: str = "") -> None:
        self._write([self._row(key, kind, run_id=run_id, data=_plain(data))])

    def data_of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        """{key: data} of every row of `kind` (at most PAGE of them)."""
        rows = self.milvus.query(self.name, f"kind == {quoted(kind)}", ["key", "data"], PAGE)
        return {row["key"]: dict(row["data"]) for row in rows}

    def drop_if_new_and_unused(self) -> bool:
        """Drop the catalog when this process made it and no id or cluster was written
        through it (a first run refused before writing): a refusal leaves nothing behind."""
        if not self.created or self.holds_labels:
            return False
        self.milvus.drop(self.name)
        return True


def _entry(row: dict[str, Any]) -> ClusterEntry:
    return ClusterEntry(
        cluster_id=int(row["cluster_id"]),
        size=int(row["size"]),
        centroid=np.asarray(row["centroid"], dtype=np.float32),
        exemplars=_items(row["exemplars"]),
        scale=float(row["scale"]),
        run_id=row["run_id"],
        keywords=_items(row["keywords"]),
        parents=tuple(int(p) for p in (row["data"] or {}).get("parents", ())),
    )


def _layer_entry(row: dict[str, Any]) -> LayerEntry:
    data = row["data"] or {}
    return LayerEntry(
        layer=int(data.get("layer", 1)),
        cluster_id=int(row["cluster_id"]),
        size=int(row["size"]),
        run_id=row["run_id"],
        keywords=_items(row["keywords"]),
        parent=int(data.get("parent", -1)),
    )


def _ledger(data: dict[str, Any]) -> IdLedger:
    return IdLedger(int(data["next_id"]), tuple(int(i) for i in data["retired"]))


def _ledger_data(ledger: IdLedger) -> dict[str, Any]:
    return {"next_id": ledger.next_id, "retired": list(ledger.retired)}


def _items(value: Any) -> tuple[Any, ...]:
    """A list kept in a JSON field: wrapped in an object, as Milvus 2.3 takes no JSON array."""
    return tuple((value or {}).get("items", ()) if isinstance(value, dict) else value or ())


def _resized(entry: ClusterEntry, size: int) -> ClusterEntry:
    return replace(entry, size=size)


def _record(row: dict[str, Any]) -> RunRecord:
    data = row["data"]
    known = {k: data[k] for k in RunRecord.__dataclass_fields__ if k in data}
    return RunRecord(**(known | {"run_id": row["run_id"], "state": row["state"]}))


def _plain(value: Any) -> Any:
    """A value as JSON stores it: numpy numbers and arrays become Python ones."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
