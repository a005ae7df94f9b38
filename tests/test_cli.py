"""The command line on bad input: one plain line, a non-zero exit, the collection as it was."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import (
    backend_independent,
    create_or_skip,
    create_table,
    fingerprint,
    our_collections,
    run,
    unique_name,
)
from milvus_server import ROOT_TOKEN
from pymilvus import DataType, MilvusClient


def assert_one_line_error(result, *words: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output and "MilvusException" not in result.output
    for word in words:
        assert word in lines[0]


@pytest.fixture
def table(client):
    return create_table(client, n=200)


@pytest.fixture
def unchanged(client, table):
    """Asserts, after the test, that nothing in the database changed."""
    before = (our_collections(client), fingerprint(client, table.name))
    yield
    assert (our_collections(client), fingerprint(client, table.name)) == before


@backend_independent
def test_label_prints_a_summary_and_json(client, uri, table):
    result = run("label", "-c", table.name, "--uri", uri, "--min-cluster-size", "20")
    assert result.exit_code == 0, result.output
    assert "clusters: 4" in result.output and "noise:" in result.output
    result = run("label", "-c", table.name, "--uri", uri, "--min-cluster-size", "20", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["clusters"] == 4 and report["plan"]["strategy"] == "in-place"
    assert set(report["seconds"]) == {"inspect", "read", "knn", "cluster", "keywords", "write"}


@backend_independent
def test_environment_variables_give_the_uri(client, uri, table):
    result = run("label", "-c", table.name, "--min-cluster-size", "20", "--dry-run",
                 env={"MILVUS_URI": uri})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "strategy shadow" in result.output


@backend_independent
def test_dry_run_prints_the_plan(client, uri, table, unchanged):
    result = run("label", "-c", table.name, "--uri", uri, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "copy every row" in result.output and "_mc_backup" in result.output


def test_unknown_collection(client, uri, table, unchanged):
    assert_one_line_error(run("label", "-c", "nope", "--uri", uri), "'nope'", "does not exist")


@backend_independent
def test_unknown_vector_field(client, uri, table, unchanged):
    result = run("label", "-c", table.name, "--uri", uri, "--vector-field", "nope")
    assert_one_line_error(result, "no field 'nope'", "--vector-field")


@backend_independent
def test_vector_field_that_is_not_a_vector(client, uri, table, unchanged):
    result = run("label", "-c", table.name, "--uri", uri, "--vector-field", "title")
    assert_one_line_error(result, "'title'", "not a vector field")


def test_several_vector_fields_need_a_choice(client, uri):
    name = unique_name()
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("a", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("b", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("a", index_type="FLAT", metric_type="L2")
    index.add_index("b", index_type="FLAT", metric_type="L2")
    create_or_skip(client, name, schema, index, "second vector field")
    result = run("label", "-c", name, "--uri", uri)
    assert_one_line_error(result, "several vector fields", "a, b", "--vector-field")


def only_vector(client, kind, index_type: str, metric: str, **options) -> str:
    """A collection whose only vector field is of `kind`, or a skip where the backend
    cannot make one (Milvus Lite has no binary vectors, Milvus 2.3 no sparse ones)."""
    name = unique_name()
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("other", kind, **options)
    index = client.prepare_index_params()
    index.add_index("other", index_type=index_type, metric_type=metric)
    create_or_skip(client, name, schema, index, kind.name)
    return name


def test_sparse_vectors_are_refused(client, uri):
    name = only_vector(client, DataType.SPARSE_FLOAT_VECTOR, "SPARSE_INVERTED_INDEX", "IP")
    client.insert(name, [{"id": i, "other": {i: 1.0}} for i in range(30)])
    assert_one_line_error(run("label", "-c", name, "--uri", uri), "SPARSE_FLOAT_VECTOR")
    result = run("label", "-c", name, "--uri", uri, "--vector-field", "other")
    assert_one_line_error(result, "SPARSE_FLOAT_VECTOR", "dense")


def test_binary_vectors_are_refused(client, uri):
    name = only_vector(client, DataType.BINARY_VECTOR, "BIN_FLAT", "HAMMING", dim=32)
    client.insert(name, [{"id": i, "other": bytes([i, 0, 0, 1])} for i in range(30)])
    assert_one_line_error(run("label", "-c", name, "--uri", uri), "BINARY_VECTOR")


def test_empty_collection(client, uri):
    table = create_table(client, n=0)
    assert_one_line_error(run("label", "-c", table.name, "--uri", uri), "is empty")


@backend_independent
def test_fewer_rows_than_a_cluster_needs(client, uri, table, unchanged):
    result = run("label", "-c", table.name, "--uri", uri, "--min-cluster-size", "500")
    assert_one_line_error(result, "200 rows", "--min-cluster-size")


@backend_independent
def test_min_samples_above_k_is_a_usage_error(client, uri, table, unchanged):
    result = run("label", "-c", table.name, "--uri", uri, "--min-samples", "20", "--k", "10")
    assert result.exit_code == 2
    assert "--min-samples (20) cannot exceed --k (10)" in result.output


@backend_independent
def test_label_field_of_another_type(client, uri, table, unchanged):
    result = run("label", "-c", table.name, "--uri", uri, "--label-field", "title")
    assert_one_line_error(result, "'title'", "VARCHAR", "--label-field")


@pytest.mark.parametrize(
    "bad_uri,words",
    [
        ("http://127.0.0.1:1", ["Cannot reach Milvus", "--uri"]),
        ("./milvus.dbb", ["neither a Milvus Lite file", "--uri"]),
        ("/no/such/folder/m.db", ["folder", "does not exist"]),
    ],
)
def test_unreachable_or_mistyped_uri(bad_uri, words):
    assert_one_line_error(run("label", "-c", "docs", "--uri", bad_uri), *words)


def test_credentials_never_appear(tmp_path):
    secret = "root:s3cr3t-token"
    result = run("label", "-c", "docs", "--uri", "http://user:pw@127.0.0.1:1", "--token", secret)
    assert result.exit_code == 1
    assert "s3cr3t" not in result.output and "pw@" not in result.output


@pytest.mark.backends("lite")  # what it checks is a Lite file
def test_lite_file_held_by_another_process(uri, spawn):
    holder = spawn.start("-c", textwrap.dedent(f"""
        import sys, time
        from pymilvus import MilvusClient
        MilvusClient({uri!r}).list_collections()
        print("open", flush=True)
        time.sleep(120)
    """))  # fmt: skip
    assert holder.stdout.readline().strip() == "open"
    result = run("label", "-c", "docs", "--uri", uri)
    assert_one_line_error(result, "held open by another process", uri)


def test_wrong_token_on_a_server_with_authentication(own_server):
    server = own_server(auth=True)
    client = MilvusClient(server.uri, token=ROOT_TOKEN)
    try:
        table = create_table(client, n=100)
        before = fingerprint(client, table.name)
        result = run("label", "-c", table.name, "--uri", server.uri, "--token", "root:wr0ng-pw")
        assert_one_line_error(result, "refused the connection", "--token")
        assert "wr0ng" not in result.output
        assert fingerprint(client, table.name) == before
        result = run("label", "-c", table.name, "--min-cluster-size", "20", "--json",
                     env={"MILVUS_URI": server.uri, "MILVUS_TOKEN": ROOT_TOKEN})  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["rows"] == 100
    finally:
        client.close()


@pytest.mark.parametrize(
    "options, words",
    [
        (["--label-field", "id"], ["'id'", "primary key"]),
        (["--prob-field", "vector"], ["'vector'", "FLOAT_VECTOR"]),
        (["--label-field", "bad name!"], ["'bad name!'", "not a name"]),
        (["--label-field", ""], ["--label-field", "not a name"]),
        (["--label-field", "x", "--prob-field", "x"], ["both 'x'"]),
    ],
)
@backend_independent
def test_label_fields_that_would_damage_the_collection_are_refused_first(
    client, uri, table, unchanged, options, words
):
    result = run("label", "-c", table.name, "--uri", uri, *options)
    assert_one_line_error(result, *words)


@backend_independent
def test_vectors_whose_distances_overflow_are_refused_and_leave_nothing(client, uri, backend):
    table = create_table(client, n=60)
    huge = {"id": 10**6, "vector": [1e19] * table.vectors.shape[1], "title": "huge",
            "group": 0, "meta": {}, "tags": []}  # fmt: skip
    client.insert(table.name, [huge])
    client.flush(table.name)
    before = (our_collections(client), fingerprint(client, table.name))
    result = run("label", "-c", table.name, "--uri", uri, "--knn", "local")
    assert_one_line_error(result, "cannot be clustered", "not finite or a norm beyond")
    assert (our_collections(client), fingerprint(client, table.name)) == before


def test_a_field_of_the_users_is_written_only_with_overwrite_field(client, uri, table):
    """And then in a copy, so that its values stay in the original, where rollback finds
    them."""
    original = fingerprint(client, table.name)
    theirs = ["--label-field", "group", "--prob-field", "", "--min-cluster-size", "20"]
    refused = run("label", "-c", table.name, "--uri", uri, *theirs)
    assert_one_line_error(refused, "'group'", "did not make", "--overwrite-field")
    assert not [c for c in client.list_collections() if c.startswith(f"{table.name}_mc_")]
    done = run("label", "-c", table.name, "--uri", uri, *theirs, "--overwrite-field", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["plan"]["overwritten"] == ["group"]
    again = run("label", "-c", table.name, "--uri", uri, *theirs)  # ours now: no flag needed
    assert again.exit_code == 0, again.output
    assert fingerprint(client, table.name) != original  # 'group' holds the labels
    back = run("rollback", "-c", table.name, "--uri", uri)
    assert back.exit_code == 0, back.output
    assert fingerprint(client, table.name) == original


@backend_independent
def test_relabel_and_assign_need_a_labelled_collection(client, uri):
    table = create_table(client)
    for command in ("relabel", "assign"):
        result = run(command, "-c", table.name, "--uri", uri)
        assert result.exit_code == 1 and "label it first" in result.output, result.output
    result = run("show", "-c", table.name, "--uri", uri)
    assert result.exit_code == 1 and "no catalog" in result.output


def test_with_json_an_error_is_a_json_object_with_a_time_and_a_run_id(tmp_path):
    """So that `--json >> log.jsonl` stays JSON Lines when a run fails."""
    result = run("assign", "-c", "docs", "--uri", str(tmp_path / "missing.db"), "--json")
    assert result.exit_code == 1 and result.stderr == ""
    error = json.loads(result.stdout)
    assert error["time"] and error["run_id"] and error["exit_code"] == 1
    assert (error["command"], error["collection"]) == ("assign", "docs")
    assert "does not exist" in error["error"]
