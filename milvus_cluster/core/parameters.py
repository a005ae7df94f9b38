"""The clustering parameters of a run, with the defaults that depend on each other.

Checked as they are made: a wrong value is refused at once, in words, rather than
after the read and the kNN graph. The names are the command line's options
(`cluster_selection` is `--cluster-selection`); `method` is its old, deprecated name.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from milvus_cluster.core.clustering import SelectionMethod
from milvus_cluster.core.evoc import MIN_SAMPLES as EVOC_MIN_SAMPLES
from milvus_cluster.core.evoc import N_NEIGHBORS as EVOC_NEIGHBORS
from milvus_cluster.core.reduce import Reduction, parse_reduction
from milvus_cluster.core.refine import K as VOTERS
from milvus_cluster.core.sample import SampleRequest, parse_sample
from milvus_cluster.core.settle import NoisePolicy
from milvus_cluster.errors import ParameterError

KnnMethod = Literal["auto", "milvus", "local"]
# hdbscan: HDBSCAN on the kNN graph (core/clustering.py); evoc: EVoC on the vectors
# (core/evoc.py); evoc-knn: EVoC, then the kNN graph's vote (core/refine.py); auto:
# evoc-knn for text embeddings, hdbscan otherwise (choose_engine).
Engine = Literal["auto", "hdbscan", "evoc", "evoc-knn"]
EVOC_ENGINES = ("evoc", "evoc-knn")
MAX_K = 1024
MAX_LAYERS = 8  # layer fields a run writes at most (each layer a third of the one below)


@dataclass(frozen=True, init=False)
class Parameters:
    min_cluster_size: int = 10
    min_samples: int | None = None  # default: min(min_cluster_size, 16)
    k: int | None = None  # default: max(2 * min_samples, 16)
    cluster_selection: SelectionMethod = "eom"  # HDBSCAN's eom or leaf
    knn: KnnMethod = "auto"
    noise: NoisePolicy = "keep"  # "assign": noise rows close enough to a cluster join it
    reduce: Reduction | None = None  # topic-model mode: cluster in a UMAP embedding
    sample: SampleRequest = None  # sample mode: cluster this many rows ("auto": by size)
    seed: int = 0  # which rows the sample takes
    layers: int = 0  # label fields of the coarser layers to write (core/layers.py)
    anchor: bool = True  # relabel: rows keep their labels unless there is reason (core/anchor.py)
    engine: Engine = "auto"  # which clustering; a run records the one it used

    def __init__(
        self,
        min_cluster_size: int = 10,
        min_samples: int | None = None,
        k: int | None = None,
        cluster_selection: SelectionMethod = "eom",
        knn: KnnMethod = "auto",
        noise: NoisePolicy = "keep",
        reduce: Reduction | str | None = None,
        sample: SampleRequest | str = None,
        seed: int = 0,
        layers: int = 0,
        anchor: bool = True,
        engine: Engine = "auto",
        *,
        method: SelectionMethod | None = None,
    ) -> None:
        """`reduce` may be written as on the command line ("umap:5", "none"); `method` is
        the deprecated name of `cluster_selection`."""
        if method is not None:
            warnings.warn(
                "Parameters(method=...) is now Parameters(cluster_selection=...), the name "
                "of the --cluster-selection option.",
                DeprecationWarning,
                stacklevel=2,
            )
            cluster_selection = method
        values = {
            "min_cluster_size": _count("min_cluster_size", min_cluster_size, 2),
            "min_samples": _count("min_samples", min_samples, 1, optional=True),
            "k": _count("k", k, 1, MAX_K, optional=True),
            "cluster_selection": _choice("cluster_selection", cluster_selection, SelectionMethod),
            "knn": _choice("knn", knn, KnnMethod),
            "noise": _choice("noise", noise, NoisePolicy),
            "reduce": _reduction(reduce),
            "sample": parse_sample(sample),
            "seed": _count("seed", seed, 0),
            "layers": _count("layers", layers, 0, MAX_LAYERS),
            "anchor": _flag("anchor", anchor),
            "engine": _choice("engine", engine, Engine),
        }
        if values["engine"] in EVOC_ENGINES and values["reduce"] is not None:
            raise ParameterError(
                f"engine {engine!r} makes its own embedding of the vectors (EVoC); leave out "
                "reduce (--reduce), or choose engine 'hdbscan'."
            )
        if min_samples and k and min_samples > k:
            raise ParameterError(
                f"min_samples ({min_samples}) cannot exceed k ({k}); raise k to at least "
                f"{2 * min_samples}."
            )
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def method(self) -> SelectionMethod:
        """Deprecated: `cluster_selection`."""
        warnings.warn(
            "Parameters.method is now Parameters.cluster_selection.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.cluster_selection

    def resolved(self) -> Parameters:
        """min_samples and k filled in: EVoC's own defaults for engine 'evoc' (k is its
        n_neighbors, the row itself counted) and 'evoc-knn' (whose k is the voting
        graph's: refine.K), ours for the others."""
        if self.engine in EVOC_ENGINES:
            min_samples = self.min_samples or EVOC_MIN_SAMPLES
            k = self.k or (EVOC_NEIGHBORS if self.engine == "evoc" else VOTERS)
            return replace(self, min_samples=min_samples, k=k)
        min_samples = self.min_samples or min(self.min_cluster_size, 16)
        k = self.k or max(2 * min_samples, 16)
        return replace(self, min_samples=min_samples, k=k)

    def for_collection(self, metric: str, text_embeddings: bool) -> Parameters:
        """The parameters with engine 'auto' made concrete (choose_engine) and resolved:
        what a run uses and records, so that a relabel repeats it."""
        engine = choose_engine(self.engine, metric, text_embeddings, self.reduce)
        if engine in EVOC_ENGINES and metric == "L2":
            raise ParameterError(
                f"engine {engine!r} clusters by cosine distance (EVoC), and this collection's "
                "metric is L2; choose engine 'hdbscan' (--engine hdbscan)."
            )
        return replace(self, engine=engine).resolved()

    @classmethod
    def of(cls, values: dict[str, Any]) -> Parameters:
        """Parameters as a run row stores them (unknown keys ignored; `method` is how
        runs before the rename stored `cluster_selection`; runs with no engine ran HDBSCAN)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if "method" in values and "cluster_selection" not in known:
            known["cluster_selection"] = values["method"]
        known.setdefault("engine", "hdbscan")  # runs before engines existed ran HDBSCAN
        if isinstance(known.get("reduce"), dict):
            known["reduce"] = Reduction(**known["reduce"])
        return cls(**known)


def choose_engine(
    requested: Engine, metric: str, text_embeddings: bool, reduce: Reduction | None
) -> Engine:
    """auto: EVoC and the kNN vote for text embeddings (the best measured, see the
    README, *Engines*), HDBSCAN on the kNN graph otherwise, and whenever a UMAP
    reduction was asked for (UMAP + HDBSCAN is the topic-model mode of its own)."""
    if requested != "auto":
        return requested
    if text_embeddings and metric in ("COSINE", "IP") and reduce is None:
        return "evoc-knn"
    return "hdbscan"


def _count(
    name: str, value: Any, least: int, most: int | None = None, optional: bool = False
) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ParameterError(f"{name} must be a whole number of at least {least}, not {value!r}.")
    if most is not None and value > most:
        raise ParameterError(f"{name} must be at most {most}, not {value}.")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be True or False, not {value!r}.")
    return value


def _choice(name: str, value: Any, kinds: Any) -> Any:
    allowed = get_args(kinds)
    if value not in allowed:
        raise ParameterError(
            f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}."
        )
    return value


def _reduction(value: Reduction | str | None) -> Reduction | None:
    if value is None or isinstance(value, Reduction):
        return value
    if isinstance(value, str):
        return parse_reduction(value)
    raise ParameterError(f"reduce must be 'umap', 'umap:DIM' or None, not {value!r}.")
