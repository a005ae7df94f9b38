"""Named points where a test can stop the process, to prove that a run killed there
is finished by the next run.

`checkpoint(name)` does nothing unless MILVUS_CLUSTER_KILL_AT names it
("copy-batch:3" kills at the third time it is reached) or MILVUS_CLUSTER_PAUSE_AT
does (the process then creates the file MILVUS_CLUSTER_PAUSE_FILE and waits until
it is removed, so that a test can act on Milvus in the middle of a run).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

_reached: Counter[str] = Counter()


def _due(variable: str, name: str) -> bool:
    wanted = os.environ.get(variable)
    if not wanted:
        return False
    point, _, times = wanted.partition(":")
    return point == name and _reached[name] == int(times or 1)


def checkpoint(name: str) -> None:
    _reached[name] += 1
    if _due("MILVUS_CLUSTER_KILL_AT", name):
        os.kill(os.getpid(), signal.SIGKILL)
    if _due("MILVUS_CLUSTER_PAUSE_AT", name):
        flag = Path(os.environ["MILVUS_CLUSTER_PAUSE_FILE"])
        flag.touch()
        while flag.exists():
            time.sleep(0.05)
