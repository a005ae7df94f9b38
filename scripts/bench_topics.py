"""Topic-model mode against raw kNN-graph HDBSCAN, on labelled news with real embeddings.

For bbc-text (1,249 articles, 5 categories) and ag_news_test (7,600 headlines with
descriptions, 4 categories) from ../shared/data, with their all-MiniLM-L6-v2 embeddings
(.npy, unit length, COSINE), it runs the stages `label` runs, as library calls:

- raw:  kNN graph (local_knn, COSINE) → cluster_graph (HDBSCAN on the graph);
- umap: the same kNN graph → UMAP to DIM dimensions (`--reduce umap:DIM`: n_neighbors 15,
  min_dist 0, seed 0) → kNN graph of the embedding → cluster_graph;

for a few min_cluster_size values and both cluster selections (min_samples and k as
`label` resolves them). Each row of the table: clusters found, noise share, the largest
cluster's share of all rows, adjusted Rand index (ARI) and normalised mutual information
(NMI) against the categories with noise counted as one more group, homogeneity on the
rows in clusters (1: every cluster holds one category only), and seconds: kNN + UMAP +
clustering, on 2 cores (the graphs are built once per setting that shares them; numba
compiles UMAP on a small warm-up first, outside the timings).

Run:    .venv/bin/python scripts/bench_topics.py [--data ../shared/data]
Output: a markdown table on stdout and in bench-results/bench_topics.md, all figures in
        bench-results/bench_topics.json. Without the data folder it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, homogeneity_score, normalized_mutual_info_score

from bench.tables import row, table
from milvus_cluster import Parameters
from milvus_cluster.core.clustering import cluster_graph
from milvus_cluster.core.knn import local_knn
from milvus_cluster.core.reduce import Reduction, reduce_graph

DATASETS = {  # stem: (category column, min_cluster_size values)
    "bbc-text": ("category", (15, 30, 60)),
    "ag_news_test": ("label", (30, 60, 120)),
}
EMBEDDING = "all-MiniLM-L6-v2"


def settings(sizes: tuple[int, ...]) -> list[tuple[int | None, str, int]]:
    """(UMAP dim or None for raw, selection, min_cluster_size): every size for raw and
    umap:5 with eom and leaf, the middle size for umap:2, umap:10 and raw leaf."""
    middle = sizes[len(sizes) // 2]
    grid: list[tuple[int | None, str, int]] = [(None, "eom", size) for size in sizes]
    grid += [(None, "leaf", middle), (2, "eom", middle)]
    grid += [(5, method, size) for method in ("eom", "leaf") for size in sizes]
    return grid + [(10, "eom", middle)]


def load(data: Path, stem: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    vectors = np.load(data / f"{stem}.{EMBEDDING}.npy").astype(np.float32)
    truth = pd.read_csv(data / f"{stem}.csv")[column].to_numpy()
    return vectors, truth


def scores(truth: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    clustered = labels >= 0
    sizes = np.bincount(labels[clustered]) if clustered.any() else np.zeros(1, int)
    return {
        "clusters": int(labels.max()) + 1,
        "noise_share": 1.0 - clustered.mean(),
        "largest_share": sizes.max() / len(labels),
        "ari": adjusted_rand_score(truth, labels),
        "nmi": normalized_mutual_info_score(truth, labels),
        # each cluster about one category? (on the rows in clusters; 1 = all pure)
        "homogeneity": homogeneity_score(truth[clustered], labels[clustered])
        if clustered.any()
        else 0.0,
    }


class Stages:
    """The kNN graph per k and the UMAP graph per (k, dim), built once and timed."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.graphs: dict[tuple[int, int | None], tuple[Any, np.ndarray, float]] = {}

    def graph(self, k: int, dim: int | None) -> tuple[Any, np.ndarray, float]:
        """(graph, points, seconds to build them) for raw (dim None) or umap:dim."""
        if (k, dim) not in self.graphs:
            start = time.perf_counter()
            if dim is None:
                graph, points = local_knn(self.vectors, k, "COSINE"), self.vectors
            else:
                raw, _, _ = self.graph(k, None)
                graph, points = reduce_graph(raw, self.vectors, Reduction(dim=dim))
            self.graphs[k, dim] = (graph, points, time.perf_counter() - start)
        return self.graphs[k, dim]


def run(stages: Stages, truth: np.ndarray, dim: int | None, method: str, size: int) -> dict:
    """One setting; seconds = kNN + UMAP (when reduced) + clustering."""
    params = Parameters(min_cluster_size=size, cluster_selection=method).resolved()
    k, min_samples = params.k or 0, params.min_samples or 0
    graph, points, built = stages.graph(k, dim)
    knn = stages.graph(k, None)[2]
    start = time.perf_counter()
    clustering = cluster_graph(graph, size, min_samples, method, vectors=points)
    cluster = time.perf_counter() - start
    seconds = {"knn": knn, **({"reduce": built} if dim else {}), "cluster": cluster}
    return {
        "mode": "raw" if dim is None else f"umap:{dim}",
        "selection": method,
        "min_cluster_size": size,
        "min_samples": min_samples,
        "k": k,
        **scores(truth, clustering.labels),
        "seconds": {stage: round(s, 2) for stage, s in seconds.items()},
        "total_seconds": round(sum(seconds.values()), 2),
    }


def bench(data: Path) -> list[dict[str, Any]]:
    results = []
    for stem, (column, sizes) in DATASETS.items():
        vectors, truth = load(data, stem, column)
        reduce_graph(local_knn(vectors[:500], 16, "COSINE"), vectors[:500], Reduction(dim=2))
        stages = Stages(vectors)  # numba compiled UMAP just above: not timed
        for dim, method, size in settings(sizes):
            result = {"dataset": stem, "rows": len(vectors)} | run(stages, truth, dim, method, size)
            print(row(_cells(result)), file=sys.stderr, flush=True)
            results.append(result)
    return results


HEADER = ["data", "mode", "selection", "min_cluster_size", "clusters", "noise", "largest"]
HEADER += ["ARI", "NMI", "homogeneity", "seconds"]


def _cells(r: dict[str, Any]) -> list[str]:
    return [
        f"{r['dataset']} ({r['rows']:,})",
        r["mode"],
        r["selection"],
        str(r["min_cluster_size"]),
        str(r["clusters"]),
        f"{100 * r['noise_share']:.0f} %",
        f"{100 * r['largest_share']:.0f} %",
        f"{r['ari']:.3f}",
        f"{r['nmi']:.3f}",
        f"{r['homogeneity']:.3f}",
        f"{r['total_seconds']:.1f}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default, help=f"default: {default}")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    missing = [s for s in DATASETS if not (args.data / f"{s}.{EMBEDDING}.npy").is_file()]
    if missing:
        print(f"No data for {', '.join(missing)} in {args.data}; nothing to measure.")
        return
    results = bench(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    environment = {"python": platform.python_version(), "machine": platform.machine()}
    (args.out / "bench_topics.json").write_text(
        json.dumps({"environment": environment, "results": results}, indent=2)
    )
    text = table(HEADER, [_cells(r) for r in results])
    (args.out / "bench_topics.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
