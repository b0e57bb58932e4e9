"""VSAG backend (Ant Group's vector search library, its ``hgraph`` index; PyPI ``pyvsag``).

Quirks hidden here: an index is made from a name and a JSON string of parameters, and so is
every search (the search JSON is written once per plan, outside the timer); ``build`` takes
the vectors flattened to 1-d plus an int64 id array; ``knn_search`` takes one vector (there is
no batch call: batch mode loops in Python on one thread) and returns ``(ids, distances)``
(its docstring says the reverse). When the graph yields fewer than k, pyvsag 0.18 still
returns k slots and the ones past the found results hold uninitialised memory (ids out of
range or repeated, arbitrary distances): after the clock, each slot's reported distance is
checked against the vectors, and from the first slot that is out of range, repeated or off
(relative 1e-4) every slot is padding. Vectors are therefore stored as fp32 (VSAG's
quantized storage would make the check fail). ``l2`` reports squared L2 and ``ip`` reports
``1 - <q, x>``. Cosine is ``ip`` on rows we normalise ourselves. VSAG logs every build at
info level: its logger is switched off when the index is built. The build runs on
``threads`` (``build_thread_count``); a query on one.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from lookup.index.base import BaseIndex, check_int, require
from lookup.protocols import Knob, QueryPlan

_REL_TOL = 1e-4  # a slot whose distance is off by more (relative to the row's scale) is junk


class VsagIndex(BaseIndex):
    """VSAG hgraph (fp32). Build: ``max_degree``, ``ef_construction``, ``threads``; query:
    ``ef_search``."""

    NAME = "vsag"
    KNOBS = (Knob("ef_search", 1, doc="search beam width"),)

    def __init__(
        self,
        metric: str = "cosine",
        max_degree: int = 32,
        ef_construction: int = 200,
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        self.max_degree = check_int(self.NAME, "max_degree", max_degree, 2)
        self.ef_construction = check_int(self.NAME, "ef_construction", ef_construction, 1)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"ef_search": 10}
        self._index = None
        self._xb: np.ndarray | None = None  # the indexed rows, to recognise junk slots

    def _build(self, xb: np.ndarray) -> None:
        pyvsag = require("pyvsag", "pyvsag", self.NAME)
        pyvsag.set_logger_off()
        n, dim = xb.shape
        params = {
            "dtype": "float32",
            "metric_type": "l2" if self.metric == "euclidean" else "ip",
            "dim": dim,
            "index_param": {
                "base_quantization_type": "fp32",
                "max_degree": self.max_degree,
                "ef_construction": self.ef_construction,
                "build_thread_count": self.threads,
            },
        }
        index = pyvsag.Index("hgraph", json.dumps(params))
        index.build(vectors=xb.ravel(), ids=np.arange(n, dtype=np.int64), num_elements=n, dim=dim)
        self._index = index
        self._xb = xb

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "max_degree": self.max_degree,
            "ef_construction": self.ef_construction,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": self.threads, "search": 1}

    @property
    def library_index(self) -> Any:
        """The underlying ``pyvsag.Index`` (for benchmarks against the bare library call)."""
        self.ready()
        return self._index

    def search_json(self) -> str:
        """The search parameters as VSAG takes them (a JSON string)."""
        return json.dumps({"hgraph": {"ef_search": self._knobs["ef_search"]}})

    def _single_inputs(self, xq: np.ndarray) -> list:
        return list(xq)  # 1-d views: knn_search takes one vector

    def _batch_input(self, xq: np.ndarray) -> Any:
        return list(xq)

    def query_plan(self, xq: np.ndarray, k: int, mode: str = "batch") -> QueryPlan:
        """As :meth:`BaseIndex.query_plan`, with a finishing step that first cuts every raw
        answer to its real results (see the module docstring), knowing this plan's queries."""
        plan = super().query_plan(xq, k, mode)
        queries, _ = self._prepare(xq, "xq", self._dim)

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            if not raws:
                return plan.finish(raws)
            pairs = raws[0] if mode == "batch" else raws
            real = self._real
            cut = [
                real(q, np.asarray(i), np.asarray(d))
                for q, (i, d) in zip(queries, pairs, strict=True)
            ]
            return plan.finish([cut] if mode == "batch" else cut)

        return QueryPlan(plan.inputs, plan.call, finish)

    def _call(self, k: int, batch: bool):
        knn, params = self._index.knn_search, self.search_json()
        if batch:
            return lambda qs: [knn(q, k, params) for q in qs]
        return lambda q: knn(q, k, params)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        pairs = raws[0] if batch else raws
        ids = np.full((len(pairs), k), -1, dtype=np.int64)
        dist = np.full((len(pairs), k), np.inf, dtype=np.float32)
        for row, (found, d) in enumerate(pairs):
            ids[row, : len(found)] = found
            dist[row, : len(found)] = d
        return dist, ids

    def _real(self, q: np.ndarray, ids: np.ndarray, dist: np.ndarray) -> tuple:
        """``(ids, dist)`` cut to the leading slots that are real results (module docstring)."""
        dist = dist.astype(np.float32)
        n = len(self._xb)
        ok = (ids >= 0) & (ids < n) & np.isfinite(dist)
        rows = self._xb[np.where(ok, ids, 0)].astype(np.float64)
        if self.metric == "euclidean":
            true = np.square(rows - q).sum(axis=1)
            scale = np.square(np.abs(rows) + np.abs(q)).sum(axis=1)
        else:
            true = 1.0 - rows @ q
            scale = 1.0 + np.abs(rows) @ np.abs(q)
        ok &= np.abs(true - dist) <= _REL_TOL * scale
        _, first = np.unique(ids, return_index=True)
        repeat = np.ones(len(ids), dtype=bool)
        repeat[first] = False
        ok &= ~repeat
        bad = np.flatnonzero(~ok)
        c = int(bad[0]) if len(bad) else len(ids)
        return ids[:c], dist[:c]

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return dist - np.float32(1.0)  # vsag ip reports 1 - <q, x>
        return dist  # 1 - cos on unit rows

    def _save(self, path: str) -> None:
        self._index.save(path)
