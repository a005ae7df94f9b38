"""The clustering parameters of a run, with the defaults that depend on each other."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from milvus_cluster.core.clustering import SelectionMethod
from milvus_cluster.core.reduce import Reduction
from milvus_cluster.core.sample import SampleRequest
from milvus_cluster.core.settle import NoisePolicy

KnnMethod = Literal["auto", "milvus", "local"]


@dataclass(frozen=True)
class Parameters:
    min_cluster_size: int = 10
    min_samples: int | None = None  # default: min(min_cluster_size, 16)
    k: int | None = None  # default: max(2 * min_samples, 16)
    method: SelectionMethod = "eom"
    knn: KnnMethod = "auto"
    noise: NoisePolicy = "keep"  # "assign": noise rows close enough to a cluster join it
    reduce: Reduction | None = None  # topic-model mode: cluster in a UMAP embedding
    sample: SampleRequest = None  # sample mode: cluster this many rows ("auto": by size)
    seed: int = 0  # which rows the sample takes

    def resolved(self) -> Parameters:
        min_samples = self.min_samples or min(self.min_cluster_size, 16)
        k = self.k or max(2 * min_samples, 16)
        return replace(self, min_samples=min_samples, k=k)

    @classmethod
    def of(cls, values: dict[str, Any]) -> Parameters:
        """Parameters as a run row stores them (unknown keys ignored)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if isinstance(known.get("reduce"), dict):
            known["reduce"] = Reduction(**known["reduce"])
        return cls(**known)
