"""Errors the library raises. Their messages are shown to the user as they are:
one whole sentence that says what is wrong and what to do."""

from __future__ import annotations


class MilvusClusterError(Exception):
    """Base of every error this library raises on purpose."""


class ConnectionFailed(MilvusClusterError):
    """Milvus could not be reached, or refused the credentials."""


class CollectionError(MilvusClusterError):
    """The collection cannot be clustered as it is (missing, empty, wrong field...)."""


class ParameterError(MilvusClusterError):
    """The clustering parameters do not fit together or do not fit the data."""


class MigrationError(MilvusClusterError):
    """The label field could not be added, or a half-done migration is in the way."""


class WriteError(MilvusClusterError):
    """Writing labels failed, or the check after writing found a difference."""


class LockHeld(MilvusClusterError):
    """Another job holds the collection's lock."""


class LockLost(MilvusClusterError):
    """The job's lease was taken over or could not be renewed; it stopped writing."""


class DriftTooLarge(MilvusClusterError):
    """A relabel would change more rows than --max-changed allows; nothing was written."""


class MissingExtra(MilvusClusterError):
    """An optional dependency is not installed."""


class Terminated(MilvusClusterError):
    """The scheduler stopped the job (SIGTERM)."""
