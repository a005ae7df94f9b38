"""milvus-cluster: HDBSCAN cluster labels for an existing Milvus collection.

from milvus_cluster import label_collection, Parameters
result = label_collection("docs", uri="./milvus.db", parameters=Parameters(min_cluster_size=20))
"""

from .clustering import Clustering, cluster_graph
from .collection import CollectionInfo
from .errors import (
    CollectionError,
    ConnectionFailed,
    LockHeld,
    MigrationError,
    MilvusClusterError,
    ParameterError,
    WriteError,
)
from .knn import KnnGraph, local_knn
from .pipeline import LabelResult, Parameters, label_collection
from .schema import Plan

__all__ = [
    "Clustering",
    "CollectionError",
    "CollectionInfo",
    "ConnectionFailed",
    "KnnGraph",
    "LabelResult",
    "LockHeld",
    "MigrationError",
    "MilvusClusterError",
    "ParameterError",
    "Parameters",
    "Plan",
    "WriteError",
    "cluster_graph",
    "label_collection",
    "local_knn",
]
