"""A seeded synthetic vector set with structure: clusters on a low-dimensional latent space,
mapped linearly into ``dim`` dimensions, plus a little isotropic noise (use ``encoder=none``).

Why this shape: uniform random vectors in 100 dimensions have nearly equal distances to
everything, which no embedding has and which makes every ANN index look alike; real
embeddings sit near a low-dimensional set. Here (faiss ``contrib/datasets.SyntheticDataset``
and this project's test data do the same) each point is

    z = centre[c] + spread * N(0, I_latent),   x = z @ A + noise * N(0, I_dim),

with ``A`` a fixed random (latent, dim) map, so the intrinsic dimension is ``latent``. With
``n_clusters > 0`` every point carries its cluster as its label, so kNN accuracy has a meaning
(``spread`` controls how much clusters overlap); ``n_clusters=0`` draws z from one Gaussian and
gives no labels. Queries come from the same distribution (held out, not database points).
Same arguments, same arrays (NumPy's PCG64 from ``seed``).
"""

from __future__ import annotations

import numpy as np

from lookup.cache import array_digest
from lookup.data.base import Dataset
from lookup.errors import BadInput


def _check(name: str, value: object, minimum: float, real: bool = False) -> None:
    kinds = (int, float) if real else (int,)
    if not isinstance(value, kinds) or isinstance(value, bool) or value < minimum:
        kind = "a number" if real else "an integer"
        raise BadInput(f"dataset.{name}={value!r} is invalid; valid: {kind} >= {minimum}")


def make_synthetic(
    n: int,
    n_queries: int,
    dim: int,
    latent: int,
    n_clusters: int,
    spread: float,
    noise: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(x, y, labels)``: ``n + n_queries`` float32 rows (database first) of dimension ``dim``
    and their cluster ids (None without clusters)."""
    rng = np.random.default_rng(seed)
    total = n + n_queries
    if n_clusters > 0:
        centres = rng.standard_normal((n_clusters, latent))  # (C, latent)
        labels = rng.integers(0, n_clusters, size=total)  # (N,)
        z = centres[labels] + spread * rng.standard_normal((total, latent))
    else:
        labels = None
        z = rng.standard_normal((total, latent))
    a = rng.standard_normal((latent, dim)) / np.sqrt(latent)  # (latent, dim)
    x = (z @ a + noise * rng.standard_normal((total, dim))).astype(np.float32)  # (N, dim)
    return x[:n], x[n:], labels


def load_synthetic(
    *,
    n: int = 100_000,
    n_queries: int = 1_000,
    dim: int = 100,
    latent: int = 16,
    n_clusters: int = 100,
    spread: float = 1.0,
    noise: float = 0.05,
    seed: int = 0,
) -> Dataset:
    """The synthetic set as a :class:`Dataset` of vectors (labels: cluster ids as strings)."""
    _check("n", n, 1)
    _check("n_queries", n_queries, 1)
    _check("dim", dim, 1)
    _check("latent", latent, 1)
    _check("n_clusters", n_clusters, 0)
    _check("spread", spread, 0.0, real=True)
    _check("noise", noise, 0.0, real=True)
    _check("seed", seed, 0)
    if latent > dim:
        raise BadInput(f"dataset.latent={latent} is invalid; valid: an integer <= dim ({dim})")
    xb, xq, labels = make_synthetic(n, n_queries, dim, latent, n_clusters, spread, noise, seed)
    db_labels = query_labels = None
    if labels is not None:
        names = labels.astype(str)
        db_labels, query_labels = names[:n], names[n:]
    return Dataset(
        name=f"synthetic{n // 1000}k_d{dim}_l{latent}",
        db=xb,
        queries=xq,
        db_labels=db_labels,
        query_labels=query_labels,
        fingerprint=array_digest(xb, xq),
        metric=None,
    )
