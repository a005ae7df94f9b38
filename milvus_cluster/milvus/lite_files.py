"""Index files of Milvus Lite that a killed process left half written.

Milvus Lite 3.2 writes each segment's index beside its data file (`<db>/collections/
<name>/partitions/<p>/indexes/<segment>.<field>.<type>.idx|.sidx`) in place, not
through a temporary file, and loads any such file that exists. A process killed while
Lite wrote one (seen: `label` killed just after its in-place writes, while Lite built
the scalar index of the segment those writes flushed) leaves a truncated file, and the
collection refuses to load from then on ("File is too small: 8"). The index is derived
from the data files alone, and Lite builds it again when the file is missing; so a file
that does not open is dropped, and the load tried again. Data files and the manifest
are never touched.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

SCALAR_INDEX = ".sidx"  # an Arrow IPC file
VECTOR_INDEX = ".idx"  # a faiss index, or a numpy array for brute force


def drop_broken_index_files(db: str | Path, collection: str) -> list[Path]:
    """The index files of `collection` in the Lite database `db` that do not open,
    deleted; the paths returned."""
    partitions = Path(db) / "collections" / collection / "partitions"
    broken = [
        path
        for path in sorted(partitions.glob("*/indexes/*"))
        if path.suffix in (SCALAR_INDEX, VECTOR_INDEX) and not _opens(path)
    ]
    for path in broken:
        path.unlink(missing_ok=True)
    return broken


def _opens(path: Path) -> bool:
    if path.suffix == SCALAR_INDEX:
        import pyarrow as pa

        with contextlib.suppress(Exception), pa.memory_map(str(path)) as source:
            pa.ipc.open_file(source).read_all()
            return True
        return False
    import faiss

    with contextlib.suppress(Exception):
        faiss.read_index(str(path))
        return True
    with contextlib.suppress(Exception), path.open("rb") as file:
        np.load(file, allow_pickle=False)
        return True
    return False
