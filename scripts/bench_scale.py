"""Benchmark `label` at scale: seconds and rows/s per stage against the floor measured
in the same run, on Milvus Lite and on a Milvus 2.3.5 server.

Data: bench/data.py's synthetic 384-d unit vectors (40 clusters of unequal sizes and
spreads, 10 % uniform noise, seeded), n rows per --rows, in one collection (HNSW
M=16 efConstruction=200, COSINE). For each backend (a Lite file, or a server this
script starts with tests/milvus_server.py and stops by its pid at the end):

1. floor:  in a child process, every vector read with pymilvus's query_iterator
           alone (batch 10,000) into one float32 matrix, then the kNN graph (k=32,
           what `--min-cluster-size 50` asks for) with the fastest method at
           recall@k >= 0.95 (core/knn.py's choice): what any clustering must pay;
2. full:   `milvus-cluster label --min-cluster-size 50` (the first run: the shadow
           copy that brings in the label field), as a child process;
3. sample: `label --sample N` (the field now exists: written in place), with --sample;
           on a server, once the copy the full run made is indexed (as a nightly
           relabel finds it; the wait is reported, not counted).
4. relabel: `label --sample N` once more, the nightly relabel of unchanged rows.

Reported: seconds and rows/s per stage, the client's peak RSS (the child's own
ru_maxrss; on Lite, Milvus runs inside it) and the server's (its process group,
sampled every second), ARI against the truth, ARI of sampled labels against full
labels on the rows both put in a cluster, the ratio to the floor, and the load
average before and after each run (the machine is shared: prefer the ratios).
With --knn-methods, the kNN methods alone on the same vectors (bench/knn_methods.py):
seconds and recall@k against exact neighbours of 20,000 rows.

Run (one heavy benchmark at a time on a shared machine; the bench extra installed:
.venv/bin/pip install -e ".[bench]"):
    .venv/bin/python scripts/bench_scale.py --rows 200000 --backend server --sample 20000
    .venv/bin/python scripts/bench_scale.py --rows 1000000 --backend server --sample 100000
    .venv/bin/python scripts/bench_scale.py --rows 200000 --backend lite --knn-methods
Results: a table on stdout, everything in --out (bench-results/bench_scale.json).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.cli_runs import label_in_child, labels_of, load, own_peak_kib
from bench.data import ari, data_paths, save_data
from bench.lite import COLLECTION, create_collection, insert_rows
from bench.measure import log
from bench.tables import gib, secs, table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
K = 32  # the k that --min-cluster-size 50 implies (min_samples 16, k = 2 * 16)
Json = dict[str, Any]


class GroupRss(threading.Thread):
    """Peak RSS of a process group (the server and its children), sampled every second."""

    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid, self.peak, self._done = pgid, 0, threading.Event()

    def run(self) -> None:
        import psutil

        while not self._done.wait(1.0):
            total = 0
            for process in psutil.process_iter(["pid"]):
                try:
                    if os.getpgid(process.pid) == self.pgid:
                        total += process.memory_info().rss
                except (psutil.Error, ProcessLookupError):
                    continue
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def floor_worker(uri: str, n: int, out: str) -> None:
    """In the child: the raw read and the fastest local kNN graph, timed."""
    from pymilvus import MilvusClient

    from milvus_cluster.core.knn import local_knn

    client = MilvusClient(uri)
    client.load_collection(COLLECTION)
    start = time.perf_counter()
    vectors = np.empty((n, 384), dtype=np.float32)
    seen = 0
    iterator = client.query_iterator(COLLECTION, batch_size=10_000, output_fields=["embedding"])
    while batch := iterator.next():
        rows = np.asarray([row["embedding"] for row in batch], dtype=np.float32)
        vectors[seen : seen + len(rows)] = rows
        seen += len(rows)
    iterator.close()
    read = time.perf_counter() - start
    client.close()
    start = time.perf_counter()
    local_knn(vectors, K, "COSINE")
    knn = time.perf_counter() - start
    record = {"read": round(read, 1), "knn": round(knn, 1), "rows_read": seen}
    record["peak_rss"] = own_peak_kib() * 1024
    Path(out).write_text(json.dumps(record))
    os._exit(0)  # Lite's server thread would otherwise hold the exit


def knn_worker(workdir: str, n: int, out: str) -> None:
    """In the child: the kNN methods compared on the benchmark's vectors."""
    from bench.knn_methods import compare_methods, default_methods

    vectors_path, truth_path = data_paths(Path(workdir), n)
    vectors, truth = np.load(vectors_path), np.load(truth_path)
    record = compare_methods(vectors, K, default_methods(n), truth) | {"load": load()}
    Path(out).write_text(json.dumps(record))


def in_child(kind: str, *args: str) -> Json:
    out = Path(tempfile.mkstemp(prefix=f"scale-{kind}-", suffix=".json")[1])
    command = [sys.executable, __file__, "--worker", kind, *args, str(out)]
    before = load()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0 or not out.read_text():
        raise SystemExit(f"{kind} worker failed: {done.stderr[-2000:]}")
    record = json.loads(out.read_text())
    out.unlink()
    return record | {"wall": round(time.perf_counter() - start, 1), "load": [before, load()]}


