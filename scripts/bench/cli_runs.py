"""`milvus-cluster label` run as cron runs it: a child process, its JSON, wall time and
peak RSS; and the labels read back. Shared by bench_sample.py and bench_scale.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.lite import COLLECTION

ROOT = Path(__file__).resolve().parents[2]
Json = dict[str, Any]

# The child reports its own peak RSS as it exits (Milvus Lite runs inside it): VmHWM,
# because Linux keeps ru_maxrss across exec, so a child of a parent that held a Lite
# collection would report the parent's peak.
PEAK = (
    "import atexit, re, sys; atexit.register(lambda: sys.stderr.write('\\nPEAK_RSS %s\\n' % "
    "re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1))); "
    "sys.argv = ['milvus-cluster', *sys.argv[1:]]; from milvus_cluster.cli import main; main()"
)


def own_peak_kib() -> int:
    """This process's peak resident set since its exec, in KiB (/proc's VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def load() -> str:
    """The load average (1, 5, 15 min), printed beside every figure: the machine is shared."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def label_in_child(uri: str, extra: list[str], min_cluster_size: int = 50) -> Json:
    """`milvus-cluster label` in its own process; its JSON, wall time, peak RSS, load."""
    command = [sys.executable, "-c", PEAK, "label", "-c", COLLECTION, "--uri", uri]
    command += ["--min-cluster-size", str(min_cluster_size), "--json", *extra]
    before = load()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"label {' '.join(extra)} failed: {done.stderr[-2000:]}")
    return {
        "result": json.loads(done.stdout),
        "wall": round(wall, 1),
        "peak_rss": peak_rss(done.stderr),
        "load": [before, load()],
    }


def peak_rss(stderr: str) -> int | None:
    """The PEAK_RSS line a child wrote as it exited, in bytes."""
    peak = [line for line in stderr.splitlines() if line.startswith("PEAK_RSS ")]
    return int(peak[-1].split()[1]) * 1024 if peak else None


def labels_of(uri: str, n: int) -> np.ndarray:
    """Every row's cluster_id by id (-3 where it has none)."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    client.load_collection(COLLECTION)
    labels = np.full(n, -3, dtype=np.int64)
    iterator = client.query_iterator(
        COLLECTION, batch_size=10_000, output_fields=["id", "cluster_id"]
    )
    while batch := iterator.next():
        for row in batch:
            labels[row["id"]] = row["cluster_id"] if row["cluster_id"] is not None else -3
    iterator.close()
    client.close()
    if not uri.startswith("http"):  # let the next child open the Lite file
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)
    return labels
