"""Benchmark the index sample mode's vote searches (commands/spread.py): exact search,
HNSW and the recall-checked IVF index (core/knn.py's IvfIndex), on the same sample.

Data: bench/data.py's synthetic 384-d unit vectors (40 clusters + 10 % noise, seeded);
the first --sample rows are the labelled sample (their true groups as labels, each
cluster's scale from exact core distances at min_samples 16, as `label
--min-cluster-size 50` would ask), the next --queries rows are voted on in batches of
500, as the rewrites in flight vote. Reported per index: build seconds, queries/s of the
vote (search and rule), the share of rows whose vote equals the exact search's, and the
IVF index's probes and its recall measured at build. No Milvus: the client's own part
of the assign stage.

Run:    .venv/bin/python scripts/bench_sample_index.py [--sample 100000] [--queries 40000]
Results: a table on stdout, everything in --out (bench-results/bench_sample_index.json).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import make_data
from bench.environment import environment
from bench.tables import table

ROOT = Path(__file__).resolve().parent.parent
K, MIN_SAMPLES, BATCH = 32, 16, 500  # what --min-cluster-size 50 implies; a rewrite's rows
Json = dict[str, Any]


def main() -> None:
    import faiss

    from milvus_cluster.core.knn import LocalIndex
    from milvus_cluster.core.vote import cluster_scales, vote_in_sample

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=40_000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-results" / "bench_sample_index.json"
    )
    args = parser.parse_args()
    vectors, truth = make_data(args.sample + args.queries)
    base, queries, labels = vectors[: args.sample], vectors[args.sample :], truth[: args.sample]
    similarity, _ = faiss.knn(base, base, MIN_SAMPLES + 1, metric=faiss.METRIC_INNER_PRODUCT)
    core = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * similarity[:, MIN_SAMPLES]))
    scales = cluster_scales(labels, core)

    def measured(name: str, index: LocalIndex, built: float, exact: np.ndarray | None) -> Json:
        start = time.perf_counter()
        votes = np.concatenate([
            vote_in_sample(index, labels, queries[at : at + BATCH], K, scales).labels
            for at in range(0, len(queries), BATCH)
        ])  # fmt: skip
        seconds = time.perf_counter() - start
        ivf = index.approximate if name == "ivf" else None
        return {
            "index": name, "build_seconds": round(built, 2),
            "queries_per_second": round(len(queries) / seconds),
            "same_vote_as_exact": 1.0 if exact is None else float(np.mean(votes == exact)),
            "nprobe": getattr(ivf, "nprobe", None), "recall_at_build": getattr(ivf, "recall", None),
            "votes": votes, "load": os.getloadavg()[0],
        }  # fmt: skip

    results: list[Json] = []
    for name, limit in (("exact", len(base)), ("hnsw", 0), ("ivf", 0)):
        start = time.perf_counter()
        index = LocalIndex(
            base, "COSINE", K, exact_limit=limit, approximate="ivf" if name == "ivf" else "hnsw"
        )
        exact = results[0]["votes"] if results else None
        results.append(measured(name, index, time.perf_counter() - start, exact))
    rows = [
        [r["index"], f"{r['build_seconds']:.1f}", f"{r['queries_per_second']:,}",
         f"{r['same_vote_as_exact']:.4f}", str(r["nprobe"] or "-"),
         f"{r['recall_at_build']:.3f}" if r["recall_at_build"] else "-", f"{r['load']:.2f}"]
        for r in results
    ]  # fmt: skip
    header = ["index", "build s", "votes/s", "same vote as exact", "probes", "recall", "load"]
    print(f"{args.sample:,} sampled rows, {args.queries:,} rows voted, k {K}")
    print(table(header, rows))
    for r in results:
        del r["votes"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"environment": environment(), "sample": args.sample, "queries": args.queries}
    args.out.write_text(json.dumps(record | {"results": results}, indent=2))


if __name__ == "__main__":
    main()
