"""The other tools of scripts/bench_topics.py, each with its documented defaults and a
fixed seed, on the embeddings we cluster: EVoC 0.3 and BERTopic 0.17.

Each returns (labels, seconds); numba compiles on a small warm-up first (warm_up),
outside the timings. BERTopic gets the precomputed embeddings and no embedding model:
with `fit_transform(docs, embeddings)` and embedding_model None it loads none (read in
bertopic/_bertopic.py, 0.17.4: select_backend runs only when embeddings is None or a
model was given); HF_HUB_OFFLINE=1 makes sure nothing is fetched either way.
"""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SEED = 0


def run_evoc(vectors: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, float]:
    """evoc.EVoC() with its defaults but random_state."""
    import evoc

    start = time.perf_counter()
    labels = evoc.EVoC(random_state=seed).fit_predict(vectors)
    return np.asarray(labels, dtype=np.int64), time.perf_counter() - start


def run_bertopic(docs: list[str], vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """BERTopic() with its defaults: its own default UMAP (n_neighbors 15, 5-d, min_dist
    0, cosine), with random_state=0 as its FAQ advises for reproducible topics."""
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(
        n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=SEED
    )
    start = time.perf_counter()
    topics, _ = BERTopic(umap_model=umap_model).fit_transform(docs, vectors)
    return np.asarray(topics, dtype=np.int64), time.perf_counter() - start


def warm_up(vectors: np.ndarray, docs: list[str]) -> None:
    """Compile numba's functions (EVoC's, UMAP's, pynndescent's) on a few rows."""
    run_evoc(vectors[:400])
    run_bertopic(docs[:400], vectors[:400])
