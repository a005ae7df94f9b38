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
from .extras import MissingExtra
from .ingest import IngestResult, ingest_file
from .keywords import cluster_keywords
from .knn import KnnGraph, local_knn
from .pipeline import LabelResult, Parameters, label_collection
from .plot import MapResult, plot_collection
from .reduce import Reduction
from .schema import Plan

__all__ = [
    "Clustering",
    "CollectionError",
    "CollectionInfo",
    "ConnectionFailed",
    "IngestResult",
    "KnnGraph",
    "LabelResult",
    "LockHeld",
    "MapResult",
    "MigrationError",
    "MilvusClusterError",
    "MissingExtra",
    "ParameterError",
    "Parameters",
    "Plan",
    "Reduction",
    "WriteError",
    "cluster_graph",
    "cluster_keywords",
    "ingest_file",
    "label_collection",
    "local_knn",
    "plot_collection",
]
