"""faiss backend: any ``index_factory`` string (Flat, IVF1024,Flat, IVF1024,PQ16, HNSW32, ...).

Quirks hidden here: faiss reports squared L2 and raw inner products, pads missing results with
id -1 and a sentinel distance, errors out from C++ with multi-line ``RuntimeError`` messages,
prints k-means warnings to stderr when a training set is small, and sets query knobs by name
through ``faiss.ParameterSpace``. Cosine is inner product on rows we normalise ourselves (zero
rows stay zero). Threads are faiss's process-wide OpenMP setting, applied at build and whenever
a query plan is made; faiss parallelises over queries, so single mode runs one thread.

``{nlist}`` in the factory string (``IVF{nlist},Flat``) is filled in at build time: with
``nlist`` given, that value; with ``nlist=null``, a power of two near ``4 * sqrt(n)`` capped so
that every centroid gets at least 39 training points (faiss's own recommendation), so the
defaults never make faiss warn. A factory whose k-means would have fewer than 39 points per
centroid is built anyway, with one logged warning instead of faiss's stderr lines; fewer
training points than centroids is a one-line error before training.

The seed drives the training sample and the k-means / PQ clustering; faiss's HNSW level
generator keeps its own fixed seed. For ``IVFx,PQy`` faiss also runs polysemous training by
default, which can dominate build time and only matters for the ``ht`` knob; append ``np``
(``IVF256,PQ16np``) to skip it.

In place (runbooks): IVF indexes store ids themselves (``add_with_ids``, ``remove_ids``); other
factories are wrapped in an ``IndexIDMap2`` when built under given ids. faiss's graph indexes
(HNSW, NSG) cannot remove (``remove_ids`` is not implemented for them), so they add only and a
runbook that deletes is refused before any work.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import faiss
import numpy as np

from lookup.errors import BadInput
from lookup.index.base import BaseIndex, check_int
from lookup.index.mutable import Mutable
from lookup.protocols import Knob

log = logging.getLogger(__name__)

_FAISS_METRIC = {
    "cosine": faiss.METRIC_INNER_PRODUCT,
    "ip": faiss.METRIC_INNER_PRODUCT,
    "euclidean": faiss.METRIC_L2,
}
_FACTORY_EXAMPLES = "Flat, IVF{nlist},Flat, IVF1024,PQ16, HNSW32, IVF1024_HNSW32,Flat"
_MIN_POINTS_PER_CENTROID = 39  # below this faiss's k-means prints a warning
_PQ_CENTROIDS = 256  # 8-bit product quantizer codes
_GRAPH = re.compile(r"(^|,)(HNSW|NSG)")  # a graph stage: no remove_ids


def _faiss_reason(exc: BaseException) -> str:
    """The human part of a faiss C++ error, on one line."""
    text = " ".join(str(exc).split())
    match = re.search(r"\.(?:cpp|h):\d+: (.*)$", text)
    return (match.group(1) if match else text).strip()


def default_nlist(n_train: int) -> int:
    """A power of two near 4 * sqrt(n), with at least 39 training points per list."""
    target = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n_train))))
    cap = max(1, n_train // _MIN_POINTS_PER_CENTROID)
    return int(max(1, min(target, 2 ** int(math.log2(cap)))))


class FaissIndex(Mutable, BaseIndex):
    """faiss index built from a factory string. Query knobs go through ``ParameterSpace``."""

    NAME = "faiss"
    KNOBS = (
        Knob("nprobe", 1, doc="IVF lists visited per query"),
        Knob("efSearch", 1, doc="HNSW search beam width"),
        Knob("max_codes", 0, doc="IVF codes scanned at most (0 = no limit)"),
        Knob("ht", 0, doc="polysemous Hamming threshold"),
        Knob("k_factor", 1, doc="IndexRefine: k * k_factor candidates re-ranked"),
        Knob("k_factor_rf", 1, doc="IndexRefine via ParameterSpace"),
        Knob("quantizer_efSearch", 1, doc="efSearch of an HNSW coarse quantizer"),
        Knob("quantizer_nprobe", 1, doc="nprobe of an IVF coarse quantizer"),
        Knob("parallel_mode", 0, doc="IVF OpenMP strategy"),
    )

    def __init__(
        self,
        metric: str = "cosine",
        factory: str = "Flat",
        nlist: int | None = None,
        train_size: int = 100_000,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        super().__init__(metric)
        if not isinstance(factory, str) or not factory.strip():
            raise BadInput(
                f"index.factory={factory!r} is invalid; valid: a faiss index_factory string, "
                f"e.g. {_FACTORY_EXAMPLES}"
            )
        if nlist is not None:
            nlist = check_int(self.NAME, "nlist", nlist, 1)
            fixed = re.search(r"IVF(\d+)", factory)
            if "{nlist}" not in factory and not (fixed and int(fixed.group(1)) == nlist):
                raise BadInput(
                    f"index.nlist={nlist} is invalid for factory {factory!r}; valid: null, or "
                    "put {nlist} in the factory string (e.g. IVF{nlist},Flat)"
                )
        self.factory = factory
        self.nlist = nlist
        self.train_size = check_int(self.NAME, "train_size", train_size, 1)
        self.seed = check_int(self.NAME, "seed", seed, 0)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._resolved = factory if "{nlist}" not in factory else None
        self._applicable: tuple[str, ...] = self.knob_names
        self._index: faiss.Index | None = None

    def resolved_factory(self, n_train: int) -> str:
        """The factory string with ``{nlist}`` filled in for ``n_train`` training points."""
        if "{nlist}" not in self.factory:
            return self.factory
        nlist = self.nlist if self.nlist is not None else default_nlist(n_train)
        return self.factory.replace("{nlist}", str(nlist))

    def _make(self, factory: str, dim: int) -> faiss.Index:
        try:
            return faiss.index_factory(dim, factory, _FAISS_METRIC[self.metric])
        except RuntimeError as exc:
            raise BadInput(
                f"index.factory={factory!r} is invalid for dim {dim}: {_faiss_reason(exc)}; "
                f"valid examples: {_FACTORY_EXAMPLES}"
            ) from None

    def _check_knobs_apply(self, twin: faiss.Index) -> None:
        """Knobs ParameterSpace accepts for this factory, probed on the empty index."""
        space, ok = faiss.ParameterSpace(), []
        for name in self.knob_names:
            try:
                space.set_index_parameter(twin, name, 1)
                ok.append(name)
            except RuntimeError:
                pass
        self._applicable = tuple(ok)
        for name in self._knobs:
            if name not in self._applicable:
                raise BadInput(
                    f"index.search.{name} does not apply to faiss {self._resolved!r}; "
                    f"valid: {', '.join(self._applicable) or 'none'}"
                )

    def _quiet_kmeans(self, index: faiss.Index, n_train: int) -> None:
        """Seed every k-means and turn faiss's small-training-set stderr lines into one
        logged warning (checked here, where the sizes are known)."""
        ivf = faiss.try_extract_index_ivf(index)
        inner = faiss.downcast_index(index)
        clusterings = []
        if ivf is not None:
            if n_train < ivf.nlist:
                raise BadInput(
                    f"index.factory={self._resolved!r} has {ivf.nlist} lists but only {n_train} "
                    f"training vectors (index.train_size={self.train_size}, database size); "
                    f"valid: nlist <= {n_train}, e.g. IVF{{nlist}} with index.nlist=null"
                )
            clusterings.append(("nlist", ivf.nlist, ivf.cp))
            if hasattr(ivf, "pq"):
                clusterings.append(("PQ", _PQ_CENTROIDS, ivf.pq.cp))
        if hasattr(inner, "pq"):
            clusterings.append(("PQ", _PQ_CENTROIDS, inner.pq.cp))
        for what, centroids, cp in clusterings:
            cp.seed = self.seed
            if n_train < _MIN_POINTS_PER_CENTROID * centroids:
                log.warning(
                    "faiss %s: %d training vectors for %d %s centroids (faiss recommends >= %d)",
                    self._resolved,
                    n_train,
                    centroids,
                    what,
                    _MIN_POINTS_PER_CENTROID * centroids,
                )
                cp.min_points_per_centroid = 1  # warned once above, not per k-means run

    def _build(self, xb: np.ndarray) -> None:
        n, dim = xb.shape
        n_train = min(n, self.train_size)
        self._resolved = self.resolved_factory(n_train)
        faiss.omp_set_num_threads(self.threads)
        index = self._make(self._resolved, dim)
        self._check_knobs_apply(self._make(self._resolved, dim))
        self._quiet_kmeans(index, n_train)
        try:
            if not index.is_trained:
                rng = np.random.default_rng(self.seed)
                rows = np.sort(rng.choice(n, n_train, replace=False)) if n > n_train else None
                index.train(xb if rows is None else xb[rows])
            if self._build_ids is None:
                index.add(xb)
            else:
                index = self._with_ids(index)
                index.add_with_ids(xb, self._build_ids)
        except RuntimeError as exc:
            raise BadInput(
                f"faiss could not build {self._resolved!r} on {n} x {dim} vectors: "
                f"{_faiss_reason(exc)}"
            ) from None
        self._index = index

    def changes(self) -> frozenset[str]:
        """Inserts always; removals unless the factory has a graph stage (HNSW, NSG)."""
        if _GRAPH.search(self.factory):
            return frozenset({"insert"})
        return frozenset({"insert", "delete"})

    def _describe(self) -> str:
        return self._resolved or self.factory

    @staticmethod
    def _with_ids(index: faiss.Index) -> faiss.Index:
        """``index`` able to store given ids: IVF does; others go inside an IndexIDMap2."""
        return index if faiss.try_extract_index_ivf(index) is not None else faiss.IndexIDMap2(index)

    def _add(self, xb: np.ndarray, ids: np.ndarray) -> None:
        faiss.omp_set_num_threads(self.threads)
        self._index.add_with_ids(xb, ids)

    def _remove(self, ids: np.ndarray) -> None:
        faiss.omp_set_num_threads(self.threads)
        removed = self._index.remove_ids(ids)
        if removed != len(ids):
            raise RuntimeError(f"faiss removed {removed} of {len(ids)} ids")

    def _apply_knobs(self) -> None:
        space = faiss.ParameterSpace()
        for name, value in self._knobs.items():
            try:
                space.set_index_parameter(self._index, name, value)
            except (RuntimeError, TypeError) as exc:
                raise BadInput(
                    f"index.search.{name}={value!r} is invalid for {self._resolved!r}: "
                    f"{_faiss_reason(exc)}"
                ) from None

    def set_search_params(self, **params: Any) -> None:
        """Set query knobs by ParameterSpace name (``nprobe``, ``efSearch``, ...)."""
        if self._built:
            for name in params:
                if name in self.knob_names and name not in self._applicable:
                    raise BadInput(
                        f"index.search.{name} does not apply to faiss {self._resolved!r}; "
                        f"valid: {', '.join(self._applicable) or 'none'}"
                    )
        super().set_search_params(**params)

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "factory": self._resolved or self.factory,
            "nlist": self._nlist_built(),
            "train_size": self.train_size,
            "seed": self.seed,
            "threads": self.threads,
        }

    def _nlist_built(self) -> int | None:
        if self._index is None:
            return self.nlist
        ivf = faiss.try_extract_index_ivf(self._index)
        return None if ivf is None else int(ivf.nlist)

    def threads_used(self, mode: str) -> dict[str, int]:
        search = int(faiss.omp_get_max_threads()) if mode == "batch" else 1
        return {"build": self.threads, "search": search}

    @property
    def library_index(self) -> faiss.Index:
        """The underlying ``faiss.Index`` (for filtered search with SearchParameters)."""
        self.ready()
        return self._index

    def _call(self, k: int, batch: bool):
        faiss.omp_set_num_threads(self.threads)
        search = self._index.search
        return lambda q: search(q, k)

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return np.sqrt(np.maximum(dist, 0.0))
        if self.metric == "ip":
            return -dist
        return 1.0 - dist

    def _save(self, path: str) -> None:
        faiss.write_index(self._index, path)
