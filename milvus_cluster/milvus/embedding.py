"""Embedding texts with pymilvus-model's sentence-transformers function (the embed extra).

pymilvus-model installs itself as `pymilvus.model`, so importing it imports pymilvus:
it lives here, in the adapter, with every other import of pymilvus.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from milvus_cluster.extras import require


def sentence_transformer(model_path: str) -> Callable[[list[str]], np.ndarray]:
    """texts → unit vectors (n × dim float32), on the CPU, from a local model path or a
    sentence-transformers name."""
    dense = require("pymilvus.model.dense", "embed", "Embedding texts (ingest)")
    function = dense.SentenceTransformerEmbeddingFunction(
        model_name=model_path, device="cpu", normalize_embeddings=True, batch_size=64
    )
    return lambda texts: np.asarray(function.encode_documents(texts), dtype=np.float32)
