"""bench_label's report: its markdown tables and its JSON file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.data import CLUSTERS, DIM, NOISE_SHARE, SEED
from bench.environment import environment
from bench.lite import HNSW_PARAMS, INSERT_BATCH
from bench.notebook import NOTEBOOK_BATCH, NOTEBOOK_LIMIT, NOTEBOOK_MIN
from bench.ours import MIN_CLUSTER_SIZE
from bench.tables import gib, secs, table

Json = dict[str, Any]


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}"


def _maybe(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


OURS_HEADER = [
    "n",
    "prepare s (insert+index)",
    "inspect",
    "read",
    "knn",
    "cluster",
    "write",
    "other",
    "label_collection s",
    "close s",
    "total s (end to end)",
    "peak RSS GiB",
    "clusters",
    "noise %",
    "ARI all",
    "ARI clustered",
    "CPU s",
    "other procs' CPU %",
    "target",
]


def ours_table(results: list[Json]) -> str:
    return table(OURS_HEADER, [_ours_row(record) for record in results])


def _ours_row(record: Json) -> list[str]:
    ours = record["ours"]
    label = ours.get("label", {"error": "no label run"})
    prepare = secs(ours["prepare"].get("total"))
    if "error" in label:
        return [f"{record['n']:,}", prepare, *["-"] * 16, label["error"]]
    stage, check = label["seconds"], label["check"]
    return [
        f"{record['n']:,}",
        prepare,
        *(secs(stage.get(s)) for s in ("inspect", "read", "knn", "cluster", "write")),
        secs(label["other_seconds"]),
        secs(label["total"]),
        secs(label["close_seconds"]),
        secs(label["total_with_close"]),
        gib(label["peak_rss"]),
        str(check["clusters"]),
        f"{100 * check['noise_share']:.1f}",
        f"{check['ari_all']:.3f}",
        _maybe(check["ari_clustered"]),
        secs(label.get("cpu_seconds")),
        _percent(label.get("foreign_cpu_share")),
        _target_text(ours.get("target")),
    ]


def _target_text(target: Json | None) -> str:
    if not target:
        return "-"
    time_text = f"{'ok' if target['time_ok'] else 'MISSED'} <= {target['seconds']:.0f} s"
    memory_text = f"{'ok' if target['memory_ok'] else 'MISSED'} <= {target['gib']} GiB"
    return f"{time_text}; {memory_text}"


def stage_memory_table(results: list[Json]) -> str:
    stages = ["inspect", "load", "read", "knn", "cluster", "write"]
    rows = []
    for record in results:
        label = record["ours"].get("label") or {}
        peaks = label.get("stage_peak_rss") or {}
        rows.append([f"{record['n']:,}", *(gib(peaks.get(s)) for s in stages)])
    return table(["n", *(f"{s} GiB" for s in stages)], rows)


BASELINE_HEADER = [
    "n",
    "search",
    "load",
    "read(+search)",
    "local search",
    "matrix",
    "symmetrise",
    "hdbscan",
    "total s",
    "peak RSS GiB",
    "clusters",
    "noise %",
    "ARI all",
    "other procs' CPU %",
    "note",
]
LOCAL_NOTE = (
    "dense matrix + HDBSCAN only, search done locally: a lower bound of the notebook's cost"
)


def baseline_table(results: list[Json]) -> str:
    return table(BASELINE_HEADER, [_baseline_row(record) for record in results])


def _baseline_row(record: Json) -> list[str]:
    base = record["baseline"]
    run = base.get("run")
    n = f"{record['n']:,}"
    if not run or "error" in run:
        note = base.get("skipped") or (run or base.get("prepare", {})).get("error", "?")
        return [n, base["search"], *["-"] * 12, note]
    stage = run["seconds"]
    note = "Milvus search, as the notebook" if run["search"] == "milvus" else LOCAL_NOTE
    return [
        n,
        run["search"],
        secs(stage["load"]),
        secs(stage.get("read+search", stage.get("read"))),
        secs(stage.get("search")),
        secs(stage["matrix"]),
        secs(stage["symmetrise"]),
        secs(stage["hdbscan"]),
        secs(run["total"]),
        gib(run["peak_rss"]),
        str(run["clusters"]),
        f"{100 * run['noise_share']:.1f}",
        f"{run['ari_all']:.3f}",
        _percent(run.get("foreign_cpu_share")),
        note,
    ]


COMPARE_HEADER = [
    "n",
    "kNN graph s",
    "ours 1st",
    "ours 2nd",
    "fast_hdbscan import (cold)",
    "fast_hdbscan 1st (cold JIT)",
    "fast 2nd",
    "fast 1st (warm cache)",
    "ours GiB",
    "fast GiB",
    "ARI ours-fast",
    "ARI ours-truth",
    "ARI fast-truth",
    "clusters ours/fast",
]


def compare_table(results: list[Json]) -> str:
    return table(COMPARE_HEADER, [_compare_row(record) for record in results])


def _compare_row(record: Json) -> list[str]:
    compare = record.get("cluster_compare")
    if not compare or any("error" in part for part in compare.values()):
        return [f"{record['n']:,}", *["-"] * (len(COMPARE_HEADER) - 1)]
    ours, cold, warm = compare["ours"], compare["fast_cold"], compare["fast_warm"]
    return [
        f"{record['n']:,}",
        secs(compare["knn"]["seconds"]),
        secs(ours["first"]),
        secs(ours["second"]),
        secs(cold["import"]),
        secs(cold["first"]),
        secs(cold["second"]),
        secs(warm["first"]),
        gib(ours["peak_rss"]),
        gib(cold["peak_rss"]),
        _maybe(cold.get("ari_vs_ours")),
        f"{ours['ari_all']:.3f}",
        f"{cold['ari_all']:.3f}",
        f"{ours['clusters']}/{cold['clusters']}",
    ]


def library_line(results: list[Json]) -> str:
    """Which milvus_cluster the label runs measured; a warning if it changed during the run."""
    seen = {
        (run["library"]["path"], run["library"]["sha256"])
        for record in results
        for run in (
            record["ours"].get("label") or {},
            *(record.get("cluster_compare") or {}).values(),
        )
        if isinstance(run, dict) and "library" in run
    }
    text = "; ".join(f"{path} (sources sha256 {sha})" for path, sha in sorted(seen))
    warning = " WARNING: the library changed during the run" if len(seen) > 1 else ""
    return f"milvus_cluster measured: {text}.{warning}"


def report(results: list[Json], args: argparse.Namespace) -> str:
    parts = [
        library_line(results),
        "### label_collection on Milvus Lite (first run, incl. shadow migration; close = "
        "stopping Lite, which waits for the background index builds the run queued)",
        ours_table(results),
        "\nPeak RSS within each stage of label_collection (load: between inspect and read)",
        stage_memory_table(results),
    ]
    if not args.skip_baseline:
        parts += [
            "\n### Baseline: the bootcamp notebook's method (dense n x n matrix, symmetrised)",
            baseline_table(results),
        ]
    if not args.skip_cluster_compare:
        parts += [
            "\n### Cluster stage alone: cluster_graph vs fast_hdbscan (same kNN graph, k=20, "
            "min_samples=10, min_cluster_size=10; seconds)",
            compare_table(results),
        ]
    return "\n".join(parts)


def write_json(args: argparse.Namespace, results: list[Json], start: float, text: str = "") -> None:
    """Everything in --out: the command, the environment, the settings and each result."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": " ".join(sys.argv),
        "environment": environment(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "settings": settings(),
        "results": results,
        "markdown": text,
    }
    out.write_text(json.dumps(document, indent=2, default=str))


def settings() -> Json:
    return {
        "dim": DIM,
        "clusters": CLUSTERS,
        "noise_share": NOISE_SHARE,
        "seed": SEED,
        "hnsw": HNSW_PARAMS,
        "insert_batch": INSERT_BATCH,
        "ours_min_cluster_size": MIN_CLUSTER_SIZE,
        "notebook": {
            "limit": NOTEBOOK_LIMIT,
            "batch": NOTEBOOK_BATCH,
            "min_samples": NOTEBOOK_MIN,
            "min_cluster_size": NOTEBOOK_MIN,
            "symmetrised": True,
        },
    }
