"""Parameters (core/parameters.py): checked as they are made, named as the options are."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from helpers import PARAMS, create_table, run

from milvus_cluster import ParameterError, Parameters, Reduction, label_collection


def test_reduce_is_parsed_as_the_option_writes_it():
    assert Parameters(reduce="umap:5").reduce == Reduction(dim=5)
    assert Parameters(reduce="umap").reduce == Reduction()
    assert Parameters(reduce="none").reduce is None


@pytest.mark.parametrize(
    "values, words",
    [
        ({"reduce": "umap:five"}, "umap:DIM"),
        ({"reduce": "tsne"}, "umap:DIM"),
        ({"min_cluster_size": 1}, "min_cluster_size"),
        ({"min_cluster_size": "10"}, "min_cluster_size"),
        ({"min_samples": 0}, "min_samples"),
        ({"k": 5000}, "at most 1024"),
        ({"min_samples": 30, "k": 10}, "raise k"),
        ({"cluster_selection": "best"}, "'eom', 'leaf'"),
        ({"knn": "faiss"}, "knn"),
        ({"noise": "drop"}, "noise"),
    ],
)
def test_wrong_values_are_refused_at_once(values, words):
    with pytest.raises(ParameterError, match=words):
        Parameters(**values)


def test_cluster_selection_is_the_name_and_method_a_deprecated_alias():
    assert Parameters(cluster_selection="leaf").cluster_selection == "leaf"
    with pytest.warns(DeprecationWarning, match="cluster_selection"):
        assert Parameters(method="leaf").cluster_selection == "leaf"
    with pytest.warns(DeprecationWarning):
        assert Parameters().method == "eom"
    assert Parameters.of({"method": "leaf", "k": 20}).cluster_selection == "leaf"  # old run rows
    assert replace(Parameters(k=20), min_samples=5).resolved().k == 20


def test_relabel_help_shows_no_default_it_does_not_use():
    shown = " ".join(run("relabel", "--help").output.split())
    assert "[default: 10]" not in shown and "[default: eom]" not in shown
    assert "counts as a cluster. [default: the last label's or relabel's]" in shown


@pytest.mark.backends("lite")  # the warnings come from reading Milvus Lite
def test_the_library_drops_pymilvus_timestamp_warnings_and_leaves_logging_alone(
    client, uri, caplog
):
    table = create_table(client, n=100)
    root, pymilvus = logging.getLogger(), logging.getLogger("pymilvus")
    before = (root.level, list(root.handlers), pymilvus.level, list(pymilvus.handlers))
    with caplog.at_level(logging.WARNING):
        label_collection(table.name, uri=uri, parameters=PARAMS)
    assert not [r for r in caplog.records if "mvccTs" in r.getMessage()]
    assert (root.level, list(root.handlers), pymilvus.level, list(pymilvus.handlers)) == before


def test_engine_is_checked_and_auto_chooses_evoc_for_text_embeddings_only():
    with pytest.raises(ParameterError, match="'auto', 'hdbscan', 'evoc', 'evoc-knn'"):
        Parameters(engine="kmeans")
    for engine in ("evoc", "evoc-knn"):
        with pytest.raises(ParameterError, match="leave out reduce"):
            Parameters(engine=engine, reduce="umap:5")
    text = Parameters().for_collection("COSINE", text_embeddings=True)
    assert (text.engine, text.min_samples, text.k) == ("evoc-knn", 5, 60)  # 60 neighbours vote
    evoc = Parameters(engine="evoc").for_collection("IP", text_embeddings=False)
    assert (evoc.min_samples, evoc.k) == (5, 15)  # EVoC's own defaults
    assert Parameters().for_collection("IP", text_embeddings=False).engine == "hdbscan"
    assert Parameters().for_collection("L2", text_embeddings=True).engine == "hdbscan"
    umap = Parameters(reduce="umap:5").for_collection("COSINE", text_embeddings=True)
    assert umap.engine == "hdbscan" and umap.k == 20
    with pytest.raises(ParameterError, match="metric is L2"):
        Parameters(engine="evoc").for_collection("L2", text_embeddings=False)
    assert Parameters.of({"min_cluster_size": 12}).engine == "hdbscan"  # runs before engines
    assert Parameters.of({"engine": "evoc"}).engine == "evoc"
