"""PyNNDescent backend (nearest-neighbour descent graph, numba; UMAP's neighbour search).

Quirks hidden here: the index is built by its constructor; the first query compiles a numba
search function (``prepare()`` does it inside the build here, so no timed query pays for it);
numba also compiles the graph construction once per process, so the **first build of a
process includes tens of seconds of JIT compilation** (40 s for euclidean on 2 cores here);
``query`` returns int32 ids and float distances (true L2 for ``euclidean``, ``1 - cos`` for
``cosine``) and pads a short result by repeating an id with an ``inf`` or finite distance
(turned into -1 padding here). PyNNDescent has no inner-product metric (its ``dot`` normalises
the vectors), so ``metric=ip`` is refused. The query knob ``epsilon`` is a float (search
slack, 0.0-0.3 usual). Queries run serially on one thread (``parallel_batch_queries`` off);
the build uses ``threads`` numba threads and is reproducible from ``seed`` with one thread.
``save`` pickles the index (its documented way to persist).
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from lookup.errors import BadInput
from lookup.index.base import (
    BaseIndex,
    check_int,
    check_metric_of,
    drop_repeats,
    require,
)
from lookup.protocols import Knob


class PynndescentIndex(BaseIndex):
    """NN-descent graph via pynndescent. Build: ``n_neighbors``, ``diversify_prob``,
    ``pruning_degree_multiplier``, ``seed``, ``threads``; query: ``epsilon``."""

    NAME = "pynndescent"
    KNOBS = (Knob("epsilon", 0.0, real=True, doc="search slack; larger = more accurate"),)

    def __init__(
        self,
        metric: str = "cosine",
        n_neighbors: int = 30,
        diversify_prob: float = 1.0,
        pruning_degree_multiplier: float = 1.5,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        super().__init__(check_metric_of(self.NAME, metric, ("cosine", "euclidean")))
        self.n_neighbors = check_int(self.NAME, "n_neighbors", n_neighbors, 2, "30 is usual")
        self.diversify_prob = _check_real("diversify_prob", diversify_prob, 0.0, 1.0)
        self.pruning_degree_multiplier = _check_real(
            "pruning_degree_multiplier", pruning_degree_multiplier, 1.0, None
        )
        self.seed = check_int(self.NAME, "seed", seed, 0)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"epsilon": 0.1}
        self._index = None

    def _build(self, xb: np.ndarray) -> None:
        pynndescent = require("pynndescent", "pynndescent", self.NAME)
        index = pynndescent.NNDescent(
            xb,
            metric=self.metric,
            n_neighbors=min(self.n_neighbors, max(len(xb) - 1, 1)),
            diversify_prob=self.diversify_prob,
            pruning_degree_multiplier=self.pruning_degree_multiplier,
            random_state=self.seed,
            n_jobs=self.threads,
        )
        index.prepare()  # builds the search tree and compiles the query (outside any timer)
        self._index = index

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n_neighbors": self.n_neighbors,
            "diversify_prob": self.diversify_prob,
            "pruning_degree_multiplier": self.pruning_degree_multiplier,
            "seed": self.seed,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": self.threads, "search": 1}

    @property
    def library_index(self) -> Any:
        """The underlying ``pynndescent.NNDescent`` (for benchmarks against the bare call)."""
        self.ready()
        return self._index

    def _call(self, k: int, batch: bool):
        query, epsilon = self._index.query, self._knobs["epsilon"]
        return lambda q: query(q, k, epsilon)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        ids = np.vstack([np.asarray(r[0], dtype=np.int64).reshape(-1, k) for r in raws])
        dist = np.vstack([np.asarray(r[1], dtype=np.float32).reshape(-1, k) for r in raws])
        return drop_repeats(dist, ids)

    def _save(self, path: str) -> None:
        with open(path, "wb") as f:
            pickle.dump(self._index, f, protocol=pickle.HIGHEST_PROTOCOL)


def _check_real(name: str, value: Any, low: float, high: float | None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        valid = f"a number in [{low}, {high}]" if high is not None else f"a number >= {low}"
        raise BadInput(f"index.{name}={value!r} is invalid for pynndescent; valid: {valid}")
    return float(value)
