"""LanceDB (``lancedb.connect(folder)``): the embedded columnar database, no server.

**What it does underneath**: the rows are written as a Lance table (``id`` int64 and a
fixed-size-list ``vector`` column) in the folder; ``create_index`` trains a vector index stored
beside it: ``IVF_PQ`` (k-means partitions + product quantization), ``IVF_FLAT``,
``IVF_HNSW_SQ`` / ``IVF_HNSW_PQ`` (an HNSW graph per partition over scalar / product quantized
vectors) or ``IVF_HNSW_FLAT``. Quantized indexes return approximate distances unless
``refine_factor`` re-ranks ``k * refine_factor`` candidates with the stored vectors. Build =
table creation (the inserts) + ``create_index``.

**The timer holds** the client's query chain
``table.search(q).distance_type(t).limit(k).nprobes(p)[.refine_factor(r)][.ef(e)]
.select(["id", "_distance"]).to_arrow()``: building the query, running it on Lance's Rust
runtime and the answer as an Arrow table (``_distance`` named in the selection: without it
Lance logs a deprecation warning at every search). Batch mode passes all queries to one
``search`` (the answer carries a ``query_index`` column).

Quirks hidden here: ``l2`` reports squared L2, ``dot`` reports ``1 - <q, x>``; cosine is
``dot`` on rows we normalise ourselves. HNSW indexes refuse an ``ef`` below the candidates
they must return, ``k * max(refine_factor, 1)`` (ef is raised to that and the row reports what
ran); ``ef`` does not apply to IVF_PQ/IVF_FLAT (an error names the knobs that do).
``num_partitions`` / ``num_sub_vectors`` null keep LanceDB's defaults (it warns, and
trains fewer partitions, when there are too few rows). Threads: Lance's runtime reads
``LANCE_CPU_THREADS`` once per process when it starts; the first build sets it to ``threads``
unless it is already set, and ``threads_used`` reports the value the runtime started with.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lookup.errors import BadInput
from lookup.index.base import check_choice, check_int, require
from lookup.index.database import DatabaseIndex
from lookup.protocols import Knob, QueryPlan

_INDEX_TYPES = ("IVF_PQ", "IVF_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ", "IVF_HNSW_FLAT")
_CONFIGS = {
    "IVF_PQ": "IvfPq",
    "IVF_FLAT": "IvfFlat",
    "IVF_HNSW_SQ": "HnswSq",
    "IVF_HNSW_PQ": "HnswPq",
    "IVF_HNSW_FLAT": "IvfHnswFlat",
}
_TABLE = "lookup"
_RUNTIME_THREADS: list[int] = []  # LANCE_CPU_THREADS as Lance's runtime started with it


def _runtime_threads(wanted: int) -> int:
    """Set ``LANCE_CPU_THREADS`` before Lance's runtime first starts; the count it runs on."""
    if not _RUNTIME_THREADS:
        os.environ.setdefault("LANCE_CPU_THREADS", str(wanted))
        _RUNTIME_THREADS.append(int(os.environ["LANCE_CPU_THREADS"]))
    return _RUNTIME_THREADS[0]


