"""Fingerprints of rows: order and labels aside, every change seen (core/fingerprint.py)."""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.fingerprint import Fingerprinter, row_hash


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


def test_row_hash_is_the_same_for_every_form_of_a_vector_and_exact_for_doubles():
    vector = np.random.default_rng(0).standard_normal(384).astype(np.float32)
    leave_out = frozenset()
    as_array = row_hash({"id": 1, "v": vector}, leave_out)
    assert as_array == row_hash({"id": 1, "v": vector.tolist()}, leave_out)
    assert as_array == row_hash({"id": 1, "v": vector.astype(np.float64)}, leave_out)
    changed = vector.copy()
    changed[200] = np.nextafter(changed[200], np.float32(2))
    assert as_array != row_hash({"id": 1, "v": changed}, leave_out)
    # DOUBLE values that no float32 holds keep every bit: a change in the last one shows
    doubles = [0.1, 0.2]
    assert row_hash({"d": doubles}, leave_out) != row_hash(
        {"d": [0.1, np.nextafter(0.2, 1.0)]}, leave_out
    )
