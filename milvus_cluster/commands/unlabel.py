"""unlabel and export: take the labels away, or take them out (to Parquet or CSV).

unlabel removes what labelling added: the catalog (`<name>_mc_catalog`, only when its
marker says it is the catalog of that name), the label values and the emptied markers
(migration/unlabel.py, which also says what stays and why). Without `drop` it only
lists. export reads each row's key and labels in one pass, the clusters' keywords from
the catalog, and writes two files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from milvus_cluster.commands.connect import connect
from milvus_cluster.errors import CollectionError, LockHeld, ParameterError
from milvus_cluster.jobs.catalog import CATALOG_OF, Catalog, catalog_name
from milvus_cluster.jobs.run import holder_of
from milvus_cluster.migration.unlabel import (
    clear_labels,
    emptied_properties,
    label_fields,
    what_stays,
)
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.describe import CollectionInfo

FORMATS = (".parquet", ".csv")


@dataclass(frozen=True)
class Unlabelled:
    collection: str  # the name or alias given
    catalog: str | None  # the catalog dropped (or that would be)
    cleared: list[str]  # label fields whose values were cleared (or would be)
    rows: int  # rows whose label fields were written
    properties: list[str]  # emptied marker properties removed (or that would be)
    kept: list[str] = field(default_factory=list)  # what stays, and why
    done: bool = False  # False: only listed (no --yes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unlabel_collection(
    collection: str, *, uri: str = "./milvus.db", token: str = "", db_name: str = "",
    drop: bool = False,
) -> Unlabelled:  # fmt: skip
    """Connect and remove (with `drop`; else list) what labelling added to `collection`."""
    with connect(uri, token, db_name) as milvus:
        info = milvus.inspect(collection)
        with milvus.loaded_for_run(info.name):
            return unlabel(milvus, info, drop)


def unlabel(milvus: Milvus, info: CollectionInfo, drop: bool) -> Unlabelled:
    catalog = our_catalog(milvus, info.requested)
    fields, empty = label_fields(info), emptied_properties(info)
    kept = what_stays(milvus, info, fields)
    rows = 0
    if drop:
        if catalog is not None:
            check_unlocked(milvus, info.requested)
        if fields:
            rows = clear_labels(milvus, info, fields)
        if empty and not milvus.drop_properties(info.name, empty):
            names = ", ".join(empty)
            kept.append(
                f"the emptied properties {names} stay: this server cannot drop a property "
                "(Milvus 2.3); empty, they read as unset"
            )
            empty = []
        if catalog is not None:
            milvus.drop(catalog)
    return Unlabelled(info.requested, catalog, fields, rows, empty, kept, drop)


def our_catalog(milvus: Milvus, name: str) -> str | None:
    catalog = catalog_name(name)
    ours = milvus.has(catalog) and milvus.property(catalog, CATALOG_OF) == name
    return catalog if ours else None


def check_unlocked(milvus: Milvus, name: str) -> None:
    """A job that holds the lock would write into the catalog being dropped: exit 3."""
    catalog = Catalog.open(milvus, name)
    holder = holder_of(catalog) if catalog is not None else None
    if holder is not None:
        raise LockHeld(
            f"{holder.describe()} holds the lock of {name!r}; unlabel did nothing and can "
            "run once that job has ended."
        )


@dataclass(frozen=True)
class Exported:
    collection: str
    output: str  # key, cluster id, probability: one row per row
    clusters_output: str  # cluster id, size, keywords: one row per cluster
    rows: int
    clusters: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_labels(
    collection: str,
    output: str | Path,
    *,
    uri: str = "./milvus.db",
    token: str = "",
    db_name: str = "",
    label_field: str = "cluster_id",
    prob_field: str | None = "cluster_prob",
) -> Exported:
    """Write every row's key, label and probability to `output` (.parquet or .csv), and
    the catalog's clusters (id, size, keywords) next to it as `<stem>.clusters<suffix>`."""
    path = Path(output)
    if path.suffix.lower() not in FORMATS:
        raise ParameterError(f"-o {str(output)!r}: write a .parquet or a .csv file.")
    with connect(uri, token, db_name) as milvus:
        info = milvus.inspect(collection)
        if info.field(label_field) is None and not info.dynamic:
            hint = milvus.hint(f"label -c {collection}")
            raise CollectionError(
                f"{collection!r} has no field {label_field!r}: nothing to export; label it "
                f"first: {hint}"
            )
        with milvus.loaded_for_run(info.name):
            rows = _label_rows(milvus, info, label_field, prob_field)
            catalog = Catalog.open(milvus, info.requested)
            clusters = [
                {"cluster_id": c.cluster_id, "size": c.size, "keywords": ", ".join(c.keywords)}
                for c in (catalog.clusters() if catalog is not None else [])
            ]
    clusters_path = path.with_name(f"{path.stem}.clusters{path.suffix}")
    _write(rows, path, [info.pk, label_field, prob_field or ""])
    _write(clusters, clusters_path, ["cluster_id", "size", "keywords"])
    return Exported(info.requested, str(path), str(clusters_path), len(rows), len(clusters))


def _label_rows(
    milvus: Milvus, info: CollectionInfo, label_field: str, prob_field: str | None
) -> list[dict[str, Any]]:
    """One row per key (an iterator may repeat a row), labels None where a row has none."""
    fields = [info.pk, label_field, *([prob_field] if prob_field else [])]
    by_key = {
        row[info.pk]: {name: row.get(name) for name in fields}
        for batch in milvus.iterate(info.name, fields)
        for row in batch
    }
    return list(by_key.values())


def _write(rows: list[dict[str, Any]], path: Path, columns: list[str]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=[c for c in columns if c])
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
