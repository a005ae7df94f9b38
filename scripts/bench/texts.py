"""The real text data sets of /work/shared/data (not part of the project): embeddings and texts.

The folder holds CSVs with precomputed all-MiniLM-L6-v2 embeddings (`<stem>.all-MiniLM-L6-v2.npy`,
unit length, row i = CSV row i). Scripts that use it skip a data set cleanly when it is absent.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("MILVUS_CLUSTER_DATA", "/work/shared/data"))
MODEL = "all-MiniLM-L6-v2"


def text_data_available(stem: str) -> bool:
    return (DATA / f"{stem}.csv").exists() and (DATA / f"{stem}.{MODEL}.npy").exists()


def load_text_data(stem: str, template: str = "{text}") -> tuple[np.ndarray, list[str]]:
    """The embeddings (n × 384 float32) and the texts of one data set, in the CSV's order;
    `template` makes a row's text from its columns, as it was embedded (the folder's README)."""
    vectors = np.load(DATA / f"{stem}.{MODEL}.npy").astype(np.float32)
    with open(DATA / f"{stem}.csv", newline="", encoding="utf-8") as handle:
        texts = [template.format(**row) for row in csv.DictReader(handle)]
    if len(texts) != len(vectors):
        raise SystemExit(f"{stem}: {len(texts)} texts but {len(vectors)} embeddings")
    return vectors, texts
