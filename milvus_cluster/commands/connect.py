"""How every command opens Milvus: one lock-aware door.

A Milvus Lite file lets one process at a time open it, so a second job cannot even
connect while a first one runs. When the process holding the file is itself a
milvus-cluster job, that is LockHeld (exit 3: skipped), as a held lock is on a
server; anything else stays a connection failure (exit 1).
"""

from __future__ import annotations

from milvus_cluster.errors import ConnectionFailed, LockHeld
from milvus_cluster.jobs.lock import lite_job_holding
from milvus_cluster.milvus.client import Milvus
from milvus_cluster.milvus.translate import is_lite


def connect(uri: str, token: str = "", db_name: str = "", create: bool = False) -> Milvus:
    """Milvus.connect, where a Lite file held by another milvus-cluster job is LockHeld.
    The result is a context manager that closes the connection. A Milvus Lite file must
    exist already, unless `create` (ingest, demo): every other command needs a collection
    in it, and opening a missing file would leave an empty one behind."""
    try:
        return Milvus.connect(uri, token, db_name, create=create)
    except ConnectionFailed:
        job = lite_job_holding(uri) if is_lite(uri) else None
        if job is None:
            raise
        raise LockHeld(
            f"Another milvus-cluster job ({job}) has the Milvus Lite file {uri!r} open, and "
            "Milvus Lite lets one process at a time use it; this job did nothing and can "
            "simply run again later."
        ) from None
