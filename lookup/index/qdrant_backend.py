"""Qdrant local mode (``QdrantClient(path=...)`` of PyPI ``qdrant-client``): no server.

**What it does underneath**: local mode is pure Python. It keeps every vector in a NumPy array
and answers a query by **exhaustive search** (distances to all points with NumPy, then a sort),
so it is exact and has no index or query knobs; its points are persisted to one SQLite file,
pickled, **one committed transaction per point** (so a build on disk pays an fsync per point;
on a memory file system, ``workdir=/dev/shm``, 2,000 points took 0.5 s here against 32 s on
disk). Qdrant advises its server (HNSW) beyond 20,000 points and warns once.

**The timer holds** ``client.query_points(collection, query=q, limit=k)`` per query (single
mode) or ``client.query_batch_points(collection, requests)`` with one ``QueryRequest`` per query
(batch mode; the requests are built outside the timer): request validation, the exhaustive
search and the response's ``ScoredPoint`` objects.

Quirks hidden here: scores are ``<q, x>`` for ``Dot`` (larger is nearer), true L2 for
``Euclid``; cosine is ``Dot`` on rows we normalise ourselves (Qdrant's ``Cosine`` would also
normalise, but a zero row is left as is either way). Threads: the search is NumPy on the BLAS
threads the harness pinned (read with threadpoolctl); the build is one Python thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lookup.index.base import check_int, require
from lookup.index.database import DatabaseIndex
from lookup.protocols import QueryPlan

_COLLECTION = "lookup"


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    counts = [p.get("num_threads", 0) for p in threadpool_info() if p.get("user_api") == "blas"]
    return int(min(counts)) if counts else 1


class QdrantIndex(DatabaseIndex):
    """Qdrant local mode (exhaustive search in Python). Build: ``batch_size``, ``workdir``;
    no query knobs."""

    NAME = "qdrant"

    def __init__(
        self, metric: str = "cosine", batch_size: int = 1000, workdir: str | None = None
    ) -> None:
        super().__init__(metric, workdir)
        self.batch_size = check_int(self.NAME, "batch_size", batch_size, 1, "points per upsert")
        self._client = None

    def _build(self, xb: np.ndarray) -> None:
        require("qdrant_client", "qdrant-client", self.NAME)
        from qdrant_client import QdrantClient, models

        client = self._client = QdrantClient(path=self._folder.path)
        distance = models.Distance.EUCLID if self.metric == "euclidean" else models.Distance.DOT
        client.create_collection(
            _COLLECTION, vectors_config=models.VectorParams(size=xb.shape[1], distance=distance)
        )
        for start in range(0, len(xb), self.batch_size):
            rows = xb[start : start + self.batch_size]
            ids = list(range(start, start + len(rows)))
            client.upsert(_COLLECTION, points=models.Batch(ids=ids, vectors=rows.tolist()))

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def build_params(self) -> dict[str, Any]:
        return {"metric": self.metric, "batch_size": self.batch_size, "workdir": self.workdir_used}

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": 1, "search": _blas_threads()}

    @property
    def library_index(self) -> Any:
        """The ``QdrantClient`` (for benchmarks against the bare client call)."""
        self.ready()
        return self._client

    def query_plan(self, xq: np.ndarray, k: int, mode: str = "batch") -> QueryPlan:
        """As :meth:`BaseIndex.query_plan`; in batch mode the input is the list of
        ``QueryRequest`` objects (one per query, carrying k), made here outside the timer."""
        plan = super().query_plan(xq, k, mode)
        if mode != "batch":
            return plan
        from qdrant_client import models

        requests = [models.QueryRequest(query=q, limit=k) for q in plan.inputs[0]]
        return QueryPlan([requests], plan.call, plan.finish)

    def _single_inputs(self, xq: np.ndarray) -> list:
        return xq.tolist()  # the client takes lists; converted once, outside the timer

    def _batch_input(self, xq: np.ndarray) -> Any:
        return xq.tolist()

    def _call(self, k: int, batch: bool):
        client = self._client
        if batch:
            return lambda requests: client.query_batch_points(_COLLECTION, requests=requests)
        return lambda q: client.query_points(_COLLECTION, query=q, limit=k)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        rows = [r.points for r in (raws[0] if batch else raws)]
        ids = np.full((len(rows), k), -1, dtype=np.int64)
        dist = np.full((len(rows), k), np.inf, dtype=np.float32)
        for r, points in enumerate(rows):
            for c, p in enumerate(points[:k]):
                ids[r, c], dist[r, c] = p.id, p.score
        return dist, ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return dist
        if self.metric == "cosine":
            return np.float32(1.0) - dist  # <q, x> of unit rows
        return -dist
