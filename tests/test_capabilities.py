"""What a server can do, inferred from its version (milvus/capabilities.py)."""

from __future__ import annotations

from milvus_cluster.milvus.capabilities import capabilities_of


def test_capabilities_by_version():
    lite = capabilities_of("milvus_lite-3.2.2", lite=True)
    assert lite.partial_upsert and lite.nullable and not lite.add_field
    old = capabilities_of("v2.3.5", lite=False)
    assert not old.nullable and not old.partial_upsert and old.scalar_index == "STL_SORT"
    new = capabilities_of("v2.6.4", lite=False)
    assert new.add_field and new.partial_upsert and new.nullable
    assert not capabilities_of("2.6.1", lite=False).partial_upsert
