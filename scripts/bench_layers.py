"""Whether the coarser layers (core/layers.py) make sense, on labelled news.

For bbc-text (1,249 articles, 5 categories) and ag_news_test (7,600 headlines, 4
categories) from ../shared/data (all-MiniLM-L6-v2 embeddings, COSINE), it clusters as
`label` does (raw kNN graph, and `--reduce umap:5`), builds the layers from the
condensed tree, and scores every layer against the categories: clusters, NMI and ARI
(noise one more group), and homogeneity on the rows in clusters. A layer makes sense
when its NMI rises towards the categories' level as clusters merge, and homogeneity
stays high (merges join clusters of the same category). The data is not part of the
project: without it the script says so and exits 0.

Run:    .venv/bin/python scripts/bench_layers.py [--data ../shared/data]
Output: a markdown table on stdout and in bench-results/bench_layers.md, all figures in
        bench-results/bench_layers.json, with the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_topics import EMBEDDING, load, scores
from sklearn.metrics import normalized_mutual_info_score as nmi

from bench.tables import row, table
from milvus_cluster import Parameters
from milvus_cluster.core.clustering import cluster_graph
from milvus_cluster.core.knn import local_knn
from milvus_cluster.core.layers import layers_from_tree
from milvus_cluster.core.reduce import Reduction, reduce_graph

DATASETS = {"bbc-text": "category", "ag_news_test": "label"}  # stem: category column
# (UMAP dim or None, selection, min_cluster_size): label's default, raw and with
# --reduce umap:5 (the mode for text), and leaf selection, which finds many small topics
SETTINGS = [(None, "eom", 10), (5, "eom", 10), (5, "eom", 30), (5, "leaf", 30)]


def layered(
    vectors: np.ndarray, truth: np.ndarray, dim: int | None, selection: str, size: int
) -> list[dict]:
    """One clustering and its layers, each scored; seconds for the layers alone."""
    params = Parameters(min_cluster_size=size, cluster_selection=selection).resolved()
    graph = local_knn(vectors, params.k or 0, "COSINE")
    points = vectors
    if dim is not None:
        graph, points = reduce_graph(graph, vectors, Reduction(dim=dim))
    clustering = cluster_graph(
        graph, size, params.min_samples or 0, params.cluster_selection, vectors=points
    )
    start = time.perf_counter()
    layers = layers_from_tree(clustering.tree, clustering.labels)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    rows = [clustering.labels, *layers.of_rows(clustering.labels)]
    mode = "raw" if dim is None else f"umap:{dim}"
    clustered = clustering.labels >= 0  # the same rows in every layer
    return [
        {"mode": mode, "selection": selection, "min_cluster_size": size, "layer": i}
        | {"layers_seconds": round(seconds, 3)}
        | {k: round(float(v), 4) for k, v in scores(truth, labels).items()}
        | {"nmi_clustered": round(nmi(truth[clustered], labels[clustered]), 4)}
        for i, labels in enumerate(rows)
    ]


def bench(data: Path) -> list[dict[str, Any]]:
    results = []
    for stem, column in DATASETS.items():
        vectors, truth = load(data, stem, column)
        for dim, selection, size in SETTINGS:
            for result in layered(vectors, truth, dim, selection, size):
                result = {"dataset": stem, "rows": len(vectors)} | result
                print(row(_cells(result)), file=sys.stderr, flush=True)
                results.append(result)
    return results


HEADER = ["data", "mode", "selection", "min_cluster_size", "layer", "clusters", "noise"]
HEADER += ["NMI", "NMI (clustered rows)", "ARI", "homogeneity"]


def _cells(r: dict[str, Any]) -> list[str]:
    return [
        f"{r['dataset']} ({r['rows']:,})",
        r["mode"],
        r["selection"],
        str(r["min_cluster_size"]),
        str(r["layer"]),
        str(int(r["clusters"])),
        f"{100 * r['noise_share']:.0f} %",
        f"{r['nmi']:.3f}",
        f"{r['nmi_clustered']:.3f}",
        f"{r['ari']:.3f}",
        f"{r['homogeneity']:.3f}",
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
    before = os.getloadavg()
    results = bench(args.data)
    load_average = {"before": before, "after": os.getloadavg()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_layers.json").write_text(
        json.dumps({"load_average": load_average, "results": results}, indent=2)
    )
    text = table(HEADER, [_cells(r) for r in results])
    text += f"\n\nload average (1, 5, 15 min): before {before}, after {load_average['after']}"
    (args.out / "bench_layers.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
