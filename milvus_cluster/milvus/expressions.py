"""Milvus filter expressions: keys quoted and escaped, labelled and unlabelled rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from milvus_cluster.core.labels import UNLABELLED


def quoted(text: str) -> str:
    """A string literal for a Milvus filter expression."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def key_filter(pk: str, pk_type: str, keys: Sequence[Any]) -> str:
    """`pk in [...]` for these keys, VARCHAR keys quoted and escaped."""
    if pk_type == "VARCHAR":
        return f"{pk} in [{', '.join(quoted(str(key)) for key in keys)}]"
    return f"{pk} in [{', '.join(str(int(key)) for key in keys)}]"


def labelled(field: str) -> str:
    """Rows with a label, noise included. A comparison is false on null and on a missing
    dynamic key, so this works on every server and however the field was declared."""
    return f"{field} >= -1"


def unlabelled(field: str, nullable: bool) -> str:
    """Rows without a label: null, or the UNLABELLED placeholder where fields cannot be
    null (servers before 2.5 have no `is null` either)."""
    placeholder = f"{field} == {UNLABELLED}"
    return f"{field} is null or {placeholder}" if nullable else placeholder
