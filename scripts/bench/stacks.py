"""A stack sampler for --profile: which functions all threads were busy in, per stage."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.measure import SAMPLER_THREAD, Sampler

Json = dict[str, Any]

# Innermost frames of a thread that waits (for a lock, a queue, the network, the server).
IDLE_FRAMES = {
    "wait",
    "select",
    "poll",
    "_serve",
    "_blocking",
    "get",
    "_wait_for_tstate_lock",
    "_worker",
    "accept",
    "sleep",
    "_run",
    "_poll_connectivity",
    "channel_spin",
}

# Frames on every stack (thread start-up, these scripts): left out of the cumulative counts.
# Files outside site-packages and the checkouts keep their absolute path, hence "/".
GENERIC_FRAMES = ("/", "scripts/", "milvus_cluster/commands/label.py:label_collection", "grpc/")


class StackSampler(Sampler):
    """Samples the stacks of all threads every 20 ms (Milvus Lite answers in its own gRPC
    threads, where cProfile on the caller sees only waiting), to say which functions the
    busy threads were in during each stage."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(interval)
        self.samples: list[tuple[float, bool, tuple[str, ...]]] = []
        self._roots = checkout_roots()
        self._main = threading.main_thread().ident

    def sample(self) -> None:
        now = time.perf_counter()
        ours = {t.ident for t in threading.enumerate() if t.name == SAMPLER_THREAD}
        for ident, frame in sys._current_frames().items():
            if ident not in ours and frame.f_code.co_name not in IDLE_FRAMES:
                self.samples.append((now, ident == self._main, self._stack(frame)))

    def _stack(self, frame: FrameType | None) -> tuple[str, ...]:
        names = []
        while frame is not None:
            names.append(f"{self._short(frame.f_code.co_filename)}:{frame.f_code.co_name}")
            frame = frame.f_back
        return tuple(names)

    def _short(self, path: str) -> str:
        """site-packages/pymilvus/... -> pymilvus/..., <checkout>/scripts/... -> scripts/..."""
        path = path.split("site-packages/")[-1]
        root = next((root for root in self._roots if path.startswith(root)), "")
        return path[len(root) :]

    def summary(self, windows: dict[str, tuple[float, float]], top: int = 12) -> Json:
        """Per stage: busy seconds of the caller's thread and of the others, and the
        functions most often on a busy stack (cumulative) or at its top (self)."""
        result = {}
        for stage, (a, b) in windows.items():
            inside = [(is_main, stack) for t, is_main, stack in self.samples if a <= t <= b]
            cumulative: dict[str, int] = {}
            innermost: dict[str, int] = {}
            for _, stack in inside:
                innermost[stack[0]] = innermost.get(stack[0], 0) + 1
                for name in set(stack):
                    if not name.startswith(GENERIC_FRAMES):
                        cumulative[name] = cumulative.get(name, 0) + 1
            result[stage] = {
                "seconds": round(b - a, 2),
                "busy_main_s": round(self.interval * sum(m for m, _ in inside), 1),
                "busy_other_threads_s": round(self.interval * sum(not m for m, _ in inside), 1),
                "cumulative_s": self._top(cumulative, top),
                "self_s": self._top(innermost, top),
            }
        return result

    def _top(self, counts: dict[str, int], top: int) -> dict[str, float]:
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return {name: round(count * self.interval, 1) for name, count in ranked}


def checkout_roots() -> tuple[str, ...]:
    """The folders holding the measured milvus_cluster and these scripts, as frames name
    them (the library may come from another checkout through PYTHONPATH)."""
    import milvus_cluster

    folders = {Path(milvus_cluster.__file__).parents[1], Path(__file__).parents[2]}
    folders |= {folder.resolve() for folder in folders}
    return tuple(f"{folder}/" for folder in folders)
