"""`python -m milvus_cluster` runs the command line, as `milvus-cluster` does."""

from .cli import main

main()
