"""ScaNN backend (Google's partitioning tree + anisotropic quantization + exact re-ranking).

Quirks hidden here: the searcher is made by a builder chain
``builder(db, k, measure).tree(...).score_ah(...).reorder(...).build()``; it knows two measures,
``dot_product`` (reports ``<q, x>``, larger is nearer) and ``squared_l2``; ``search`` takes one
vector and returns uint32 ids and float32 distances, *shorter* than k when the probed leaves
hold fewer points, while ``search_batched`` pads such rows with id 0 and a NaN distance (both
become -1 / inf padding here). Cosine is ``dot_product`` on rows we normalise ourselves.
``num_leaves=null`` picks ``round(sqrt(n))`` partitions (ScaNN's guide: on the order of
sqrt(n)). The k-means of the tree has no seed parameter in ScaNN's Python API. Threads: the
build trains on ``threads`` (``set_n_training_threads``); batch mode calls
``search_batched`` on one thread, or ``search_batched_parallel`` on ``threads`` threads
(``set_num_threads``); a single query runs on one thread. ScaNN logs through absl to stderr
while it trains. ``serialize`` writes a folder.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from lookup.errors import BadInput
from lookup.index.base import BaseIndex, check_int, drop_repeats, require
from lookup.protocols import Knob


class ScannIndex(BaseIndex):
    """ScaNN tree-AH searcher. Build: ``num_leaves``, ``training_sample_size``,
    ``dims_per_block``, ``anisotropic_threshold``, ``threads``; query: ``leaves_to_search``,
    ``reorder`` (pre-reorder candidates re-scored exactly)."""

    NAME = "scann"
    KNOBS = (
        Knob("leaves_to_search", 1, doc="partitions searched per query (capped at num_leaves)"),
        Knob("reorder", 1, doc="candidates re-ranked exactly; values below k are raised to k"),
    )

    def __init__(
        self,
        metric: str = "cosine",
        num_leaves: int | None = None,
        training_sample_size: int = 100_000,
        dims_per_block: int = 2,
        anisotropic_threshold: float = 0.2,
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        if num_leaves is not None:
            num_leaves = check_int(self.NAME, "num_leaves", num_leaves, 1, "or null: sqrt(n)")
        self.num_leaves = num_leaves
        self.training_sample_size = check_int(
            self.NAME, "training_sample_size", training_sample_size, 1
        )
        self.dims_per_block = check_int(self.NAME, "dims_per_block", dims_per_block, 1)
        ok = isinstance(anisotropic_threshold, (int, float)) and not isinstance(
            anisotropic_threshold, bool
        )
        if not ok:
            raise BadInput(
                f"index.anisotropic_threshold={anisotropic_threshold!r} is invalid for scann; "
                "valid: a number (0.2 is ScaNN's advice; a negative value turns it off)"
            )
        self.anisotropic_threshold = float(anisotropic_threshold)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"leaves_to_search": 8, "reorder": 100}
        self._leaves_used = 0  # num_leaves after the build
        self._used: dict[str, int] = {}
        self._searcher = None

    def _build(self, xb: np.ndarray) -> None:
        scann = require("scann", "scann", self.NAME)
        n = len(xb)
        leaves = self.num_leaves or max(1, round(math.sqrt(n)))
        leaves = min(leaves, n)
        measure = "squared_l2" if self.metric == "euclidean" else "dot_product"
        builder = scann.scann_ops_pybind.builder(xb, 10, measure)
        builder.set_n_training_threads(self.threads)
        searcher = (
            builder.tree(
                num_leaves=leaves,
                num_leaves_to_search=min(self._knobs["leaves_to_search"], leaves),
                training_sample_size=min(self.training_sample_size, n),
            )
            .score_ah(
                self.dims_per_block, anisotropic_quantization_threshold=self.anisotropic_threshold
            )
            .reorder(self._knobs["reorder"])
            .build()
        )
        searcher.set_num_threads(self.threads)
        self._leaves_used = leaves
        self._searcher = searcher

    def search_params(self) -> dict[str, Any]:
        """The knobs as the last search ran them (leaves capped, reorder raised to k)."""
        return dict(self._used) or dict(self._knobs)

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "num_leaves": self._leaves_used or self.num_leaves,
            "training_sample_size": self.training_sample_size,
            "dims_per_block": self.dims_per_block,
            "anisotropic_threshold": self.anisotropic_threshold,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": self.threads, "search": self.threads if mode == "batch" else 1}

    @property
    def library_index(self) -> Any:
        """The underlying ``ScannSearcher`` (for benchmarks against the bare library call)."""
        self.ready()
        return self._searcher

    def _single_inputs(self, xq: np.ndarray) -> list:
        return list(xq)  # 1-d views: search takes one vector

    def _call(self, k: int, batch: bool):
        leaves = min(self._knobs["leaves_to_search"], self._leaves_used)
        reorder = max(self._knobs["reorder"], k)
        self._used = {"leaves_to_search": leaves, "reorder": reorder}
        s = self._searcher
        if not batch:
            return lambda q: s.search(q, k, reorder, leaves)
        many = s.search_batched_parallel if self.threads > 1 else s.search_batched
        return lambda q: many(q, k, reorder, leaves)

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        pairs = [(np.atleast_2d(found), np.atleast_2d(d)) for found, d in raws]
        ids = np.full((sum(len(f) for f, _ in pairs), k), -1, dtype=np.int64)
        dist = np.full(ids.shape, np.nan, dtype=np.float32)
        row = 0
        for found, d in pairs:  # single-query rows may be shorter than k
            m, c = found.shape
            ids[row : row + m, :c] = found
            dist[row : row + m, :c] = d
            row += m
        return drop_repeats(dist, ids)

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "cosine":
            return np.float32(1.0) - dist  # <q, x> of unit rows
        return -dist

    def _save(self, path: str) -> None:
        os.makedirs(path)
        self._searcher.serialize(path)
