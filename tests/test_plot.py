"""The cluster map (commands/plot.py): sampling, and the page in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

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
from milvus_cluster.commands.map_page import LEGEND_CLUSTERS, cluster_figure, palette
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
    return lambda page, *options, search=None: run_chromium(program, page, *options, search=search)


def run_chromium(
    program: str, page: Path, *options: str, search: str | None = None
) -> subprocess.CompletedProcess:
    """Headless Chromium on a local page, a fresh profile, nothing from the network;
    `search` fills in the page's search box (its `#search=` address)."""
    address = page.as_uri() + (f"#search={quote(search)}" if search is not None else "")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [program, "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
             "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--virtual-time-budget=30000", *options, address],
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
    legend = legend_entries(loaded.stdout)
    clusters = [entry for entry in legend if re.match(r"\d+: ", entry)]
    assert len(clusters) == 4 and legend == [*(["noise"] if result.noise else []), *clusters]
    assert sorted(int(entry.split(":")[0]) for entry in clusters) == sorted(result.sizes)
    assert all(word in html for cluster in result.keywords.values() for word in cluster[:1])
    assert 'id="search-box"' in loaded.stdout and "data-matches" not in body
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "clusters.png"
    taken = chromium(page, f"--screenshot={shot}", "--window-size=1280,800", "--hide-scrollbars")
    assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000, "the screenshot looks blank"


def legend_entries(dom: str) -> list[str]:
    """The legend's entries as Chromium drew them, top to bottom, without their counts."""
    texts = re.findall(r'<text class="legendtext"[^>]*data-unformatted="([^"]*)"', dom)
    return [re.sub(r" \([\d,]+\)$", "", text) for text in texts]


def matches(dom: str) -> int | None:
    found = re.search(r'<body[^>]*data-matches="(\d+)"', dom)
    return int(found.group(1)) if found else None


@backend_independent
def test_the_search_box_filters_points_in_chromium(uri, labelled, chromium, tmp_path):
    name, _ = labelled
    page = tmp_path / "clusters.html"
    plot_collection(name, page, uri=uri)  # all 600 rows; row i's text has "story i"
    one = chromium(page, "--dump-dom", search="Story 123")
    assert one.returncode == 0, one.stderr[-2000:]
    assert matches(one.stdout) == 1, re.search(r"<body[^>]*>", one.stdout).group(0)
    assert 'id="search-count">1 match<' in one.stdout
    topic = chromium(page, "--dump-dom", search="football")
    football = sum("football" in TOPICS[t] for t in clustered_vectors(600, dim=16)[1])
    assert football <= matches(topic.stdout) < 300, "football's rows, and its cluster's"
    assert "data-errors" not in re.search(r"<html[^>]*>", topic.stdout).group(0)


def test_a_legend_entry_per_cluster_up_to_the_limit():
    clusters = LEGEND_CLUSTERS + 10
    rng = np.random.default_rng(0)
    labels = np.r_[np.repeat(np.arange(clusters), np.arange(clusters, 0, -1) + 5),
                   np.full(30, -1), np.full(7, UNLABELLED)]  # fmt: skip
    xy = rng.normal(size=(len(labels), 2)) + labels[:, None] % 97
    keywords = {c: [f"word{c}", "more"] for c in range(clusters)}
    figure = cluster_figure(xy, labels, np.arange(len(labels)), None, keywords)
    names = [trace.name for trace in figure.data]
    assert names[0] == "noise (30)" and names[-1] == "not labelled yet (7)"
    assert names[1 : LEGEND_CLUSTERS + 1] == [
        f"{c}: word{c}, more ({clusters - c + 5:,})" for c in range(LEGEND_CLUSTERS)
    ]
    assert names[LEGEND_CLUSTERS + 1].startswith("other clusters: 10 (")
    assert len(names) == LEGEND_CLUSTERS + 3
    assert figure.data[-1].marker.symbol == "x", "unlabelled rows in their own style, on top"
    assert sum(len(trace.x) for trace in figure.data) == len(labels)
    notes = figure.layout.annotations
    assert len(notes) == clusters and notes[-1].text == "0 · word0, more", "largest on top"
    assert [note.name for note in notes[-3:]] == ["2", "1", "0"]
    assert all(note.bgcolor for note in notes), "names on a box, readable over points"


def test_the_palette_does_not_repeat():
    for count in (4, 60, 200):
        colours = palette(count)
        assert len(colours) == count and len({c.upper() for c in colours}) == count


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
