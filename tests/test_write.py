"""The label columns written (migration/write.py)."""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.keys import KeyIndex
from milvus_cluster.migration.write import LabelColumns


def test_label_columns_give_null_for_rows_not_clustered():
    columns = LabelColumns(KeyIndex(np.array([10, -3])), np.array([1, -1]),
                           np.array([0.5, 0.0], dtype=np.float32))  # fmt: skip
    assert columns.values([-3, 10, 7]) == ([-1, 1, None], [0.0, 0.5, None])
