"""What went wrong, in words for people: pymilvus's, gRPC's and the system's errors
turned into ours, each a sentence that says what is wrong and what to do."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from milvus_cluster.errors import CollectionError, ConnectionFailed, MilvusClusterError


def is_lite(uri: str) -> bool:
    """A local path (not a URL) is an embedded Milvus Lite database file."""
    return "://" not in uri


def redact(uri: str) -> str:
    """The URI without credentials, fit to print."""
    return re.sub(r"//[^/@]*@", "//***@", uri)


DEFAULT_URI = "./milvus.db"


def command_line(command: str, uri: str, db_name: str = "") -> str:
    """`milvus-cluster COMMAND` as a person can paste it: with the --uri and --db-name
    they gave, when those are not the defaults (credentials in the URI hidden, the token
    never there)."""
    parts = [f"milvus-cluster {command}"]
    default = is_lite(uri) and Path(uri).expanduser().resolve() == Path(DEFAULT_URI).resolve()
    if uri and not default:
        parts.append(f"--uri {shlex.quote(redact(uri))}")
    if db_name and db_name != "default":
        parts.append(f"--db-name {shlex.quote(db_name)}")
    return " ".join(parts)


def check_lite_file(uri: str) -> None:
    """A command that only reads (or needs a collection already there) refuses a Milvus
    Lite file that does not exist: opening it would create an empty one."""
    check_lite_path(uri)
    if not Path(uri).expanduser().exists():
        raise ConnectionFailed(
            f"The Milvus Lite file {uri!r} does not exist (nothing was created); check --uri "
            "or MILVUS_URI, or make a collection there first with milvus-cluster ingest."
        )


def check_lite_path(uri: str) -> None:
    path = Path(uri).expanduser()
    if not path.name.endswith(".db"):
        raise ConnectionFailed(
            f"--uri {uri!r} is neither a Milvus Lite file ending in .db nor a URL like "
            "http://host:19530; check --uri or MILVUS_URI."
        )
    if not path.parent.is_dir():
        raise ConnectionFailed(
            f"The folder of the Milvus Lite file {uri!r} does not exist; create it or check --uri."
        )


def _message(error: Exception) -> str:
    """pymilvus's own text, without its `<MilvusException: (code=…)>` wrapping."""
    text = getattr(error, "message", "")
    details = getattr(error, "details", None)
    if not text and callable(details):
        text = details()  # a raw gRPC error
    text = str(text or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def connect_error(error: Exception, uri: str, db_name: str) -> MilvusClusterError:
    text = _message(error).lower()
    if "database" in text and ("not found" in text or "not exist" in text):
        return ConnectionFailed(
            f"Database {db_name!r} does not exist at {redact(uri)}; check --db-name."
        )
    if _is_auth(text):
        return ConnectionFailed(
            f"Milvus at {redact(uri)} refused the credentials; check --token or MILVUS_TOKEN."
        )
    if is_lite(uri) and _held_elsewhere(uri):
        return ConnectionFailed(
            f"The Milvus Lite file {uri!r} is held open by another process (Milvus Lite keeps "
            "its file for as long as the process that opened it runs); stop that process or "
            "use another file."
        )
    if is_lite(uri):
        return ConnectionFailed(f"Milvus Lite could not open {uri!r}: {_message(error)}")
    if _answers(uri):
        return ConnectionFailed(
            f"Milvus at {redact(uri)} answers but refused the connection; check --token (or "
            "MILVUS_TOKEN) and --db-name."
        )
    return ConnectionFailed(
        f"Cannot reach Milvus at {redact(uri)}; check --uri (or MILVUS_URI) and that the "
        "server is running."
    )


def _answers(uri: str) -> bool:
    """Whether something listens at the URI's host and port. pymilvus reports a refused
    token exactly as an unreachable server; this tells the two apart."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 19530)
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=3):
            return True
    except (OSError, ValueError):
        return False


def _held_elsewhere(uri: str) -> bool:
    """Whether another process holds the Milvus Lite file's lock. Milvus Lite logs the
    reason and raises only "Open local milvus failed", so we look ourselves."""
    import fcntl

    lock = Path(uri).expanduser() / "LOCK"
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _is_auth(text: str) -> bool:
    return any(w in text for w in ("auth", "credential", "token", "password", "permission"))


def translated(
    error: Exception, action: str, name: str, uri: str, db_name: str
) -> MilvusClusterError:
    text = _message(error)
    lower = text.lower()
    where = f" {name!r}" if name else ""
    if "collection" in lower and any(
        w in lower for w in ("not found", "does not exist", "can't find")
    ):
        return CollectionError(
            f"Collection{where} does not exist in database {db_name!r}; check -c."
        )
    if _is_auth(lower):
        return ConnectionFailed(
            f"Milvus at {redact(uri)} refused the credentials; check --token or MILVUS_TOKEN."
        )
    if any(w in lower for w in ("unavailable", "connect", "deadline", "closed channel")):
        return ConnectionFailed(
            f"Lost Milvus at {redact(uri)} while trying to {action}; check that the "
            "server is running and run the command again (it finishes the job)."
        )
    return MilvusClusterError(f"Milvus refused to {action}{where}: {text}")


def lite_lock_holder(uri: str) -> int | None:
    """The pid of the process holding the Milvus Lite file's lock (Linux: /proc/locks
    names each flock's process), or None."""
    import os

    try:
        stat = (Path(uri).expanduser() / "LOCK").stat()
        locks = Path("/proc/locks").read_text()
    except OSError:
        return None
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for parts in (line.split() for line in locks.splitlines()):
        if len(parts) > 5 and parts[1] == "FLOCK" and parts[5] == device:
            return int(parts[4])
    return None
