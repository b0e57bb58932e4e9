"""Milvus Lite (``pymilvus.MilvusClient("<folder>/milvus.db")`` with PyPI ``milvus-lite``).

**What it does underneath**: milvus-lite 3.x is a pure-Python engine that runs *in this
process*: ``MilvusClient`` on a ``.db`` path starts a gRPC server on a background thread
(127.0.0.1, a free port) and talks to it like to a Milvus server. Inserted rows go to a
memtable (searched by brute force) and, on ``flush``, to an on-disk segment whose vector index
is built with **faiss** (``HNSW``, ``HNSW_SQ``, ``IVF_FLAT``, ``IVF_SQ8``) or is a brute force
(``FLAT``). After a flush the segment's index is built by a background worker and searches
fall back to brute force until it is done (and the worker would go on writing into the folder
after a close), so the build here is: insert (batches of ``batch_size`` rows), ``flush``, stop
the engine for this folder (``milvus_lite.server_manager_instance.release_server``, which waits
for its background work), then a new client on the folder and ``load_collection``, which loads
every segment's index from disk: no background work is left running while queries are timed.
``close`` stops the engine the same way before the folder is removed.

**The timer holds** ``client.search(collection, data=[q], limit=k, search_params=...,
output_fields=["id"])`` (single mode; batch mode passes every query in ``data``): pymilvus'
request building and protobuf serialization, the gRPC round trip over loopback, the engine's
search (faiss on the segment, brute force on the memtable, a merge) and the decoded hits.

Quirks hidden here: pymilvus' ``create_collection`` also calls an RPC that milvus-lite does not
implement, and the in-process server logs that as an ERROR with a traceback although the
collection is made, so the ``grpc._server`` logger is muted around that one call;
``L2`` reports squared L2 and ``IP`` reports ``<q, x>`` (larger is
nearer); cosine is ``IP`` on rows we normalise ourselves; without ``output_fields=["id"]`` every
hit carries its vector back. The query knobs are per index type (``ef`` for HNSW types,
``nprobe`` for IVF types; the other is an error naming the valid one). Threads: the index is
faiss in this process, so builds and searches run on faiss's OpenMP threads, which the harness
pins (read back with ``faiss.omp_get_max_threads``); a single query runs on one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from lookup.errors import BadInput
from lookup.index.base import check_choice, check_int, require
from lookup.index.database import DatabaseIndex
from lookup.protocols import Knob

_INDEX_TYPES = ("HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8", "FLAT")
_COLLECTION = "lookup"


@contextmanager
def _muted(name: str) -> Iterator[None]:
    """Silence one logger for the block (its level is restored after)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class MilvusLiteIndex(DatabaseIndex):
    """Milvus Lite collection. Build: ``index_type``, ``M``, ``ef_construction``, ``nlist``,
    ``batch_size``, ``workdir``; query: ``ef`` (HNSW types) or ``nprobe`` (IVF types)."""

    NAME = "milvus_lite"
    KNOBS = (
        Knob("ef", 1, doc="HNSW search beam width (HNSW, HNSW_SQ)"),
        Knob("nprobe", 1, doc="IVF lists searched (IVF_FLAT, IVF_SQ8)"),
    )

    def __init__(
        self,
        metric: str = "cosine",
        index_type: str = "HNSW",
        M: int = 16,
        ef_construction: int = 200,
        nlist: int = 128,
        batch_size: int = 10_000,
        workdir: str | None = None,
    ) -> None:
        super().__init__(metric, workdir)
        self.index_type = check_choice(self.NAME, "index_type", index_type, _INDEX_TYPES)
        self.M = check_int(self.NAME, "M", M, 2, "HNSW links per node")
        self.ef_construction = check_int(self.NAME, "ef_construction", ef_construction, 1)
        self.nlist = check_int(self.NAME, "nlist", nlist, 1, "IVF lists")
        self.batch_size = check_int(self.NAME, "batch_size", batch_size, 1, "rows per insert")
        self._knob = {"HNSW": "ef", "HNSW_SQ": "ef", "IVF_FLAT": "nprobe", "IVF_SQ8": "nprobe"}
        self._knob = self._knob.get(self.index_type)
        self._knobs = {self._knob: 64 if self._knob == "ef" else 8} if self._knob else {}
        self._metric_type = "L2" if self.metric == "euclidean" else "IP"
        self._client = None

    def set_search_params(self, **params: Any) -> None:
        """As for every backend, plus: only the knob of the chosen ``index_type``."""
        for name in params:
            if name in ("ef", "nprobe") and name != self._knob:
                valid = self._knob or "none (FLAT has no query knobs)"
                raise BadInput(
                    f"index.search.{name} does not apply to milvus_lite index_type="
                    f"{self.index_type}; valid: {valid}"
                )
        super().set_search_params(**params)

    def _index_params(self) -> dict[str, int]:
        if self.index_type.startswith("HNSW"):
            return {"M": self.M, "efConstruction": self.ef_construction}
        if self.index_type.startswith("IVF"):
            return {"nlist": self.nlist}
        return {}

    def _db_path(self) -> str:
        return os.path.join(self._folder.path, "milvus.db")

    def _build(self, xb: np.ndarray) -> None:
        require("milvus_lite", "milvus-lite", self.NAME)
        pymilvus = require("pymilvus", "pymilvus", self.NAME)
        client = self._client = pymilvus.MilvusClient(self._db_path())
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=xb.shape[1])
        index = client.prepare_index_params()
        index.add_index(
            "vector",
            index_type=self.index_type,
            metric_type=self._metric_type,
            params=self._index_params(),
        )
        with _muted("grpc._server"):  # an RPC milvus-lite lacks; the collection is made
            client.create_collection(_COLLECTION, schema=schema, index_params=index)
        for start in range(0, len(xb), self.batch_size):
            rows = xb[start : start + self.batch_size]
            client.insert(_COLLECTION, [{"id": start + i, "vector": v} for i, v in enumerate(rows)])
        client.flush(_COLLECTION)
        self._close_client()  # waits for the background index build, which persists it
        self._client = pymilvus.MilvusClient(self._db_path())
        self._client.load_collection(_COLLECTION)  # every segment's index, from disk

    def _close_client(self) -> None:
        """Close the client and stop this folder's engine (it waits for background work)."""
        if self._client is not None:
            from milvus_lite import server_manager_instance

            self._client.close()
            self._client = None
            server_manager_instance.release_server(self._db_path())

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "index_type": self.index_type,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "nlist": self.nlist,
            "batch_size": self.batch_size,
            "workdir": self.workdir_used,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        import faiss

        threads = int(faiss.omp_get_max_threads())
        return {"build": threads, "search": threads if mode == "batch" else 1}

    @property
    def library_index(self) -> Any:
        """The ``MilvusClient`` (for benchmarks against the bare client call)."""
        self.ready()
        return self._client

    def search_request(self) -> dict[str, Any]:
        """The ``search_params`` argument of ``MilvusClient.search`` for the current knobs."""
        return {"metric_type": self._metric_type, "params": dict(self._knobs)}

    def _single_inputs(self, xq: np.ndarray) -> list:
        return [[q] for q in xq]  # data=[one vector]

    def _batch_input(self, xq: np.ndarray) -> Any:
        return list(xq)

    def _call(self, k: int, batch: bool):
        search, params = self._client.search, self.search_request()

        def call(data: list) -> Any:
            return search(
                _COLLECTION, data=data, limit=k, search_params=params, output_fields=["id"]
            )

        return call

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        rows = [hits for result in raws for hits in result]
        ids = np.full((len(rows), k), -1, dtype=np.int64)
        dist = np.full((len(rows), k), np.inf, dtype=np.float32)
        for r, hits in enumerate(rows):
            for c, hit in enumerate(list(hits)[:k]):
                ids[r, c], dist[r, c] = hit["id"], hit["distance"]
        return dist, ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "cosine":
            return np.float32(1.0) - dist  # <q, x> of unit rows
        return -dist
