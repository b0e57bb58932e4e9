"""Exact search backend: blocked float32 matrix products (the ground-truth engine)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from lookup.metrics import ExactSearcher, as_matrix, check_k, check_metric
from lookup.timing import QueryPlan, check_mode, check_search_params

log = logging.getLogger(__name__)


class ExactIndex:
    """Brute-force k-NN with :class:`lookup.metrics.ExactSearcher`; distances are harness ones."""

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
