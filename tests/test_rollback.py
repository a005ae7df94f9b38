"""`rollback` and `cleanup` (commands/rollback.py): back to the collection as it was,
the application's writes kept; only what is ours dropped."""

from __future__ import annotations

import time

import pytest
from helpers import (
    PARAMS,
    all_rows,
    backend_independent,
    create_table,
    fingerprint,
    read_labels,
    unique_name,
)
from pymilvus import DataType

from milvus_cluster import label_collection
from milvus_cluster.commands.rollback import cleanup_collection, rollback_collection
from milvus_cluster.errors import MigrationError


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
    """Only with --discard-changes while the backup holds rows the collection has not."""
    table = create_table(client, n=200)
    label_collection(table.name, uri=uri, parameters=PARAMS)
    backup = f"{table.name}_mc_backup"
    client.delete(table.name, filter=f"id in {table.pks[:3]}")
    with pytest.raises(MigrationError, match="holds 3 rows .* --discard-changes"):
        cleanup_collection(table.name, uri=uri, drop=True)
    assert client.has_collection(backup)
    dropped = cleanup_collection(table.name, uri=uri, drop=True, discard_changes=True)
    assert dropped == [backup] and not client.has_collection(backup)
    assert len(read_labels(client, table.name)) == 197


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
