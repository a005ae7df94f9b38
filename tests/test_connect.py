"""How the commands reach Milvus (commands/connect.py): MILVUS_URI as users write it, for
a Lite file too, and databases other than the default one."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import (
    PARAMS,
    create_table,
    read_labels,
    release_lite,
    unique_name,
)
from pymilvus import MilvusClient

from milvus_cluster import label_collection
from milvus_cluster.cli import main
from milvus_cluster.milvus.translate import command_line

READ_ONLY = [
    ["show", "-c", "docs"],
    ["plot", "-c", "docs"],
    ["plan", "-c", "docs"],
    ["rollback", "-c", "docs"],
    ["cleanup", "-c", "docs"],
    ["collections"],
    ["label", "-c", "docs"],
    ["assign", "-c", "docs"],
    ["unlabel", "-c", "docs", "--yes"],
    ["export", "-c", "docs", "-o", "labels.csv"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda command: command[0])
def test_a_missing_lite_file_is_one_line_and_creates_nothing(tmp_path, command):
    """Every command but ingest and demo needs a collection there already; opening the
    file would leave an empty one behind."""
    missing = tmp_path / "typo.db"
    for uri in (str(missing), str(tmp_path / "no" / "such" / "m.db")):
        result = CliRunner().invoke(main, [*command, "--uri", uri])
        assert result.exit_code == 1, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert "does not exist" in result.output and "--uri" in result.output
    assert list(tmp_path.iterdir()) == []


def test_hints_carry_the_uri_and_database_given_never_the_token():
    assert command_line("label -c docs", "./milvus.db") == "milvus-cluster label -c docs"
    assert command_line("label -c docs", "milvus.db") == "milvus-cluster label -c docs"
    assert (
        command_line("show -c d", "my data/s.db", "")
        == "milvus-cluster show -c d --uri 'my data/s.db'"
    )
    hidden = command_line("label -c d", "http://user:pw@h:19530", "db1")
    assert hidden == "milvus-cluster label -c d --uri 'http://***@h:19530' --db-name db1"
    assert command_line("label -c d", "http://h:19530", "default").endswith("--uri http://h:19530")


@pytest.mark.backends("lite")  # what it checks is a Lite path in MILVUS_URI
def test_milvus_uri_naming_a_lite_file_works_for_a_command(uri, spawn):
    """pymilvus parses MILVUS_URI as it is imported and refuses a Lite path; the command
    must still run (here: one clear line about the missing collection, no traceback)."""
    MilvusClient(uri).close()  # the file exists, without the collection
    release_lite(uri)
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
