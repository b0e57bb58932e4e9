"""Pure metric functions: numpy arrays in, numbers out (recall, label accuracy, latency).

Distances are the harness's own (:mod:`lookup.distances`): the harness scores runs with
:func:`lookup.distances.recompute_distances`, never with a backend's own numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


def recall_tie_aware(true_D: np.ndarray, run_D: np.ndarray, k: int, eps: float = 1e-3) -> float:
    """Mean share of the first k returned points within the true k-th distance + eps.

    As in ann-benchmarks: a returned point is a hit when its (harness-recomputed) distance is
    ``<= true_D[:, k-1] + eps``, so any of several equidistant points counts. Padding (inf) never
    hits. Rows of ``run_D`` must not repeat ids (the Index contract guarantees it).
    """
    true_D = np.asarray(true_D, dtype=np.float64)
    run_D = np.asarray(run_D, dtype=np.float64)
    if k <= 0 or k > true_D.shape[1] or k > run_D.shape[1]:
        raise ValueError(f"k={k} must be in 1..{min(true_D.shape[1], run_D.shape[1])}")
    threshold = true_D[:, k - 1 : k] + eps
    hits = (run_D[:, :k] <= threshold).sum(axis=1)
    return float(np.mean(hits / k))


def recall_ids(true_I: np.ndarray, run_I: np.ndarray, k: int) -> float:
    """Mean share of the true top-k ids found among the first k returned ids (-1 never counts)."""
    true_I = np.asarray(true_I)[:, :k]
    run_I = np.asarray(run_I)[:, :k]
    if k <= 0 or true_I.shape[1] < k:
        raise ValueError(f"k={k} must be in 1..{np.shape(true_I)[1]}")
    hits = (run_I[:, :, None] == true_I[:, None, :]) & (run_I[:, :, None] >= 0)
    return float(np.mean(hits.any(axis=2).sum(axis=1) / k))


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
    out = []
    for row, ok in zip(labels, valid, strict=True):
        row = row[ok]
        if len(row) == 0:
            out.append(None)
            continue
        uniq, first, counts = np.unique(row, return_index=True, return_counts=True)
        best = counts.max()
        out.append(uniq[np.argmin(np.where(counts == best, first, len(row)))])
    return out


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


def hit_at_k(
    I: np.ndarray,  # noqa: E741 (API name)
    db_labels: np.ndarray,
    query_labels: np.ndarray,
    k: int,
) -> float:
    """Share of queries with at least one neighbour of the query's label among the first k."""
    return float(_same_label(I, db_labels, query_labels, k).any(axis=1).mean())


def label_precision_at_k(
    I: np.ndarray,  # noqa: E741 (API name)
    db_labels: np.ndarray,
    query_labels: np.ndarray,
    k: int,
) -> float:
    """Mean share of the first k neighbours carrying the query's label (padding is a miss)."""
    return float((_same_label(I, db_labels, query_labels, k).sum(axis=1) / k).mean())


def latency_stats(latencies_s: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean / p50 / p95 / p99 latency in milliseconds and queries per second.

    ``qps = n / sum(latencies)``, so for batch runs (where each query gets total/nq) it is
    ``nq / total``.
    """
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
