"""Benchmark `label --sample`: sample mode against full mode on the same collection.

The synthetic 384-d data of bench_label.py (bench/data.py: 40 clusters of unequal size
on the unit sphere, 10 % noise, HNSW COSINE), n rows, in a Milvus 2.3.5 server this
script starts (tests/milvus_server.py, stopped at the end) or in a Milvus Lite file.
Each run is `milvus-cluster label ... --json` in a child process, as cron runs it:

1. full:         label (the first run: the copy that adds the label field);
2. sample:       label --sample N (the label field exists: in place, the nightly case);
3. full again:   label (in place as well, the fair comparison for 2), with --full-again.

Reported per run: seconds per stage and in all, the child's peak RSS (wait4), the load
average before and after (other work on the machine slows everything down), ARI
against the truth (bench/data.py's ari) and, for the sample run, ARI against the full
run's labels on the rows both put in a cluster. Also the two ways the vote could find a
row's neighbours among the sample: a local faiss index over the sample's vectors, and a
Milvus search filtered to labelled rows (what `assign` does), in queries per second.

Run (one heavy benchmark at a time on a shared machine):
    .venv/bin/python scripts/bench_sample.py --rows 200000 --sample 20000
    .venv/bin/python scripts/bench_sample.py --rows 20000 --sample 4000 --backend lite
Results: a table on stdout, everything in --out (bench-results/bench_sample.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.cli_runs import label_in_child, labels_of, load
from bench.data import ari, make_data
from bench.lite import COLLECTION, create_collection, insert_rows
from bench.tables import gib, table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
Json = dict[str, Any]


def neighbour_search_rates(uri: str, vectors: np.ndarray, sample: int, k: int = 20) -> Json:
    """Queries/s of the two ways to find a row's k nearest sampled rows."""
    from pymilvus import MilvusClient

    from milvus_cluster.core.knn import LocalIndex

    rng = np.random.default_rng(0)
    queries = np.asarray(vectors[rng.choice(len(vectors), 2_000, replace=False)])
    base = np.asarray(vectors[rng.choice(len(vectors), sample, replace=False)])
    start = time.perf_counter()
    index = LocalIndex(base, "COSINE", k)
    built = time.perf_counter() - start
    start = time.perf_counter()
    index.search(queries, k)
    local = len(queries) / (time.perf_counter() - start)
    client = MilvusClient(uri)
    client.load_collection(COLLECTION)
    start = time.perf_counter()
    for part in range(0, len(queries), 500):
        client.search(COLLECTION, data=queries[part : part + 500].tolist(), limit=k,
                      filter="cluster_id >= -1", search_params={"params": {"ef": 64}})  # fmt: skip
    milvus = len(queries) / (time.perf_counter() - start)
    client.close()
    return {
        "local_index_build_seconds": round(built, 2),
        "local_queries_per_second": round(local),
        "milvus_filtered_queries_per_second": round(milvus),
        "load": load(),
    }


def compare(truth: np.ndarray, full: np.ndarray, sampled: np.ndarray) -> Json:
    from sklearn.metrics import adjusted_rand_score

    both = (full >= 0) & (sampled >= 0)
    return {
        "rows_clustered_in_both": int(both.sum()),
        "ari_sample_vs_full": round(float(adjusted_rand_score(full[both], sampled[both])), 4),
        "sample_vs_truth": ari(truth, sampled),
        "full_vs_truth": ari(truth, full),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--backend", choices=["server", "lite"], default="server")
    parser.add_argument("--full-again", action="store_true")
    parser.add_argument(
        "--sample-twice",
        action="store_true",
        help="no full runs: label --sample twice (a first run through the copy, then in "
        "place), for the sample mode's own figures",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_sample.json")
    args = parser.parse_args()
    vectors, truth = make_data(args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-sample-") as work:
        server = None
        if args.backend == "server":
            from milvus_server import start_milvus_server

            server = start_milvus_server(Path(work) / "milvus")
            uri = server.uri
        else:
            uri = str(Path(work) / "bench.db")
        try:
            report = run(uri, vectors, truth, args)
        finally:
            if server is not None:
                server.stop()
    report["environment"] = {"backend": args.backend, "rows": args.rows, "sample": args.sample}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(summary(report))


def run(uri: str, vectors: np.ndarray, truth: np.ndarray, args: argparse.Namespace) -> Json:
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    create_collection(client, "HNSW", "COSINE")
    start = time.perf_counter()
    insert_rows(client, vectors)
    client.flush(COLLECTION)
    inserted = time.perf_counter() - start
    client.close()
    if args.backend == "lite":
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)
    runs: Json = {"insert_seconds": round(inserted, 1)}
    if args.sample_twice:
        for name in ("sample_first", "sample"):
            runs[name] = label_in_child(uri, ["--sample", str(args.sample)])
        sampled = labels_of(uri, args.rows)
        runs["labels"] = {"sample_vs_truth": ari(truth, sampled)}
        return runs
    runs["full"] = label_in_child(uri, [])
    full = labels_of(uri, args.rows)
    runs["sample"] = label_in_child(uri, ["--sample", str(args.sample)])
    sampled = labels_of(uri, args.rows)
    if args.full_again:
        runs["full_again"] = label_in_child(uri, [])
    runs["labels"] = compare(truth, full, sampled)
    runs["neighbour_search"] = neighbour_search_rates(uri, vectors, args.sample)
    return runs


def summary(report: Json) -> str:
    rows = []
    for name in ("full", "sample_first", "sample", "full_again"):
        if name not in report:
            continue
        run = report[name]
        seconds = run["result"]["seconds"]
        stages = ", ".join(f"{stage} {s:.1f}" for stage, s in seconds.items())
        rows.append([name, f"{run['wall']:.1f} s", stages, gib(run["peak_rss"]),
                     " → ".join(run["load"])])  # fmt: skip
    labels = report["labels"]
    head = table(["run", "wall", "stages (s)", "peak RSS", "load average"], rows)
    if "ari_sample_vs_full" not in labels:
        return f"{head}\nvs truth: sample {labels['sample_vs_truth']}"
    lines = [
        head,
        f"ARI sample vs full (rows clustered in both, {labels['rows_clustered_in_both']:,}): "
        f"{labels['ari_sample_vs_full']}",
        f"vs truth: sample {labels['sample_vs_truth']}, full {labels['full_vs_truth']}",
        f"neighbour search: {report['neighbour_search']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
