"""`python -m milvus_cluster` runs the command line, as `milvus-cluster` does."""

from milvus_cluster.cli.app import main

main()
