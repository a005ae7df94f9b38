"""Benchmark how stable `relabel` keeps the ids: no change, then +5 % new rows.

For each data set and mode, on a fresh Milvus Lite file, as a user runs it (the library's
label_collection, relabel_collection and assign_collection):

1. the base rows are inserted (id, text, 384-d embedding, HNSW, COSINE) and labelled;
2. `relabel` with no change to the data: the share of rows whose label stayed the same
   (noise counts as a label: a row that went from -1 to a cluster or back changed);
3. 5 % new rows are inserted, `assign` labels them, then `relabel`: the share of the old
   rows that kept their id, the clusters before and after, the ids retired.

Data sets: AG News (the official test split, 7,600 texts, all-MiniLM-L6-v2 embeddings from
/work/shared/data, which is not part of the project: skipped when absent), shuffled with a
fixed seed, the first 7,238 rows the base and the other 362 the new ones; and the
synthetic data of bench_label.py (bench/data.py: 40 clusters of unequal sizes plus 10 %
noise, 384-d) with 10,000 + 500 rows; with `--data news`, the 870 headlines of the issue
(news_data_dedup, 829 + 41). Modes: the default (HDBSCAN on the kNN graph) and
the topic mode (`--reduce umap`), and the text default (`--engine evoc-knn`: EVoC, then
the kNN vote); "umap --fresh" relabels with `--fresh` (no anchoring).

Run:
    .venv/bin/python scripts/bench_stability.py
    .venv/bin/python scripts/bench_stability.py --data synthetic --modes default --rows 20000
Results: a table on stdout, everything in --out (bench-results/bench_stability.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import make_data
from bench.environment import environment
from bench.lite import INSERT_BATCH, close_lite
from bench.tables import publish, secs, table
from bench.texts import load_text_data, text_data_available

COLLECTION = "stability"
NEW_SHARE = 0.05
SHUFFLE_SEED = 13
MODES = {"default": {}, "umap": {"reduce": "umap"}, "evoc-knn": {"engine": "evoc-knn"}}
TEXT_DATA = {  # name: the file's stem and how a row's text was made
    "ag_news": ("ag_news_test", "{text}"),
    "news": ("news_data_dedup", "{title}\n{description}"),  # the 870 headlines
}
FRESH = " --fresh"  # a mode's name with this: relabel without the anchoring (core/anchor.py)

Json = dict[str, Any]


def data_set(name: str, rows: int) -> tuple[np.ndarray, list[str], int] | None:
    """Vectors and texts, base rows first, and how many are base; None when absent."""
    if name in TEXT_DATA:
        stem, template = TEXT_DATA[name]
        if not text_data_available(stem):
            return None
        vectors, texts = load_text_data(stem, template)
        order = np.random.default_rng(SHUFFLE_SEED).permutation(len(vectors))
        base = round(len(vectors) / (1 + NEW_SHARE))
        return vectors[order], [texts[i] for i in order], base
    total = rows + round(rows * NEW_SHARE)
    vectors, truth = make_data(total)
    return vectors, [f"group {group}" for group in truth], rows


def create(uri: str, dim: int) -> Any:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(uri)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=4096)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index("embedding", index_type="HNSW", metric_type="COSINE")
    client.create_collection(COLLECTION, schema=schema, index_params=index)
    return client


def insert(client: Any, vectors: np.ndarray, texts: list[str], first: int) -> None:
    for start in range(0, len(vectors), INSERT_BATCH):
        rows = [
            {"id": first + start + i, "text": texts[start + i][:4000], "embedding": vector}
            for i, vector in enumerate(vectors[start : start + INSERT_BATCH])
        ]
        client.insert(COLLECTION, rows)
    client.flush(COLLECTION)


def timed(call: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, round(time.perf_counter() - start, 2)


def kept_share(before: dict, after: dict, keys: np.ndarray) -> float:
    same = [before[key] == after[key] for key in keys.tolist()]
    return round(float(np.mean(same)), 4)


def bench_one(data: str, mode: str, rows: int, workdir: Path) -> Json | None:
    from milvus_cluster import Parameters, assign_collection, label_collection, relabel_collection

    loaded = data_set(data, rows)
    if loaded is None:
        return None
    vectors, texts, base = loaded
    uri = str(workdir / f"{data}_{mode}.db")
    client = create(uri, vectors.shape[1])
    insert(client, vectors[:base], texts[:base], 0)
    old = np.arange(base)
    parameters = Parameters(**MODES[mode.removesuffix(FRESH)])
    fresh = mode.endswith(FRESH)
    load = [round(os.getloadavg()[0], 2)]
    first, first_s = timed(lambda: label_collection(COLLECTION, uri=uri, parameters=parameters))
    again, again_s = timed(lambda: relabel_collection(COLLECTION, uri=uri, fresh=fresh))
    insert(client, vectors[base:], texts[base:], base)
    assigned, assign_s = timed(lambda: assign_collection(COLLECTION, uri=uri))
    grown, grown_s = timed(lambda: relabel_collection(COLLECTION, uri=uri, fresh=fresh))
    load.append(round(os.getloadavg()[0], 2))
    close_lite(uri)
    labels = [first.labels(), again.labels(), grown.labels()]
    drift = grown.drift.as_dict() if grown.drift else {}
    result = {
        "data": data,
        "mode": mode,
        "rows": base,
        "new": len(vectors) - base,
        "no_change_kept": kept_share(labels[0], labels[1], old),
        "no_change_drift": again.drift.as_dict() if again.drift else None,
        "grown_old_kept": kept_share(labels[1], labels[2], old),
        "assigned": {"rows": assigned.rows, "noise": assigned.noise},
        "clusters": [first.clusters, again.clusters, grown.clusters],
        "noise_share": [round(r.noise_share, 4) for r in (first, again, grown)],
        "retired": len(drift.get("died", [])) + len(drift.get("merged", [])),
        "grown_drift": drift,
        "seconds": {
            "label": first_s,
            "relabel": again_s,
            "assign": assign_s,
            "relabel_grown": grown_s,
        },
        "load_average": load,
    }
    print(
        json.dumps({k: result[k] for k in ("data", "mode", "no_change_kept", "grown_old_kept")}),
        file=sys.stderr,
    )
    return result


HEADER = ["mode", "data", "rows", "no-change relabel: rows kept", "+5 %: old rows keep id"]
HEADER += ["clusters before → after", "ids retired", "seconds (label, relabel, assign, relabel)"]
HEADER += ["load average"]


def report(results: list[Json]) -> str:
    rows = []
    for r in results:
        s = r["seconds"]
        rows.append(
            [
                r["mode"],
                r["data"],
                f"{r['rows']:,} + {r['new']:,}",
                f"{100 * r['no_change_kept']:.1f} %",
                f"{100 * r['grown_old_kept']:.1f} %",
                f"{r['clusters'][1]} → {r['clusters'][2]}",
                str(r["retired"]),
                ", ".join(secs(s[key]) for key in ("label", "relabel", "assign", "relabel_grown")),
                " → ".join(f"{value:.1f}" for value in r["load_average"]),
            ]
        )
    return table(HEADER, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default="ag_news,synthetic", help="ag_news, news, synthetic, comma-separated"
    )
    parser.add_argument(
        "--modes",
        default="default,umap",
        help="default, umap, or either with ' --fresh' (relabel --fresh), comma-separated",
    )
    parser.add_argument("--rows", type=int, default=10_000, help="synthetic base rows")
    parser.add_argument("--out", default="bench-results/bench_stability.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_stability_"))
    results = []
    try:
        for data in args.data.split(","):
            for mode in args.modes.split(","):
                result = bench_one(data, mode, args.rows, workdir)
                if result is None:
                    print(f"skipped {data}: its files are not in the data folder", file=sys.stderr)
                    continue
                results.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    publish(report(results), {"results": results, "environment": environment()}, args.out)


if __name__ == "__main__":
    main()
