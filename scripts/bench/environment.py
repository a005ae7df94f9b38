"""What a run measured on: the milvus_cluster it imported, the packages and the machine."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.tables import GIB

PACKAGES = ("milvus-lite", "pymilvus", "hdbscan", "fast-hdbscan", "faiss-cpu", "numpy", "scipy")
REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout these scripts are in

Json = dict[str, Any]


def library() -> Json:
    """Which milvus_cluster this process imported, and a hash of its sources (subpackages
    included): the package may be edited while a run goes on (PYTHONPATH=<a git archive>
    pins a version)."""
    import milvus_cluster

    folder = Path(milvus_cluster.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return {"path": str(folder), "sha256": digest.hexdigest()[:16]}


def environment() -> Json:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    head = subprocess.run(
        ["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "library": library(),
        "repository_head": head,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory / GIB, 1),
        "packages": {package: _version(package) for package in (*PACKAGES, "numba")},
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
