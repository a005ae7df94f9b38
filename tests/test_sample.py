"""Sample mode (core/sample.py, commands/sample.py, commands/spread.py): a seeded
sample clustered, every other row labelled by the sample's vote, resumed after a kill,
and in shards that together label every row once."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from helpers import (
    PARAMS,
    UNSET,
    assert_show_matches,
    backend_independent,
    create_table,
    fingerprint,
    our_collections,
    read_labels,
    release_lite,
    run,
    set_label,
)
from sklearn.metrics import adjusted_rand_score

from milvus_cluster import ParameterError, label_collection
from milvus_cluster.commands.assign import assign_collection
from milvus_cluster.core.knn import LocalIndex
from milvus_cluster.core.sample import (
    AUTO_FULL_LIMIT,
    AUTO_SAMPLE,
    SampleChooser,
    Shard,
    in_sample,
    key_hashes,
    parse_sample,
    parse_shard,
    sample_size,
)
from milvus_cluster.core.vote import vote_in_sample
from milvus_cluster.jobs.catalog import Catalog
from milvus_cluster.jobs.sampling import load_sample
from milvus_cluster.milvus.client import Milvus

ROWS = 3_000  # in two partitions (a kill between them), after a 600-row sample
SAMPLE = 600
ARGS = ["--min-cluster-size", "20", "--min-samples", "5"]


# -- the pure half ----------------------------------------------------------------


def test_the_sample_does_not_depend_on_the_reading_order():
    keys = np.arange(-5_000, 5_000)
    forward, backward = SampleChooser(300, seed=1), SampleChooser(300, seed=1)
    for start in range(0, len(keys), 700):
        forward.add(keys[start : start + 700])
    backward.add(keys[::-1])
    chosen, _, threshold = forward.result()
    assert len(chosen) == 300 and set(chosen) == set(backward.result()[0])
    assert set(keys[in_sample(keys, 1, threshold)]) == set(chosen)
    other = SampleChooser(300, seed=2)
    other.add(keys)
    assert len(set(other.result()[0]) & set(chosen)) < 60  # another seed, other rows


def test_the_sample_is_uniform_across_partitions():
    """Partitions of 1,000 and 9,000 rows read one after the other: the sample takes
    from each in proportion, not first come first served."""
    chooser = SampleChooser(1_000, seed=0)
    chooser.add(np.arange(1_000), partition=0)
    chooser.add(np.arange(1_000, 10_000), partition=1)
    _, partitions, _ = chooser.result()
    assert 60 <= np.count_nonzero(partitions == 0) <= 140  # 100 expected


def test_varchar_keys_hash_stably():
    keys = np.array(['k"0\\x', "k1", "ключ"])
    assert key_hashes(keys, 0).tolist() == key_hashes(keys.copy(), 0).tolist()
    assert len(set(key_hashes(keys, 0).tolist())) == 3
    assert key_hashes(keys, 0).tolist() != key_hashes(keys, 1).tolist()


def test_shards_hold_every_key_exactly_once():
    keys = np.arange(10_000)
    held = np.stack([Shard(i, 3).holds(keys, seed=0) for i in range(3)])
    assert (held.sum(axis=0) == 1).all()
    assert all(3_000 < row.sum() < 3_700 for row in held)
    assert Shard().holds(keys, 0).all()


@pytest.mark.parametrize("text", ["3/2", "2/2", "0/0", "x", "1-2", "-1/2", "1/"])
def test_a_bad_shard_is_refused_in_words(text):
    with pytest.raises(ParameterError, match="--shard"):
        parse_shard(text)


def test_sample_sizes_and_auto():
    assert parse_sample("auto") == "auto" and parse_sample("1,000") == 1_000
    assert parse_sample(None) is None and parse_sample("none") is None
    for bad in ["0", "-5", "many", "1.5"]:
        with pytest.raises(ParameterError, match="--sample"):
            parse_sample(bad)
    assert sample_size(500, 3_000, 20, 16) == 500
    assert sample_size(3_000, 3_000, 20, 16) is None  # the whole collection: a full run
    assert sample_size("auto", AUTO_FULL_LIMIT, 20, 16) is None
    assert sample_size("auto", AUTO_FULL_LIMIT + 1, 20, 16) == AUTO_SAMPLE
    with pytest.raises(ParameterError, match="at least 40 rows"):
        sample_size(30, 3_000, 20, 16)


def test_the_vote_of_a_sample_holds_nothing_n_by_n():
    """20,000 rows voted against a 1,000-row sample: memory in proportion to the rows and
    the sample (a 20,000 × 20,000 float32 matrix alone would be 1.6 GB)."""
    rng = np.random.default_rng(0)
    centres = np.array([[-5.0] * 16, [5.0] * 16])
    labels = rng.integers(0, 2, 1_000)
    sample = (centres[labels] + rng.normal(size=(1_000, 16))).astype(np.float32)
    truth = rng.integers(0, 2, 20_000)
    rows = (centres[truth] + rng.normal(size=(20_000, 16))).astype(np.float32)
    index = LocalIndex(sample, "L2", 16)
    tracemalloc.start()
    verdict = vote_in_sample(index, labels, rows, 16, np.array([9.0, 9.0]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20
    assert (verdict.labels == truth).mean() > 0.99


# -- against Milvus --------------------------------------------------------------


def sampled_params():
    from dataclasses import replace

    return replace(PARAMS, sample=SAMPLE)


def assert_every_row_labelled_well(client, table) -> dict:
    labels = read_labels(client, table.name)
    assert set(labels) == set(table.pks)
    assert not [pk for pk, label in labels.items() if label in UNSET]
    found = np.array([labels[pk] for pk in table.pks])
    assert adjusted_rand_score(table.truth, found) > 0.95
    return labels


def test_sample_mode_labels_every_row(client, uri):
    table = create_table(client, n=ROWS)
    before = fingerprint(client, table.name)
    result = label_collection(table.name, uri=uri, parameters=sampled_params())
    assert result.sampled == SAMPLE and result.assigned == ROWS - SAMPLE
    assert result.rows == ROWS and result.clusters == 4
    assert_every_row_labelled_well(client, table)
    assert fingerprint(client, table.name) == before  # nothing but labels changed
    shown = assert_show_matches(client, table.name, uri)  # the catalog: the sample's clusters
    assert sorted(c["id"] for c in shown["clusters"]) == sorted(result.cluster_ids)
    with Milvus.connect(uri) as milvus:
        catalog = Catalog.open(milvus, table.name)
        record = load_sample(catalog)
        assert record is not None and record.state == "done" and record.size == SAMPLE
        assert {c.run_id for c in catalog.clusters()} == {result.run_id}
    assert result.assigned_written == ROWS - SAMPLE  # none had a label
    labels = read_labels(client, table.name)
    keys = np.array(table.pks)
    outside = keys[~in_sample(keys, record.seed, record.threshold)]
    spoilt = {int(pk): UNSET[1] if at % 2 else labels[int(pk)] + 1 for at, pk in
              enumerate(outside[:: len(outside) // 6][:6])}  # fmt: skip
    for pk, label in spoilt.items():  # the application's writes: a wrong label, or none
        set_label(client, table.name, pk, label)
    again = label_collection(table.name, uri=uri, parameters=sampled_params())
    assert again.drift is not None and again.drift.changed == 0  # the same sample, ids kept
    assert again.cluster_ids == result.cluster_ids
    # The nightly relabel: every other vote as it was, so those rows and only those written.
    assert again.assigned_written == len(spoilt)
    assert read_labels(client, table.name) == labels
    assert fingerprint(client, table.name) == before


@backend_independent
def test_parameters_are_checked_before_anything_is_created(client, uri):
    table = create_table(client, n=ROWS)
    made = our_collections(client)
    refusals = [
        (["label", "--sample", "0"], "--sample 0"),
        (["label", "--sample", "lots"], "--sample 'lots'"),
        (["label", "--sample", "30"], "at least 40 rows"),
        (["label", "--sample-only"], "--sample-only"),
        (["assign", "--shard", "2/2"], "--shard '2/2'"),
        (["assign", "--shard", "one/two"], "--shard 'one/two'"),
    ]
    for args, words in refusals:
        command, *options = args
        extra = ARGS if command == "label" else []
        result = run(command, "-c", table.name, "--uri", uri, *extra, *options)
        assert result.exit_code == 1, result.output
        assert words in result.output and len(result.output.strip().splitlines()) == 1
    assert our_collections(client) == made  # no catalog, copy or field


@contextmanager
def connected(uri: str) -> Iterator[Milvus]:
    """Our door to Milvus for a moment: Milvus Lite lets one process at a time hold its
    file, and the runs here are processes of their own."""
    milvus = Milvus.connect(uri)
    try:
        yield milvus
    finally:
        milvus.close()
        release_lite(uri)


def in_two_partitions(client: Any, table: Any) -> None:
    """Move the last 1,000 rows of the table into a partition "recent"."""
    recent = table.pks[-1_000:]
    client.create_partition(table.name, "recent")
    rows = client.query(table.name, filter=f"id >= {recent[0]}", output_fields=["*"], limit=2_000)
    client.delete(table.name, filter=f"id >= {recent[0]}")
    client.insert(table.name, rows, partition_name="recent")
    client.flush(table.name)


def test_a_killed_sample_run_goes_on_where_it_stopped(uri, spawn):
    """In a collection with two partitions: the rows stay in theirs."""
    with connected(uri) as milvus:
        table = create_table(milvus.client, n=ROWS)
        in_two_partitions(milvus.client, table)
        before = fingerprint(milvus.client, table.name)
    args = ["-m", "milvus_cluster", "label", "-c", table.name, "--uri", uri, *ARGS]
    args += ["--sample", str(SAMPLE), "--json"]
    killed = spawn.run(*args, env={"MILVUS_CLUSTER_KILL_AT": "spread-batch:1"})
    assert killed.returncode == -9, killed.stderr
    with connected(uri) as milvus:
        record = load_sample(Catalog.open(milvus, table.name))
        assert record is not None and record.state == "spreading"
    resumed = spawn.run(*args)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["sample_run"] == record.run_id  # the same sample, clusters and ids
    assert "cluster" not in report["seconds"] and report["seconds"]["assign"] > 0
    assert report["rows"] == ROWS and report["assigned"] == ROWS - SAMPLE
    with connected(uri) as milvus:
        assert_every_row_labelled_well(milvus.client, table)
        assert_show_matches(milvus.client, table.name, uri)
        assert fingerprint(milvus.client, table.name) == before
        recent = milvus.client.query(table.name, filter="", output_fields=["id"], limit=5_000,
                                     partition_names=["recent"])  # fmt: skip
        assert {row["id"] for row in recent} == set(table.pks[-1_000:])  # count(*) ignores
        # partitions on Milvus Lite 3.2.2
        states = [r.state for r in Catalog.open(milvus, table.name).runs()]
        assert states[:2] == ["done", "failed"]  # the killed run, marked abandoned


def test_two_shards_label_every_row_once(client, uri):
    table = create_table(client, n=ROWS)
    first = run("label", "-c", table.name, "--uri", uri, *ARGS, "--sample", str(SAMPLE),
                "--sample-only", "--json")  # fmt: skip
    assert first.exit_code == 0, first.output
    labels = read_labels(client, table.name)
    assert sum(label not in UNSET for label in labels.values()) == SAMPLE
    with Milvus.connect(uri) as milvus:
        record = load_sample(Catalog.open(milvus, table.name))
    assert record is not None and record.state == "spreading"
    keys = np.array(table.pks)
    outside = ~in_sample(keys, record.seed, record.threshold)
    shares = []
    for index in range(2):
        result = assign_collection(table.name, uri=uri, shard=f"{index}/2")
        mine = outside & Shard(index, 2).holds(keys, record.seed)
        assert result.rows == int(mine.sum()) and result.sample_run == record.run_id
        shares.append(result.rows)
    assert sum(shares) == ROWS - SAMPLE  # every row outside the sample, once
    assert_every_row_labelled_well(client, table)
    assert_show_matches(client, table.name, uri)
    with Milvus.connect(uri) as milvus:
        assert load_sample(Catalog.open(milvus, table.name)).state == "done"
    assert assign_collection(table.name, uri=uri).rows == 0  # nothing left


@backend_independent
def test_engine_evoc_samples_on_its_own_neighbours(client, uri):
    """`--engine evoc` builds no kNN graph of the sample (EVoC finds its own
    neighbours), and the sample's vote labels every other row."""
    table = create_table(client, n=ROWS, metric="COSINE")
    args = ["-c", table.name, "--uri", uri, *ARGS, "--engine", "evoc", "--sample", str(SAMPLE)]
    result = run("label", *args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert "knn" not in report["seconds"] and report["assigned"] == ROWS - SAMPLE
    labels = read_labels(client, table.name)
    assert set(labels) == set(table.pks) and not [v for v in labels.values() if v in UNSET]
    found = [labels[pk] for pk in table.pks]  # EVoC on these blobs: ARI 0.82 (measured)
    assert adjusted_rand_score(table.truth, found) > 0.7
