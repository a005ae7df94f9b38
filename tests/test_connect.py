"""How the commands reach Milvus (commands/connect.py): MILVUS_URI as users write it, for
a Lite file too, and databases other than the default one."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import (
    PARAMS,
    create_table,
    read_labels,
    unique_name,
)

from milvus_cluster import label_collection
from milvus_cluster.cli import main


@pytest.mark.backends("lite")  # what it checks is a Lite path in MILVUS_URI
def test_milvus_uri_naming_a_lite_file_works_for_a_command(uri, spawn):
    """pymilvus parses MILVUS_URI as it is imported and refuses a Lite path; the command
    must still run (here: one clear line about the missing collection, no traceback)."""
    done = spawn.run("-m", "milvus_cluster", "show", "-c", "products", env={"MILVUS_URI": uri})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Illegal uri" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: Collection 'products' does not exist; check -c/--collection."
    ]


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
