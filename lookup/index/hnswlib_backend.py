"""hnswlib backend (HNSW graph).

Quirks hidden here: hnswlib returns ``(labels, distances)`` as uint64/float32, reports squared
L2 for ``l2`` and ``1 - <q, x>`` for ``ip``, and raises ``RuntimeError`` when the graph yields
fewer than k results; ``ef`` below k is raised to k (hnswlib needs ef >= k to return k).
Cosine is served as inner product on rows we normalise ourselves (zero rows stay zero).
With ``threads > 1`` the graph depends on thread scheduling, so only ``threads=1`` builds are
reproducible from ``seed``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import hnswlib
import numpy as np

from lookup.distances import as_matrix, check_k, check_metric, normalize_rows
from lookup.timing import QueryPlan, check_mode, check_search_params

log = logging.getLogger(__name__)

_SPACE = {"cosine": "ip", "ip": "ip", "euclidean": "l2"}


class HnswlibIndex:
    """HNSW via hnswlib. Build: ``M``, ``ef_construction``, ``seed``, ``threads``; query: ``ef``."""

    SEARCH_PARAMS: tuple[str, ...] = ("ef",)

    def __init__(
        self,
        metric: str = "cosine",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        self.metric = check_metric(metric)
        if M < 2:
            raise ValueError(
                f"M={M} is too small for hnswlib; valid: an integer >= 2 (16 is usual)"
            )
        if ef_construction < 1:
            raise ValueError(f"ef_construction={ef_construction} must be >= 1 (e.g. 200)")
        if threads < 1:
            raise ValueError(f"threads={threads} must be >= 1")
        self.M = int(M)
        self.ef_construction = int(ef_construction)
        self.seed = int(seed)
        self.threads = int(threads)
        self._ef = 10
        self._ef_used: int | None = None  # ef of the last search (max(ef, k))
        self._index: hnswlib.Index | None = None
        self._n = 0
        self._dim = 0

    def build(self, xb: np.ndarray) -> None:
        """Insert all rows of ``xb`` (ids 0..n-1) into a fresh graph."""
        xb = as_matrix(xb, "xb")
        if self.metric == "cosine":
            xb = normalize_rows(xb)
        n, dim = xb.shape
        index = hnswlib.Index(space=_SPACE[self.metric], dim=dim)
        index.init_index(
            max_elements=max(n, 1),
            M=self.M,
            ef_construction=self.ef_construction,
            random_seed=self.seed,
        )
        index.set_num_threads(self.threads)
        index.add_items(xb, np.arange(n, dtype=np.int64), num_threads=self.threads)
        index.set_ef(self._ef)
        self._index, self._n, self._dim = index, n, dim

    def set_search_params(self, **params: Any) -> None:
        """Set ``ef`` (search beam width, >= 1; values below k are raised to k at query time)."""
        check_search_params("hnswlib", self.SEARCH_PARAMS, params)
        if "ef" in params:
            ef = params["ef"]
            if isinstance(ef, bool) or not isinstance(ef, (int, np.integer)) or ef < 1:
                raise ValueError(f"ef={ef!r} is invalid for hnswlib; valid: an integer >= 1")
            self._ef = int(ef)
            self._ef_used = None
            if self._index is not None:
                self._index.set_ef(self._ef)

    def search_params(self) -> dict:
        """Query knobs as last searched: ``ef`` raised to k if it was below (that is what ran,
        so rows of ef=10, 20, 40 at k=50 do not pose as three operating points)."""
        return {"ef": self._ef_used or self._ef}

    def build_params(self) -> dict:
        """Flat, JSON-able build parameters for result rows."""
        return {
            "metric": self.metric,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "seed": self.seed,
            "threads": self.threads,
        }

    @property
    def library_index(self) -> hnswlib.Index:
        """The underlying ``hnswlib.Index`` (for benchmarks against the bare library call)."""
        return self._ready()

    def _ready(self) -> hnswlib.Index:
        if self._index is None:
            raise RuntimeError("HnswlibIndex.search called before build")
        return self._index

    def _to_harness(self, dist: np.ndarray) -> np.ndarray:
        dist = np.asarray(dist, dtype=np.float32)
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return dist - np.float32(1.0)  # hnswlib ip reports 1 - <q, x>
        return dist  # cosine on normalised rows: 1 - cos

    def _partial_query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """One query that found fewer than k: largest k' that hnswlib accepts, padded to k."""
        knn = self._ready().knn_query
        labels = np.full((1, k), -1, dtype=np.int64)
        dists = np.full((1, k), np.inf, dtype=np.float32)
        lo, hi, best = 1, k - 1, None
        while lo <= hi:  # the number hnswlib can return is monotone in k
            mid = (lo + hi) // 2
            try:
                best = knn(q, k=mid, num_threads=1)
                lo = mid + 1
            except RuntimeError:
                hi = mid - 1
        if best is not None:
            got = best[0].shape[1]
            labels[0, :got] = best[0][0]
            dists[0, :got] = best[1][0]
        return labels, dists

    def query_plan(self, xq: np.ndarray, k: int, mode: str = "batch") -> QueryPlan:
        """Inputs, raw call and finishing step for timing (see :class:`lookup.timing.QueryPlan`)."""
        index = self._ready()
        xq = as_matrix(xq, "xq", self._dim)
        k = check_k(k, self._n)
        check_mode(mode)
        if self.metric == "cosine":
            xq = normalize_rows(xq)
        if self._ef < k:
            log.debug("hnswlib: ef=%d < k=%d, searching with ef=k", self._ef, k)
        self._ef_used = max(self._ef, k)
        index.set_ef(self._ef_used)
        knn = index.knn_query
        partial_query = self._partial_query

        if mode == "batch":

            def call_batch(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                try:
                    return knn(q, k)
                except RuntimeError:  # some row found fewer than k: redo row by row
                    rows = [partial_query(q[i : i + 1], k) for i in range(len(q))]
                    labels = np.vstack([r[0] for r in rows])  # int64, -1 padded
                    return labels, np.vstack([r[1] for r in rows])

            def finish_batch(raws: list) -> tuple[np.ndarray, np.ndarray]:
                labels, dists = raws[0]
                return self._to_harness(dists), np.asarray(labels, dtype=np.int64)

            return QueryPlan([xq], call_batch, finish_batch)

        def call(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            try:
                return knn(q, k)
            except RuntimeError:
                return partial_query(q, k)

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            if not raws:
                return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
            labels = np.vstack([np.asarray(r[0], dtype=np.int64) for r in raws])
            dists = np.vstack([r[1] for r in raws])
            return self._to_harness(dists), labels

        return QueryPlan(list(xq[:, None, :]), call, finish)

    def search(self, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(D, I)``, each (nq, k): harness distances (float32), ids (int64, -1 padded)."""
        plan = self.query_plan(xq, k, "batch")
        return plan.finish([plan.call(plan.inputs[0])])

    def save(self, path: str) -> int:
        """Serialize the graph with ``save_index``; return bytes written."""
        self._ready().save_index(path)
        return os.path.getsize(path)
