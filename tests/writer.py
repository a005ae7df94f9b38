"""An application that never stops writing: inserts, updates and deletes on a test
collection (helpers.create_table's schema), each logged only once Milvus acknowledged
it, so that a test can check, after a command ran alongside, that every acknowledged
write is in the collection exactly as the application left it (issue 10).

In a thread (Milvus Lite admits one process, so the application is a thread of the
process that runs the command: `Writer(...).start()` … `.stop()`), or as a process of
its own against a server: `python tests/writer.py URI NAME STOP_FILE LOG_FILE`, which
writes until STOP_FILE exists, then leaves its log in LOG_FILE as JSON.

The writer is an ordinary pymilvus application: one MilvusClient for its whole life
(whose schema cache predates any switch a command makes), rows sent without the label
fields, whole rows upserted.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymilvus import MilvusClient

LABELS = ("cluster_id", "cluster_prob")
FIRST_KEY = 1_000_000  # the writer's own inserts; test tables' keys are far below


@dataclass
class Log:
    """What the application was told: each key's title after its last acknowledged write
    (None: deleted), and the keys of writes Milvus refused, whose outcome it never
    learnt (a refused write may still have been applied, or not)."""

    titles: dict[Any, str | None] = field(default_factory=dict)
    unsure: set[Any] = field(default_factory=set)
    acknowledged: int = 0
    refused: int = 0

    def as_json(self) -> str:
        return json.dumps(
            {
                "titles": [[k, t] for k, t in self.titles.items()],
                "unsure": sorted(self.unsure),
                "acknowledged": self.acknowledged,
                "refused": self.refused,
            }
        )

    @classmethod
    def of_json(cls, text: str) -> Log:
        raw = json.loads(text)
        titles = {k: t for k, t in raw["titles"]}
        return cls(titles, set(raw["unsure"]), raw["acknowledged"], raw["refused"])


class Writer:
    """Writes to `name` until stopped: each round inserts two rows, updates one and
    deletes one (of the rows it has seen and not deleted)."""

    def __init__(self, uri: str, name: str, seed: int = 0, pause: float = 0.1) -> None:
        self.uri, self.name, self.pause = uri, name, pause
        self.random = random.Random(seed)
        self.log = Log()
        self.rows: dict[Any, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = MilvusClient(uri)

    def read_start(self) -> None:
        """The rows there are before the command: what the application knows of them."""
        rows = self.client.query(
            self.name, filter="", output_fields=["*"], limit=16_384, consistency_level="Strong"
        )
        for row in rows:
            self.rows[row["id"]] = {k: v for k, v in row.items() if k not in LABELS}

    def start(self) -> Writer:
        self.read_start()
        self._thread = threading.Thread(target=self.write_until_stopped, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Log:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=120)
        return self.log

    def write_until_stopped(self, stop_file: Path | None = None) -> None:
        next_key = FIRST_KEY
        while not self._stop.is_set() and not (stop_file and stop_file.exists()):
            for _ in range(2):
                template = self.rows[self.random.choice(list(self.rows))]
                row = template | {"id": next_key, "title": f"inserted {next_key}"}
                self._write("insert", row)
                next_key += 1
            key = self.random.choice(list(self.rows))
            self._write("upsert", self.rows[key] | {"title": f"updated {time.time_ns()}"})
            self._write("delete", {"id": self.random.choice(list(self.rows))})
            time.sleep(self.pause)

    def _write(self, kind: str, row: dict[str, Any]) -> None:
        key = row["id"]
        if key in self.log.unsure:
            return
        try:
            if kind == "delete":
                self.client.delete(self.name, ids=[key])
            else:
                getattr(self.client, kind)(self.name, [row])
        except Exception:  # the application saw the error: the write's fate is unknown
            self.log.refused += 1
            self.log.unsure.add(key)
            self.rows.pop(key, None)
            return
        self.log.acknowledged += 1
        if kind == "delete":
            self.rows.pop(key, None)
            self.log.titles[key] = None
        else:
            self.rows[key] = row
            self.log.titles[key] = row["title"]


def lost_writes(client: MilvusClient, name: str, before: dict[Any, str], log: Log) -> list:
    """The keys whose state in `name` is not what the acknowledged writes made it:
    every insert present, every update's title, every delete gone, every other row as
    it was (`before`: key → title at the start)."""
    client.load_collection(name)
    rows = client.query(
        name, filter="", output_fields=["id", "title"], limit=16_384, consistency_level="Strong"
    )
    found = {row["id"]: row["title"] for row in rows}
    expected = before | log.titles
    wrong = [
        key for key, title in expected.items() if key not in log.unsure and found.get(key) != title
    ]
    extra = [key for key in found if key not in expected and key not in log.unsure]
    return wrong + extra


if __name__ == "__main__":  # a process of its own, against a server
    uri, name, stop_file, log_file = sys.argv[1:5]
    writer = Writer(uri, name, seed=int(time.time()), pause=0.5)  # ~8 writes a second
    writer.read_start()
    Path(log_file + ".ready").touch()
    writer.write_until_stopped(Path(stop_file))
    Path(log_file).write_text(writer.log.as_json())
