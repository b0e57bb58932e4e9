"""Pure metric functions on arrays: exact ground truth, distance recomputation, recall, label
accuracy and latency statistics.

Harness distance conventions (smaller is nearer), used everywhere in the project:

- ``cosine``: ``1 - cos(q, x)``; a zero vector has cosine 0 with everything (distance 1), no NaN;
- ``euclidean``: true L2 distance (not squared);
- ``ip``: ``-<q, x>``.

The harness scores runs with :func:`recompute_distances`, never with a backend's own numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from lookup.protocols import METRICS

log = logging.getLogger(__name__)

# Upper bound on the (queries x database) score block held in memory at once, in float32 entries.
_MAX_BLOCK_ENTRIES = 1 << 26  # 256 MiB
# Candidates kept from the fast float32 pass before exact float64 re-ranking: k + _RERANK_EXTRA.
_RERANK_EXTRA = 16


def check_metric(metric: str) -> str:
    """Return ``metric`` if it is one of :data:`lookup.protocols.METRICS`, else raise ValueError."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    return metric


def check_k(k: int, n_db: int) -> int:
    """Validate a neighbour count against the database size (1 <= k <= n_db)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}; valid: 1 <= k <= {n_db}")
    if k <= 0:
        raise ValueError(f"k={k} must be positive; valid: 1 <= k <= {n_db}")
    if k > n_db:
        raise ValueError(
            f"k={k} is larger than the database ({n_db} vectors); valid: 1 <= k <= {n_db}"
        )
    return int(k)


def as_matrix(x: np.ndarray, name: str = "x", dim: int | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (n, d) array, copying only if needed."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-d (n, d) array, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} has dimension {x.shape[1]}, expected {dim}")
    return x


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Unit-normalise rows (float32 copy); zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0).astype(np.float32))


def _pair_distances(xb: np.ndarray, xq: np.ndarray, idx: np.ndarray, metric: str) -> np.ndarray:
    """float64 harness distances between xq[i] and xb[idx[i, j]] for valid (>= 0) ids; inf else."""
    valid = idx >= 0
    vecs = np.asarray(xb)[np.where(valid, idx, 0)].astype(np.float64)  # (nq, k, d)
    q = np.asarray(xq, dtype=np.float64)[:, None, :]  # (nq, 1, d)
    if metric == "euclidean":
        d = np.sqrt(np.square(vecs - q).sum(axis=2))
    elif metric == "ip":
        d = -(vecs * q).sum(axis=2)
    else:
        qn = np.linalg.norm(q, axis=2)
        vn = np.linalg.norm(vecs, axis=2)
        denom = qn * vn
        cos = np.where(denom > 0, (vecs * q).sum(axis=2) / np.where(denom > 0, denom, 1.0), 0.0)
        d = 1.0 - np.clip(cos, -1.0, 1.0)  # rounding must not yield a negative distance
    return np.where(valid, d, np.inf)


def recompute_distances(
    xb: np.ndarray,
    xq: np.ndarray,
    I: np.ndarray,  # noqa: E741 (API name)
    metric: str,
) -> np.ndarray:
    """Harness distances (float32, shape of ``I``) between each query and its returned ids.

    ``-1`` ids (padding) get ``+inf``. Computed in float64 from the vectors, so backends are
    scored in one metric regardless of what their library reports.
    """
    check_metric(metric)
    ids = np.asarray(I)
    if ids.ndim != 2 or ids.shape[0] != len(xq):
        raise ValueError(f"I must have shape (nq={len(xq)}, k), got {ids.shape}")
    out = np.empty(ids.shape, dtype=np.float32)
    step = max(1, (1 << 22) // max(1, ids.shape[1] * np.shape(xb)[1]))  # bound the gathered block
    for s in range(0, ids.shape[0], step):
        out[s : s + step] = _pair_distances(xb, xq[s : s + step], ids[s : s + step], metric)
    return out


class ExactSearcher:
    """Exact k-NN over one database, with the per-database work (normalising, squared norms)
    done once so that many small searches (single-query timing) stay cheap.

    Each block of at most ``block_size`` queries (fewer if the score block would exceed 256 MiB)
    is scored against the whole database with one float32 matrix product, the best ``k + 16``
    candidates are kept with ``torch.topk``, and those are re-ranked with float64 distances so
    the order does not suffer from float32 cancellation. Ties are broken by the smaller id.
    """

    def __init__(self, xb: np.ndarray, metric: str) -> None:
        self.metric = check_metric(metric)
        self.xb = as_matrix(xb, "xb")
        # L2 is shift-invariant: centring keeps |x|^2 small next to the neighbour gaps, so a
        # large common offset cannot drown the float32 ranking (the re-rank is float64 anyway).
        self._center = (
            self.xb.mean(axis=0, dtype=np.float64).astype(np.float32)
            if metric == "euclidean"
            else None
        )
        if metric == "cosine":
            self._xb_s = normalize_rows(self.xb)
        elif metric == "euclidean":
            self._xb_s = np.ascontiguousarray(self.xb - self._center)
        else:
            self._xb_s = self.xb
        self._tb_t = torch.from_numpy(self._xb_s).T  # (d, n_db)
        # Score to maximise; for euclidean  q.x - |x|^2 / 2  (|q|^2 is constant per row).
        self._neg_half_sq = (
            torch.from_numpy(-0.5 * np.einsum("ij,ij->i", self._xb_s, self._xb_s))
            if metric == "euclidean"
            else None
        )

    def _widen_tied_rows(self, xq: np.ndarray, cand: np.ndarray, d: np.ndarray, k: int) -> None:
        """Rows whose k-th distance ties with the whole candidate window (e.g. a zero query
        under cosine) may hide tied points with smaller ids outside it: redo those rows over
        the whole database in float64, in place."""
        kth = np.partition(d, k - 1, axis=1)[:, k - 1]
        worst = d.max(axis=1)
        tied = np.flatnonzero(worst - kth <= 1e-6 * np.maximum(1.0, np.abs(kth)))
        n_cand = cand.shape[1]
        for r in tied:
            every = np.arange(self.xb.shape[0])[None, :]
            full = _pair_distances(self.xb, xq[r : r + 1], every, self.metric)[0]
            best = np.lexsort((every[0], full))[:n_cand]
            cand[r], d[r] = best, full[best]

    def search(
        self, xq: np.ndarray, k: int, *, block_size: int = 4096, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(D, I)``: float32 harness distances and int64 ids, (nq, k), ascending."""
        xb, metric = self.xb, self.metric
        xq = as_matrix(xq, "xq", xb.shape[1])
        n_db = xb.shape[0]
        k = check_k(k, n_db)
        if block_size <= 0:
            raise ValueError(f"block_size={block_size} must be positive")
        if metric == "cosine":
            xq_s = normalize_rows(xq)
        elif metric == "euclidean":
            xq_s = np.ascontiguousarray(xq - self._center)
        else:
            xq_s = xq
        n_cand = min(n_db, k + _RERANK_EXTRA)
        rows = max(1, min(block_size, _MAX_BLOCK_ENTRIES // n_db))
        out_d = np.empty((xq.shape[0], k), dtype=np.float32)
        out_i = np.empty((xq.shape[0], k), dtype=np.int64)
        starts = range(0, xq.shape[0], rows)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="exact_knn", unit="block")
        with torch.inference_mode():
            # One score buffer reused by every block: a fresh one per block pays page faults.
            buf = torch.empty((min(rows, xq.shape[0]), n_db), dtype=torch.float32)
            for s in starts:
                tq = torch.from_numpy(xq_s[s : s + rows])
                scores = buf[: tq.shape[0]]  # (b, n_db), a contiguous row slice
                if self._neg_half_sq is None:
                    torch.mm(tq, self._tb_t, out=scores)
                else:
                    torch.addmm(self._neg_half_sq, tq, self._tb_t, out=scores)
                cand = torch.topk(scores, n_cand, dim=1, largest=True, sorted=False).indices
                cand = cand.numpy()
                d = _pair_distances(xb, xq[s : s + rows], cand, metric)
                if n_cand < n_db:
                    self._widen_tied_rows(xq[s : s + rows], cand, d, k)
                order = np.lexsort((cand, d), axis=1)[:, :k]  # by distance, then by id
                out_i[s : s + rows] = np.take_along_axis(cand, order, axis=1)
                out_d[s : s + rows] = np.take_along_axis(d, order, axis=1)
        return out_d, out_i


def exact_knn(
    xb: np.ndarray,
    xq: np.ndarray,
    k: int,
    metric: str,
    *,
    block_size: int = 4096,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (ground truth) by blocked float32 matrix products.

    See :class:`ExactSearcher` for the method. Returns ``(D, I)``: float32 harness distances
    and int64 ids, shape (nq, k), sorted ascending, ties broken by the smaller id.
    """
    return ExactSearcher(xb, metric).search(xq, k, block_size=block_size, progress=progress)


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
