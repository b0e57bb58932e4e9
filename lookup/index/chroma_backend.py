"""Chroma (``chromadb.PersistentClient``): the embedded database, no server.

**What it does underneath**: Chroma 1.x runs its Rust core in-process; a collection's vectors
go to an HNSW index (Chroma's fork of hnswlib) persisted beside a SQLite file that holds ids
and the write log. Build = ``create_collection`` with the HNSW configuration, then ``add`` in
batches of at most the client's maximum batch size.

**The timer holds** ``collection.query(query_embeddings=q, n_results=k, include=["distances"])``
with one query (single mode) or all queries (batch mode): the Python client's validation, the
call into the Rust core, and the answer as Python lists of string ids and distances.

Quirks hidden here: ids are strings (``"0"``..``"n-1"``, turned back into ints after the
clock); ``l2`` reports squared L2, ``ip`` reports ``1 - <q, x>``; cosine is ``ip`` on rows we
normalise ourselves. The query knob ``ef_search`` is a collection setting: the HNSW index a
client has loaded keeps the ef it was loaded with (``collection.modify`` alone changed nothing
here: recall 0.757 before and after raising ef from 10 to 100), so a new ef is written with
``modify`` and the client is closed and reopened on the folder (outside any timer; recall then
0.998). Chroma takes no thread count (1.x drops
``num_threads``), so ``threads_used`` reports the machine's cores for the build and for a
batch (an upper bound) and one thread for a single query. Telemetry is switched off.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lookup.index.base import check_int, require
from lookup.index.database import DatabaseIndex
from lookup.protocols import Knob

_COLLECTION = "lookup"


class ChromaIndex(DatabaseIndex):
    """Chroma's persistent client (HNSW). Build: ``max_neighbors``, ``ef_construction``,
    ``workdir``; query: ``ef_search``."""

    NAME = "chroma"
    KNOBS = (Knob("ef_search", 1, doc="HNSW search beam width (a collection setting)"),)

    def __init__(
        self,
        metric: str = "cosine",
        max_neighbors: int = 16,
        ef_construction: int = 100,
        workdir: str | None = None,
    ) -> None:
        super().__init__(metric, workdir)
        self.max_neighbors = check_int(self.NAME, "max_neighbors", max_neighbors, 2, "HNSW M")
        self.ef_construction = check_int(self.NAME, "ef_construction", ef_construction, 1)
        self._knobs = {"ef_search": 10}
        self._client = None
        self._collection = None

    def _open(self) -> Any:
        chromadb = require("chromadb", "chromadb", self.NAME)
        settings = chromadb.Settings(anonymized_telemetry=False)
        self._client = chromadb.PersistentClient(path=self._folder.path, settings=settings)
        return self._client

    def _build(self, xb: np.ndarray) -> None:
        client = self._open()
        hnsw = {
            "space": "l2" if self.metric == "euclidean" else "ip",
            "max_neighbors": self.max_neighbors,
            "ef_construction": self.ef_construction,
            "ef_search": self._knobs["ef_search"],
        }
        collection = client.create_collection(
            _COLLECTION, configuration={"hnsw": hnsw}, embedding_function=None
        )
        step = client.get_max_batch_size()
        for start in range(0, len(xb), step):
            rows = xb[start : start + step]
            ids = [str(i) for i in range(start, start + len(rows))]
            collection.add(ids=ids, embeddings=rows)
        self._collection = collection

    def _apply_knobs(self) -> None:
        ef = self._knobs["ef_search"]
        if self._collection.configuration_json["hnsw"]["ef_search"] == ef:
            return
        self._collection.modify(configuration={"hnsw": {"ef_search": ef}})
        self._close_client()  # the loaded index keeps its ef: reload it from the folder
        self._collection = self._open().get_collection(_COLLECTION, embedding_function=None)

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()  # releases the client's shared system for this folder
            self._client = self._collection = None

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "max_neighbors": self.max_neighbors,
            "ef_construction": self.ef_construction,
            "workdir": self.workdir_used,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        cores = os.cpu_count() or 1
        return {"build": cores, "search": cores if mode == "batch" else 1}

    @property
    def library_index(self) -> Any:
        """The Chroma collection (for benchmarks against the bare client call)."""
        self.ready()
        return self._collection

    def _call(self, k: int, batch: bool):
        query = self._collection.query
        return lambda q: query(query_embeddings=q, n_results=k, include=["distances"])

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        rows = [(i, d) for r in raws for i, d in zip(r["ids"], r["distances"], strict=True)]
        ids = np.full((len(rows), k), -1, dtype=np.int64)
        dist = np.full((len(rows), k), np.inf, dtype=np.float32)
        for r, (found, d) in enumerate(rows):
            ids[r, : len(found)] = [int(i) for i in found]
            dist[r, : len(found)] = d
        return dist, ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return dist - np.float32(1.0)  # chroma ip reports 1 - <q, x>
        return dist  # 1 - cos on unit rows
