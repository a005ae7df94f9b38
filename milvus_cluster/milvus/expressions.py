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


def unlabelled(field: str, nullable: bool, dynamic_key: bool = False) -> str:
    """Rows without a label: null (a missing dynamic key reads as null), or the
    UNLABELLED placeholder. Servers without nulls (before 2.5) have no `is null`;
    there a missing dynamic key is found by negating `labelled`: Milvus 2.3.5 takes
    a comparison on a missing key as false and its negation as true (Milvus Lite
    keeps the negation false too, but Lite has `is null`)."""
    placeholder = f"{field} == {UNLABELLED}"
    if nullable:
        return f"{field} is null or {placeholder}"
    return f"not ({labelled(field)})" if dynamic_key else placeholder
