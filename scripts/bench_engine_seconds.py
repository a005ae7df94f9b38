"""Seconds of the clustering work of `--engine evoc-knn` against EVoC alone, interleaved.

On a shared machine the load moves by the minute, so the two are timed in turns (EVoC,
ours, EVoC, ours, …) on the same data, ROUNDS times each, and the table gives the
fastest and the median of each with the load average beside them. Ours: EVoC as
`label` calls it (core/evoc.py) + the exact 40-neighbour kNN graph (faiss; a Milvus
search on a server) + the vote (core/refine.py); EVoC: `evoc.EVoC(random_state=0)`.
Data: bbc-text and ag_news_test of ../shared/data with their all-MiniLM-L6-v2 embeddings.

Run:    .venv/bin/python scripts/bench_engine_seconds.py [--data ../shared/data]
Output: a markdown table on stdout, the figures in bench-results/bench_engine_seconds.json.
        Without the data folder it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from bench.environment import environment
from bench.tables import table
from bench.topic_tools import run_evoc
from milvus_cluster import Parameters
from milvus_cluster.core.evoc import evoc_clustering
from milvus_cluster.core.knn import local_knn
from milvus_cluster.core.refine import knn_vote

STEMS = ("bbc-text", "ag_news_test")
EMBEDDING = "all-MiniLM-L6-v2"
ROUNDS = 5


def ours(vectors: np.ndarray) -> float:
    """`--engine evoc-knn`'s clustering work, as label_collection runs it."""
    params = Parameters(engine="evoc-knn").resolved()
    start = time.perf_counter()
    found = evoc_clustering(vectors, params.min_cluster_size, params.min_samples or 0)
    knn_vote(local_knn(vectors, params.k or 0, "COSINE"), found.clustering)
    return time.perf_counter() - start


def measure(vectors: np.ndarray) -> dict[str, list[float]]:
    run_evoc(vectors[:400])  # numba compiles: not timed
    ours(vectors[:400])
    seconds: dict[str, list[float]] = {"EVoC": [], "evoc-knn": [], "load": []}
    for _ in range(ROUNDS):
        seconds["EVoC"].append(run_evoc(vectors)[1])
        seconds["evoc-knn"].append(ours(vectors))
        seconds["load"].append(os.getloadavg()[0])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default, help=f"default: {default}")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()
    paths = {stem: args.data / f"{stem}.{EMBEDDING}.npy" for stem in STEMS}
    if not all(path.is_file() for path in paths.values()):
        print(f"No embeddings of {', '.join(STEMS)} in {args.data}; nothing to measure.")
        return
    found = {stem: measure(np.load(path).astype(np.float32)) for stem, path in paths.items()}
    rows = []
    for stem, seconds in found.items():
        evoc, knn = seconds["EVoC"], seconds["evoc-knn"]
        rows.append(
            [stem, f"{min(evoc):.2f}", f"{statistics.median(evoc):.2f}", f"{min(knn):.2f}",
             f"{statistics.median(knn):.2f}", f"{min(knn) / min(evoc):.2f}",
             f"{min(seconds['load']):.1f}–{max(seconds['load']):.1f}"]
        )  # fmt: skip
    header = ["data", "EVoC fastest", "EVoC median", "evoc-knn fastest", "evoc-knn median"]
    text = table(header + ["ratio (fastest)", "load"], rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_engine_seconds.json").write_text(
        json.dumps({"environment": environment(), "seconds": found}, indent=2, default=str)
    )
    print(text)


if __name__ == "__main__":
    main()
