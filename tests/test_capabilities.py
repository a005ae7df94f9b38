"""What a server can do, inferred from its version and kept between processes
(milvus/capabilities.py)."""

from __future__ import annotations

from dataclasses import replace

from milvus_cluster.milvus.capabilities import cache_file, cached, capabilities_of, remember


def test_capabilities_by_version():
    lite = capabilities_of("milvus_lite-3.2.2", lite=True)
    assert lite.partial_upsert and lite.nullable and not lite.add_field
    old = capabilities_of("v2.3.5", lite=False)
    assert not old.nullable and not old.partial_upsert and old.scalar_index == "STL_SORT"
    new = capabilities_of("v2.6.4", lite=False)
    assert new.add_field and new.partial_upsert and new.nullable
    assert not capabilities_of("2.6.1", lite=False).partial_upsert


def test_a_probe_is_kept_on_disk_for_the_next_process(tmp_path, monkeypatch):
    monkeypatch.setenv("MILVUS_CLUSTER_CACHE_DIR", str(tmp_path / "cache"))
    probed = replace(capabilities_of("v2.3.5", lite=False), probed=True)
    key = "http://127.0.0.1:19530||v2.3.5"
    assert cached(key) is None
    remember(key, probed)
    remember("another|db|v2.6.4", capabilities_of("v2.6.4", lite=False))
    assert cached(key) == probed and cached("http://127.0.0.1:19530||v2.4.0") is None
    cache_file().write_text("{not json")  # a damaged cache is a slower start, not an error
    assert cached(key) is None
    remember(key, probed)
    assert cached(key) == probed
