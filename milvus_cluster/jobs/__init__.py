"""Job state kept in Milvus: the catalog, the lock, and a run's life cycle."""
