"""bench_label's suite: for each size, our label run, the notebook baseline, the cluster stage."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.compare import bench_compare, worker_fast, worker_knn, worker_ours
from bench.data import save_data
from bench.measure import log
from bench.notebook import bench_baseline, worker_baseline
from bench.ours import bench_ours, worker_label, worker_prepare
from bench.report import report, write_json

Json = dict[str, Any]

WORKERS: dict[str, Callable[[Json], Json]] = {
    "prepare": worker_prepare,
    "label": worker_label,
    "baseline": worker_baseline,
    "knn": worker_knn,
    "ours": worker_ours,
    "fast": worker_fast,
}


def run_worker(kind: str, job_path: str) -> None:
    """In the child: the job from its file, the result into the file the parent reads."""
    job = json.loads(Path(job_path).read_text())
    result = WORKERS[kind](job)
    Path(job["result"]).write_text(json.dumps(result, default=str))


def run(args: argparse.Namespace) -> None:
    """Every size in turn; the report on stdout and, as each size ends, in --out."""
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_label_"))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = []
    for n in sizes:
        results.append(bench_size(n, args, workdir))
        write_json(args, results, start)  # partial results survive an interrupted run
    text = report(results, args)
    print(text)
    write_json(args, results, start, text)
    log(f"done in {time.perf_counter() - start:.0f} s; results in {args.out}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def bench_size(n: int, args: argparse.Namespace, workdir: Path) -> Json:
    log(f"n={n:,}: generating data")
    start = time.perf_counter()
    paths = save_data(workdir, n)
    record: Json = {"n": n, "generate_seconds": round(time.perf_counter() - start, 3)}
    record["ours"] = bench_ours(n, workdir, args.profile)
    record["baseline"] = bench_baseline(
        n, args.skip_baseline, args.baseline_max, args.baseline_search, workdir
    )
    record["cluster_compare"] = None if args.skip_cluster_compare else bench_compare(n, workdir)
    for path in paths:
        path.unlink()
    return record
