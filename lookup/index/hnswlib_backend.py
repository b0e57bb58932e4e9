"""hnswlib backend (HNSW graph).

Quirks hidden here: hnswlib returns ``(labels, distances)`` as uint64/float32, reports squared
L2 for ``l2`` and ``1 - <q, x>`` for ``ip``, and raises ``RuntimeError`` when the graph yields
fewer than k results; ``ef`` below k is raised to k (hnswlib needs ef >= k to return k).
Cosine is served as inner product on rows we normalise ourselves (zero rows stay zero).
With ``threads > 1`` the graph depends on thread scheduling, so only ``threads=1`` builds are
reproducible from ``seed``. A query parallelises over queries only: single mode runs one thread.
"""

from __future__ import annotations

import logging
from typing import Any

import hnswlib
import numpy as np

from lookup.index.base import BaseIndex, check_int
from lookup.protocols import Knob

log = logging.getLogger(__name__)

_SPACE = {"cosine": "ip", "ip": "ip", "euclidean": "l2"}


class HnswlibIndex(BaseIndex):
    """HNSW via hnswlib. Build: ``M``, ``ef_construction``, ``seed``, ``threads``; query: ``ef``."""

    NAME = "hnswlib"
    KNOBS = (Knob("ef", 1, doc="search beam width; values below k are raised to k"),)

    def __init__(
        self,
        metric: str = "cosine",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        self.M = check_int(self.NAME, "M", M, 2, "16 is usual")
        self.ef_construction = check_int(self.NAME, "ef_construction", ef_construction, 1)
        self.seed = check_int(self.NAME, "seed", seed, 0)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"ef": 10}
        self._ef_used: int | None = None  # ef of the last search (max(ef, k))
        self._index: hnswlib.Index | None = None

    def _build(self, xb: np.ndarray) -> None:
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
        self._index = index

    def _apply_knobs(self) -> None:
        self._ef_used = None
        self._index.set_ef(self._knobs["ef"])

    def search_params(self) -> dict[str, Any]:
        """``ef`` as last searched: raised to k if it was below (that is what ran, so rows of
        ef=10, 20, 40 at k=50 do not pose as three operating points)."""
        return {"ef": self._ef_used or self._knobs["ef"]}

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "seed": self.seed,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        search = int(self._index.num_threads) if mode == "batch" else 1
        return {"build": self.threads, "search": search}

    @property
    def library_index(self) -> hnswlib.Index:
        """The underlying ``hnswlib.Index`` (for benchmarks against the bare library call)."""
        self.ready()
        return self._index

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return dist - np.float32(1.0)  # hnswlib ip reports 1 - <q, x>
        return dist  # cosine on normalised rows: 1 - cos

    def _partial_query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """One query that found fewer than k: largest k' that hnswlib accepts, padded to k."""
        knn = self._index.knn_query
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

    def _call(self, k: int, batch: bool):
        if self._knobs["ef"] < k:
            log.debug("hnswlib: ef=%d < k=%d, searching with ef=k", self._knobs["ef"], k)
        self._ef_used = max(self._knobs["ef"], k)
        self._index.set_ef(self._ef_used)
        knn, partial = self._index.knn_query, self._partial_query

        if batch:

            def call_batch(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                try:
                    return knn(q, k)
                except RuntimeError:  # some row found fewer than k: redo row by row
                    rows = [partial(q[i : i + 1], k) for i in range(len(q))]
                    return np.vstack([r[0] for r in rows]), np.vstack([r[1] for r in rows])

            return call_batch

        def call(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            try:
                return knn(q, k)
            except RuntimeError:
                return partial(q, k)

        return call

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        labels = np.vstack([np.asarray(r[0], dtype=np.int64) for r in raws])  # uint64 -> int64
        return np.vstack([r[1] for r in raws]), labels

    def _save(self, path: str) -> None:
        self._index.save_index(path)
