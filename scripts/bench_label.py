"""Benchmark `label_collection` on Milvus Lite against the Milvus bootcamp notebook's method.

What it measures, for each n in --sizes, on synthetic clustered 384-d data (40 clusters of
unequal sizes and spreads on the unit sphere plus 10 % uniform noise, seeded):

1. ours: `label_collection` on a fresh Milvus Lite file (HNSW, COSINE), first run, so the
   figures include the shadow-collection migration. Seconds per stage and in total, peak RSS
   (VmHWM of the child; Milvus Lite runs inside it) and the peak RSS within each stage,
   clusters, noise share, adjusted Rand index (ARI) of the labels read back from Milvus
   against the truth. Inserting the data ("prepare") is timed apart and not counted.
2. baseline: the notebook "HDBSCAN Clustering with Milvus" rebuilt: query_iterator with
   batch_size=10, a search (limit=50, L2, FLAT index) per batch of 10, a dense n x n float64
   matrix of squared L2 distances (inf elsewhere), hdbscan.HDBSCAN(min_samples=3,
   min_cluster_size=3, metric="precomputed"). As written that matrix is not symmetric and
   the fit does not finish; it is symmetrised (np.minimum(m, m.T)) so that it runs. With
   --baseline-search local (default above n=5,000) the search is exact faiss in the child
   instead of Milvus: a lower bound of the notebook's cost.
3. cluster stage alone: on one kNN graph (local_knn, k=20, COSINE), our `cluster_graph`
   against `fast_hdbscan.HDBSCAN(metric="precomputed")` (min_samples=10,
   min_cluster_size=10), each in a fresh process; fast_hdbscan's first call runs with an
   empty numba cache, so it includes JIT compilation.

Every measured run is a fresh child process (this script with --worker), so peak RSS is per run.
The pieces live in the package scripts/bench/ (data, Lite, measurement, baseline, report).

Run:
    .venv/bin/python scripts/bench_label.py                      # 5,000 20,000 100,000
    .venv/bin/python scripts/bench_label.py --sizes 1000000 --skip-baseline \\
        --skip-cluster-compare
Results: a markdown table on stdout, everything in --out (bench-results/bench_label.json).
"""

from __future__ import annotations

import argparse

from bench.suite import run, run_worker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="5000,20000,100000",
        help="comma-separated row counts (default: 5000,20000,100000)",
    )
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=20_000,
        help="largest n for the notebook baseline (default 20000)",
    )
    parser.add_argument(
        "--baseline-search",
        choices=["milvus", "local"],
        default=None,
        help="baseline neighbour search (default: milvus for n <= 5000, else local faiss)",
    )
    parser.add_argument("--workdir", default=None, help="where the Lite files go (default: temp)")
    parser.add_argument("--out", default="bench-results/bench_label.json")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-cluster-compare", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample all threads' stacks during label_collection (top functions in the JSON)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "JOB"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:  # a child process that the suite started: one measured run
        run_worker(*args.worker)
    else:
        run(args)


if __name__ == "__main__":
    main()
