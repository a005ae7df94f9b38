"""Synthetic clustered data for the benchmarks: generated from a seed, cached as .npy files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
CLUSTERS = 40
NOISE_SHARE = 0.10
SEED = 20240611
BLOCK = 50_000  # rows drawn at a time, so that the float64 offsets stay small

Json = dict[str, Any]


def make_data(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors (float32) and their true groups (-1 = noise), shuffled.

    The 40 centres, sizes (a power law, ~19x between largest and smallest) and spreads
    (offset norm 0.3-0.7) depend on the seed only; the points on seed and n."""
    structure = np.random.default_rng(seed)
    centres = _unit(structure.standard_normal((CLUSTERS, DIM)))
    weights = 1.0 / np.arange(1, CLUSTERS + 1) ** 0.8
    spreads = structure.uniform(0.3, 0.7, CLUSTERS)
    rng = np.random.default_rng([seed, n])
    truth = rng.permutation(_group_of_rows(n, weights / weights.sum()))
    vectors = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, BLOCK):
        group = truth[start : start + BLOCK]
        offsets = rng.standard_normal((len(group), DIM))
        clustered = group >= 0
        points = offsets.copy()  # noise: uniform on the sphere once normalised
        scale = spreads[group[clustered]] / np.sqrt(DIM)
        points[clustered] = centres[group[clustered]] + offsets[clustered] * scale[:, None]
        vectors[start : start + len(group)] = _unit(points)
    return vectors, truth


def _group_of_rows(n: int, shares: np.ndarray) -> np.ndarray:
    clustered = n - round(n * NOISE_SHARE)
    counts = np.floor(shares * clustered).astype(np.int64)
    counts[: clustered - counts.sum()] += 1
    return np.concatenate([np.repeat(np.arange(CLUSTERS), counts), np.full(n - clustered, -1)])


def _unit(points: np.ndarray) -> np.ndarray:
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def data_paths(workdir: Path, n: int) -> tuple[Path, Path]:
    return workdir / f"vectors_{n}.npy", workdir / f"truth_{n}.npy"


def save_data(workdir: Path, n: int) -> tuple[Path, Path]:
    """Generate the data once in the parent; each worker maps the files instead of
    drawing them again (and the parent does not hold them while a child runs)."""
    vectors, truth = make_data(n)
    paths = data_paths(workdir, n)
    np.save(paths[0], vectors)
    np.save(paths[1], truth)
    return paths


def load_data(workdir: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    vectors, truth = data_paths(workdir, n)
    return np.load(vectors, mmap_mode="r"), np.load(truth)


def ari(truth: np.ndarray, labels: np.ndarray) -> Json:
    """ARI with noise as a group of its own, and on the rows the labels put in clusters."""
    from sklearn.metrics import adjusted_rand_score

    clustered = labels >= 0
    return {
        "ari_all": round(float(adjusted_rand_score(truth, labels)), 4),
        "ari_clustered": round(float(adjusted_rand_score(truth[clustered], labels[clustered])), 4)
        if clustered.any()
        else None,
        "clusters": int(labels.max()) + 1 if clustered.any() else 0,
        "noise_share": round(float(np.mean(~clustered)), 4),
    }
