"""`label` end to end against a real Milvus: keys, aliases, second runs, filters, nothing
lost, ids kept when it runs again."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import (
    PARAMS,
    TOPICS,
    all_rows,
    backend_independent,
    create_table,
    database_fingerprint,
    fingerprint,
    labelled_table,
    our_collections,
    read_labels,
    run,
    set_label,
    show_json,
    unique_name,
)
from sklearn.metrics import adjusted_rand_score

from milvus_cluster import MigrationError, Parameters, label_collection
from milvus_cluster.core.stable_ids import IdLedger
from milvus_cluster.jobs.catalog import Catalog
from milvus_cluster.milvus.client import Milvus


def labelled(client, table, uri, **options):
    before = fingerprint(client, table.name)
    result = label_collection(table.name, uri=uri, parameters=PARAMS, **options)
    after = fingerprint(client, table.name)
    assert after == before, "a field other than the labels changed"
    return result


@pytest.fixture(scope="module")
def labelled_once(shared_client, shared_uri):
    """The default collection (INT64 keys, L2), labelled: for the tests that only read."""
    table = create_table(shared_client)
    return table, labelled(shared_client, table, shared_uri)


def test_int64_keys_with_zero_and_negatives(shared_client, labelled_once):
    """And the default metric, L2 (the other metrics: test_every_metric)."""
    client, (table, result) = shared_client, labelled_once
    assert 0 in table.pks and min(table.pks) < 0
    assert result.plan.strategy in ("shadow", "in-place")
    labels = read_labels(client, table.name)
    assert set(labels) == set(table.pks)
    found = np.array([labels[pk] for pk in table.pks])
    assert result.clusters == 4
    assert adjusted_rand_score(table.truth, found) > 0.95


def test_varchar_keys_with_quotes_and_backslashes(client, uri):
    table = create_table(client, pk_type="VARCHAR")
    assert any('"' in pk and "\\" in pk for pk in table.pks)
    labelled(client, table, uri)
    labels = read_labels(client, table.name)
    assert set(labels) == set(table.pks)
    assert all(label is not None for label in labels.values())


def test_auto_id_collection_keeps_its_keys_and_auto_id(client, uri, capabilities):
    table = create_table(client, auto_id=True)
    if not (capabilities.insert_auto_id or capabilities.upsert_keeps_auto_id):
        before = fingerprint(client, table.name)
        with pytest.raises(MigrationError, match="auto_id primary keys"):
            label_collection(table.name, uri=uri, parameters=PARAMS)
        assert fingerprint(client, table.name) == before
        return
    labelled(client, table, uri)
    assert set(read_labels(client, table.name)) == set(table.pks)
    assert client.describe_collection(table.name)["auto_id"] is True
    new = client.insert(table.name, [{"vector": table.vectors[0].tolist(), "title": "app",
                                      "group": 0, "meta": {}, "tags": []}])  # fmt: skip
    assert new["ids"][0] not in table.pks  # the application's inserts still get new keys


@pytest.mark.parametrize("metric", ["COSINE", "IP"])  # L2: test_int64_keys_with_zero_and_...
def test_every_metric(client, uri, metric):
    table = create_table(client, metric=metric)
    result = labelled(client, table, uri)
    labels = read_labels(client, table.name)
    found = np.array([labels[pk] for pk in table.pks])
    assert adjusted_rand_score(table.truth, found) > 0.95
    assert result.clusters == 4


def test_reached_by_alias_moves_the_alias(client, uri):
    table = create_table(client)
    docs = unique_name("docs")
    client.create_alias(table.name, docs)
    before = fingerprint(client, docs)
    result = label_collection(docs, uri=uri, parameters=PARAMS)
    assert result.plan.strategy == "shadow" and not result.plan.swap_names
    assert fingerprint(client, docs) == before
    target = client.describe_alias(docs)["collection_name"]
    assert target == result.plan.shadow
    assert "cluster_id" not in [f["name"] for f in client.describe_collection(table.name)["fields"]]
    assert set(read_labels(client, docs)) == set(table.pks)


def test_reached_by_name_keeps_a_backup_and_the_aliases(client, uri):
    table = create_table(client)
    other = unique_name("other")
    client.create_alias(table.name, other)
    result = labelled(client, table, uri)
    assert result.plan.swap_names
    assert client.has_collection(result.plan.backup)
    assert client.describe_alias(other)["collection_name"] == table.name
    assert fingerprint(client, result.plan.backup) == fingerprint(client, table.name)


def test_second_run_updates_in_place(client, uri):
    table = create_table(client)
    labelled(client, table, uri)
    first = read_labels(client, table.name)
    set_label(client, table.name, table.pks[0], 99)
    collections = our_collections(client)
    result = labelled(client, table, uri)
    # in place: into the label field, or (Milvus < 2.5, after a copy) its dynamic keys
    assert result.plan.strategy in ("in-place", "dynamic")
    assert our_collections(client) == collections
    assert read_labels(client, table.name) == first


def test_labels_filter_in_query_and_search(shared_client, labelled_once):
    client, (table, _) = shared_client, labelled_once
    client.load_collection(table.name)
    members = client.query(table.name, filter="cluster_id == 0", output_fields=["id", "group"])
    assert len(members) >= 100
    assert len({row["group"] for row in members}) == 1
    hits = client.search(
        table.name,
        data=[table.vectors[0].tolist()],
        anns_field="vector",
        limit=10,
        filter="cluster_id in [1, 2]",
        output_fields=["cluster_id"],
    )[0]
    assert hits and all(hit["entity"]["cluster_id"] in (1, 2) for hit in hits)
    noise = client.query(table.name, filter="cluster_id == -1", output_fields=["count(*)"])
    assert noise[0]["count(*)"] >= 0


def test_dynamic_field_takes_the_labels(client, uri):
    table = create_table(client, dynamic=True)
    result = labelled(client, table, uri)
    assert result.plan.strategy == "dynamic"
    rows = client.query(table.name, filter='extra == "dyn7"', output_fields=["extra", "cluster_id"])
    assert len(rows) == 1 and rows[0]["cluster_id"] is not None
    assert len(client.query(table.name, filter="cluster_id == 0", output_fields=["id"])) >= 100


def test_dynamic_fields_survive_a_copy(client, uri):
    table = create_table(client, dynamic=True)
    result = labelled(client, table, uri, strategy="shadow")
    assert result.plan.strategy == "shadow"
    rows = client.query(table.name, filter='extra == "dyn7"', output_fields=["extra"])
    assert len(rows) == 1


@pytest.mark.parametrize("knn", ["milvus", "local"])
@pytest.mark.parametrize("index", ["HNSW", "FLAT"])
def test_graph_by_milvus_search_or_locally(client, uri, knn, index):
    table = create_table(client, index=index, n=400)
    params = Parameters(min_cluster_size=20, min_samples=5, knn=knn)
    result = label_collection(table.name, uri=uri, parameters=params)
    assert result.knn == knn
    labels = read_labels(client, table.name)
    found = np.array([labels[pk] for pk in table.pks])
    assert adjusted_rand_score(table.truth, found) > 0.95


def test_dry_run_changes_nothing(client, uri):
    table = create_table(client)
    before = (our_collections(client), fingerprint(client, table.name))
    result = label_collection(table.name, uri=uri, parameters=PARAMS, dry_run=True)
    assert result.dry_run and result.plan.strategy == "shadow"
    assert "copy every row" in result.plan.describe()
    assert (our_collections(client), fingerprint(client, table.name)) == before


def test_a_collection_that_is_not_loaded_is_put_back_released(client, uri):
    table = create_table(client, n=200, dynamic=True)
    client.release_collection(table.name)
    label_collection(table.name, uri=uri, parameters=PARAMS)
    assert "NotLoad" in str(client.get_load_state(table.name)["state"])
    assert None not in read_labels(client, table.name).values()


def test_label_again_keeps_ids_and_reports_drift(client, uri):
    table = labelled_table(client, uri)
    first = read_labels(client, table.name)
    result = label_collection(table.name, uri=uri, parameters=PARAMS)
    assert result.drift is not None and result.drift.changed == 0
    assert read_labels(client, table.name) == first


def test_a_new_collection_under_an_old_name_numbers_its_clusters_from_zero(client, uri):
    table = labelled_table(client, uri)
    milvus = Milvus.connect(uri)
    try:
        Catalog.open(milvus, table.name).save_ledger(IdLedger(50, (7,)))
    finally:
        milvus.close()
    for name in (table.name, f"{table.name}_mc_backup"):
        client.drop_collection(name)
    create_table(client, name=table.name)
    result = label_collection(table.name, uri=uri, parameters=PARAMS)
    assert sorted(result.cluster_ids) == [0, 1, 2, 3] and result.drift is None


TOPIC_WORDS = {frozenset(words) for words in TOPICS}


# -- label --preview ------------------------------------------------------------------


def preview_json(uri: str, name: str, *options: str) -> dict:
    result = run("label", "-c", name, "--uri", uri, "--preview", "--json",
                 "--min-cluster-size", "20", "--min-samples", "5", *options)  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_preview_writes_nothing_and_clusters_as_label_does(client, uri):
    """Before the first label and after it: the whole database is unchanged (no field,
    copy, catalog, run row, lock or id), and the labels a preview finds are the ones
    that label then writes."""
    table = create_table(client, topics=True)
    before = database_fingerprint(client, uri)
    shown = preview_json(uri, table.name)
    assert database_fingerprint(client, uri) == before
    assert shown["preview"] and shown["clusters"] == 4 and shown["catalog"] == ""
    assert {frozenset(words[:3]) for words in shown["keywords"].values()} == TOPIC_WORDS

    previewed = label_collection(table.name, uri=uri, parameters=PARAMS, preview=True)
    done = label_collection(table.name, uri=uri, parameters=PARAMS)
    assert previewed.labels() == done.labels() == read_labels(client, table.name)
    shown = show_json(uri, table.name)  # the keywords reached the catalog
    assert {frozenset(c["keywords"][:3]) for c in shown["clusters"]} == TOPIC_WORDS

    labelled = database_fingerprint(client, uri)
    again = preview_json(uri, table.name)
    assert database_fingerprint(client, uri) == labelled  # the catalog and its ids too
    assert again["cluster_ids"] == done.cluster_ids and again["drift"]["changed"] == 0


def test_preview_and_dry_run_exclude_each_other(tmp_path):
    result = run("label", "-c", "any", "--uri", str(tmp_path / "m.db"), "--preview", "--dry-run")
    assert result.exit_code == 2 and "--preview" in result.output


@backend_independent
def test_little_found_warns_on_stderr_with_the_parameter_to_change(client, uri):
    rng = np.random.default_rng(0)
    table = create_table(client, n=200)
    noise = [{"id": pk, "vector": rng.uniform(-1, 1, 24).tolist(), "title": "", "group": 0,
              "meta": {}, "tags": []} for pk in table.pks]  # fmt: skip
    client.upsert(table.name, noise)
    client.flush(table.name)
    result = run("label", "-c", table.name, "--uri", uri, "--preview")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "--min-cluster-size" in result.stderr
    assert "warning" not in result.stdout
    as_json = run("label", "-c", table.name, "--uri", uri, "--preview", "--json")
    assert as_json.stderr == "" and json.loads(as_json.stdout)["warnings"]


# -- keywords (a text field) -----------------------------------------------------------------------


@backend_independent  # with keywords: test_preview_writes_nothing_and_clusters_as_label_does
def test_no_keywords_with_an_empty_text_field(client, uri):
    table = create_table(client, topics=True)
    label_collection(table.name, uri=uri, parameters=PARAMS, text_field="")
    assert all(not c["keywords"] for c in show_json(uri, table.name)["clusters"])


@backend_independent
@pytest.mark.parametrize("engine", ["evoc", "evoc-knn"])
def test_engine_evoc_labels_and_assign_and_relabel_follow_it(client, uri, engine):
    """`--engine evoc` builds no kNN graph of its own (evoc-knn, which auto chooses for
    the texts ingest embedded, does, for its vote); the run records the engine, so that
    relabel repeats it, and assign votes with the figures EVoC's run left."""
    from helpers import unset

    from milvus_cluster.commands.assign import assign_collection
    from milvus_cluster.commands.relabel import relabel_collection
    from milvus_cluster.milvus.describe import EMBEDDED_BY_PROPERTY

    table = create_table(client, n=200, metric="COSINE")
    chosen = ["--engine", engine]
    if engine == "evoc-knn":  # what ingest records: auto then takes the vectors for text
        client.alter_collection_properties(table.name, {EMBEDDED_BY_PROPERTY: "a model"})
        chosen = []
    # clusters of 20 or more: at 10, EVoC's pick splits a blob of these 200 rows on some
    # CPUs (its answer depends on the vector instructions numba compiles for)
    sized = ["--min-cluster-size", "20"]
    result = run(
        "label", "-c", table.name, "--uri", uri, *chosen, *sized, "--layers", "1", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["parameters"]["engine"] == engine
    # EVoC's own coarser layers (or the top one repeated): a function of the cluster
    rows = all_rows(client, table.name, ["cluster_id", "cluster_id_1"])
    parent = {row["cluster_id"]: row["cluster_id_1"] for row in rows}
    assert all(parent[row["cluster_id"]] == row["cluster_id_1"] for row in rows)
    assert parent.get(-1, -1) == -1 and all(parent[c] >= 0 for c in parent if c >= 0)
    assert ("knn" in report["seconds"]) == (engine == "evoc-knn")
    labels = read_labels(client, table.name)
    assert adjusted_rand_score(table.truth, [labels[pk] for pk in table.pks]) > 0.9
    twins = np.arange(0, 200, 20)  # new rows a hair away from labelled ones
    near = table.vectors[twins] + np.float32(1e-3)
    rows = [
        {"id": 10_000 + i, "vector": v.tolist(), "title": "new", "group": 0, "meta": {},
         "tags": []} | unset(client, table.name)
        for i, v in enumerate(near)
    ]  # fmt: skip
    client.insert(table.name, rows)
    client.flush(table.name)
    assert assign_collection(table.name, uri=uri).assigned == len(twins)
    labels = read_labels(client, table.name)
    assert [labels[10_000 + i] for i in range(len(twins))] == [labels[table.pks[t]] for t in twins]
    again = relabel_collection(table.name, uri=uri)
    assert again.parameters.engine == engine and again.drift is not None


# -- reading by key ranges ------------------------------------------------------------


def test_key_ranges_read_every_row_once(client, uri, monkeypatch):
    """Ranges cut from a part of the keys still cover every key (the ends are open),
    and a range that outgrew the query limit is read by an iterator instead."""
    import milvus_cluster.milvus.client as client_module

    table = create_table(client, n=600)
    client.load_collection(table.name)
    monkeypatch.setattr(client_module, "READ_BATCH", 50)
    monkeypatch.setattr(client_module, "RANGE_LIMIT", 60)  # the two open ends hold 250
    known = np.sort(np.asarray(table.pks))[200:400]
    milvus = Milvus.connect(uri)
    try:
        batches = list(milvus.iterate_key_ranges(table.name, "id", ["id", "vector"], known, 3))
    finally:
        milvus.close()
    read = [row["id"] for batch in batches for row in batch]
    assert sorted(read) == sorted(table.pks)
    by_key = {row["id"]: row["vector"] for batch in batches for row in batch}
    row = table.pks.index(read[0])
    assert np.allclose(by_key[read[0]], table.vectors[row], atol=1e-6)
