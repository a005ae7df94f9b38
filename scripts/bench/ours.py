"""Our label_collection on a fresh Milvus Lite file: the prepare and label workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from bench.children import child
from bench.data import ari, load_data
from bench.environment import library
from bench.lite import (
    COLLECTION,
    close_lite,
    create_collection,
    insert_rows,
    read_labels,
    remove_lite,
)
from bench.measure import (
    RssSampler,
    cpu_seconds,
    cpu_spans,
    every_tenth,
    log,
    proc_status,
    stage_windows,
)
from bench.stacks import StackSampler
from bench.tables import GIB, gib
from milvus_cluster.commands.stages import timed

MIN_CLUSTER_SIZE = 10  # ours: Parameters(min_cluster_size=10) -> min_samples 10, k 20
TARGETS = {20_000: (60.0, 1.5), 100_000: (300.0, 3.0)}  # n: (seconds, GiB)

Json = dict[str, Any]


def bench_ours(n: int, workdir: Path, profile: bool = False) -> Json:
    """Prepare a Lite file (HNSW, COSINE), then label it, each in a child process."""
    uri = str(workdir / f"ours_{n}.db")
    job = {"n": n, "workdir": str(workdir), "uri": uri}
    log(f"n={n:,}: prepare (insert into Lite, HNSW COSINE)")
    prepare = child("prepare", job | {"index": "HNSW", "metric": "COSINE"}, workdir)
    if "error" in prepare:
        return {"prepare": prepare}
    log(f"n={n:,}: prepared in {prepare['total']} s; label_collection")
    label = child("label", job | {"profile": profile}, workdir)
    log(f"n={n:,}: label {label.get('total', label.get('error'))} s")
    remove_lite(uri)
    return {"prepare": prepare, "label": label, "target": target_check(n, label)}


def target_check(n: int, label: Json) -> Json | None:
    if n not in TARGETS or "error" in label:
        return None
    seconds, gib_target = TARGETS[n]
    return {
        "seconds": seconds,
        "gib": gib_target,
        "time_ok": label["total_with_close"] <= seconds,
        "memory_ok": label["peak_rss"] <= gib_target * GIB,
    }


def worker_prepare(job: Json) -> Json:
    """Create the collection in a fresh Lite file and insert the data in batches."""
    from pymilvus import MilvusClient

    vectors, _ = load_data(Path(job["workdir"]), job["n"])
    seconds: dict[str, float] = {}
    client = MilvusClient(job["uri"])
    with timed(seconds, "create"):
        create_collection(client, job["index"], job["metric"])
    with timed(seconds, "insert"):
        insert_rows(client, vectors, advance=every_tenth("insert", len(vectors)))
    with timed(seconds, "flush"):
        client.flush(COLLECTION)
    count = client.query(COLLECTION, filter="", output_fields=["count(*)"])[0]["count(*)"]
    client.close()
    seconds["close"] = close_lite(job["uri"])["close_seconds"]  # background index builds
    return {
        "seconds": seconds,
        "total": round(sum(seconds.values()), 3),
        "rows": count,
        "index": job["index"],
        "metric": job["metric"],
        "peak_rss": proc_status("VmHWM"),
    }


def worker_label(job: Json) -> Json:
    """label_collection on the prepared file; then the labels read back and compared."""
    from milvus_cluster import Parameters, label_collection

    marks: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def progress(stage: str, total: int) -> Callable[[int], None]:
        marks[stage] = time.perf_counter()
        cpu[stage] = cpu_seconds()
        log(f"{stage}: {total:,} rows; RSS {gib(proc_status('VmRSS'))} GiB")
        return every_tenth(stage, total)

    stacks = StackSampler() if job.get("profile") else None
    with RssSampler() as sampler, stacks or nullcontext():
        start, cpu["start"] = time.perf_counter(), cpu_seconds()
        result = label_collection(
            COLLECTION,
            uri=job["uri"],
            parameters=Parameters(min_cluster_size=MIN_CLUSTER_SIZE),
            progress=progress,
        )
        end, cpu["end"] = time.perf_counter(), cpu_seconds()
    peak = proc_status("VmHWM")
    closed = close_lite(job["uri"])
    windows = stage_windows(result.seconds, marks, start, end)
    record = result.as_dict()
    record.pop("sizes")
    record |= {
        "total": round(end - start, 3),
        "cpu_seconds": round(cpu_seconds(), 1),
        "stage_cpu_s": cpu_spans(cpu),
        "peak_rss": peak,
        "stage_peak_rss": {stage: sampler.peak(*span) for stage, span in windows.items()},
    }
    record["other_seconds"] = round(record["total"] - sum(result.seconds.values()), 3)
    record |= closed | {"total_with_close": round(record["total"] + closed["close_seconds"], 3)}
    record["library"] = library()
    if stacks:
        record["profile"] = stacks.summary(windows)
    record["check"] = read_back(job)
    return record


def read_back(job: Json) -> Json:
    """The labels as Milvus now holds them, against the truth."""
    from pymilvus import MilvusClient

    _, truth = load_data(Path(job["workdir"]), job["n"])
    client = MilvusClient(job["uri"])
    labels = read_labels(client)
    collections = client.list_collections()
    client.close()
    found = np.full(len(truth), -2, dtype=np.int64)  # -2: a row the read did not return
    found[np.fromiter(labels, dtype=np.int64)] = np.asarray(list(labels.values()), np.int64)
    return {
        "rows_read_back": len(labels),
        "all_labelled": bool(np.all(found >= -1)),
        "collections_after": sorted(collections),
        **ari(truth, found),
    }
