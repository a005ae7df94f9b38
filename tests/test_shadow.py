"""The shadow copy (migration/shadow.py): partitions, indexes, properties, aliases and
functions kept, and the collections in its way left alone."""

from __future__ import annotations

import pytest
from helpers import (
    PARAMS,
    create_or_skip,
    create_table,
    fingerprint,
    unique_name,
)
from pymilvus import DataType

from milvus_cluster import MigrationError, label_collection
from milvus_cluster.commands.rollback import cleanup_collection


def test_a_copy_keeps_partitions_indexes_properties_and_every_alias(client, uri):
    table = create_table(client, n=300)
    client.create_partition(table.name, "recent")
    recent = [{"id": 10_000 + i, "vector": table.vectors[i].tolist(), "title": "new", "group": 9,
               "meta": {}, "tags": []} for i in range(30)]  # fmt: skip
    client.insert(table.name, recent, partition_name="recent")
    client.alter_collection_properties(table.name, {"collection.ttl.seconds": "86400"})
    aliases = [unique_name("first"), unique_name("second")]
    for alias in aliases:
        client.create_alias(table.name, alias)
    indexes = client.describe_index(table.name, "vector")
    before = fingerprint(client, table.name)

    result = label_collection(table.name, uri=uri, parameters=PARAMS)

    assert result.plan.strategy == "shadow"
    assert fingerprint(client, table.name) == before
    in_recent = client.query(table.name, filter="", output_fields=["id"],
                             partition_names=["recent"], limit=100)  # fmt: skip
    assert sorted(row["id"] for row in in_recent) == [row["id"] for row in recent]
    properties = client.describe_collection(table.name)["properties"]
    assert properties["collection.ttl.seconds"] == "86400"
    after = client.describe_index(table.name, "vector")
    assert {k: after[k] for k in ("index_type", "metric_type")} == {
        k: indexes[k] for k in ("index_type", "metric_type")
    }
    for alias in aliases:
        assert client.describe_alias(alias)["collection_name"] == table.name
    # Milvus < 2.5 keeps the labels as dynamic keys (migration/plan.py), which have no index.
    labels_declared = result.plan.declared != "dynamic"
    assert ("cluster_id" in client.list_indexes(table.name)) == labels_declared


def test_partition_key_collection(client, uri):
    name = unique_name()
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=24)
    schema.add_field("tenant", DataType.INT64, is_partition_key=True)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
    table = create_table(client, n=300, name=unique_name())  # only for its vectors
    rows = [{"id": i, "vector": v.tolist(), "tenant": i % 3} for i, v in enumerate(table.vectors)]
    client.insert(name, rows)
    before = fingerprint(client, name)
    label_collection(name, uri=uri, parameters=PARAMS)
    assert fingerprint(client, name) == before
    assert len(client.query(name, filter="tenant == 1 and cluster_id >= -1",
                            output_fields=["id"], limit=1000)) == 100  # fmt: skip


def test_bm25_function_collection(client, uri):
    from pymilvus import Function, FunctionType

    name = unique_name()
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=24)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    bm25 = Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                    output_field_names=["sparse"])  # fmt: skip
    schema.add_function(bm25)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    create_or_skip(client, name, schema, index, "BM25 functions")
    table = create_table(client, n=200, name=unique_name())
    words = ["apple pie", "river bank", "stock market", "football match"]
    client.insert(name, [{"id": i, "vector": v.tolist(), "text": words[i % 4]}
                         for i, v in enumerate(table.vectors)])  # fmt: skip
    label_collection(name, uri=uri, parameters=PARAMS)
    hits = client.search(name, data=["market"], anns_field="sparse", limit=3,
                         output_fields=["text", "cluster_id"])[0]  # fmt: skip
    assert hits and all(hit["entity"]["text"] == "stock market" for hit in hits)


@pytest.mark.parametrize("suffix", ["_mc_shadow", "_mc_backup"])
def test_a_collection_in_the_way_is_not_touched(client, uri, suffix):
    table = create_table(client, n=200)
    theirs = create_table(client, n=50, name=table.name + suffix)
    before = (fingerprint(client, table.name), fingerprint(client, theirs.name))
    with pytest.raises(MigrationError, match=f"{table.name}{suffix}"):
        label_collection(table.name, uri=uri, parameters=PARAMS)
    assert cleanup_collection(table.name, uri=uri, drop=True) == []  # not ours to drop
    assert (fingerprint(client, table.name), fingerprint(client, theirs.name)) == before
