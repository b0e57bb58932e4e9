"""Pure metric functions: numpy arrays in, numbers out (recall, label accuracy, latency).

Distances are the harness's own (:mod:`lookup.distances`): the harness scores runs with
:func:`lookup.distances.recompute_distances`, never with a backend's own numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


# Relative tolerance of a tie: 8 float32 ulps. Ground truth and scoring both store float32 casts
# of the same float64 function (lookup.distances.pair_distances), so one pair always gets the
# same value and two pairs at the same distance differ by at most float64 rounding, which this
# covers whenever the k-th distance is above ~1e-10 of the operands' scale (``atol`` covers the
# rest: see lookup.distances.tie_floor).
TIE_RTOL = 2.0**-20
ANNB_EPS = 1e-3  # ann-benchmarks' absolute epsilon (its "k-nn" recall)
EPSILON_RECALL = 0.01  # ann-benchmarks' "epsilon" recall: within (1 + 0.01) of the k-th distance


def _check_k(true_D: np.ndarray, run_D: np.ndarray, k: int) -> None:
    if k <= 0 or k > true_D.shape[1] or k > run_D.shape[1]:
        raise ValueError(f"k={k} must be in 1..{min(true_D.shape[1], run_D.shape[1])}")


def _hits_within(true_D, run_D, k: int, slack: np.ndarray | float) -> np.ndarray:
    """(nq,) share of the first k returned distances <= the true k-th distance + slack."""
    true_D = np.asarray(true_D, dtype=np.float64)
    run_D = np.asarray(run_D, dtype=np.float64)
    _check_k(true_D, run_D, k)
    threshold = true_D[:, k - 1 : k] + np.reshape(slack, (-1, 1))
    return (run_D[:, :k] <= threshold).sum(axis=1) / k


def recall_per_query(
    true_D: np.ndarray, run_D: np.ndarray, k: int, *, atol: float = 0.0
) -> np.ndarray:
    """(nq,) tie-aware recall@k of each query: a returned point counts when its distance is
    within floating-point noise of the true k-th distance or below it,
    ``d <= d_k + TIE_RTOL * |d_k| + atol`` (so only real ties count, at any distance scale).

    ``run_D`` holds the harness's recomputed distances of the returned ids (padding: inf,
    never a hit); its rows must not repeat ids (checked at the boundary by the harness).
    """
    kth = np.abs(np.asarray(true_D, dtype=np.float64)[:, k - 1])
    return _hits_within(true_D, run_D, k, TIE_RTOL * kth + atol)


def filtered_recall_per_query(
    true_D: np.ndarray, run_D: np.ndarray, k: int, n_pass: np.ndarray, *, atol: float = 0.0
) -> np.ndarray:
    """(nq,) tie-aware recall@k against a FILTERED truth, where query i's filter lets only
    ``n_pass[i]`` database items through: hits / ``k_i`` with ``k_i = min(k, n_pass[i])``.

    ``true_D[i, :k_i]`` are the true filtered distances (the rest padding); a returned point
    is a hit when its distance is within the tie rule of :func:`recall_per_query` of the true
    ``k_i``-th distance. ``run_D`` must hold ``inf`` for padding and for any returned item the
    filter rejects (the caller's job: such an item is never a hit). A query whose filter
    passes nothing (``k_i = 0``) has nothing to find and scores 1.0. With ``n_pass >= k``
    everywhere this is :func:`recall_per_query`.
    """
    true_D = np.asarray(true_D, dtype=np.float64)
    run_D = np.asarray(run_D, dtype=np.float64)
    _check_k(true_D, run_D, k)
    kq = np.minimum(np.asarray(n_pass, dtype=np.int64), k)
    if len(kq) != len(true_D) or (kq < 0).any():
        raise ValueError(f"n_pass must hold {len(true_D)} counts >= 0, got {np.shape(n_pass)}")
    kth = true_D[np.arange(len(kq)), np.maximum(kq - 1, 0)]
    threshold = np.where(kq > 0, kth + TIE_RTOL * np.abs(kth) + atol, -np.inf)
    hits = (run_D[:, :k] <= threshold[:, None]).sum(axis=1)
    return np.where(kq > 0, np.minimum(hits, kq) / np.maximum(kq, 1), 1.0)


def short_answers(run_D: np.ndarray, k: int, n_pass: np.ndarray) -> np.ndarray:
    """(nq,) 1.0 where a filtered answer holds fewer than ``min(k, n_pass)`` items (finite
    distances among the first k: padding and rejected items have ``inf``)."""
    found = np.isfinite(np.asarray(run_D, dtype=np.float64)[:, :k]).sum(axis=1)
    return (found < np.minimum(np.asarray(n_pass, dtype=np.int64), k)).astype(np.float64)


def recall_at_k(true_D: np.ndarray, run_D: np.ndarray, k: int, *, atol: float = 0.0) -> float:
    """Mean of :func:`recall_per_query`: the harness's recall@k."""
    return float(np.mean(recall_per_query(true_D, run_D, k, atol=atol)))


def hits_within_abs(true_D: np.ndarray, run_D: np.ndarray, k: int, eps: float) -> np.ndarray:
    """(nq,) share of the first k returned distances within an ABSOLUTE ``eps`` of the true
    k-th distance (ann-benchmarks' per-query hit rule)."""
    return _hits_within(true_D, run_D, k, eps)


def recall_at_k_annb(true_D: np.ndarray, run_D: np.ndarray, k: int, eps: float = ANNB_EPS) -> float:
    """ann-benchmarks' recall@k: a hit is within an ABSOLUTE ``eps`` of the true k-th distance.

    Kept to compare with published numbers. On distances much smaller than ``eps`` (cosine
    distances of ~1e-3 are common here) it counts non-neighbours as ties and inflates recall.
    """
    return float(np.mean(hits_within_abs(true_D, run_D, k, eps)))


def recall_tie_aware(true_D: np.ndarray, run_D: np.ndarray, k: int, eps: float = 1e-3) -> float:
    """Alias of :func:`recall_at_k_annb` (the previous name)."""
    return recall_at_k_annb(true_D, run_D, k, eps)


def epsilon_recall_per_query(
    true_D: np.ndarray, run_D: np.ndarray, k: int, epsilon: float = EPSILON_RECALL
) -> np.ndarray:
    """(nq,) ann-benchmarks' epsilon recall: hits within ``(1 + epsilon)`` of the true k-th
    distance (``d_k + epsilon * |d_k|``, which also holds for negative inner-product distances)."""
    kth = np.abs(np.asarray(true_D, dtype=np.float64)[:, k - 1])
    return _hits_within(true_D, run_D, k, epsilon * kth)


def epsilon_recall_at_k(
    true_D: np.ndarray, run_D: np.ndarray, k: int, epsilon: float = EPSILON_RECALL
) -> float:
    """Mean of :func:`epsilon_recall_per_query`."""
    return float(np.mean(epsilon_recall_per_query(true_D, run_D, k, epsilon)))


def robustness_per_query(recall_q: np.ndarray, delta: float) -> np.ndarray:
    """(nq,) 1.0 where a query's recall reaches ``delta``: its mean is robustness-delta@k,
    the share of queries served at least that well (a tail the mean recall hides)."""
    return (np.asarray(recall_q, dtype=np.float64) >= delta - 1e-12).astype(np.float64)


def rel(true_D: np.ndarray, run_D: np.ndarray, k: int) -> float:
    """ann-benchmarks' ``rel``: sum of the returned distances over the sum of the true ones
    (1.0 is perfect; inf when a row is padded). NaN when the true sum is not positive (inner
    product distances can be negative, where the ratio means nothing)."""
    true_D = np.asarray(true_D, dtype=np.float64)
    run_D = np.asarray(run_D, dtype=np.float64)
    _check_k(true_D, run_D, k)
    total_true = float(true_D[:, :k].sum())
    if not total_true > 0 or (true_D[:, :k] < 0).any():
        return float("nan")
    return float(run_D[:, :k].sum() / total_true)


def recall_ids_per_query(true_I: np.ndarray, run_I: np.ndarray, k: int) -> np.ndarray:
    """(nq,) share of the true top-k ids found among the first k returned ids (-1 never counts)."""
    true_I = np.asarray(true_I)[:, :k]
    run_I = np.asarray(run_I)[:, :k]
    if k <= 0 or true_I.shape[1] < k:
        raise ValueError(f"k={k} must be in 1..{np.shape(true_I)[1]}")
    hits = (run_I[:, :, None] == true_I[:, None, :]) & (run_I[:, :, None] >= 0)
    return hits.any(axis=2).sum(axis=1) / k


def recall_ids(true_I: np.ndarray, run_I: np.ndarray, k: int) -> float:
    """Mean of :func:`recall_ids_per_query`."""
    return float(np.mean(recall_ids_per_query(true_I, run_I, k)))


def statistic(x: np.ndarray, stat: str | float, axis: int = -1) -> np.ndarray | float:
    """``stat`` of ``x`` along ``axis``: ``"mean"``, or a quantile in [0, 1] (linear
    interpolation, numpy's default)."""
    if stat == "mean":
        return np.mean(x, axis=axis)
    return np.quantile(x, float(stat), axis=axis)


def bootstrap_intervals(
    per_query: np.ndarray,
    stats: list[str | float],
    *,
    seed: int = 0,
    n_boot: int = 1000,
    level: float = 0.95,
) -> list[tuple[float, float]]:
    """Percentile bootstrap intervals of ``stats[j]`` of ``per_query[j]`` ((m, nq) values of m
    metrics over the same queries), all from the SAME resamples of the queries (with
    replacement, ``numpy.random.default_rng(seed)``), so one point's intervals are drawn once."""
    x = np.atleast_2d(np.asarray(per_query, dtype=np.float64))
    m, n = x.shape
    if n == 0:
        return [(float("nan"), float("nan"))] * m
    rng = np.random.default_rng(seed)
    boots = np.empty((m, n_boot))
    chunk = max(1, min(100, (1 << 22) // max(1, n)))  # bounded memory: ~4M indices at a time
    for s in range(0, n_boot, chunk):
        c = min(chunk, n_boot - s)
        idx = rng.integers(0, n, size=(c, n))
        for j in range(m):
            boots[j, s : s + c] = statistic(x[j][idx], stats[j], axis=1)
    qs = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2], axis=1)  # (2, m)
    return [(float(qs[0, j]), float(qs[1, j])) for j in range(m)]


def bootstrap_ci(
    per_query: np.ndarray, *, seed: int = 0, n_boot: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``per_query`` (resampling
    queries with replacement, ``numpy.random.default_rng(seed)``)."""
    return bootstrap_intervals(
        np.ravel(per_query)[None, :], ["mean"], seed=seed, n_boot=n_boot, level=level
    )[0]


def _labels_of(ids: np.ndarray, db_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids)
    valid = ids >= 0
    return np.asarray(db_labels)[np.where(valid, ids, 0)], valid


def knn_predict(I: np.ndarray, db_labels: np.ndarray) -> list:  # noqa: E741 (API name)
    """Majority label over each row's valid ids (None for a row with none).

    Ties between labels go to the label whose nearest occurrence comes first in the row (rows
    are nearest first).
    """
    labels, valid = _labels_of(I, db_labels)
    if labels.ndim != 2:
        raise ValueError(f"I must be 2-d (queries, k), got shape {np.shape(I)}")
    n, k = labels.shape
    out: list = [None] * n
    if k == 0:
        return out
    # Per position j, how many valid positions of its row share its label (0 for an invalid j):
    # the winning label's count is the row's maximum, and the first position reaching it is the
    # first occurrence of the winning label that comes first. Rows in chunks of <= 2^22 pairs.
    step = max(1, (1 << 22) // max(1, k * k))
    for s in range(0, n, step):
        lab, ok = labels[s : s + step], valid[s : s + step]
        same = (lab[:, :, None] == lab[:, None, :]) & ok[:, None, :]
        counts = np.where(ok, same.sum(axis=2), 0)
        first = np.argmax(counts == counts.max(axis=1, keepdims=True), axis=1)
        rows = np.flatnonzero(ok.any(axis=1))
        for r, label in zip(rows, lab[rows, first[rows]], strict=True):
            out[s + r] = label
    return out


def knn_correct(
    I: np.ndarray,  # noqa: E741 (API name)
    db_labels: np.ndarray,
    query_labels: np.ndarray,
) -> np.ndarray:
    """(nq,) 1.0 where the `knn_predict` label equals the query's label (no valid id: 0.0)."""
    query_labels = np.asarray(query_labels)
    if len(query_labels) != len(I):
        raise ValueError(f"{len(query_labels)} query labels for {len(I)} result rows")
    predicted = knn_predict(I, db_labels)
    return np.array(
        [p is not None and p == t for p, t in zip(predicted, query_labels, strict=True)], float
    )


def knn_accuracy(
    I: np.ndarray,  # noqa: E741 (API name)
    db_labels: np.ndarray,
    query_labels: np.ndarray,
) -> float:
    """kNN classification accuracy of `knn_predict`; a row with no valid id counts as wrong."""
    query_labels = np.asarray(query_labels)
    if len(query_labels) != len(I):
        raise ValueError(f"{len(query_labels)} query labels for {len(I)} result rows")
    predicted = knn_predict(I, db_labels)
    correct = sum(p is not None and p == t for p, t in zip(predicted, query_labels, strict=True))
    return correct / len(query_labels) if len(query_labels) else 0.0


def _same_label(I: np.ndarray, db_labels, query_labels, k: int) -> np.ndarray:
    """(nq, k) bool: neighbour j of query i is valid and carries the query's label."""
    labels, valid = _labels_of(np.asarray(I)[:, :k], db_labels)
    return (labels == np.asarray(query_labels)[:, None]) & valid


def hit_per_query(
    I: np.ndarray,  # noqa: E741 (API name)
    db_labels: np.ndarray,
    query_labels: np.ndarray,
    k: int,
) -> np.ndarray:
    """(nq,) 1.0 where a neighbour of the query's label is among the first k."""
    return _same_label(I, db_labels, query_labels, k).any(axis=1).astype(np.float64)


def hit_at_k(
    I: np.ndarray,  # noqa: E741 (API name)
    db_labels: np.ndarray,
    query_labels: np.ndarray,
    k: int,
) -> float:
    """Share of queries with at least one neighbour of the query's label among the first k."""
    return float(hit_per_query(I, db_labels, query_labels, k).mean())


def label_precision_per_query(
    I: np.ndarray,  # noqa: E741 (API name)
    db_labels: np.ndarray,
    query_labels: np.ndarray,
    k: int,
) -> np.ndarray:
    """(nq,) share of the first k neighbours carrying the query's label (padding is a miss)."""
    return _same_label(I, db_labels, query_labels, k).sum(axis=1) / k


def label_precision_at_k(
    I: np.ndarray,  # noqa: E741 (API name)
    db_labels: np.ndarray,
    query_labels: np.ndarray,
    k: int,
) -> float:
    """Mean of :func:`label_precision_per_query`."""
    return float(label_precision_per_query(I, db_labels, query_labels, k).mean())


def latency_stats(
    latencies_s: Sequence[float] | np.ndarray | None, *, n: int | None = None, total_s: float = 0.0
) -> dict[str, float | None]:
    """Latency columns in milliseconds and queries per second.

    Per-query latencies (single mode): mean, p50, p95, p99 and ``qps = n / sum``. Without them
    (batch mode: one call for all ``n`` queries taking ``total_s``) only the mean and QPS are
    known; the percentile columns are None, never invented.
    """
    if latencies_s is None:
        if not n or total_s <= 0:
            raise ValueError("latency_stats needs latencies, or n and total_s > 0")
        return {
            "latency_mean_ms": total_s / n * 1e3,
            "latency_p50_ms": None,
            "latency_p95_ms": None,
            "latency_p99_ms": None,
            "qps": n / total_s,
        }
    lat = np.asarray(latencies_s, dtype=np.float64)
    if lat.size == 0:
        raise ValueError("latency_stats needs at least one latency")
    p50, p95, p99 = np.percentile(lat, [50, 95, 99]) * 1e3
    total = float(lat.sum())
    return {
        "latency_mean_ms": float(lat.mean() * 1e3),
        "latency_p50_ms": float(p50),
        "latency_p95_ms": float(p95),
        "latency_p99_ms": float(p99),
        "qps": float(lat.size / total) if total > 0 else float("inf"),
    }
