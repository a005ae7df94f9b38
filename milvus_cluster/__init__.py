"""milvus-cluster: HDBSCAN cluster labels for an existing Milvus collection.

from milvus_cluster import label_collection, Parameters
result = label_collection("docs", uri="./milvus.db", parameters=Parameters(min_cluster_size=20))
"""

from milvus_cluster.commands.ingest import IngestResult, ingest_file
from milvus_cluster.commands.label import LabelResult, label_collection
from milvus_cluster.commands.plot import MapResult, plot_collection
from milvus_cluster.core.clustering import Clustering, cluster_graph
from milvus_cluster.core.keywords import cluster_keywords
from milvus_cluster.core.knn import KnnGraph, local_knn
from milvus_cluster.core.parameters import Parameters
from milvus_cluster.core.reduce import Reduction
from milvus_cluster.errors import (
    CollectionError,
    ConnectionFailed,
    LockHeld,
    MigrationError,
    MilvusClusterError,
    MissingExtra,
    ParameterError,
    WriteError,
)
from milvus_cluster.migration.plan import Plan
from milvus_cluster.milvus.describe import CollectionInfo

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
