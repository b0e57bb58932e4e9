"""Voyager backend (Spotify's HNSW, the successor of annoy; hnswlib's algorithm underneath).

Quirks hidden here: ``query`` returns ``(ids, distances)`` as uint64/float32, reports squared L2
for ``Euclidean`` and ``1 - <q, x>`` for ``InnerProduct``, refuses a ``query_ef`` below k and
raises ``RecallError`` when the graph yields fewer than k (the row is then re-asked for the
largest count it can return and padded); ``num_threads=-1`` means all cores, so the thread
count is always passed. Cosine is served as InnerProduct on rows we normalise ourselves (zero
rows stay zero; voyager's own Cosine space would normalise them to NaN). Insertion with
``threads=1`` is reproducible from ``seed``; a single query runs on one thread.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from lookup.index.base import BaseIndex, check_int, largest_found, padded, require
from lookup.protocols import Knob

log = logging.getLogger(__name__)


class VoyagerIndex(BaseIndex):
    """HNSW via voyager. Build: ``M``, ``ef_construction``, ``seed``, ``threads``; query: ``ef``."""

    NAME = "voyager"
    KNOBS = (Knob("ef", 1, doc="search beam width (query_ef); values below k are raised to k"),)

    def __init__(
        self,
        metric: str = "cosine",
        M: int = 12,
        ef_construction: int = 200,
        seed: int = 1,
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        self.M = check_int(self.NAME, "M", M, 2, "12 is voyager's default")
        self.ef_construction = check_int(self.NAME, "ef_construction", ef_construction, 1)
        self.seed = check_int(self.NAME, "seed", seed, 0)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"ef": 10}
        self._ef_used: int | None = None
        self._index = None

    def _build(self, xb: np.ndarray) -> None:
        voyager = require("voyager", "voyager", self.NAME)
        n, dim = xb.shape
        euclidean = self.metric == "euclidean"
        space = voyager.Space.Euclidean if euclidean else voyager.Space.InnerProduct
        index = voyager.Index(
            space,
            dim,
            M=self.M,
            ef_construction=self.ef_construction,
            random_seed=self.seed,
            max_elements=max(n, 1),
        )
        index.add_items(xb, list(range(n)), num_threads=self.threads)
        self._index = index

    def search_params(self) -> dict[str, Any]:
        """``ef`` as last searched (raised to k if it was below)."""
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
        return {"build": self.threads, "search": self.threads if mode == "batch" else 1}

    @property
    def library_index(self) -> Any:
        """The underlying ``voyager.Index`` (for benchmarks against the bare library call)."""
        self.ready()
        return self._index

    def _call(self, k: int, batch: bool):
        from voyager import RecallError

        ef = self._ef_used = max(self._knobs["ef"], k)
        query, threads = self._index.query, self.threads if batch else 1

        def one(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            got = largest_found(lambda kk: query(q, kk, 1, ef), k, (RecallError,))
            return padded(*(got if got is not None else (None, None)), k)

        def call(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            try:
                return query(q, k, threads, ef)
            except RecallError:  # some row found fewer than k: redo row by row
                rows = [one(q[i : i + 1]) for i in range(len(q))]
                return np.vstack([r[0] for r in rows]), np.vstack([r[1] for r in rows])

        return call

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        ids = np.vstack([np.asarray(r[0]).astype(np.int64).reshape(-1, k) for r in raws])
        return np.vstack([np.asarray(r[1], np.float32).reshape(-1, k) for r in raws]), ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return dist - np.float32(1.0)  # voyager reports 1 - <q, x>
        return dist  # 1 - cos on normalised rows

    def _save(self, path: str) -> None:
        self._index.save(path)
