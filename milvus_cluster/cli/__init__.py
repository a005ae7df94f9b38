"""The command line: click commands that parse, call one library function and print."""

from milvus_cluster.cli.app import main

__all__ = ["main"]
