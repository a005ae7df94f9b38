"""What a Milvus server can do, as one small record the rest of the library consults.

`Milvus.capabilities()` fills it by probing the server once (probe.py, on scratch
collections it drops again); `capabilities_of()` infers it from the version alone,
for Milvus Lite (whose answers were measured) and when probing is not allowed. A
probe's answer is kept on disk per server address, database and version (`cached`,
`remember`): a probe of Milvus 2.3.5 takes seconds, and every command is a new process.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Capabilities:
    """What the server can do; the rest of the library consults only this."""

    version: str
    lite: bool
    nullable: bool  # nullable fields (Lite, Milvus >= 2.5)
    default_value: bool  # default values safe in a renamed copy (Milvus >= 2.5; 2.3 crashes)
    add_field: bool  # add_collection_field on a live collection (Milvus >= 2.6; not Lite)
    partial_upsert: bool  # upsert(partial_update=True) (Lite, Milvus >= 2.6.2)
    upsert_keeps_auto_id: bool  # upsert on an auto_id collection keeps the key it is given
    insert_auto_id: bool  # inserts may carry keys on auto_id collections (allow_insert_auto_id)
    scalar_index: str  # index kind for the INT64 label: INVERTED, or STL_SORT before 2.4
    probed: bool = False  # True when measured on the server, False when inferred


def version_tuple(version: str) -> tuple[int, ...]:
    """(2, 6, 2) from 'v2.6.2' or '2.6.2-rc1'; () when there is no number."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    return tuple(int(part) for part in match.groups(default="0")) if match else ()


def capabilities_of(version: str, lite: bool) -> Capabilities:
    """What a server of this version can do, as far as the version tells."""
    if lite:  # measured on Milvus Lite 3.2.2
        return Capabilities(version, True, True, True, False, True, True, True, "INVERTED")
    number = version_tuple(version) or (0,)
    return Capabilities(
        version=version,
        lite=False,
        nullable=number >= (2, 5),
        default_value=number >= (2, 5),
        add_field=number >= (2, 6),
        partial_upsert=number >= (2, 6, 2),
        # 2.4.10 to 2.6.x make a new key when an auto_id row is upserted.
        upsert_keeps_auto_id=(2, 4) <= number < (2, 4, 10) or number >= (2, 7),
        insert_auto_id=number >= (2, 5),
        scalar_index="INVERTED" if number >= (2, 4) else "STL_SORT",
    )


def cache_file() -> Path:
    """Where probed capabilities are kept between processes: MILVUS_CLUSTER_CACHE_DIR,
    else the user's cache directory (XDG_CACHE_HOME, ~/.cache)."""
    base = os.environ.get("MILVUS_CLUSTER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "milvus-cluster"
    )
    return Path(base) / "capabilities.json"


def cached(key: str) -> Capabilities | None:
    """The capabilities probed earlier for `key` (server address, database, version)."""
    with suppress(OSError, ValueError, TypeError, KeyError):
        return Capabilities(**json.loads(cache_file().read_text())[key])
    return None


def remember(key: str, capabilities: Capabilities) -> None:
    """Keep a probe's answer for the next process (written whole, then renamed in, so that
    processes probing at the same time never read half a file); a cache that cannot be
    written is only a slower next start."""
    with suppress(OSError, ValueError):
        path = cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        known[key] = asdict(capabilities)
        scratch = path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps(known, indent=1, sort_keys=True))
        os.replace(scratch, path)
