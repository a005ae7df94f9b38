"""Timing the stages of a command, and handing each the caller's progress callback."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[int], None]
StageProgress = Callable[[str, int], Advance]
"""progress(stage, total) is called as a stage starts and returns advance(rows)."""


@contextmanager
def timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall time to seconds[name]."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - start, 3)


@contextmanager
def stage(
    seconds: dict[str, float], progress: StageProgress | None, name: str, total: int
) -> Iterator[Advance]:
    """Time a stage and hand it the caller's progress callback, advance(rows)."""
    with timed(seconds, name):
        yield progress(name, total) if progress else (lambda rows: None)


class Clock:
    """A command's stage times and the caller's progress callback, kept together."""

    def __init__(self, progress: StageProgress | None = None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}

    def timed(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Add the block's wall time to seconds[name]."""
        return timed(self.seconds, name)

    def stage(self, name: str, total: int) -> contextlib.AbstractContextManager[Advance]:
        """Time a stage of `total` rows and hand it advance(rows)."""
        return stage(self.seconds, self.progress, name, total)
