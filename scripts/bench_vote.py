"""Benchmark the kNN vote after EVoC (`--engine evoc-knn`, core/refine.py): which rule
beats EVoC's own labels, and how often.

EVoC's pick moves with its seed and with the last bit of its input (the same AG News
embeddings as stored and renormalised give 53 and 5 clusters at seed 0), so one run per
data set says little about a rule. Here, on BBC News and AG News with their
all-MiniLM-L6-v2 embeddings (../shared/data, not part of the project: skipped when
absent), EVoC runs at each seed of --seeds on the embeddings as stored and renormalised
(its parameters as `label --engine evoc` resolves them); each rule of --rules then votes
on the exact kNN graph (faiss), and is scored against EVoC's labels of the same run: NMI
with noise as a group, NMI on clustered rows, noise. A rule wins a run when both NMIs are
higher and the noise is no higher. The benchmark's own runs (bench_topics.py: seeds 0-2,
the embeddings as stored) are reported apart from the others, so that a rule chosen on
the others can be checked on them.

Run:    .venv/bin/python scripts/bench_vote.py [--seeds 0-9] [--rules 40/0.7/0.7,60/0.9/0.7]
Results: a table on stdout, every run's figures in --out (bench-results/bench_vote.json).
EVoC's answer also depends on the CPU's instructions (numba compiles for the machine);
NUMBA_CPU_NAME=haswell runs it as AVX2 code does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.environment import environment
from bench.tables import table

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {"bbc-text": "category", "ag_news_test": "label"}  # stem: category column
EMBEDDING = "all-MiniLM-L6-v2"
BENCHMARK_SEEDS = (0, 1, 2)  # bench_topics.py's, on the stored embeddings
Json = dict[str, Any]


def parse_rules(text: str) -> list[tuple[int, float, float]]:
    """'K/join/move,...' as (neighbours, a noise row's share to join, a member's to move)."""
    rules = []
    for part in text.split(","):
        k, join, move = part.split("/")
        rules.append((int(k), float(join), float(move)))
    return rules


def scores(truth: np.ndarray, labels: np.ndarray) -> Json:
    from sklearn.metrics import normalized_mutual_info_score as nmi

    clustered = labels >= 0
    return {
        "clusters": int(labels.max()) + 1,
        "noise": float(1 - clustered.mean()),
        "nmi": float(nmi(truth, labels)),
        "nmi_clustered": float(nmi(truth[clustered], labels[clustered])),
    }


def runs(data: Path, seeds: list[int], rules: list[tuple[int, float, float]]) -> list[Json]:
    """Every (data set, input, seed): EVoC's scores and each rule's."""
    import pandas as pd

    from milvus_cluster.core.evoc import evoc_clustering
    from milvus_cluster.core.knn import KnnGraph, local_knn
    from milvus_cluster.core.parameters import Parameters
    from milvus_cluster.core.refine import knn_vote

    evoc = Parameters(engine="evoc").resolved()
    found = []
    for stem, column in DATASETS.items():
        stored = np.load(data / f"{stem}.{EMBEDDING}.npy").astype(np.float32)
        truth = pd.factorize(pd.read_csv(data / f"{stem}.csv")[column])[0]
        inputs = {
            "stored": stored,
            "renormalised": stored / np.linalg.norm(stored, axis=1)[:, None],
        }
        for name, vectors in inputs.items():
            graph = local_knn(vectors, max(k for k, _, _ in rules), "COSINE")
            for seed in seeds:
                clustering = evoc_clustering(
                    vectors, evoc.min_cluster_size, evoc.min_samples or 0, evoc.k or 0, seed=seed
                ).clustering
                run: Json = {"data": stem, "input": name, "seed": seed}
                run["evoc"] = scores(truth, clustering.labels)
                for k, join, move in rules:
                    voters = KnnGraph(graph.indices[:, :k], graph.distances[:, :k], "COSINE")
                    voted = knn_vote(voters, clustering, move_share=move, join_share=join)
                    run[f"{k}/{join}/{move}"] = scores(truth, voted.labels)
                found.append(run)
                print(f"{stem} {name} seed {seed}: EVoC {run['evoc']['clusters']} clusters",
                      file=sys.stderr, flush=True)  # fmt: skip
    return found


def wins(run: Json, rule: str) -> bool:
    ours, theirs = run[rule], run["evoc"]
    return (
        ours["nmi"] > theirs["nmi"]
        and ours["nmi_clustered"] > theirs["nmi_clustered"]
        and ours["noise"] <= theirs["noise"]
    )


def summary(found: list[Json], rules: list[str]) -> str:
    def row(rule: str, part: list[Json], which: str) -> list[str]:
        gain = np.array([run[rule]["nmi"] - run["evoc"]["nmi"] for run in part])
        gain_c = np.array(
            [run[rule]["nmi_clustered"] - run["evoc"]["nmi_clustered"] for run in part]
        )
        won = sum(wins(run, rule) for run in part)
        lost = [f"{r['data']} {r['input']} {r['seed']}" for r in part if not wins(r, rule)]
        return [
            rule, which, f"{won} / {len(part)}",
            f"{gain.min():+.4f} / {gain.mean():+.4f}",
            f"{gain_c.min():+.4f} / {gain_c.mean():+.4f}",
            ", ".join(lost[:4]) + (" …" if len(lost) > 4 else ""),
        ]  # fmt: skip

    benchmark = [r for r in found if r["input"] == "stored" and r["seed"] in BENCHMARK_SEEDS]
    others = [r for r in found if r not in benchmark]
    header = ["K/join/move", "runs", "won", "NMI gain min / mean",
              "NMI (clustered) gain min / mean", "not won"]  # fmt: skip
    parts = (("others", others), ("benchmark's", benchmark))
    rows = [row(rule, part, which) for rule in rules for which, part in parts if part]
    return table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seeds", default="0-9", help="a range 'a-b' or a list 'a,b'")
    parser.add_argument("--rules", default="40/0.7/0.7,60/0.9/0.7,60/0.8/0.7,40/0.9/0.7")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_vote.json")
    args = parser.parse_args()
    if not all((args.data / f"{stem}.csv").exists() for stem in DATASETS):
        print(f"bench_vote: the labelled text sets are not in {args.data}; nothing to measure.")
        return
    low, _, high = args.seeds.partition("-")
    seeds = list(range(int(low), int(high) + 1)) if high else [int(s) for s in low.split(",")]
    rules = parse_rules(args.rules)
    found = runs(args.data, seeds, rules)
    names = [f"{k}/{join}/{move}" for k, join, move in rules]
    print(summary(found, names))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"environment": environment(), "runs": found}, indent=2))


if __name__ == "__main__":
    main()
