"""Benchmark `milvus-cluster assign`: 10,000 new rows into a 100,000-row collection.

On a fresh Milvus Lite file: the synthetic 384-d data of bench_label.py (bench/data.py) (40 clusters
of unequal sizes on the unit sphere plus 10 % noise, HNSW, COSINE), n + new rows drawn
together and shuffled, so that the new rows come from the same clusters. The first n
rows are inserted and labelled (`label`, min_cluster_size 10); then the new rows are
inserted and `milvus-cluster assign -c bench --json` runs in a child process, as cron
would run it. Reported: the command's own seconds per stage and rows/s (search and
write), the wall time of the whole process (start-up, connect and load included), its
peak RSS, the machine's load average before and after (other work on the machine
slows Milvus Lite's search down), and how right the labels are: the share of new
rows from a true cluster that got the id most of that cluster's labelled rows carry,
and the share of true noise rows labelled -1.

Run:
    .venv/bin/python scripts/bench_assign.py                # 100,000 + 10,000
    .venv/bin/python scripts/bench_assign.py --rows 20000 --new 2000
Results: a table on stdout, everything in --out (bench-results/bench_assign.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import DIM, make_data
from bench.environment import environment, library
from bench.lite import COLLECTION, close_lite, create_collection, insert_rows, read_labels
from bench.tables import gib, publish, table

ROOT = Path(__file__).resolve().parent.parent
Json = dict[str, Any]


def create(uri: str) -> None:
    from pymilvus import MilvusClient

    create_collection(MilvusClient(uri), "HNSW", "COSINE")


def insert(uri: str, vectors: np.ndarray, first_id: int) -> float:
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    start = time.perf_counter()
    insert_rows(client, vectors, first_id)
    client.flush(COLLECTION)
    return time.perf_counter() - start


def labels_of(uri: str) -> dict[int, int | None]:
    from pymilvus import MilvusClient

    return read_labels(MilvusClient(uri))


def assign_in_child(uri: str) -> Json:
    """milvus-cluster assign in its own process, as cron would run it, with the same
    milvus_cluster this process imported (PYTHONPATH may point at another checkout)."""
    command = [sys.executable, "-m", "milvus_cluster", "assign", "-c", COLLECTION]
    command += ["--uri", uri, "--json"]
    source = str(Path(library()["path"]).parent)
    start = time.perf_counter()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env=os.environ | {"PYTHONPATH": source},
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"assign failed ({done.returncode}): {done.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return json.loads(done.stdout) | {"wall_seconds": round(wall, 2), "peak_rss": peak}


def quality(truth: np.ndarray, ids: np.ndarray, labels: dict, rows: int) -> Json:
    """Right ids for new rows of true clusters; -1 for new rows of true noise."""
    old_truth, new_truth = truth[:rows], truth[rows:]
    votes: dict[int, Counter] = {}
    for pk, group in zip(ids[:rows], old_truth):
        if group >= 0:
            votes.setdefault(int(group), Counter())[labels[int(pk)]] += 1
    expected = {group: vote.most_common(1)[0][0] for group, vote in votes.items()}
    new = np.array([labels[int(pk)] for pk in ids[rows:]], dtype=object)
    clustered = new_truth >= 0
    right = [new[i] == expected[int(g)] for i, g in enumerate(new_truth) if g >= 0]
    return {
        "unlabelled_left": int(sum(label is None for label in new)),
        "right_cluster_share": round(float(np.mean(right)), 4),
        "true_noise_called_noise": round(float(np.mean(new[~clustered] == -1)), 4),
        "new_clustered_called_noise": round(float(np.mean(new[clustered] == -1)), 4),
    }


def bench(rows: int, new: int, workdir: Path) -> Json:
    from milvus_cluster import Parameters, label_collection

    uri = str(workdir / "bench_assign.db")
    vectors, truth = make_data(rows + new)
    ids = np.arange(rows + new)
    create(uri)
    inserted = insert(uri, vectors[:rows], 0)
    print(f"inserted {rows:,} rows in {inserted:.1f} s", file=sys.stderr)
    start = time.perf_counter()
    labelled = label_collection(COLLECTION, uri=uri, parameters=Parameters(min_cluster_size=10))
    label_seconds = time.perf_counter() - start
    print(f"labelled in {label_seconds:.1f} s: {labelled.clusters} clusters", file=sys.stderr)
    insert(uri, vectors[rows:], rows)
    close_lite(uri)  # let go of the Lite file, so that the child process can open it
    load_before = os.getloadavg()[0]
    result = assign_in_child(uri)
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(f"assigned {result['rows']:,} rows", file=sys.stderr)
    checked = quality(truth, ids, labels_of(uri), rows)
    return {
        "rows": rows,
        "new": new,
        "label_seconds": round(label_seconds, 1),
        "clusters": labelled.clusters,
        "assign": result,
        "quality": checked,
    }


HEADER = ["collection", "new rows", "assign rows/s", "stages (s)", "process wall (s)"]
HEADER += ["peak RSS", "right cluster", "true noise → -1", "load average"]


def report(result: Json) -> str:
    assign, quality = result["assign"], result["quality"]
    stages = ", ".join(f"{stage} {s:.1f}" for stage, s in assign["seconds"].items())
    cells = [
        f"{result['rows']:,} × {DIM}, {result['clusters']} clusters",
        f"{assign['rows']:,}",
        f"{assign['rows_per_second']:,.0f}",
        stages,
        f"{assign['wall_seconds']:.1f}",
        f"{gib(assign['peak_rss'])} GiB",
        f"{100 * quality['right_cluster_share']:.1f} %",
        f"{100 * quality['true_noise_called_noise']:.1f} %",
        f"{assign['load_average'][0]:.1f} → {assign['load_average'][1]:.1f}",
    ]
    return table(HEADER, [cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--out", default="bench-results/bench_assign.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_assign_"))
    try:
        result = bench(args.rows, args.new, workdir) | {"environment": environment()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    publish(report(result), result, args.out)


if __name__ == "__main__":
    main()
