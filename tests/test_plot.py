"""The cluster map (commands/plot.py): sampling, and the page in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import (
    backend_independent,
    clustered_vectors,
    create_table,
    takes_nulls,
    unique_name,
)
from pymilvus import DataType

from milvus_cluster import Parameters, label_collection
from milvus_cluster.cli import main
from milvus_cluster.commands.plot import plot_collection, sample_rows
from milvus_cluster.core.labels import UNLABELLED
from milvus_cluster.errors import ParameterError

TOPICS = ["football league goal striker", "bank inflation interest rates",
          "election parliament vote minister", "film actor award festival"]  # fmt: skip
SCREENSHOTS = Path(tempfile.gettempdir()) / "milvus-cluster-screenshots"


def topical_table(client, n: int = 600) -> tuple[str, np.ndarray]:
    """Four blobs whose rows have texts about four topics; labelled."""
    name = unique_name("map")
    vectors, truth = clustered_vectors(n, dim=16)
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=16)
    schema.add_field("url", DataType.VARCHAR, max_length=64)
    schema.add_field("text", DataType.VARCHAR, max_length=1024)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="L2",
                    params={"M": 16, "efConstruction": 64})  # fmt: skip
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [{"id": i, "vector": vectors[i].tolist(), "url": f"u{i}",
                          "text": f"<b>{TOPICS[truth[i]]}</b> story {i} " + "long " * 100}
                         for i in range(n)])  # fmt: skip
    client.flush(name)
    return name, vectors


@pytest.fixture
def labelled(client, uri):
    name, vectors = topical_table(client)
    label_collection(name, uri=uri, parameters=Parameters(min_cluster_size=20, min_samples=5))
    return name, vectors


@pytest.fixture
def chromium() -> Callable[..., subprocess.CompletedProcess]:
    """Runs headless Chromium on a local page: `chromium(page, *options)`."""
    program = shutil.which("chromium") or shutil.which("chromium-browser")
    if program is None:
        pytest.skip("no chromium (CI installs Debian's package)")
    return lambda page, *options: run_chromium(program, page, *options)


def run_chromium(program: str, page: Path, *options: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a local page, a fresh profile, nothing from the network."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [program, "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
             "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--virtual-time-budget=30000", *options, page.as_uri()],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip


@backend_independent
def test_the_page_loads_in_chromium_with_every_point(uri, labelled, chromium, tmp_path):
    name, _ = labelled
    page = tmp_path / "clusters.html"
    result = plot_collection(name, page, uri=uri, max_points=400)
    assert result.sampled and result.points <= 400 and result.clusters == 4
    html = page.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html), "plotly.js must be inside the page"
    loaded = chromium(page, "--dump-dom")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    body = re.search(r"<body[^>]*>", loaded.stdout).group(0)
    assert f'data-points="{result.points}"' in body, body
    assert "data-errors" not in re.search(r"<html[^>]*>", loaded.stdout).group(0)
    assert "Uncaught" not in loaded.stderr
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "clusters.png"
    taken = chromium(page, f"--screenshot={shot}", "--window-size=1280,800", "--hide-scrollbars")
    assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000, "the screenshot looks blank"


@backend_independent
def test_map_of_a_labelled_collection(client, uri, labelled, tmp_path):
    name, vectors = labelled
    result = plot_collection(name, tmp_path / "map.html", uri=uri)
    assert (result.points, result.rows, result.sampled) == (600, 600, False)
    assert result.text_field == "text" and result.clusters == 4
    assert sum(result.sizes.values()) + result.noise == 600
    named = {words[0] for words in result.keywords.values()}
    assert named <= {word for topic in TOPICS for word in topic.split()}
    assert len(named) == 4, result.keywords
    html = (tmp_path / "map.html").read_text()
    assert "&lt;b&gt;" in html and "<b>football" not in html, "texts are escaped for hover"


@backend_independent
def test_rows_added_after_labelling_are_shown_apart(client, uri, capabilities, labelled, tmp_path):
    if not takes_nulls(capabilities):
        pytest.skip("without nullable fields every insert carries a label")
    name, vectors = labelled
    client.insert(name, [{"id": 1000 + i, "vector": vectors[i].tolist(), "url": "new",
                          "text": "new"} for i in range(10)])  # fmt: skip
    client.flush(name)
    result = plot_collection(name, tmp_path / "map.html", uri=uri, text_field="")
    assert result.points == 610 and result.text_field is None and result.keywords == {}
    assert "not labelled yet (10)" in (tmp_path / "map.html").read_text()


@backend_independent
def test_cli_plot(client, uri, labelled, tmp_path):
    name, _ = labelled
    output = tmp_path / "cli.html"
    runner = CliRunner()
    result = runner.invoke(main, ["plot", "-c", name, "--uri", uri, "-o", str(output), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["points"] == 600 and output.is_file()
    result = runner.invoke(main, ["plot", "-c", name, "--uri", uri, "-o", str(output)])
    assert result.exit_code == 0 and "4 clusters" in result.output


@backend_independent
def test_plot_needs_labels(client, uri, tmp_path):
    table = create_table(client, n=50)
    result = CliRunner().invoke(main, ["plot", "-c", table.name, "--uri", uri,
                                       "-o", str(tmp_path / "x.html")])  # fmt: skip
    assert result.exit_code == 1 and "label it first" in result.output
    assert f"(milvus-cluster label -c {table.name} --uri {uri})" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_sample_keeps_every_cluster_within_the_limit():
    labels = np.r_[np.zeros(5000), np.ones(300), [2], np.full(50, -1), [UNLABELLED]].astype(int)
    rows = sample_rows(labels, 100, seed=0)
    assert len(rows) <= 100 and len(np.unique(rows)) == len(rows)
    assert set(labels[rows]) == {0, 1, 2, -1, UNLABELLED}
    assert np.all(np.diff(rows) > 0)
    share = np.bincount(labels[rows][labels[rows] >= 0])
    assert share[0] > 10 * share[1] / 2, "the rest goes in proportion to size"
    assert sample_rows(labels[:50], 100).tolist() == list(range(50))


def test_sample_with_more_clusters_than_points_is_refused():
    with pytest.raises(ParameterError, match="--max-points"):
        sample_rows(np.arange(20), 10)
