"""Labels as the collection stores them, and as the pipeline holds them.

-1 is noise; 0, 1, … are cluster ids. Where the label fields cannot be null
(Milvus before 2.5), rows not labelled yet carry UNLABELLED and
UNLABELLED_PROBABILITY; elsewhere their labels are null, which reads as None and
is held here as UNLABELLED too, so that the pipeline sees one value for both.
"""

from __future__ import annotations

import numpy as np

from milvus_cluster.core.keys import KeyIndex, aligned

NOISE = -1
UNLABELLED = -2
UNLABELLED_PROBABILITY = 0.0


def label_array(values: list) -> np.ndarray:
    """Labels as read (None where a row has none) as int64, UNLABELLED for None; the
    placeholder of fields that cannot be null is UNLABELLED already."""
    return np.array([UNLABELLED if value is None else value for value in values], np.int64)


def aligned_labels(keys: KeyIndex, pks: list[np.ndarray], labels: list[np.ndarray]) -> np.ndarray:
    """The label of each of `keys`'s rows from chunks of (keys, labels) read alongside:
    (n,) int64, UNLABELLED for rows that were not among them."""
    return aligned(keys, pks, labels, UNLABELLED, np.int64)
