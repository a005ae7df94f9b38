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

from .collection import Milvus
from .errors import CollectionError
from .pipeline import LabelResult, Parameters, StageProgress, label_collection
from .schema import backup_name, shadow_name

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

    def describe(self) -> str:
        digits = ", ".join(str(hit["digit"]) for hit in self.search_hits)
        return "\n".join(
            [
                f"Agreement with the true digits: adjusted Rand index {self.ari_clustered:.3f} on "
                f"the rows in clusters, {self.ari_all:.3f} with noise counted as a group.",
                f'search(filter="cluster_id == {self.search_cluster}", limit=5) found digits: '
                f"{digits}",
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"result": self.result.as_dict()}


def create_digits_collection(milvus: Milvus) -> None:
    """The digits as a collection: id, vector (64-d, HNSW, L2), digit. Remade on every run."""
    from pymilvus import DataType

    client = milvus.client
    for name in (COLLECTION, backup_name(COLLECTION), shadow_name(COLLECTION)):
        if milvus.has(name):
            if milvus.describe(name).get("properties", {}).get(DEMO_MARK) != "true":
                raise CollectionError(
                    f"A collection {name!r} that the demo did not make exists at this URI; "
                    "run the demo with another --uri."
                )
            milvus.drop(name)
    digits = load_digits()
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=64)
    schema.add_field("digit", DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 16,
                    "efConstruction": 200})  # fmt: skip
    client.create_collection(COLLECTION, schema=schema, index_params=index,
                             properties={DEMO_MARK: "true"})  # fmt: skip
    rows = [
        {"id": i, "vector": vector.astype(np.float32).tolist(), "digit": int(digit)}
        for i, (vector, digit) in enumerate(zip(digits.data, digits.target))
    ]
    milvus.insert(COLLECTION, rows)
    milvus.flush(COLLECTION)


def run_demo(uri: str = "./milvus.db", progress: StageProgress | None = None) -> DemoReport:
    milvus = Milvus.connect(uri)
    try:
        create_digits_collection(milvus)
    finally:
        milvus.close()
    result = label_collection(COLLECTION, uri=uri, parameters=PARAMETERS, progress=progress)
    milvus = Milvus.connect(uri)
    try:
        return _check(milvus, result)
    finally:
        milvus.close()


def _check(milvus: Milvus, result: LabelResult) -> DemoReport:
    rows: list[dict] = []
    for batch in milvus.iterate(COLLECTION, ["id", "digit", "cluster_id", "vector"]):
        rows.extend(batch)
    truth = np.array([row["digit"] for row in rows])
    labels = np.array([row["cluster_id"] for row in rows])
    clustered = labels >= 0
    first = rows[int(np.flatnonzero(clustered)[0])]
    hits = milvus.client.search(
        COLLECTION, data=[first["vector"]], anns_field="vector", limit=5,
        filter=f"cluster_id == {first['cluster_id']}", output_fields=["digit", "cluster_id"],
    )[0]  # fmt: skip
    return DemoReport(
        result=result,
        ari_all=round(float(adjusted_rand_score(truth, labels)), 4),
        ari_clustered=round(float(adjusted_rand_score(truth[clustered], labels[clustered])), 4),
        search_cluster=int(first["cluster_id"]),
        search_hits=[{"id": hit["id"], **hit["entity"]} for hit in hits],
    )
