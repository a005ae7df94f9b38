"""Primary keys back to row numbers (core/keys.py)."""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.keys import KeyIndex


def test_keys_map_back_to_rows():
    keys = KeyIndex(np.array(["b", 'x"y', "a\\b", ""]))
    assert keys.rows(['x"y', "a\\b", "zz", ""]).tolist() == [1, 2, -1, 3]
    numbers = KeyIndex(np.array([0, -5, 2**62]))
    assert numbers.rows(np.array([2**62, 0, 7])).tolist() == [2, 0, -1]
