"""Benchmark the index sample mode's vote searches (commands/spread.py,
core/vote.py's vote_index: exact search, beyond 50,000 sampled rows an IVF index at the
fewest probes that give the exact votes) against LocalIndex's HNSW at several ef and
the same IVF index at fixed probe counts, on the same sample.

Data: bench/data.py's synthetic 384-d unit vectors (40 clusters + 10 % noise, seeded);
the first --sample rows are the labelled sample (their true groups as labels, each
cluster's scale from exact core distances at min_samples 16, as `label
--min-cluster-size 50` would ask), the next --queries rows are voted on in batches of
500, as the rewrites in flight vote. Reported per index: build seconds, queries/s of the
vote (search and rule), the share of rows whose vote equals the exact search's, and
recall@k on 1,000 of the sample's own rows (themselves not counted). No Milvus: the
client's own part of the assign stage.

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
CHECKED = 1_000  # sample rows whose recall is measured
IP = 0  # faiss.METRIC_INNER_PRODUCT: the unit vectors' COSINE
Json = dict[str, Any]


class FaissIvf:
    """faiss's own IVFFlat over the sample (bench/knn_methods.py's ivf_index), searched as
    the vote searches an index: what core/knn.py's IvfIndex scans by matrix products."""

    def __init__(self, base: np.ndarray, nprobe: int) -> None:
        from bench.knn_methods import ivf_index

        self.index = ivf_index(base, round(4 * len(base) ** 0.5), "COSINE")
        self.index.nprobe = nprobe
        self.metric, self.size = "COSINE", len(base)

    def __len__(self) -> int:
        return self.size

    def search(self, queries: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        raw, rows = self.index.search(np.ascontiguousarray(queries), limit)
        return rows, raw


def recall_on_own_rows(
    index: Any, rows_checked: np.ndarray, base: np.ndarray, truth: np.ndarray
) -> float:
    """recall@K of the sample's rows `rows_checked` (`truth`: their exact K + 1 nearest,
    themselves among them), themselves not counted."""
    rows, _ = index.search(base[rows_checked], K + 1)
    found = [len(set(r) & set(t) - {o}) for r, t, o in zip(rows, truth, rows_checked)]
    return float(np.sum(found) / (CHECKED * K))


def main() -> None:
    import faiss

    from milvus_cluster.core.knn import IvfIndex, LocalIndex
    from milvus_cluster.core.vote import cluster_scales, vote_in_sample, vote_index

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=40_000)
    out = ROOT / "bench-results" / "bench_sample_index.json"
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args()
    vectors, truth = make_data(args.sample + args.queries)
    base, queries, labels = vectors[: args.sample], vectors[args.sample :], truth[: args.sample]
    similarity, _ = faiss.knn(base, base, MIN_SAMPLES + 1, metric=IP)
    core = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * similarity[:, MIN_SAMPLES]))
    scales = cluster_scales(labels, core)
    checked = np.arange(0, len(base), len(base) // CHECKED)[:CHECKED]
    _, nearest = faiss.knn(base[checked], base, K + 1, metric=IP)

    def measured(name: str, build: Any, exact: np.ndarray | None) -> Json:
        start = time.perf_counter()
        index = build()
        built = time.perf_counter() - start
        start = time.perf_counter()
        votes = np.concatenate([
            vote_in_sample(index, labels, queries[at : at + BATCH], K, scales).labels
            for at in range(0, len(queries), BATCH)
        ])  # fmt: skip
        seconds = time.perf_counter() - start
        return {
            "index": name + (f" ({index.probes} probes)" if "vote_index" in name else ""),
            "build_seconds": round(built, 2),
            "votes_per_second": round(len(queries) / seconds),
            "same_vote_as_exact": 1.0 if exact is None else float(np.mean(votes == exact)),
            "recall": recall_on_own_rows(index, checked, base, nearest), "votes": votes,
            "load": os.getloadavg()[0],
        }  # fmt: skip

    hnsw: dict[str, LocalIndex] = {}

    def hnsw_at(ef: int) -> LocalIndex:
        """The one HNSW index (built the first time, its build timed then), searched at ef."""
        if not hnsw:
            hnsw["index"] = LocalIndex(base, "COSINE", K, exact_limit=0)
        hnsw["index"].hnsw.hnsw.efSearch = ef
        return hnsw["index"]

    builds: list[tuple[str, Any]] = [
        ("exact", lambda: LocalIndex(base, "COSINE", K, exact_limit=len(base))),
    ]
    for ef in (128, 64, 48, 32):
        builds.append((f"HNSW (M 32, ef {ef})", lambda ef=ef: hnsw_at(ef)))
    # What sample mode votes from: IVF at the fewest probes giving the exact votes on the
    # sample's own rows (its build includes that check).
    builds.append(
        ("vote_index: IVF, probes by votes", lambda: vote_index(base, labels, "COSINE", K, scales))
    )
    lists = round(4 * len(base) ** 0.5)
    for nprobe in (4, 8, 16, 32):
        name = f"IVF {lists} lists, {nprobe} probes"
        builds.append((name, lambda p=nprobe: IvfIndex(base, "COSINE", p)))
        builds.append(
            (f"faiss IVFFlat {lists} lists, {nprobe} probes", lambda p=nprobe: FaissIvf(base, p))
        )
    results: list[Json] = []
    for name, build in builds:
        results.append(measured(name, build, results[0]["votes"] if results else None))
    rows = [
        [r["index"], f"{r['build_seconds']:.1f}", f"{r['votes_per_second']:,}",
         f"{r['same_vote_as_exact']:.4f}", f"{r['recall']:.3f}", f"{r['load']:.2f}"]
        for r in results
    ]  # fmt: skip
    header = ["index", "build s", "votes/s", "same vote as exact", f"recall@{K}", "load"]
    print(f"{args.sample:,} sampled rows, {args.queries:,} rows voted, k {K}")
    print(table(header, rows))
    for r in results:
        del r["votes"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"environment": environment(), "sample": args.sample, "queries": args.queries}
    args.out.write_text(json.dumps(record | {"results": results}, indent=2))


if __name__ == "__main__":
    main()
