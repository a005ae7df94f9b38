"""Topic-model mode: UMAP fed the kNN graph, then HDBSCAN in the embedding."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import backend_independent, clustered_vectors, create_table, read_labels
from sklearn.metrics import adjusted_rand_score

from milvus_cluster import Parameters, label_collection, local_knn
from milvus_cluster.cli import main
from milvus_cluster.core.knn import KnnGraph
from milvus_cluster.core.reduce import Reduction, parse_reduction, reduce_graph, with_self
from milvus_cluster.errors import ParameterError


@pytest.mark.parametrize(
    "spec,expected",
    [("umap", Reduction()), ("umap:2", Reduction(dim=2)), ("UMAP:10", Reduction(dim=10)),
     ("none", None), ("", None)],
)  # fmt: skip
def test_parse_reduction(spec, expected):
    assert parse_reduction(spec) == expected


@pytest.mark.parametrize("spec", ["pca:5", "umap:", "umap:x", "umap:0", "umap:101", "umap:-1"])
def test_parse_reduction_refuses(spec):
    with pytest.raises(ParameterError, match="reduce"):
        parse_reduction(spec)


def test_with_self_puts_each_row_first_at_distance_zero():
    """umap-learn's precomputed_knn contract: row i's own index first, distance 0."""
    graph = KnnGraph(
        indices=np.array([[1, 2], [0, 2], [1, -1]], dtype=np.int32),
        distances=np.array([[0.5, 1.0], [0.5, 0.7], [0.7, np.inf]], dtype=np.float32),
        metric="L2",
    )
    indices, distances = with_self(graph, n_neighbors=15)
    assert indices.tolist() == [[0, 1, 2], [1, 0, 2], [2, 1, -1]]
    assert distances[:, 0].tolist() == [0, 0, 0] and distances[2, 2] == np.inf
    assert with_self(graph, n_neighbors=2)[0].tolist() == [[0, 1], [1, 0], [2, 1]]


def test_reduced_graph_keeps_the_clusters():
    vectors, truth = clustered_vectors(n=600, dim=24)
    graph = local_knn(vectors, 16, "L2")
    reduced, embedding = reduce_graph(graph, vectors, Reduction(dim=3))
    assert embedding.shape == (600, 3) and embedding.dtype == np.float32
    assert reduced.k == 16 and reduced.metric == "L2"
    same_cluster = truth[reduced.indices[:, 0]] == truth
    assert same_cluster.mean() > 0.99


def test_tiny_inputs_do_not_break_umap():
    vectors = np.eye(4, 8, dtype=np.float32)
    reduced, embedding = reduce_graph(local_knn(vectors, 16, "COSINE"), vectors, Reduction(dim=2))
    assert embedding.shape == (4, 2) and reduced.k == 3


@backend_independent
def test_label_with_reduce_on_milvus(client, uri):
    table = create_table(client, n=600, metric="COSINE")
    parameters = Parameters(min_cluster_size=20, min_samples=5, reduce=Reduction(dim=5))
    result = label_collection(table.name, uri=uri, parameters=parameters)
    assert "reduce" in result.seconds and result.clusters == 4
    assert result.as_dict()["parameters"]["reduce"]["dim"] == 5
    labels = read_labels(client, table.name)
    found = np.array([labels[pk] for pk in table.pks])
    assert adjusted_rand_score(table.truth, found) > 0.95


@backend_independent
def test_cli_reduce_option(client, uri):
    table = create_table(client, n=200)
    runner = CliRunner()
    bad = runner.invoke(main, ["label", "-c", table.name, "--uri", uri, "--reduce", "tsne"])
    assert bad.exit_code == 2 and "--reduce" in bad.output
    good = runner.invoke(main, ["label", "-c", table.name, "--uri", uri, "--reduce", "umap:2",
                                "--min-cluster-size", "20"])  # fmt: skip
    assert good.exit_code == 0, good.output
    assert "reduced:  UMAP to 2 dimensions" in good.output


@backend_independent
def test_without_umap_the_error_says_what_to_install(client, uri, monkeypatch):
    table = create_table(client, n=100)
    monkeypatch.setitem(sys.modules, "umap", None)  # `import umap` now raises ImportError
    result = CliRunner().invoke(main, ["label", "-c", table.name, "--uri", uri,
                                       "--reduce", "umap"])  # fmt: skip
    assert result.exit_code == 1
    assert "pip install 'milvus-cluster[plot]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "cluster_id" not in client.describe_collection(table.name)["fields"].__repr__()
