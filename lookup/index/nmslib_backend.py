"""nmslib backend (Non-Metric Space Library, its HNSW method; ann-benchmarks' long-time leader).

Quirks hidden here: spaces are named ``l2`` (reports squared L2) and ``negdotprod``
(reports ``-<q, x>``); ``knnQuery`` takes a 1-d vector and returns ``(ids, distances)`` as
int32/float32 arrays that are *shorter* than k when the search found fewer (e.g. ``efSearch``
below k: nmslib does not raise ef to k), and ``knnQueryBatch`` returns a list of such ragged
pairs; ``num_threads=0`` means all cores, so the count is always passed. Build parameters go
in as a dict (``indexThreadQty`` = build threads). ``saveIndex(save_data=True)`` writes two
files, so an index is saved as a folder. Cosine is ``negdotprod`` on rows we normalise
ourselves. The PyPI package ``nmslib-metabrainz`` is used: it imports as ``nmslib``, ships
SIMD builds for Python 3.11 and keeps ``nmslib``'s API (PyPI's ``nmslib`` 2.1.2 wheel was built
without SSE/AVX and prints a warning on import).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lookup.index.base import BaseIndex, check_int, require
from lookup.protocols import Knob

_SPACE = {"cosine": "negdotprod", "ip": "negdotprod", "euclidean": "l2"}


class NmslibIndex(BaseIndex):
    """HNSW via nmslib. Build: ``M``, ``ef_construction``, ``post``, ``threads``; query:
    ``ef`` (efSearch)."""

    NAME = "nmslib"
    KNOBS = (Knob("ef", 1, doc="efSearch: beam width; below k fewer than k are returned"),)

    def __init__(
        self,
        metric: str = "cosine",
        M: int = 16,
        ef_construction: int = 200,
        post: int = 0,
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        self.M = check_int(self.NAME, "M", M, 2, "16 is usual")
        self.ef_construction = check_int(self.NAME, "ef_construction", ef_construction, 1)
        self.post = check_int(self.NAME, "post", post, 0, "0, 1 or 2: graph post-processing")
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"ef": 10}
        self._index = None

    def _build(self, xb: np.ndarray) -> None:
        nmslib = require("nmslib", "nmslib-metabrainz", self.NAME)
        index = nmslib.init(method="hnsw", space=_SPACE[self.metric])
        index.addDataPointBatch(xb, np.arange(len(xb), dtype=np.int32))
        params = {
            "M": self.M,
            "efConstruction": self.ef_construction,
            "post": self.post,
            "indexThreadQty": self.threads,
        }
        index.createIndex(params, print_progress=False)
        self._index = index

    def _apply_knobs(self) -> None:
        self._index.setQueryTimeParams({"efSearch": self._knobs["ef"]})

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "post": self.post,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": self.threads, "search": self.threads if mode == "batch" else 1}

    @property
    def library_index(self) -> Any:
        """The underlying nmslib index (for benchmarks against the bare library call)."""
        self.ready()
        return self._index

    def _single_inputs(self, xq: np.ndarray) -> list:
        return list(xq)  # 1-d views: knnQuery takes one vector

    def _call(self, k: int, batch: bool):
        if batch:
            knn_batch, threads = self._index.knnQueryBatch, self.threads
            return lambda q: knn_batch(q, k, threads)
        return lambda q, knn=self._index.knnQuery: knn(q, k)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        pairs = raws[0] if batch else raws
        ids = np.full((len(pairs), k), -1, dtype=np.int64)
        dist = np.full((len(pairs), k), np.inf, dtype=np.float32)
        for row, (found, d) in enumerate(pairs):
            ids[row, : len(found)] = found
            dist[row, : len(found)] = d
        return dist, ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "cosine":
            return dist + np.float32(1.0)  # -cos on normalised rows -> 1 - cos
        return dist  # -<q, x>

    def _save(self, path: str) -> None:
        os.makedirs(path)
        self._index.saveIndex(os.path.join(path, "index.bin"), save_data=True)
