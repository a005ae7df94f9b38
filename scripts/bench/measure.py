"""Measuring inside a run: peak and sampled RSS, CPU seconds, stage windows, progress logs."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench.tables import gib

SAMPLER_THREAD = "bench-sampler"  # the measuring threads, which the stack sampler skips
S = TypeVar("S", bound="Sampler")


def proc_status(key: str) -> int:
    """A /proc/self/status figure (VmHWM, VmRSS) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """A thread that calls sample() every interval while the with-block runs."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=SAMPLER_THREAD)

    def __enter__(self: S) -> S:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        raise NotImplementedError


class RssSampler(Sampler):
    """Samples VmRSS every 50 ms, so peaks can be attributed to time windows."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(interval)
        self.samples: list[tuple[float, int]] = []

    def sample(self) -> None:
        self.samples.append((time.perf_counter(), proc_status("VmRSS")))

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        after = next((rss for t, rss in self.samples if t > end), 0)  # a stage shorter than
        return max(inside, default=after)  # the interval: the sample just after it


def cpu_seconds() -> float:
    """CPU seconds of this process so far, all threads (Milvus Lite's included)."""
    return sum(os.times()[:2])


def cpu_spans(cpu: dict[str, float]) -> dict[str, float]:
    """CPU seconds between the marks: inspect+load, read, knn+cluster, write."""
    order = [key for key in ("start", "read", "knn", "write", "end") if key in cpu]
    names = {"start": "inspect+load", "read": "read", "knn": "knn+cluster", "write": "write"}
    return {names[a]: round(cpu[b] - cpu[a], 1) for a, b in zip(order, order[1:])}


def stage_windows(
    seconds: dict[str, float], marks: dict[str, float], start: float, end: float
) -> dict[str, tuple[float, float]]:
    """When each stage ran: starts from the progress marks (read, knn, write) and the stage
    durations (inspect begins the run, cluster follows knn; load lies between inspect and
    read: loading the collection, which no stage times)."""
    windows = {"inspect": (start, start + seconds.get("inspect", 0))}
    for stage in ("read", "knn", "write"):
        if stage in marks:
            windows[stage] = (marks[stage], marks[stage] + seconds.get(stage, 0))
    if "knn" in marks:
        after_knn = marks["knn"] + seconds.get("knn", 0)
        windows["cluster"] = (after_knn, marks.get("write", end))
    if "read" in marks:
        windows["load"] = (windows["inspect"][1], marks["read"])
    return windows


def every_tenth(stage: str, total: int) -> Callable[[int], None]:
    """A progress callback that logs at every tenth of the rows, with the RSS."""
    done = [0, 0]  # rows, tenths logged

    def advance(rows: int) -> None:
        done[0] += rows
        tenth = done[0] * 10 // max(total, 1)
        if tenth > done[1]:
            done[1] = tenth
            log(f"{stage}: {done[0]:,}/{total:,}; RSS {gib(proc_status('VmRSS'))} GiB")

    return advance


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
