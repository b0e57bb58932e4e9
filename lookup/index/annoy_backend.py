"""Annoy backend (random projection forest).

Quirks hidden here: annoy has no batch query (batch mode loops in Python on one thread), may
return fewer than k items (padded with -1 / inf), calls cosine "angular" and reports
``sqrt(2 - 2 cos)`` of the normalised vectors, calls inner product "dot" and reports
``<q, x>`` (larger is nearer). ``set_seed`` must run before any item is added. ``save`` makes
annoy memory-map the written file from then on. Annoy normalises internally for "angular", so
rows are handed over as they are.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from annoy import AnnoyIndex as _Annoy

from lookup.errors import BadInput
from lookup.index.base import BaseIndex, check_int
from lookup.protocols import Knob

_ANNOY_METRIC = {"cosine": "angular", "euclidean": "euclidean", "ip": "dot"}


class AnnoyIndex(BaseIndex):
    """Annoy forest. Build: ``trees``, ``seed``, ``n_jobs``; query: ``search_k``."""

    NAME = "annoy"
    KNOBS = (Knob("search_k", 1, special=(-1,), doc="nodes inspected; -1 = trees * k"),)
    NORMALISE = False

    def __init__(
        self, metric: str = "cosine", trees: int = 50, seed: int = 0, n_jobs: int = 1
    ) -> None:
        super().__init__(metric)
        self.trees = check_int(self.NAME, "trees", trees, 1)
        self.seed = check_int(self.NAME, "seed", seed, 0)
        ok = isinstance(n_jobs, int) and not isinstance(n_jobs, bool)
        if not ok or n_jobs == 0 or n_jobs < -1:
            raise BadInput(
                f"index.n_jobs={n_jobs!r} is invalid for annoy; valid: -1 (all cores) or >= 1"
            )
        self.n_jobs = n_jobs
        self._knobs = {"search_k": -1}
        self._index: _Annoy | None = None

    def _build(self, xb: np.ndarray) -> None:
        index = _Annoy(xb.shape[1], _ANNOY_METRIC[self.metric])
        index.set_seed(self.seed)  # must precede add_item
        for i, row in enumerate(xb.tolist()):
            index.add_item(i, row)
        index.build(self.trees, n_jobs=self.n_jobs)
        self._index = index

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "trees": self.trees,
            "seed": self.seed,
            "n_jobs": self.n_jobs,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        build = (os.cpu_count() or 1) if self.n_jobs == -1 else self.n_jobs
        return {"build": min(build, self.trees), "search": 1}  # one thread per tree at most

    def _single_inputs(self, xq: np.ndarray) -> list:
        return xq.tolist()  # annoy takes Python lists: converted once, outside the timer

    def _batch_input(self, xq: np.ndarray) -> Any:
        return xq.tolist()

    def _call(self, k: int, batch: bool):
        nns, search_k = self._index.get_nns_by_vector, self._knobs["search_k"]
        if batch:
            return lambda qs: [nns(q, k, search_k, True) for q in qs]
        return lambda q: nns(q, k, search_k, True)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        pairs = raws[0] if batch else raws
        ids = np.full((len(pairs), k), -1, dtype=np.int64)
        dist = np.full((len(pairs), k), np.inf, dtype=np.float32)
        for row, (found, d) in enumerate(pairs):
            ids[row, : len(found)] = found
            dist[row, : len(found)] = d
        return dist, ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            return np.square(dist) / 2  # angular = sqrt(2 - 2 cos)
        if self.metric == "ip":
            return -dist
        return dist

    def _save(self, path: str) -> None:
        self._index.save(path)
