"""Fingerprints of rows: order and labels aside, every change seen (core/fingerprint.py)."""

from __future__ import annotations

from milvus_cluster.core.fingerprint import Fingerprinter


def test_fingerprint_ignores_order_and_labels_but_sees_every_change():
    rows = [{"id": i, "v": [0.5 * i, 1.0], "t": f"x{i}", "cluster_id": i} for i in range(5)]

    def of(batch, leave_out=("cluster_id",)):
        printer = Fingerprinter(leave_out)
        printer.add(batch)
        return printer.result()

    assert of(rows) == of(list(reversed(rows)))
    assert of(rows) == of([r | {"cluster_id": 99} for r in rows])
    assert of(rows) != of(rows[:4])
    assert of(rows) != of(rows + rows[:1])
    assert of(rows) != of(rows[:4] + [rows[4] | {"v": [2.0, 1.0000001]}])
    assert of(rows) != of(rows[:4] + [rows[4] | {"t": "y"}])
