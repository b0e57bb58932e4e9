"""Exact search: the ground-truth engine and the ``exact`` backend.

:class:`ExactSearcher` scores blocks of queries against the whole database with one float32
matrix product, keeps the best ``k + 16`` candidates and re-ranks them with the harness's own
float64 distances (:func:`lookup.distances.pair_distances`), ties broken by the smaller id.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from lookup.distances import as_matrix, check_k, check_metric, normalize_rows, pair_distances
from lookup.timing import QueryPlan, check_mode, check_search_params

log = logging.getLogger(__name__)

# Upper bound on the (queries x database) score block held in memory at once, in float32 entries.
_MAX_BLOCK_ENTRIES = 1 << 26  # 256 MiB
# Candidates kept from the fast float32 pass before exact float64 re-ranking: k + _RERANK_EXTRA.
_RERANK_EXTRA = 16


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
            full = pair_distances(self.xb, xq[r : r + 1], every, self.metric)[0]
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
                d = pair_distances(xb, xq[s : s + rows], cand, metric)
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


class ExactIndex:
    """Brute-force k-NN with :class:`ExactSearcher`; distances are harness ones."""

    SEARCH_PARAMS: tuple[str, ...] = ()

    def __init__(self, metric: str = "cosine", block_size: int = 4096) -> None:
        self.metric = check_metric(metric)
        if block_size <= 0:
            raise ValueError(f"block_size={block_size} must be positive; valid: an integer >= 1")
        self.block_size = int(block_size)
        self._searcher: ExactSearcher | None = None

    def build(self, xb: np.ndarray) -> None:
        """Keep the database (float32) and precompute norms."""
        self._searcher = ExactSearcher(as_matrix(xb, "xb"), self.metric)

    def set_search_params(self, **params: Any) -> None:
        """Exact search has no query knobs; any keyword raises ValueError."""
        check_search_params("exact", self.SEARCH_PARAMS, params)

    def search_params(self) -> dict:
        """Current query knobs (none)."""
        return {}

    def build_params(self) -> dict:
        """Flat, JSON-able build parameters for result rows."""
        return {"metric": self.metric, "block_size": self.block_size}

    def _ready(self) -> ExactSearcher:
        if self._searcher is None:
            raise RuntimeError("ExactIndex.search called before build")
        return self._searcher

    def query_plan(self, xq: np.ndarray, k: int, mode: str = "batch") -> QueryPlan:
        """Inputs, raw call and finishing step for timing (see :class:`lookup.timing.QueryPlan`)."""
        searcher = self._ready()
        xq = as_matrix(xq, "xq", searcher.xb.shape[1])
        k = check_k(k, searcher.xb.shape[0])
        block = self.block_size
        search = searcher.search

        def call(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return search(q, k, block_size=block)

        if mode == "batch":
            return QueryPlan([xq], call, lambda raws: raws[0])
        check_mode(mode)

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            return np.vstack([r[0] for r in raws]), np.vstack([r[1] for r in raws])

        return QueryPlan([xq[i : i + 1] for i in range(len(xq))], call, finish)

    def search(self, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``(D, I)``, each (nq, k); D float32 harness distances, I int64."""
        plan = self.query_plan(xq, k, "batch")
        return plan.finish([plan.call(plan.inputs[0])])

    def save(self, path: str) -> int:
        """Write the database as a .npy file at ``path``; return bytes written."""
        xb = self._ready().xb
        with open(path, "wb") as f:
            np.save(f, xb)
            return int(f.tell())
