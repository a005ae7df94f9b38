"""Optional heavy dependencies (UMAP, plotly, embedding models), imported only when a
command needs them, with an error that says exactly what to install."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from milvus_cluster.errors import MissingExtra


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import `module`, or raise MissingExtra naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise _missing(module, extra, feature) from error


def require_installed(module: str, extra: str, feature: str) -> None:
    """Fail early, without importing it, when a top-level `module` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise _missing(module, extra, feature)


def _missing(module: str, extra: str, feature: str) -> MissingExtra:
    return MissingExtra(
        f"{feature} needs the Python package {module.split('.')[0]!r}, which is not "
        f"installed; install it with: pip install 'milvus-cluster[{extra}]'."
    )
