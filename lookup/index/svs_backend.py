"""SVS backend (Intel's Scalable Vector Search, its Vamana graph; PyPI ``scalable-vs``, module
``svs``).

Quirks hidden here: ``Vamana.build`` takes a ``VamanaBuildParameters`` and a distance type;
``L2`` reports squared L2, ``MIP`` reports ``<q, x>`` (larger is nearer); ids are uint64;
a row that found fewer than k is filled with id 0 at distance 0.0 (that trailing run becomes
-1 padding here; a real id 0 at exactly 0.0 in last place would be taken for padding);
``search_window_size`` (the query knob) below k is raised to k by SVS itself, so this backend
reports ``max(window, k)``; ``alpha=null`` keeps SVS's default (1.2 for L2, 0.95 for MIP).
Cosine is ``MIP`` on rows we normalise ourselves. The index keeps a copy of the data.
Threads are SVS's own pool (``num_threads``, read back from the index): the build and a batch
of queries run on ``threads``; a single query runs on one. Vamana's construction has no seed
parameter; ``save`` writes config, graph and data folders.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lookup.errors import BadInput
from lookup.index.base import BaseIndex, check_int, require
from lookup.protocols import Knob


class SvsIndex(BaseIndex):
    """Vamana graph via SVS. Build: ``graph_max_degree``, ``window_size``, ``alpha``,
    ``threads``; query: ``search_window_size``."""

    NAME = "svs"
    KNOBS = (Knob("search_window_size", 1, doc="search buffer (ef); below k SVS uses k"),)

    def __init__(
        self,
        metric: str = "cosine",
        graph_max_degree: int = 32,
        window_size: int = 64,
        alpha: float | None = None,
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        self.graph_max_degree = check_int(self.NAME, "graph_max_degree", graph_max_degree, 2)
        self.window_size = check_int(self.NAME, "window_size", window_size, 1)
        ok = alpha is None or (isinstance(alpha, (int, float)) and not isinstance(alpha, bool))
        if not ok or (alpha is not None and alpha <= 0):
            raise BadInput(
                f"index.alpha={alpha!r} is invalid for svs; valid: a number > 0 (about 1.2 for "
                "euclidean, 0.95 for cosine/ip) or null for SVS's default"
            )
        self.alpha = None if alpha is None else float(alpha)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"search_window_size": 10}
        self._window_used: int | None = None
        self._index = None

    def _build(self, xb: np.ndarray) -> None:
        svs = require("svs", "scalable-vs", self.NAME)
        kwargs = {"graph_max_degree": self.graph_max_degree, "window_size": self.window_size}
        if self.alpha is not None:
            kwargs["alpha"] = self.alpha
        distance = svs.DistanceType.L2 if self.metric == "euclidean" else svs.DistanceType.MIP
        params = svs.VamanaBuildParameters(**kwargs)
        self._index = svs.Vamana.build(params, xb, distance, num_threads=self.threads)

    def _apply_knobs(self) -> None:
        self._window_used = None
        self._index.search_window_size = self._knobs["search_window_size"]

    def search_params(self) -> dict[str, Any]:
        """``search_window_size`` as SVS ran it (raised to k)."""
        return {"search_window_size": self._window_used or self._knobs["search_window_size"]}

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "graph_max_degree": self.graph_max_degree,
            "window_size": self.window_size,
            "alpha": self.alpha,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        search = int(self._index.num_threads) if mode == "batch" else 1
        return {"build": self.threads, "search": search}

    @property
    def library_index(self) -> Any:
        """The underlying ``svs.Vamana`` (for benchmarks against the bare library call)."""
        self.ready()
        return self._index

    def _call(self, k: int, batch: bool):
        self._window_used = max(self._knobs["search_window_size"], k)
        search = self._index.search
        return lambda q: search(q, k)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        ids = np.vstack([np.asarray(r[0]).astype(np.int64).reshape(-1, k) for r in raws])
        dist = np.vstack([np.asarray(r[1], np.float32).reshape(-1, k) for r in raws])
        filler = (ids == 0) & (dist == 0)
        trailing = np.cumprod(filler[:, ::-1], axis=1)[:, ::-1].astype(bool)  # run to the end
        ids[trailing], dist[trailing] = -1, np.inf
        return dist, ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "cosine":
            return np.float32(1.0) - dist  # <q, x> of unit rows
        return -dist

    def _save(self, path: str) -> None:
        parts = [os.path.join(path, p) for p in ("config", "graph", "data")]
        for p in parts:
            os.makedirs(p)
        self._index.save(*parts)
