"""RaBitQ backend (PyPI ``rabitqlib``: its SymphonyQG graph, ``SymqgIndex``, which walks the
graph on RaBitQ-quantized codes and re-ranks with stored vectors).

Quirks hidden here: the library's random rotation (``FhtKacRotator``) refuses dimensions
below 64, so shorter vectors are padded with zero columns (L2 distances and inner products are
unchanged); ``max_degree`` must be a multiple of 32; ``search`` wants a 2-d array, refuses
``ef < k`` (ef is raised to k here and the row reports what ran), raises ``RuntimeError`` when
the graph yields fewer than k (the row is then re-asked for the largest count it can return
and padded) and returns uint32 ids and float32 distances: squared L2 for ``l2`` and
``1 - <q, x>`` for ``ip``. Cosine is ``ip`` on rows we normalise ourselves.
``quantization_bits`` (0, 4 or 8) is the precision of the re-ranking vectors: 0 keeps float32
(exact distances), 4 and 8 store codes (distances approximate). The build and a batch of
queries run on ``threads`` (``num_threads``), a single query on one. The graph's
initialisation is random with no seed parameter: two builds differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lookup.errors import BadInput
from lookup.index.base import (
    BaseIndex,
    check_choice,
    check_int,
    largest_found,
    padded,
    require,
)
from lookup.protocols import Knob

MIN_DIM = 64  # smallest dimension rabitqlib's rotation accepts


class RabitqIndex(BaseIndex):
    """RaBitQ-quantized graph (SymphonyQG) via rabitqlib. Build: ``max_degree``,
    ``ef_construction``, ``quantization_bits``, ``threads``; query: ``ef``."""

    NAME = "rabitq"
    KNOBS = (Knob("ef", 1, doc="search beam width; values below k are raised to k"),)

    def __init__(
        self,
        metric: str = "cosine",
        max_degree: int = 32,
        ef_construction: int = 200,
        quantization_bits: int = 0,
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        self.max_degree = check_int(self.NAME, "max_degree", max_degree, 32, "a multiple of 32")
        if self.max_degree % 32:
            raise BadInput(
                f"index.max_degree={max_degree!r} is invalid for rabitq; valid: a multiple of 32"
            )
        self.ef_construction = check_int(self.NAME, "ef_construction", ef_construction, 1)
        self.quantization_bits = check_choice(
            self.NAME, "quantization_bits", quantization_bits, (0, 4, 8)
        )
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._knobs = {"ef": 10}
        self._ef_used: int | None = None
        self._index = None

    def _pad(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1] >= MIN_DIM:
            return x
        out = np.zeros((len(x), MIN_DIM), dtype=np.float32)
        out[:, : x.shape[1]] = x
        return out

    def _build(self, xb: np.ndarray) -> None:
        rabitqlib = require("rabitqlib", "rabitqlib", self.NAME)
        xb = self._pad(xb)
        index = rabitqlib.SymqgIndex(
            xb.shape[1],
            self.max_degree,
            metric="l2" if self.metric == "euclidean" else "ip",
            quantization_bits=self.quantization_bits,
        )
        index.build(xb, self.ef_construction, num_threads=self.threads)
        self._index = index

    def search_params(self) -> dict[str, Any]:
        """``ef`` as last searched (raised to k if it was below)."""
        return {"ef": self._ef_used or self._knobs["ef"]}

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "max_degree": self.max_degree,
            "ef_construction": self.ef_construction,
            "quantization_bits": self.quantization_bits,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": self.threads, "search": self.threads if mode == "batch" else 1}

    @property
    def library_index(self) -> Any:
        """The underlying ``rabitqlib.SymqgIndex`` (for benchmarks against the bare call)."""
        self.ready()
        return self._index

    def _single_inputs(self, xq: np.ndarray) -> list:
        return list(self._pad(xq)[:, None, :])  # (1, d) views: search wants 2-d

    def _batch_input(self, xq: np.ndarray) -> Any:
        return self._pad(xq)

    def _call(self, k: int, batch: bool):
        ef = self._ef_used = max(self._knobs["ef"], k)
        search, threads = self._index.search, self.threads if batch else 1

        def one(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            got = largest_found(lambda kk: search(q, kk, ef, 1), k, (RuntimeError,))
            return padded(*(got if got is not None else (None, None)), k)

        def call(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            try:
                return search(q, k, ef, threads)
            except RuntimeError:  # "could not produce k results": redo row by row
                rows = [one(q[i : i + 1]) for i in range(len(q))]
                return np.vstack([r[0] for r in rows]), np.vstack([r[1] for r in rows])

        return call

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        ids = np.vstack([np.asarray(r[0]).astype(np.int64).reshape(-1, k) for r in raws])
        return np.vstack([np.asarray(r[1], np.float32).reshape(-1, k) for r in raws]), ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return dist - np.float32(1.0)  # rabitqlib ip reports 1 - <q, x>
        return dist  # 1 - cos on unit rows

    def _save(self, path: str) -> None:
        self._index.save(path)
