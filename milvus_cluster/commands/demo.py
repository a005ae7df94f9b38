"""The demo: real data that ships with a dependency, labelled end to end.

scikit-learn's digits (1,797 handwritten digits, 8 × 8 pixels, 64-d) go into a
collection with their true digit as a scalar field; `label_collection` labels
them; the labels are read back from Milvus and compared with the true digits
(adjusted Rand index); one search is filtered by cluster_id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from milvus_cluster.commands.connect import connect
from milvus_cluster.commands.label import LabelResult, label_collection
from milvus_cluster.commands.stages import StageProgress
from milvus_cluster.core.parameters import Parameters
from milvus_cluster.errors import CollectionError
from milvus_cluster.migration.plan import backup_name, shadow_name
from milvus_cluster.milvus.client import Milvus

COLLECTION = "digits_demo"
DEMO_MARK = "milvus_cluster.demo"
PARAMETERS = Parameters(min_cluster_size=15, min_samples=5)


@dataclass(frozen=True)
class DemoReport:
    result: LabelResult
    ari_all: float  # true digits vs labels, noise counted as its own group
    ari_clustered: float  # the same on the rows not called noise
    search_cluster: int
    search_hits: list[dict[str, Any]]  # id, digit, cluster_id of a filtered search

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"result": self.result.as_dict()}


FIELDS: list[dict[str, Any]] = [
    {"name": "id", "type": "INT64", "is_primary": True},
    {"name": "vector", "type": "FLOAT_VECTOR", "dim": 64},
    {"name": "digit", "type": "INT64"},
]
INDEX = {
    "field_name": "vector",
    "index_type": "HNSW",
    "metric_type": "L2",
    "params": {"M": 16, "efConstruction": 200},
}


def create_digits_collection(milvus: Milvus) -> None:
    """The digits as a collection: id, vector (64-d, HNSW, L2), digit. Remade on every run."""
    for name in (COLLECTION, backup_name(COLLECTION), shadow_name(COLLECTION)):
        if milvus.has(name):
            if milvus.property(name, DEMO_MARK) != "true":
                raise CollectionError(
                    f"A collection {name!r} that the demo did not make exists at this URI; "
                    "run the demo with another --uri."
                )
            milvus.drop(name)
    digits = load_digits()
    milvus.create_collection(COLLECTION, FIELDS, [INDEX], properties={DEMO_MARK: "true"})
    rows = [
        {"id": i, "vector": vector.astype(np.float32).tolist(), "digit": int(digit)}
        for i, (vector, digit) in enumerate(zip(digits.data, digits.target))
    ]
    milvus.insert(COLLECTION, rows)
    milvus.flush(COLLECTION)


def run_demo(uri: str = "./milvus.db", progress: StageProgress | None = None) -> DemoReport:
    with connect(uri, create=True) as milvus:
        create_digits_collection(milvus)
    result = label_collection(COLLECTION, uri=uri, parameters=PARAMETERS, progress=progress)
    with connect(uri) as milvus:
        return _check(milvus, result)


def _check(milvus: Milvus, result: LabelResult) -> DemoReport:
    rows: list[dict] = []
    for batch in milvus.iterate(COLLECTION, ["id", "digit", "cluster_id", "vector"]):
        rows.extend(batch)
    truth = np.array([row["digit"] for row in rows])
    labels = np.array([row["cluster_id"] for row in rows])
    clustered = labels >= 0
    first = rows[int(np.flatnonzero(clustered)[0])]
    cluster = int(first["cluster_id"])
    query = np.asarray([first["vector"]], dtype=np.float32)
    info = milvus.inspect(COLLECTION)
    _, keys, _, digits = milvus.search_where(info, query, 5, f"cluster_id == {cluster}", "digit")
    return DemoReport(
        result=result,
        ari_all=round(float(adjusted_rand_score(truth, labels)), 4),
        ari_clustered=round(float(adjusted_rand_score(truth[clustered], labels[clustered])), 4),
        search_cluster=cluster,
        search_hits=[
            {"id": int(key), "digit": int(digit), "cluster_id": cluster}
            for key, digit in zip(keys, digits)
        ],
    )
