"""Commands that run while the application writes (issue 10): an application
(tests/writer.py) inserts, updates and deletes all through each command, logging only
what Milvus acknowledged, and afterwards the collection must hold exactly what those
writes made. On a server the application is a process of its own, with one client
for its whole life; on Milvus Lite, which one process holds at a time, a thread of
the process that runs the command through the Python API.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import PARAMS, Processes, create_table, insert_new_rows, read_labels
from pymilvus import MilvusClient
from writer import Log, Writer, lost_writes

from milvus_cluster import (
    assign_collection,
    label_collection,
    relabel_collection,
    rollback_collection,
)

WRITER = Path(__file__).with_name("writer.py")


@dataclass
class Application:
    log: Log = field(default_factory=Log)


@contextmanager
def application(uri: str, backend: str, name: str, tmp_path: Path) -> Iterator[Application]:
    """The application writing to `name` for the length of the block."""
    app = Application()
    if backend == "lite":
        writer = Writer(uri, name).start()
        try:
            yield app
        finally:
            app.log = writer.stop()
        return
    stop, log = tmp_path / "stop", tmp_path / "log.json"
    process = Processes().start(str(WRITER), uri, name, str(stop), str(log))
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{log}.ready").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)  # writing already when the command starts
        yield app
    finally:
        stop.touch()
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    app.log = Log.of_json(log.read_text())


def titles(client: MilvusClient, name: str) -> dict:
    client.load_collection(name)
    rows = client.query(
        name, filter="", output_fields=["id", "title"], limit=16_384, consistency_level="Strong"
    )
    return {row["id"]: row["title"] for row in rows}


COMMANDS = ["label", "label-in-place", "relabel", "assign", "rollback"]


def undone(lost: list, expected: dict) -> set[str]:
    """What kind of write each lost key's last one was: insert, update or delete."""
    kinds = set()
    for key in lost:
        title = expected.get(key)
        kinds.add("delete" if title is None else "insert" if title.startswith("ins") else "update")
    return kinds


def allowed(backend: str, partial_upsert: bool, command: str) -> set[str]:
    """The writes a command may undo, by the limits README's Reliability section states.
    In place: without partial upsert
    (Milvus < 2.6.2) a row goes back whole, undoing an update or delete of it made
    between our read and our upsert; Milvus Lite's partial upsert does the same inside
    (it reads the old row, merges and inserts, unlocked). An insert is never lost."""
    if command in ("label", "rollback"):
        # After a switch, a row the application writes both just before and just after
        # it can lose the second write to the carry-over: an update (checked, then
        # written), or the delete of a row inserted just before the switch (the deleted
        # key leaves no trace in the new collection; seen once on Lite, of ~20 runs).
        return {"update", "delete"}
    if not partial_upsert or backend == "lite":
        return {"update", "delete"}
    return set()


@pytest.mark.parametrize("command", COMMANDS)
def test_no_acknowledged_write_is_lost(client, uri, backend, capabilities, tmp_path, command):
    table = create_table(client, n=600)
    name = table.name
    if backend == "lite":  # Milvus Lite's rename drops a write racing it: apps use an alias
        name = f"{table.name}_app"
        client.create_alias(table.name, name)
    if command != "label":
        label_collection(name, uri=uri, parameters=PARAMS)
    if command == "assign":
        insert_new_rows(client, table, 300)
    before = titles(client, name)
    with application(uri, backend, name, tmp_path) as app:
        if command in ("label", "label-in-place"):
            label_collection(name, uri=uri, parameters=PARAMS)
        elif command == "relabel":
            relabel_collection(name, uri=uri)
        elif command == "assign":
            assign_collection(name, uri=uri)
        else:
            rollback_collection(name, uri=uri)
    expected = before | app.log.titles
    lost = lost_writes(client, name, before, app.log)
    kinds = undone(lost, expected)
    print(
        f"{command} on {backend}: {app.log.acknowledged} writes acknowledged during the run, "
        f"{app.log.refused} refused, {len(lost)} undone ({', '.join(sorted(kinds)) or '-'})",
        file=sys.stderr,
    )
    assert app.log.acknowledged >= 5, "the application wrote during the run"
    assert kinds <= allowed(backend, capabilities.partial_upsert, command), lost[:10]
    if command != "rollback":  # every row has a label or is one the application wrote since
        labels = read_labels(client, name)
        untouched = [k for k in before if k in labels and k not in app.log.titles]
        assert all(labels[k] is not None for k in untouched)
