"""Annoy backend (random projection forest).

Quirks hidden here: annoy has no batch query (batch mode loops in Python), may return fewer
than k items (padded with -1 / inf), calls cosine "angular" and reports ``sqrt(2 - 2 cos)``,
calls inner product "dot" and reports ``<q, x>`` (larger is nearer). ``set_seed`` must run
before any item is added. ``save`` makes annoy memory-map the written file from then on.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
from annoy import AnnoyIndex as _Annoy

from lookup.distances import as_matrix, check_k, check_metric
from lookup.timing import QueryPlan, check_mode, check_search_params

log = logging.getLogger(__name__)

_ANNOY_METRIC = {"cosine": "angular", "euclidean": "euclidean", "ip": "dot"}


class AnnoyIndex:
    """Annoy forest. Build: ``trees``, ``seed``, ``n_jobs``; query: ``search_k``."""

    SEARCH_PARAMS: tuple[str, ...] = ("search_k",)

    def __init__(
        self, metric: str = "cosine", trees: int = 50, seed: int = 0, n_jobs: int = 1
    ) -> None:
        self.metric = check_metric(metric)
        if isinstance(trees, bool) or not isinstance(trees, (int, np.integer)) or trees <= 0:
            raise ValueError(f"trees={trees!r} is invalid for annoy; valid: an integer >= 1")
        if n_jobs == 0 or n_jobs < -1:
            raise ValueError(f"n_jobs={n_jobs} is invalid for annoy; valid: -1 (all cores) or >= 1")
        self.trees = int(trees)
        self.seed = int(seed)
        self.n_jobs = int(n_jobs)
        self._search_k = -1
        self._index: _Annoy | None = None
        self._n = 0
        self._dim = 0

    def build(self, xb: np.ndarray) -> None:
        """Add all rows of ``xb`` (ids 0..n-1) and build ``trees`` trees with ``n_jobs`` threads."""
        xb = as_matrix(xb, "xb")
        n, dim = xb.shape
        index = _Annoy(dim, _ANNOY_METRIC[self.metric])
        index.set_seed(self.seed)  # must precede add_item
        for i, row in enumerate(xb.tolist()):
            index.add_item(i, row)
        index.build(self.trees, n_jobs=self.n_jobs)
        self._index, self._n, self._dim = index, n, dim

    def set_search_params(self, **params: Any) -> None:
        """Set ``search_k`` (nodes inspected per query; -1 = annoy's default trees * k)."""
        check_search_params("annoy", self.SEARCH_PARAMS, params)
        if "search_k" in params:
            sk = params["search_k"]
            bad = isinstance(sk, bool) or not isinstance(sk, (int, np.integer))
            if bad or (sk < 1 and sk != -1):
                raise ValueError(
                    f"search_k={sk!r} is invalid for annoy; valid: -1 or an integer >= 1"
                )
            self._search_k = int(sk)

    def search_params(self) -> dict:
        """Current query knobs."""
        return {"search_k": self._search_k}

    def build_params(self) -> dict:
        """Flat, JSON-able build parameters for result rows."""
        return {
            "metric": self.metric,
            "trees": self.trees,
            "seed": self.seed,
            "n_jobs": self.n_jobs,
        }

    def _ready(self) -> _Annoy:
        if self._index is None:
            raise RuntimeError("AnnoyIndex.search called before build")
        return self._index

    def _finish(self, raws: list, k: int) -> tuple[np.ndarray, np.ndarray]:
        nq = len(raws)
        out_i = np.full((nq, k), -1, dtype=np.int64)
        out_d = np.full((nq, k), np.inf, dtype=np.float32)
        for row, (ids, dists) in enumerate(raws):
            m = len(ids)
            out_i[row, :m] = ids
            out_d[row, :m] = dists
        valid = out_i >= 0
        if self.metric == "cosine":
            out_d = np.where(valid, np.square(out_d) / 2, out_d)  # angular = sqrt(2 - 2 cos)
        elif self.metric == "ip":
            out_d = np.where(valid, -out_d, out_d)
        return out_d.astype(np.float32), out_i

    def query_plan(self, xq: np.ndarray, k: int, mode: str = "batch") -> QueryPlan:
        """Inputs, raw call and finishing step for timing (see :class:`lookup.timing.QueryPlan`).

        Queries become Python lists of floats once, outside the timer.
        """
        index = self._ready()
        rows = as_matrix(xq, "xq", self._dim).tolist()
        k = check_k(k, self._n)
        check_mode(mode)
        nns, search_k = index.get_nns_by_vector, self._search_k

        def call(q: list) -> tuple[list, list]:
            return nns(q, k, search_k, True)

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            return self._finish(raws, k)

        if mode == "batch":

            def call_batch(qs: list) -> list:
                return [nns(q, k, search_k, True) for q in qs]

            return QueryPlan([rows], call_batch, lambda raws: self._finish(raws[0], k))
        return QueryPlan(rows, call, finish)

    def search(self, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(D, I)``, each (nq, k): harness distances (float32), ids (int64, -1 padded)."""
        plan = self.query_plan(xq, k, "batch")
        return plan.finish([plan.call(plan.inputs[0])])

    def save(self, path: str) -> int:
        """Write the forest to ``path`` (annoy then memory-maps it); return bytes written."""
        self._ready().save(os.fspath(path))
        return os.path.getsize(path)
