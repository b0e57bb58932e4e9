"""NGT backend (Yahoo Japan's Neighborhood Graph and Tree; PyPI ``ngt``, module ``ngtpy``).

Quirks hidden here: an NGT index lives in a folder (``ngtpy.create`` writes it), so each index
works in its own temporary folder, removed by :meth:`NgtIndex.close`, when the index is
garbage-collected, or at exit; ``search`` takes one vector and returns a list of
``(id, distance)`` tuples, possibly shorter than k (padded here); ids are 0-based with
``zero_based_numbering``. ``L2`` reports true L2 and ``Cosine`` ``1 - cos``; NGT's
``Inner Product`` reports a distance of an augmented L2 transform rather than ``<q, x>``, so
``metric=ip`` is refused. Under cosine NGT cannot hold zero vectors: a zero database row is
never returned and a zero query finds nothing (padding), where the harness would give them
distance 1. Batch mode loops over ``search`` on one thread (``batch_search`` runs on NGT's
own OpenMP pool, whose size the harness cannot read). ``batch_insert`` builds on ``threads``.
The query knob ``epsilon`` is a float (search range expansion, 0.1 is NGT's default).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from lookup.index.base import (
    BaseIndex,
    WorkFolder,
    check_choice,
    check_int,
    check_metric_of,
    require,
)
from lookup.protocols import Knob

_DISTANCE = {"cosine": "Cosine", "euclidean": "L2"}
_GRAPHS = ("ANNG", "IANNG", "ONNG", "PANNG")


class NgtIndex(BaseIndex):
    """Graph + tree via NGT. Build: ``edge_size_for_creation``, ``edge_size_for_search``,
    ``graph_type``, ``threads``; query: ``epsilon``."""

    NAME = "ngt"
    KNOBS = (Knob("epsilon", 0.0, real=True, doc="search range expansion (0.1 = default)"),)

    def __init__(
        self,
        metric: str = "cosine",
        edge_size_for_creation: int = 10,
        edge_size_for_search: int = 40,
        graph_type: str = "ANNG",
        threads: int = 1,
    ) -> None:
        super().__init__(check_metric_of(self.NAME, metric, tuple(_DISTANCE)))
        self.edge_size_for_creation = check_int(
            self.NAME, "edge_size_for_creation", edge_size_for_creation, 1
        )
        self.edge_size_for_search = check_int(
            self.NAME, "edge_size_for_search", edge_size_for_search, 1
        )
        self.graph_type = check_choice(self.NAME, "graph_type", graph_type, _GRAPHS)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"epsilon": 0.1}
        self._index = None
        self._folder: WorkFolder | None = None

    def _build(self, xb: np.ndarray) -> None:
        ngtpy = require("ngtpy", "ngt", self.NAME)
        self.close()
        self._folder = WorkFolder(self.NAME)
        path = os.path.join(self._folder.path, "index")
        try:
            ngtpy.create(
                path,
                xb.shape[1],
                edge_size_for_creation=self.edge_size_for_creation,
                edge_size_for_search=self.edge_size_for_search,
                distance_type=_DISTANCE[self.metric],
                object_type="Float",
                graph_type=self.graph_type,
            )
            index = ngtpy.Index(path, log_disabled=True)
            index.batch_insert(xb, num_threads=self.threads)
        except BaseException:
            self.close()
            raise
        self._index = index

    def close(self) -> None:
        """Close the NGT index and remove its folder (idempotent)."""
        if self._index is not None:
            self._index.close()
            self._index = None
            self._built = False
        if self._folder is not None:
            self._folder.close()

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "edge_size_for_creation": self.edge_size_for_creation,
            "edge_size_for_search": self.edge_size_for_search,
            "graph_type": self.graph_type,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": self.threads, "search": 1}

    @property
    def library_index(self) -> Any:
        """The underlying ``ngtpy.Index`` (for benchmarks against the bare library call)."""
        self.ready()
        return self._index

    def _single_inputs(self, xq: np.ndarray) -> list:
        return list(xq)  # 1-d views: search takes one vector

    def _batch_input(self, xq: np.ndarray) -> Any:
        return list(xq)  # rows split once, outside the timer

    def _call(self, k: int, batch: bool):
        search, epsilon = self._index.search, self._knobs["epsilon"]
        if batch:
            return lambda qs: [search(q, k, epsilon) for q in qs]
        return lambda q: search(q, k, epsilon)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        rows = raws[0] if batch else raws
        ids = np.full((len(rows), k), -1, dtype=np.int64)
        dist = np.full((len(rows), k), np.inf, dtype=np.float32)
        for r, found in enumerate(rows):
            for c, (i, d) in enumerate(found[:k]):
                ids[r, c], dist[r, c] = i, d
        return dist, ids

    def _save(self, path: str) -> None:
        self._index.save()
        shutil.copytree(os.path.join(self._folder.path, "index"), path)
