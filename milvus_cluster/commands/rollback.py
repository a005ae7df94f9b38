"""rollback and cleanup: switch a collection back to its backup, and tidy up leftovers.

The work is migration/rollback.py's; these are the entry points that connect (the
lock-aware way every command does) and hand it the connection.
"""

from __future__ import annotations

from milvus_cluster.commands.connect import connect
from milvus_cluster.migration.rollback import Rollback, cleanup, rollback


def rollback_collection(name: str, *, uri: str, token: str = "", db_name: str = "") -> Rollback:
    """Connect and roll `name` back (see migration/rollback.py)."""
    with connect(uri, token, db_name) as milvus:
        return rollback(milvus, name)


def cleanup_collection(
    name: str,
    *,
    uri: str,
    token: str = "",
    db_name: str = "",
    drop: bool = False,
    discard_changes: bool = False,
) -> list[str]:
    """Connect and list (or, with `drop`, drop) the leftovers of `name`; one that holds
    rows `name` has not is dropped only with `discard_changes`."""
    with connect(uri, token, db_name) as milvus:
        return cleanup(milvus, name, drop, discard_changes)
