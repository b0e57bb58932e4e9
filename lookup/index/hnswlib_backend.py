"""hnswlib backend (HNSW graph).

Quirks hidden here: hnswlib returns ``(labels, distances)`` as uint64/float32, reports squared
L2 for ``l2`` and ``1 - <q, x>`` for ``ip``, and raises ``RuntimeError`` when the graph yields
fewer than k results; ``ef`` below k is raised to k (hnswlib needs ef >= k to return k).
Cosine is served as inner product on rows we normalise ourselves (zero rows stay zero).
With ``threads > 1`` the graph depends on thread scheduling, so only ``threads=1`` builds are
reproducible from ``seed``. A query parallelises over queries only: single mode runs one thread.

In place (runbooks): ``mark_deleted`` removes; an insert reuses deleted slots
(``add_items(replace_deleted=True)``, enabled by ``allow_replace_deleted`` at init) and grows
the capacity when none is left. An id whose deleted slot still holds it is revived with
``unmark_deleted`` and re-linked (``add_items`` updates it): letting a replacement take
another slot for it would leave its old slot under the same label, and hnswlib would later
drop the live mapping when it reuses that old slot.
"""

from __future__ import annotations

import logging
from typing import Any

import hnswlib
import numpy as np

from lookup.index.base import BaseIndex, check_int
from lookup.index.mutable import Mutable
from lookup.protocols import Knob

log = logging.getLogger(__name__)

_SPACE = {"cosine": "ip", "ip": "ip", "euclidean": "l2"}


class HnswlibIndex(Mutable, BaseIndex):
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
        self._dead = 0  # deleted slots hnswlib can reuse

    def _build(self, xb: np.ndarray) -> None:
        n, dim = xb.shape
        index = hnswlib.Index(space=_SPACE[self.metric], dim=dim)
        index.init_index(
            max_elements=max(n, 1),
            M=self.M,
            ef_construction=self.ef_construction,
            random_seed=self.seed,
            allow_replace_deleted=True,
        )
        index.set_num_threads(self.threads)
        index.add_items(xb, self.ids_of(n), num_threads=self.threads)
        self._index = index
        self._dead = 0

    def _add(self, xb: np.ndarray, ids: np.ndarray) -> None:
        index, revived = self._index, []
        for i, label in enumerate(ids.tolist()):
            try:  # still in a deleted slot: take that slot back
                index.unmark_deleted(label)
                revived.append(i)
            except RuntimeError:  # never added, or its slot was given to another id
                pass
        self._dead -= len(revived)
        fresh = np.setdiff1d(np.arange(len(ids)), revived)
        reuse = min(self._dead, len(fresh))
        need = index.element_count + len(fresh) - reuse
        if need > index.max_elements:
            index.resize_index(max(need, index.max_elements + index.max_elements // 4))
        if revived:
            index.add_items(xb[revived], ids[revived], num_threads=self.threads)
        if len(fresh):
            index.add_items(xb[fresh], ids[fresh], num_threads=self.threads, replace_deleted=True)
        self._dead -= reuse

    def _remove(self, ids: np.ndarray) -> None:
        for label in ids.tolist():
            self._index.mark_deleted(label)
        self._dead += len(ids)

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
