"""usearch backend (Unum's single-file HNSW).

Quirks hidden here: usearch keys are uint64 and a short result row is padded by ``counts``
rather than by -1; it reports ``1 - cos`` for ``cos``, squared L2 for ``l2sq`` and
``1 - <q, x>`` for ``ip``; ``threads=0`` means all cores, so the thread count is always passed
explicitly; the query knob is the ``expansion_search`` attribute of the index. The graph's level
generator has a fixed seed of its own (no seed parameter), so builds with ``threads=1`` repeat.
In place (runbooks): ``remove(keys)`` and ``add(keys, vectors)``; a removed key can be added again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lookup.errors import BadInput
from lookup.index.base import BaseIndex, check_int
from lookup.index.mutable import Mutable
from lookup.protocols import Knob

_METRIC = {"cosine": "cos", "ip": "ip", "euclidean": "l2sq"}


class UsearchIndex(Mutable, BaseIndex):
    """HNSW via usearch. Build: ``connectivity``, ``expansion_add``, ``dtype``, ``threads``;
    query: ``expansion_search``."""

    NAME = "usearch"
    KNOBS = (Knob("expansion_search", 1, doc="search beam width (HNSW ef)"),)
    NORMALISE = False  # usearch's cos normalises itself

    def __init__(
        self,
        metric: str = "cosine",
        connectivity: int = 16,
        expansion_add: int = 128,
        dtype: str = "f32",
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        self.connectivity = check_int(self.NAME, "connectivity", connectivity, 2, "16 is usual")
        self.expansion_add = check_int(self.NAME, "expansion_add", expansion_add, 1)
        if dtype not in ("f32", "f16", "bf16", "i8"):
            raise BadInput(f"index.dtype={dtype!r} is invalid; valid: f32, f16, bf16, i8")
        self.dtype = dtype
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"expansion_search": 64}
        self._index = None

    def _build(self, xb: np.ndarray) -> None:
        from usearch.index import Index

        index = Index(
            ndim=xb.shape[1],
            metric=_METRIC[self.metric],
            dtype=self.dtype,
            connectivity=self.connectivity,
            expansion_add=self.expansion_add,
            expansion_search=self._knobs["expansion_search"],
        )
        index.add(self.ids_of(len(xb)).astype(np.uint64), xb, threads=self.threads)
        self._index = index

    def _add(self, xb: np.ndarray, ids: np.ndarray) -> None:
        self._index.add(ids.astype(np.uint64), xb, threads=self.threads)

    def _remove(self, ids: np.ndarray) -> None:
        removed = self._index.remove(ids.astype(np.uint64))
        if removed != len(ids):
            raise RuntimeError(f"usearch removed {removed} of {len(ids)} keys")

    def _apply_knobs(self) -> None:
        self._index.expansion_search = self._knobs["expansion_search"]

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "connectivity": self.connectivity,
            "expansion_add": self.expansion_add,
            "dtype": self.dtype,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": self.threads, "search": self.threads if mode == "batch" else 1}

    def _call(self, k: int, batch: bool):
        search, threads = self._index.search, self.threads
        if batch:
            return lambda q: search(q, k, threads=threads)
        return lambda q: search(q, k, threads=1)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        rows_k, rows_d = [], []
        for m in raws:  # BatchMatches: (m, k) + counts; Matches (one query): only the found
            keys, dist = np.atleast_2d(m.keys), np.atleast_2d(m.distances)
            counts = getattr(m, "counts", None)
            counts = np.full(len(keys), keys.shape[1]) if counts is None else np.atleast_1d(counts)
            ids = np.full((len(keys), k), -1, dtype=np.int64)
            d = np.full((len(keys), k), np.inf, dtype=np.float32)
            for r, c in enumerate(counts.tolist()):
                ids[r, :c] = keys[r, :c]
                d[r, :c] = dist[r, :c]
            rows_k.append(ids)
            rows_d.append(d)
        return np.vstack(rows_d), np.vstack(rows_k)

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return dist - np.float32(1.0)  # usearch ip reports 1 - <q, x>
        return dist

    def _save(self, path: str) -> None:
        self._index.save(path)
