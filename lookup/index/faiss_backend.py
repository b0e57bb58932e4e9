"""faiss backend: any ``index_factory`` string (Flat, IVF1024,Flat, IVF1024,PQ16, HNSW32, ...).

Quirks hidden here: faiss reports squared L2 and raw inner products, pads missing results with
id -1 and a sentinel distance, errors out from C++ with multi-line ``RuntimeError`` messages,
and sets query knobs by name through ``faiss.ParameterSpace``. Cosine is inner product on
rows we normalise ourselves (zero rows stay zero). Threads are faiss's process-wide OpenMP
setting, applied at build and whenever a query plan is made. The seed drives the training
sample and the k-means / PQ clustering; faiss's HNSW level generator keeps its own fixed seed.
For ``IVFx,PQy`` faiss also runs polysemous training by default, which can dominate build time
and only matters for the ``ht`` knob; append ``np`` (``IVF256,PQ16np``) to skip it.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import faiss
import numpy as np

from lookup.distances import as_matrix, check_k, check_metric, normalize_rows
from lookup.timing import QueryPlan, check_mode, check_search_params

log = logging.getLogger(__name__)

_FAISS_METRIC = {
    "cosine": faiss.METRIC_INNER_PRODUCT,
    "ip": faiss.METRIC_INNER_PRODUCT,
    "euclidean": faiss.METRIC_L2,
}
_FACTORY_EXAMPLES = "Flat, IVF1024,Flat, IVF1024,PQ16, HNSW32, IVF1024_HNSW32,Flat"


def _faiss_reason(exc: BaseException) -> str:
    """The human part of a faiss C++ error, on one line."""
    text = " ".join(str(exc).split())
    match = re.search(r"\.(?:cpp|h):\d+: (.*)$", text)
    return (match.group(1) if match else text).strip()


class FaissIndex:
    """faiss index built from a factory string. Query knobs go through ``ParameterSpace``."""

    SEARCH_PARAMS: tuple[str, ...] = (
        "nprobe",
        "efSearch",
        "max_codes",
        "ht",
        "k_factor",
        "k_factor_rf",
        "quantizer_efSearch",
        "quantizer_nprobe",
        "parallel_mode",
    )

    def __init__(
        self,
        metric: str = "cosine",
        factory: str = "Flat",
        train_size: int = 100_000,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        self.metric = check_metric(metric)
        if not isinstance(factory, str) or not factory.strip():
            raise ValueError(
                f"factory={factory!r} is not a faiss index_factory string; e.g. {_FACTORY_EXAMPLES}"
            )
        if train_size < 1:
            raise ValueError(f"train_size={train_size} must be >= 1")
        if threads < 1:
            raise ValueError(f"threads={threads} must be >= 1")
        self.factory = factory
        self.train_size = int(train_size)
        self.seed = int(seed)
        self.threads = int(threads)
        self._knobs: dict[str, Any] = {}
        self._applicable: tuple[str, ...] = self.SEARCH_PARAMS
        self._index: faiss.Index | None = None
        self._n = 0
        self._dim = 0

    def _make(self, dim: int) -> faiss.Index:
        try:
            return faiss.index_factory(dim, self.factory, _FAISS_METRIC[self.metric])
        except RuntimeError as exc:
            raise ValueError(
                f"faiss rejected factory {self.factory!r} (dim {dim}): {_faiss_reason(exc)}; "
                f"valid examples: {_FACTORY_EXAMPLES}"
            ) from None

    def _applicable_knobs(self, dim: int) -> tuple[str, ...]:
        """Knobs ParameterSpace accepts for this factory (probed on an empty twin index)."""
        twin, space, ok = self._make(dim), faiss.ParameterSpace(), []
        for name in self.SEARCH_PARAMS:
            try:
                space.set_index_parameter(twin, name, 1)
                ok.append(name)
            except RuntimeError:
                pass
        return tuple(ok)

    def _seed_clustering(self, index: faiss.Index) -> None:
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            ivf.cp.seed = self.seed
            if hasattr(ivf, "pq"):
                ivf.pq.cp.seed = self.seed
        inner = faiss.downcast_index(index)
        if hasattr(inner, "pq"):
            inner.pq.cp.seed = self.seed

    def build(self, xb: np.ndarray) -> None:
        """Create the index from the factory string, train on a seeded sample, add ``xb``."""
        xb = as_matrix(xb, "xb")
        if self.metric == "cosine":
            xb = normalize_rows(xb)
        n, dim = xb.shape
        faiss.omp_set_num_threads(self.threads)
        index = self._make(dim)
        self._applicable = self._applicable_knobs(dim)
        self._seed_clustering(index)
        try:
            if not index.is_trained:
                rng = np.random.default_rng(self.seed)
                if n > self.train_size:
                    sample = xb[np.sort(rng.choice(n, self.train_size, replace=False))]
                else:
                    sample = xb
                index.train(sample)
            index.add(xb)
        except RuntimeError as exc:
            raise ValueError(
                f"faiss could not build {self.factory!r} on {n} x {dim} vectors: "
                f"{_faiss_reason(exc)}"
            ) from None
        self._index, self._n, self._dim = index, n, dim
        self._apply_knobs(self._knobs)

    def _apply_knobs(self, knobs: dict[str, Any]) -> None:
        if self._index is None:
            return
        space = faiss.ParameterSpace()
        for name, value in knobs.items():
            if name not in self._applicable:
                valid = ", ".join(self._applicable) or "none"
                raise ValueError(
                    f"search parameter {name!r} does not apply to faiss {self.factory!r}; "
                    f"valid: {valid}"
                )
            try:
                space.set_index_parameter(self._index, name, value)
            except (RuntimeError, TypeError) as exc:
                raise ValueError(
                    f"faiss rejected {name}={value!r} for {self.factory!r}: {_faiss_reason(exc)}"
                ) from None

    def set_search_params(self, **params: Any) -> None:
        """Set query knobs by ParameterSpace name (``nprobe``, ``efSearch``, ...).

        Before ``build`` they are stored and applied after it.
        """
        check_search_params("faiss", self.SEARCH_PARAMS, params)
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{name}={value!r} must be a number")
        self._apply_knobs(params)
        self._knobs.update(params)

    def search_params(self) -> dict:
        """Current query knobs (only those set explicitly)."""
        return dict(self._knobs)

    def build_params(self) -> dict:
        """Flat, JSON-able build parameters for result rows."""
        return {
            "metric": self.metric,
            "factory": self.factory,
            "train_size": self.train_size,
            "seed": self.seed,
            "threads": self.threads,
        }

    def _ready(self) -> faiss.Index:
        if self._index is None:
            raise RuntimeError("FaissIndex.search called before build")
        return self._index

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.int64)
        dist = np.asarray(dist, dtype=np.float32)
        if self.metric == "euclidean":
            dist = np.sqrt(np.maximum(dist, 0.0))
        elif self.metric == "ip":
            dist = -dist
        else:
            dist = 1.0 - dist
        return np.where(ids >= 0, dist, np.float32(np.inf)).astype(np.float32), ids

    def query_plan(self, xq: np.ndarray, k: int, mode: str = "batch") -> QueryPlan:
        """Inputs, raw call and finishing step for timing (see :class:`lookup.timing.QueryPlan`)."""
        index = self._ready()
        xq = as_matrix(xq, "xq", self._dim)
        k = check_k(k, self._n)
        check_mode(mode)
        if self.metric == "cosine":
            xq = normalize_rows(xq)
        faiss.omp_set_num_threads(self.threads)
        search = index.search

        def call(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return search(q, k)

        if mode == "batch":
            return QueryPlan([xq], call, lambda raws: self._to_harness(*raws[0]))

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            if not raws:
                return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
            return self._to_harness(
                np.vstack([r[0] for r in raws]), np.vstack([r[1] for r in raws])
            )

        return QueryPlan([xq[i : i + 1] for i in range(len(xq))], call, finish)

    def search(self, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(D, I)``, each (nq, k): harness distances (float32), ids (int64, -1 padded)."""
        plan = self.query_plan(xq, k, "batch")
        return plan.finish([plan.call(plan.inputs[0])])

    def save(self, path: str) -> int:
        """Serialize with ``faiss.write_index``; return bytes written."""
        faiss.write_index(self._ready(), os.fspath(path))
        return os.path.getsize(path)
