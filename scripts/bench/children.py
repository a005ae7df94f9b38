"""Each measured run in a fresh child process, so that its peak RSS is its own."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHILD_TIMEOUT = 3 * 3600
# The workers run through the entry point's hidden --worker option: a child imports the
# package exactly as a direct run of the script does.
ENTRY = Path(__file__).resolve().parents[1] / "bench_label.py"

Json = dict[str, Any]


def child(kind: str, job: Json, workdir: Path, env: dict[str, str] | None = None) -> Json:
    """Run one worker in a fresh interpreter; its result, or what went wrong."""
    tag = f"{kind}_{job['n']}_{time.monotonic_ns()}"
    job = job | {"result": str(workdir / f"{tag}.result.json")}
    job_path = workdir / f"{tag}.job.json"
    job_path.write_text(json.dumps(job))
    command = [sys.executable, str(ENTRY), "--worker", kind, str(job_path)]
    start = time.perf_counter()
    busy_before, children_before = _busy_seconds(), _children_cpu()
    log_path = workdir / f"{tag}.log"  # the worker's progress lines and any traceback
    try:
        with open(log_path, "w") as log_file:
            done = subprocess.run(
                command,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                timeout=CHILD_TIMEOUT,
                env={**os.environ, **(env or {})},
            )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CHILD_TIMEOUT} s"}
    shared = _cpu_share(time.perf_counter() - start, busy_before, children_before)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}", "log": log_path.read_text()[-3000:], **shared}
    return json.loads(Path(job["result"]).read_text()) | shared


def _cpu_share(wall: float, busy_before: float, children_before: float) -> Json:
    """The child's wall and CPU seconds, and what other processes took meanwhile: they
    slow the run down on a shared machine."""
    wall = round(wall, 3)
    own = _children_cpu() - children_before
    foreign = max(0.0, _busy_seconds() - busy_before - own)
    return {
        "process_wall": wall,
        "process_cpu_s": round(own, 1),
        "foreign_cpu_s": round(foreign, 1),
        "foreign_cpu_share": round(foreign / (wall * (os.cpu_count() or 1)), 3),
    }


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting for I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
