"""The synthetic dataset: seeded, shaped as asked, structured (kNN accuracy far from chance and
from 1), bad values one line."""

from __future__ import annotations

import numpy as np
import pytest

from lookup import metrics
from lookup.data.synthetic import load_synthetic
from lookup.errors import BadInput
from lookup.index.exact import exact_knn


def test_same_seed_same_arrays() -> None:
    a = load_synthetic(n=500, n_queries=20, dim=12, latent=3, n_clusters=5, seed=1)
    b = load_synthetic(n=500, n_queries=20, dim=12, latent=3, n_clusters=5, seed=1)
    c = load_synthetic(n=500, n_queries=20, dim=12, latent=3, n_clusters=5, seed=2)
    np.testing.assert_array_equal(a.db, b.db)
    np.testing.assert_array_equal(a.query_labels, b.query_labels)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.db.shape == (500, 12) and a.queries.shape == (20, 12) and a.db.dtype == np.float32
    assert not a.is_text and a.metric is None
    assert set(a.db_labels) <= {str(i) for i in range(5)}


def test_low_intrinsic_dimension() -> None:
    ds = load_synthetic(n=2000, n_queries=10, dim=40, latent=4, n_clusters=0, noise=0.01)
    assert ds.db_labels is None and ds.query_labels is None
    s = np.linalg.svd(ds.db - ds.db.mean(axis=0), compute_uv=False)
    assert s[4] < 0.05 * s[3]  # four directions carry the data, the rest is noise


def test_clusters_make_knn_accuracy_meaningful() -> None:
    ds = load_synthetic(n=5000, n_queries=200, n_clusters=20, seed=0)
    _, I = exact_knn(ds.db, ds.queries, 10, "cosine")
    acc = metrics.knn_accuracy(I, ds.db_labels, ds.query_labels)
    assert 0.2 < acc < 0.99  # chance is ~0.05


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"n": 0}, "dataset.n=0"),
        ({"dim": 2.5}, "dataset.dim=2.5"),
        ({"latent": 200}, "dataset.latent=200"),
        ({"spread": -1.0}, "dataset.spread=-1.0"),
    ],
)
def test_bad_values(kwargs, needle) -> None:
    with pytest.raises(BadInput) as exc:
        load_synthetic(**kwargs)
    assert needle in str(exc.value) and "valid" in str(exc.value) and "\n" not in str(exc.value)
