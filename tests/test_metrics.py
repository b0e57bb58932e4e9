"""Metrics on hand-made arrays (ties, padding) and exact search against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from lookup.distances import recompute_distances
from lookup.index.exact import exact_knn
from lookup.metrics import (
    hit_at_k,
    knn_accuracy,
    knn_predict,
    label_precision_at_k,
    latency_stats,
    recall_ids,
    recall_tie_aware,
)
from lookup.protocols import METRICS


def scipy_knn(xb: np.ndarray, xq: np.ndarray, k: int, metric: str):
    """Reference: full float64 distance matrix + stable argsort."""
    if metric == "ip":
        dist = -(xq.astype(np.float64) @ xb.T.astype(np.float64))
    else:
        dist = cdist(xq.astype(np.float64), xb.astype(np.float64), metric)
        dist = np.nan_to_num(dist, nan=1.0)  # scipy gives NaN for a zero vector under cosine
    ids = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, ids, axis=1), ids


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("block_size", [3, 4096])
def test_exact_knn_agrees_with_scipy(metric: str, block_size: int) -> None:
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((500, 12)).astype(np.float32)
    xq = rng.standard_normal((17, 12)).astype(np.float32)
    xb[3] = 0.0
    xq[0] = 0.0  # zero query: every cosine distance is 1 (a full tie), never NaN
    D, I = exact_knn(xb, xq, 7, metric, block_size=block_size)  # noqa: E741
    ref_D, ref_I = scipy_knn(xb, xq, 7, metric)
    assert D.dtype == np.float64 and I.dtype == np.int64 and D.shape == (17, 7)
    assert np.isfinite(D).all()
    np.testing.assert_allclose(D, ref_D, atol=1e-5)
    assert (np.diff(D, axis=1) >= 0).all()
    np.testing.assert_array_equal(I, ref_I)  # continuous data + smaller-id tie-break
    if metric == "cosine":
        np.testing.assert_array_equal(I[0], np.arange(7))


def test_exact_knn_breaks_ties_by_smaller_id() -> None:
    xb = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], dtype=np.float32)
    D, I = exact_knn(xb, np.array([[1, 0]], dtype=np.float32), 3, "euclidean")  # noqa: E741
    np.testing.assert_array_equal(I, [[0, 2, 3]])
    np.testing.assert_allclose(D, [[0, 0, 0]])


def test_recompute_distances_conventions() -> None:
    xb = np.array([[3, 4], [0, 0], [1, 0]], dtype=np.float32)
    xq = np.array([[1, 0]], dtype=np.float32)
    ids = np.array([[0, 1, 2, -1]])
    eu = recompute_distances(xb, xq, ids, "euclidean")
    np.testing.assert_allclose(eu[0, :3], [np.sqrt(4 + 16), 1, 0], rtol=1e-6)
    cos = recompute_distances(xb, xq, ids, "cosine")
    np.testing.assert_allclose(cos[0, :3], [1 - 0.6, 1.0, 0.0], atol=1e-6)  # zero vector -> 1
    ip = recompute_distances(xb, xq, ids, "ip")
    np.testing.assert_allclose(ip[0, :3], [-3, 0, -1])
    for d in (eu, cos, ip):
        assert d.dtype == np.float64 and np.isinf(d[0, 3])


def test_recall_tie_aware_counts_equidistant_points() -> None:
    true_D = np.array([[0.0, 1.0, 1.0]])
    run_D = np.array([[0.0, 1.0, 1.0]])  # other ids at the same distances
    assert recall_tie_aware(true_D, run_D, 3) == 1.0
    assert recall_tie_aware(true_D, np.array([[0.0, 1.0, 1.0005]]), 3) == 1.0  # within eps
    assert recall_tie_aware(true_D, np.array([[0.0, 1.0, 1.01]]), 3) == pytest.approx(2 / 3)
    assert recall_tie_aware(true_D, np.array([[0.0, 1.0, 1.0005]]), 3, eps=0.0) == pytest.approx(
        2 / 3
    )
    assert recall_tie_aware(true_D, np.array([[0.0, np.inf, np.inf]]), 3) == pytest.approx(1 / 3)
    assert recall_tie_aware(true_D, run_D, 1) == 1.0


def test_recall_ids_ignores_padding_and_order() -> None:
    true_I = np.array([[1, 2, 3], [4, 5, 6]])
    run_I = np.array([[3, 2, 1], [4, -1, -1]])
    assert recall_ids(true_I, run_I, 3) == pytest.approx((1 + 1 / 3) / 2)
    assert recall_ids(true_I, run_I, 1) == pytest.approx(0.5)


def test_tie_aware_vs_id_recall_on_duplicates() -> None:
    """Ids 0 and 1 are the same vector: returning 1 instead of 0 is a hit only by distance."""
    xb = np.array([[0, 0], [0, 0], [5, 5], [9, 9]], dtype=np.float32)
    xq = np.array([[0.1, 0.0]], dtype=np.float32)
    true_D, true_I = exact_knn(xb, xq, 1, "euclidean")
    run_I = np.array([[1]])
    run_D = recompute_distances(xb, xq, run_I, "euclidean")
    assert true_I[0, 0] == 0
    assert recall_tie_aware(true_D, run_D, 1) == 1.0
    assert recall_ids(true_I, run_I, 1) == 0.0


def _knn_predict_by_rows(I, db_labels) -> list:  # noqa: E741
    """The row-by-row definition: majority label, ties to the label seen first."""
    out = []
    for row in np.asarray(I):
        seen = [db_labels[i] for i in row if i >= 0]
        if not seen:
            out.append(None)
            continue
        counts = {lab: seen.count(lab) for lab in seen}
        best = max(counts.values())
        out.append(next(lab for lab in seen if counts[lab] == best))
    return out


@pytest.mark.parametrize("kind", ["str", "int"])
@pytest.mark.parametrize("k", [0, 1, 2, 5, 10, 40])
def test_knn_predict_equals_its_row_by_row_definition(kind: str, k: int) -> None:
    """Vectorised knn_predict against a plain loop: few labels (many ties), missing ids (-1),
    rows with none valid, string and integer labels, chunks of rows."""
    rng = np.random.default_rng(k)
    n_db = 50
    db = rng.integers(0, 4, n_db)
    db = np.array([f"c{v}" for v in db], dtype=object) if kind == "str" else db
    I = rng.integers(-1, n_db, size=(3000, k))  # noqa: E741
    I[:7] = -1
    got = knn_predict(I, db)
    want = _knn_predict_by_rows(I, db)
    assert got == want
    assert all(g is None for g in got[:7])


def test_knn_accuracy_majority_and_nearest_tie_break() -> None:
    db = np.array(["a", "b", "b", "a", "c"])
    I = np.array(  # noqa: E741
        [
            [1, 2, 0],  # b, b, a -> b
            [0, 1, -1],  # a, b (tie) -> a, the nearest
            [1, 0, 3],  # b, a, a -> a by majority
            [-1, -1, -1],  # nothing -> wrong
            [4, 1, 0],  # c, b, a (three-way tie) -> c
        ]
    )
    truth = np.array(["b", "a", "a", "a", "c"])
    assert knn_accuracy(I, db, truth) == pytest.approx(4 / 5)
    assert knn_accuracy(I[:1], db, np.array(["a"])) == 0.0


def test_hit_and_label_precision_at_k() -> None:
    db = np.array([0, 1, 1, 0])
    I = np.array([[1, 0, 3], [2, -1, -1]])  # noqa: E741
    q = np.array([0, 1])
    assert hit_at_k(I, db, q, 1) == 0.5
    assert hit_at_k(I, db, q, 2) == 1.0
    assert label_precision_at_k(I, db, q, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert label_precision_at_k(I, db, q, 1) == pytest.approx(0.5)


def test_latency_stats() -> None:
    lat = np.array([0.001] * 98 + [0.002, 0.010])
    s = latency_stats(lat)
    assert set(s) == {
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "qps",
    }
    assert s["latency_p50_ms"] == pytest.approx(1.0)
    assert s["latency_p95_ms"] == pytest.approx(1.0)
    assert 1.0 < s["latency_p99_ms"] <= 10.0
    assert s["latency_mean_ms"] == pytest.approx(lat.mean() * 1e3)
    assert s["qps"] == pytest.approx(100 / lat.sum())
    batch = latency_stats(np.full(50, 0.5 / 50))  # batch: total / nq repeated
    assert batch["qps"] == pytest.approx(100.0)
    with pytest.raises(ValueError):
        latency_stats([])


def test_exact_euclidean_survives_a_large_common_offset() -> None:
    """|x|^2 ~ 1e6 x the neighbour gaps: float32 scores alone would mis-rank (review finding)."""
    rng = np.random.default_rng(3)
    xb = (10 + 0.01 * rng.normal(size=(3000, 32))).astype(np.float32)
    xq = (10 + 0.01 * rng.normal(size=(50, 32))).astype(np.float32)
    D, I = exact_knn(xb, xq, 10, "euclidean")
    d64 = np.sqrt(((xq[:, None, :].astype(np.float64) - xb[None, :, :]) ** 2).sum(-1))
    true_I = np.argsort(d64, axis=1, kind="stable")[:, :10]
    assert recall_ids(true_I, I, 10) == 1.0
    np.testing.assert_allclose(D, np.take_along_axis(d64, true_I, 1), rtol=1e-5)
