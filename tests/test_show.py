"""`show` (commands/show.py): the catalog and the collection agree."""

from __future__ import annotations

from helpers import (
    assert_show_matches,
    backend_independent,
    create_table,
    labelled_table,
    run,
)


def test_label_fills_the_catalog_and_show_matches_the_collection(client, uri):
    table = labelled_table(client, uri)
    shown = assert_show_matches(client, table.name, uri)
    assert shown["text_field"] == "title"
    assert all(len(c["texts"]) == len(c["exemplars"]) for c in shown["clusters"])
    assert [run["command"] for run in shown["runs"]] == ["label"]
    assert shown["runs"][0]["state"] == "done" and shown["lock"] == ""
    text = run("show", "-c", table.name, "--uri", uri)
    assert text.exit_code == 0 and "4 clusters in 600 rows" in text.output
    assert "label    done" in text.output and "lock: free" in text.output


@backend_independent
def test_hints_for_an_unlabelled_collection_carry_the_uri(client, uri):
    """show, assign and relabel point at `label` with the --uri they were given."""
    table = create_table(client, n=50)
    for command in ("show", "assign", "relabel"):
        result = run(command, "-c", table.name, "--uri", uri)
        assert result.exit_code == 1, result.output
        assert f"milvus-cluster label -c {table.name} --uri {uri}" in result.output, command
