"""milvus-cluster: HDBSCAN cluster labels for an existing Milvus collection.

from milvus_cluster import label_collection, Parameters
result = label_collection("docs", uri="./milvus.db", parameters=Parameters(min_cluster_size=20))

The names below load on first use (PEP 562), so that `import milvus_cluster` and the
command line's `--help` do not pay for hdbscan, scikit-learn and pymilvus.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AssignResult": "milvus_cluster.commands.assign",
    "Clustering": "milvus_cluster.core.clustering",
    "CollectionError": "milvus_cluster.errors",
    "CollectionInfo": "milvus_cluster.milvus.describe",
    "ConnectionFailed": "milvus_cluster.errors",
    "Drift": "milvus_cluster.core.stable_ids",
    "DriftTooLarge": "milvus_cluster.errors",
    "IngestResult": "milvus_cluster.commands.ingest",
    "KnnGraph": "milvus_cluster.core.knn",
    "LabelResult": "milvus_cluster.commands.label",
    "LockHeld": "milvus_cluster.errors",
    "MapResult": "milvus_cluster.commands.plot",
    "MigrationError": "milvus_cluster.errors",
    "MilvusClusterError": "milvus_cluster.errors",
    "MissingExtra": "milvus_cluster.errors",
    "ParameterError": "milvus_cluster.errors",
    "Parameters": "milvus_cluster.core.parameters",
    "Plan": "milvus_cluster.migration.plan",
    "Reduction": "milvus_cluster.core.reduce",
    "Rollback": "milvus_cluster.migration.rollback",
    "ShowResult": "milvus_cluster.commands.show",
    "WriteError": "milvus_cluster.errors",
    "assign_collection": "milvus_cluster.commands.assign",
    "cleanup_collection": "milvus_cluster.commands.rollback",
    "export_labels": "milvus_cluster.commands.unlabel",
    "unlabel_collection": "milvus_cluster.commands.unlabel",
    "list_collections": "milvus_cluster.commands.collections",
    "cluster_graph": "milvus_cluster.core.clustering",
    "cluster_keywords": "milvus_cluster.core.keywords",
    "ingest_file": "milvus_cluster.commands.ingest",
    "label_collection": "milvus_cluster.commands.label",
    "local_knn": "milvus_cluster.core.knn",
    "plot_collection": "milvus_cluster.commands.plot",
    "relabel_collection": "milvus_cluster.commands.relabel",
    "rollback_collection": "milvus_cluster.commands.rollback",
    "show_collection": "milvus_cluster.commands.show",
}

__all__ = [
    "AssignResult",
    "Clustering",
    "CollectionError",
    "CollectionInfo",
    "ConnectionFailed",
    "Drift",
    "DriftTooLarge",
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
    "Rollback",
    "ShowResult",
    "WriteError",
    "assign_collection",
    "cleanup_collection",
    "cluster_graph",
    "cluster_keywords",
    "export_labels",
    "ingest_file",
    "label_collection",
    "list_collections",
    "local_knn",
    "plot_collection",
    "relabel_collection",
    "rollback_collection",
    "show_collection",
    "unlabel_collection",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'milvus_cluster' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


if TYPE_CHECKING:
    from milvus_cluster.commands.assign import AssignResult, assign_collection
    from milvus_cluster.commands.collections import list_collections
    from milvus_cluster.commands.ingest import IngestResult, ingest_file
    from milvus_cluster.commands.label import LabelResult, label_collection
    from milvus_cluster.commands.plot import MapResult, plot_collection
    from milvus_cluster.commands.relabel import relabel_collection
    from milvus_cluster.commands.rollback import cleanup_collection, rollback_collection
    from milvus_cluster.commands.show import ShowResult, show_collection
    from milvus_cluster.commands.unlabel import export_labels, unlabel_collection
    from milvus_cluster.core.clustering import Clustering, cluster_graph
    from milvus_cluster.core.keywords import cluster_keywords
    from milvus_cluster.core.knn import KnnGraph, local_knn
    from milvus_cluster.core.parameters import Parameters
    from milvus_cluster.core.reduce import Reduction
    from milvus_cluster.core.stable_ids import Drift
    from milvus_cluster.errors import (
        CollectionError,
        ConnectionFailed,
        DriftTooLarge,
        LockHeld,
        MigrationError,
        MilvusClusterError,
        MissingExtra,
        ParameterError,
        WriteError,
    )
    from milvus_cluster.migration.plan import Plan
    from milvus_cluster.migration.rollback import Rollback
    from milvus_cluster.milvus.describe import CollectionInfo