def fill(uri: str, n: int, workdir: Path, lite: bool, index: str) -> float:
    from pymilvus import MilvusClient

    vectors = np.load(data_paths(workdir, n)[0], mmap_mode="r")
    client = MilvusClient(uri)
    create_collection(client, index, "COSINE")
    start = time.perf_counter()
    insert_rows(client, vectors, advance=None)
    client.flush(COLLECTION)
    seconds = time.perf_counter() - start
    if not lite:  # a server indexes in the background: the floor must not share the cores
        log(f"server n={n:,}: indexed after {indexed(client, n, start):.0f} s")
    client.close()
    if lite:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)
    return round(seconds, 1)


def indexed(client: Any, n: int, start: float) -> float:
    """Wait until the server's index covers the collection's n rows (it builds in the
    background, after an insert or a label run's copy); seconds since `start`."""
    name = client.list_indexes(COLLECTION)[0]
    while client.describe_index(COLLECTION, name)["indexed_rows"] < n:
        time.sleep(5)
    return time.perf_counter() - start


def settled(uri: str, n: int) -> float:
    """Before the sample run, as a nightly relabel finds it: the copy the full run made
    indexed, so that the run does not share the cores with that build. (At 200,000
    rows a sample run right after the full run assigned its 100,000 rows in 56 s, a
    later one on the same rows 32 s; at 1,000,000 the copy was indexed by the time the
    full run ended.)"""
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    try:
        return round(indexed(client, n, time.perf_counter()), 1)
    finally:
        client.close()


def call_rates(uri: str, n: int, workdir: Path, lite: bool) -> Json:
    from pymilvus import MilvusClient

    from bench.rates import milvus_rates

    client = MilvusClient(uri)
    rates = milvus_rates(client, np.load(data_paths(workdir, n)[0], mmap_mode="r"), K)
    client.close()
    if lite:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)
    return rates


def bench_backend(n: int, backend: str, workdir: Path, args: argparse.Namespace) -> Json:
    truth = np.load(data_paths(workdir, n)[1])
    server, watch = None, None
    if backend == "server":
        from milvus_server import start_milvus_server

        server = start_milvus_server(workdir / f"milvus-{n}")
        uri = server.uri
        watch = GroupRss(server.pid)
        watch.start()
    else:
        uri = str(workdir / f"scale-{n}.db")
    record: Json = {"n": n, "backend": backend, "index": args.index}
    try:
        record["insert_seconds"] = fill(uri, n, workdir, server is None, args.index)
        log(f"{backend} n={n:,}: inserted in {record['insert_seconds']} s; floor")
        if args.rates or args.rates_only:
            record["rates"] = call_rates(uri, n, workdir, server is None)
        if args.rates_only:
            return record
        if not args.no_floor:
            record["floor"] = in_child("floor", uri, str(n))
            log(f"{backend} n={n:,}: floor {record['floor']}; full label")
        record["full"] = label_in_child(uri, [])
        full = labels_of(uri, n)
        record["full"]["vs_truth"] = ari(truth, full)
        partial(args, record)
        log(f"{backend} n={n:,}: full {record['full']['wall']} s")
        if args.sample:
            if server is not None:
                record["index_wait_before_sample"] = settled(uri, n)
                log(f"{backend} n={n:,}: the copy indexed after "
                    f"{record['index_wait_before_sample']} s more")  # fmt: skip
            # The first sample run after a full one; then the nightly relabel, where the
            # same sample gives the same labels and rows whose label stays are not written.
            for mode in ("sample", "relabel"):
                record[mode] = label_in_child(uri, ["--sample", str(args.sample)])
                sampled = labels_of(uri, n)
                record[mode]["vs_truth"] = ari(truth, sampled)
                record[mode]["vs_full"] = agreement(full, sampled)
                log(f"{backend} n={n:,}: {mode} {record[mode]['wall']} s")
    finally:
        if server is not None and watch is not None:
            record["server_peak_rss"] = watch.stop()
            server.stop()
    return record


def partial(args: argparse.Namespace, record: Json) -> None:
    """The record so far, beside --out: a run that dies later keeps what it measured."""
    args.out.with_suffix(".partial.json").write_text(json.dumps(record, indent=2))


def agreement(full: np.ndarray, sampled: np.ndarray) -> Json:
    from sklearn.metrics import adjusted_rand_score

    both = (full >= 0) & (sampled >= 0)
    return {
        "rows_clustered_in_both": int(both.sum()),
        "ari": round(float(adjusted_rand_score(full[both], sampled[both])), 4),
    }


