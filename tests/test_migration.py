"""How the label field gets in on each backend: plans, copies that keep everything,
rollback and cleanup, and the collections that are not ours to touch."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from conftest import (
    all_rows,
    backend_independent,
    create_table,
    fingerprint,
    read_labels,
    unique_name,
)
from pymilvus import DataType

from milvus_cluster import MigrationError, Parameters, label_collection
from milvus_cluster.cli import main
from milvus_cluster.commands.rollback import cleanup_collection, rollback_collection

PARAMS = Parameters(min_cluster_size=20, min_samples=5)


def test_plan_explains_itself(client, uri, capabilities):
    table = create_table(client, n=100)
    result = CliRunner().invoke(main, ["plan", "-c", table.name, "--uri", uri])
    assert result.exit_code == 0, result.output
    assert f"server: {capabilities.version}" in result.output
    assert "partial upsert:" in result.output and "strategy shadow" in result.output
    assert "not add-field: this server cannot add a field" in result.output
    assert "not dynamic: the collection has no dynamic field" in result.output
    assert "_mc_backup" in result.output


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
    assert "cluster_id" in client.list_indexes(table.name)


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
    try:
        client.create_collection(name, schema=schema, index_params=index)
    except Exception as error:
        pytest.skip(f"this backend has no BM25 functions: {error}")
    table = create_table(client, n=200, name=unique_name())
    words = ["apple pie", "river bank", "stock market", "football match"]
    client.insert(name, [{"id": i, "vector": v.tolist(), "text": words[i % 4]}
                         for i, v in enumerate(table.vectors)])  # fmt: skip
    label_collection(name, uri=uri, parameters=PARAMS)
    hits = client.search(name, data=["market"], anns_field="sparse", limit=3,
                         output_fields=["text", "cluster_id"])[0]  # fmt: skip
    assert hits and all(hit["entity"]["text"] == "stock market" for hit in hits)


def test_rollback_and_cleanup(client, uri):
    table = create_table(client, n=200)
    app = unique_name("app")
    client.create_alias(table.name, app)
    before = fingerprint(client, table.name)
    label_collection(table.name, uri=uri, parameters=PARAMS)
    done = rollback_collection(table.name, uri=uri)
    assert done.restored == table.name
    fields = [f["name"] for f in client.describe_collection(table.name)["fields"]]
    assert "cluster_id" not in fields
    assert fingerprint(client, table.name) == before
    assert client.describe_alias(app)["collection_name"] == table.name
    assert cleanup_collection(table.name, uri=uri) == [done.set_aside]
    assert client.has_collection(done.set_aside)
    cleanup_collection(table.name, uri=uri, drop=True)
    assert not client.has_collection(done.set_aside)
    label_collection(table.name, uri=uri, parameters=PARAMS)  # and labelling works again
    assert None not in read_labels(client, table.name).values()


@pytest.mark.parametrize("via_alias", [False, True])
def test_rollback_keeps_what_the_application_wrote_since_the_label(client, uri, via_alias):
    table = create_table(client, n=200)
    name = unique_name("docs") if via_alias else table.name
    if via_alias:
        client.create_alias(table.name, name)
    label_collection(name, uri=uri, parameters=PARAMS)
    new = [{"id": 9_000 + i, "vector": table.vectors[i].tolist(), "title": "new", "group": 0,
            "meta": {}, "tags": []} for i in range(25)]  # fmt: skip
    client.insert(name, new)
    row = client.query(name, filter=f"id == {table.pks[5]}", output_fields=["*"])[0]
    client.upsert(name, [row | {"title": "changed"}])
    client.delete(name, filter=f"id in {table.pks[:3]}")
    client.flush(name)
    done = rollback_collection(name, uri=uri)
    assert done.carried_over == 25 + 1 + 3
    assert fingerprint(client, done.restored) == fingerprint(client, done.set_aside)
    rows = {r["id"]: r["title"] for r in all_rows(client, done.restored, ["id", "title"])}
    assert len(rows) == 200 + 25 - 3 and rows[table.pks[5]] == "changed"
    assert "cluster_id" not in str(client.describe_collection(done.restored)["fields"])


def test_rollback_through_an_alias(client, uri):
    table = create_table(client, n=200)
    docs = unique_name("docs")
    client.create_alias(table.name, docs)
    label_collection(docs, uri=uri, parameters=PARAMS)
    assert client.describe_alias(docs)["collection_name"] != table.name
    rollback_collection(docs, uri=uri)
    assert client.describe_alias(docs)["collection_name"] == table.name


def test_cleanup_drops_the_backup_after_a_label(client, uri):
    table = create_table(client, n=200)
    label_collection(table.name, uri=uri, parameters=PARAMS)
    backup = f"{table.name}_mc_backup"
    assert cleanup_collection(table.name, uri=uri, drop=True) == [backup]
    assert not client.has_collection(backup)
    assert len(read_labels(client, table.name)) == 200


@pytest.mark.parametrize("suffix", ["_mc_shadow", "_mc_backup"])
def test_a_collection_in_the_way_is_not_touched(client, uri, suffix):
    table = create_table(client, n=200)
    theirs = create_table(client, n=50, name=table.name + suffix)
    before = (fingerprint(client, table.name), fingerprint(client, theirs.name))
    with pytest.raises(MigrationError, match=f"{table.name}{suffix}"):
        label_collection(table.name, uri=uri, parameters=PARAMS)
    assert cleanup_collection(table.name, uri=uri, drop=True) == []  # not ours to drop
    assert (fingerprint(client, table.name), fingerprint(client, theirs.name)) == before


@backend_independent  # the listing is the same on every backend; Lite makes it cheap
def test_cleanup_finds_the_scratch_collections_of_a_killed_probe(client, uri):
    from milvus_cluster.milvus.probe import PROBE_MARK

    table = create_table(client, n=20)
    stale, fresh, theirs = "mc_probe_1000_dead", f"mc_probe_{int(time.time())}_live", "mc_probe_1_x"
    for name in (stale, fresh, theirs):
        schema = client.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        index = client.prepare_index_params()
        index.add_index("v", index_type="FLAT", metric_type="L2")
        marked = {PROBE_MARK: "true"} if name != theirs else {}
        client.create_collection(name, schema=schema, index_params=index, properties=marked)
    assert cleanup_collection(table.name, uri=uri) == [stale]  # not one still probing
    cleanup_collection(table.name, uri=uri, drop=True)
    assert not client.has_collection(stale)
    assert client.has_collection(fresh) and client.has_collection(theirs)


def test_a_collection_that_is_not_loaded_is_put_back_released(client, uri):
    table = create_table(client, n=200, dynamic=True)
    client.release_collection(table.name)
    label_collection(table.name, uri=uri, parameters=PARAMS)
    assert "NotLoad" in str(client.get_load_state(table.name)["state"])
    assert None not in read_labels(client, table.name).values()


# Milvus Lite has the default database only.
@pytest.mark.backends("server", "remote")
def test_a_database_that_does_not_exist(client, uri):
    result = CliRunner().invoke(main, ["label", "-c", "x", "--uri", uri, "--db-name", "nope"])
    assert result.exit_code == 1
    assert "'nope'" in result.output and "--db-name" in result.output


@pytest.mark.backends("server", "remote")
def test_a_non_default_database(client, uri):
    from pymilvus import MilvusClient

    database = unique_name("db")
    client.create_database(database)
    other = MilvusClient(uri, db_name=database)
    try:
        table = create_table(other, n=200)
        label_collection(table.name, uri=uri, db_name=database, parameters=PARAMS)
        assert None not in read_labels(other, table.name).values()
        assert other.has_collection(f"{table.name}_mc_backup")
        assert not client.has_collection(table.name)  # nothing leaked into the default one
    finally:
        for name in other.list_collections():
            other.drop_collection(name)
        other.close()
        client.drop_database(database)