class LancedbIndex(DatabaseIndex):
    """A LanceDB table with a vector index. Build: ``index_type``, ``num_partitions``,
    ``num_sub_vectors``, ``m``, ``ef_construction``, ``threads``, ``workdir``; query:
    ``nprobes``, ``refine_factor``, ``ef`` (HNSW types)."""

    NAME = "lancedb"
    KNOBS = (
        Knob("nprobes", 1, doc="IVF partitions searched"),
        Knob("refine_factor", 0, doc="re-rank k * refine_factor candidates exactly; 0 = off"),
        Knob("ef", 1, doc="HNSW beam width (HNSW types); raised to k * max(refine_factor, 1)"),
    )

    def __init__(
        self,
        metric: str = "cosine",
        index_type: str = "IVF_PQ",
        num_partitions: int | None = None,
        num_sub_vectors: int | None = None,
        m: int = 20,
        ef_construction: int = 300,
        threads: int = 1,
        workdir: str | None = None,
    ) -> None:
        super().__init__(metric, workdir)
        self.index_type = check_choice(self.NAME, "index_type", index_type, _INDEX_TYPES)
        if num_partitions is not None:
            num_partitions = check_int(self.NAME, "num_partitions", num_partitions, 1)
        if num_sub_vectors is not None:
            num_sub_vectors = check_int(self.NAME, "num_sub_vectors", num_sub_vectors, 1)
        self.num_partitions = num_partitions
        self.num_sub_vectors = num_sub_vectors
        self.m = check_int(self.NAME, "m", m, 2, "HNSW links per node")
        self.ef_construction = check_int(self.NAME, "ef_construction", ef_construction, 1)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._hnsw = "HNSW" in self.index_type
        self._knobs = {"nprobes": 20, "refine_factor": 0}
        if self._hnsw:
            self._knobs["ef"] = 40
        self._used: dict[str, int] = {}
        self._db = self._table = None
        self._distance = "l2" if self.metric == "euclidean" else "dot"

    def set_search_params(self, **params: Any) -> None:
        """As for every backend, plus: ``ef`` only for the HNSW index types."""
        if "ef" in params and not self._hnsw:
            raise BadInput(
                f"index.search.ef does not apply to lancedb index_type={self.index_type}; "
                "valid: nprobes, refine_factor (ef needs an IVF_HNSW_* index_type)"
            )
        super().set_search_params(**params)

    def _build(self, xb: np.ndarray) -> None:
        _runtime_threads(self.threads)
        lancedb = require("lancedb", "lancedb", self.NAME)
        import lancedb.index as lance_index
        import pyarrow as pa

        n, dim = xb.shape
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(xb.ravel(), pa.float32()), dim)
        table = pa.table({"id": pa.array(np.arange(n), pa.int64()), "vector": vectors})
        self._db = lancedb.connect(self._folder.path)
        self._table = self._db.create_table(_TABLE, table)
        kwargs: dict[str, Any] = {"distance_type": self._distance}
        if self.num_partitions is not None:
            kwargs["num_partitions"] = self.num_partitions
        if self.num_sub_vectors is not None and "PQ" in self.index_type:
            kwargs["num_sub_vectors"] = self.num_sub_vectors
        if self._hnsw:
            kwargs.update(m=self.m, ef_construction=self.ef_construction)
        config = getattr(lance_index, _CONFIGS[self.index_type])(**kwargs)
        self._table.create_index("vector", config=config)

    def _close_client(self) -> None:
        self._table = self._db = None  # the connection holds no server or lock

    def search_params(self) -> dict[str, Any]:
        """The knobs as the last search ran them (``ef`` raised, see the module docstring)."""
        return dict(self._used) or dict(self._knobs)

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "index_type": self.index_type,
            "num_partitions": self.num_partitions,
            "num_sub_vectors": self.num_sub_vectors,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "threads": self.threads,
            "workdir": self.workdir_used,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        threads = _runtime_threads(self.threads)
        return {"build": threads, "search": threads}

    @property
    def library_index(self) -> Any:
        """The LanceDB table (for benchmarks against the bare client call)."""
        self.ready()
        return self._table

    def _single_inputs(self, xq: np.ndarray) -> list:
        return list(xq)  # 1-d views: one query vector per search

    def query_plan(self, xq: np.ndarray, k: int, mode: str = "batch") -> QueryPlan:
        """As :meth:`BaseIndex.query_plan`; a batch answer is split per query by its
        ``query_index`` column after the clock, knowing this plan's query count (a query that
        found nothing has no rows)."""
        plan = super().query_plan(xq, k, mode)
        if mode != "batch":
            return plan
        nq = len(xq)

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            return plan.finish([_split(raws[0], nq)])

        return QueryPlan(plan.inputs, plan.call, finish)

    def _call(self, k: int, batch: bool):
        table, distance = self._table, self._distance
        nprobes, refine = self._knobs["nprobes"], self._knobs["refine_factor"]
        fetched = k * max(refine, 1)  # candidates the HNSW search must return
        ef = max(self._knobs["ef"], fetched) if self._hnsw else None
        self._used = {"nprobes": nprobes, "refine_factor": refine}
        if ef is not None:
            self._used["ef"] = ef

        def call(q: np.ndarray) -> Any:
            query = table.search(q).distance_type(distance).limit(k).nprobes(nprobes)
            if refine:
                query = query.refine_factor(refine)
            if ef is not None:
                query = query.ef(ef)
            return query.select(["id", "_distance"]).to_arrow()

        return call

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        # batch: [[(ids, dist) per query]] (see query_plan); single: one Arrow table per query
        parts = (
            raws[0] if batch else [(t["id"].to_numpy(), t["_distance"].to_numpy()) for t in raws]
        )
        ids = np.full((len(parts), k), -1, dtype=np.int64)
        dist = np.full((len(parts), k), np.inf, dtype=np.float32)
        for r, (found, d) in enumerate(parts):
            ids[r, : min(len(found), k)] = found[:k]
            dist[r, : min(len(found), k)] = d[:k]
        return dist, ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return dist - np.float32(1.0)  # lance dot reports 1 - <q, x>
        return dist  # 1 - cos on unit rows


def _split(answer: Any, nq: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """One Arrow answer for ``nq`` queries (rows tagged ``query_index``) -> (ids, dist) each."""
    which = answer["query_index"].to_numpy()
    order = np.argsort(which, kind="stable")
    ids, dist = answer["id"].to_numpy()[order], answer["_distance"].to_numpy()[order]
    bounds = np.searchsorted(which[order], np.arange(nq + 1))
    return [(ids[a:b], dist[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
