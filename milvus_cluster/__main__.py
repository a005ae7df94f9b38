"""`python -m milvus_cluster` runs the command line."""

from .cli import main

main()