def stage_rows(record: Json) -> list[list[str]]:
    """One table row per run: stages in seconds (rows/s), peak RSS, ARI, floor ratio."""
    n, floor = record["n"], record.get("floor")
    floor_total = floor["read"] + floor["knn"] if floor else None
    rows = []
    if floor:
        rows.append(
            [
                f"{n:,}",
                record["backend"],
                "floor",
                secs(floor_total),
                f"read {secs(floor['read'])} ({n / floor['read']:,.0f}/s), knn "
                f"{secs(floor['knn'])} ({n / floor['knn']:,.0f}/s)",
                gib(floor["peak_rss"]),
                "-",
                "1.0",
                " → ".join(floor["load"]),
            ]
        )
    for mode in ("full", "sample", "relabel"):
        if mode not in record:
            continue
        run = record[mode]
        result = run["result"]
        stages = ", ".join(
            f"{stage} {secs(s)} ({stage_size(stage, result, n) / s:,.0f}/s)"
            if s > 0.5
            else f"{stage} {secs(s)}"
            for stage, s in result["seconds"].items()
        )
        quality = f"{run['vs_truth']['ari_all']}"
        if "vs_full" in run:
            quality += f" (vs full {run['vs_full']['ari']})"
        rows.append(
            [
                f"{n:,}",
                record["backend"],
                mode,
                secs(run["wall"]),
                stages,
                gib(run["peak_rss"]),
                quality,
                f"{run['wall'] / floor_total:.1f}" if floor_total else "-",
                " → ".join(run["load"]),
            ]
        )
    return rows


def stage_size(stage: str, result: Json, n: int) -> int:
    """The rows a stage went through: sample mode's assign labels the rows outside the
    sample; every other stage's rate is given per row of the collection."""
    return int(result.get("assigned") or n) if stage == "assign" else n


def summary(records: list[Json]) -> str:
    header = [
        "rows",
        "backend",
        "run",
        "wall s",
        "stages s (rows/s)",
        "client peak GiB",
        "ARI vs truth",
        "× floor",
        "load average",
    ]
    lines = [table(header, [r for record in records for r in stage_rows(record)])]
    for record in records:
        if "server_peak_rss" in record:
            lines.append(
                f"server process group peak RSS, n={record['n']:,}: "
                f"{gib(record['server_peak_rss'])} GiB"
            )
        raw = record["n"] * 384 * 4
        lines.append(
            f"raw vectors n={record['n']:,}: {gib(raw)} GiB; client peak / raw: "
            f"{record['full']['peak_rss'] / raw:.1f}× ({record['backend']})"
        )
    return "\n".join(lines)


def knn_summary(record: Json) -> str:
    figures = ("recall_clustered", "recall_noise", "kth_distance_ratio_clustered",
               "kth_distance_ratio_noise")  # fmt: skip
    rows = [
        [
            m["method"],
            ", ".join(
                f"{key}={m[key]}"
                for key in m
                if key not in ("method", "seconds", "recall", "rows_per_second", *figures)
            ),
            secs(m["seconds"]),
            f"{m['rows_per_second']:,}",
            f"{m['recall']:.3f}",
            *(f"{m[key]:.3f}" if key in m else "–" for key in figures),
        ]
        for m in record["methods"]
    ]
    k = record["k"]
    head = ["method", "parameters", "seconds", "rows/s", f"recall@{k}", "clustered rows",
            "noise rows", "k-th distance ÷ true: clustered", "noise"]  # fmt: skip
    return f"{table(head, rows)}\nload average {record['load']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="200000", help="comma-separated row counts")
    parser.add_argument("--backend", choices=["server", "lite", "both"], default="both")
    parser.add_argument("--sample", type=int, default=0, help="also label --sample N")
    # The collection's own index (label's kNN graph is local, whatever it is): a 2.3.5
    # server on this 2-core machine had not built HNSW over 1,000,000 rows after 20 min.
    parser.add_argument("--index", default="HNSW", choices=["HNSW", "IVF_FLAT", "FLAT"])
    parser.add_argument("--knn-methods", action="store_true", help="compare kNN methods too")
    parser.add_argument("--rates", action="store_true", help="the Milvus calls' own rates too")
    parser.add_argument("--rates-only", action="store_true", help="only those (and the insert)")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the floor (measured by an earlier run)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_scale.json")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        {"floor": floor_worker, "knn": knn_worker}[kind](rest[0], int(rest[1]), rest[2])
        return
    backends = ["lite", "server"] if args.backend == "both" else [args.backend]
    if "server" in backends and importlib.util.find_spec("psutil") is None:
        # Said before the data is made: the server's RSS sampler needs it, an hour in.
        sys.exit('bench_scale.py needs the bench extra: .venv/bin/pip install -e ".[bench]"')
    report: Json = {"records": [], "knn_methods": {}, "load_start": load()}
    args.out.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as work:
        workdir = Path(work)
        for n in (int(size) for size in args.rows.split(",")):
            log(f"n={n:,}: generating data")
            save_data(workdir, n)
            if args.knn_methods:
                report["knn_methods"][n] = in_child("knn", str(workdir), str(n))
                print(knn_summary(report["knn_methods"][n]), flush=True)
            for backend in backends:
                report["records"].append(bench_backend(n, backend, workdir, args))
                args.out.write_text(json.dumps(report, indent=2))  # partial results survive
            for path in data_paths(workdir, n):
                path.unlink()
    done = [record for record in report["records"] if "full" in record]
    report["summary"] = summary(done) if done else ""
    args.out.write_text(json.dumps(report, indent=2))
    print(report["summary"])


if __name__ == "__main__":
    main()
