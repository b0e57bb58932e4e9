"""What the bundled backends share, so each backend file holds only its library's quirks.

A backend subclasses :class:`BaseIndex` and writes five small hooks:

``_build(xb)``
    build the library index on prepared rows (already float32, contiguous, normalised for
    cosine when ``NORMALISE``); return nothing.
``_call(k, batch)``
    the bare library call for the current knobs: a callable taking one prepared input
    (one query in single mode, all queries in batch mode) and returning the library's raw
    output. Nothing else goes inside the timer.
``_collect(raws, k, batch)``
    after the clock stopped: the raw outputs -> ``(dist, ids)`` as ``(nq, k)`` arrays in the
    library's own distance, ids int64, ``-1`` padded.
``_to_harness(dist, ids)``
    the library's distance -> the harness's (:mod:`lookup.distances`).
``_save(path)``
    serialize (to a file, or to a folder for libraries that write several files).

plus ``KNOBS`` (the query knob schema), ``_apply_knobs()`` (push the stored knobs into the
built library index), ``build_params()`` and ``threads_used(mode)``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from lookup.distances import as_matrix, check_k, check_metric, normalize_rows
from lookup.errors import BadInput, MissingExtra
from lookup.protocols import Knob, QueryPlan, check_mode

INSTALL_HINT = 'pip install -e ".[ann,vectordb]"'  # the optional extras of the added backends


def check_int(owner: str, name: str, value: Any, minimum: int, hint: str = "") -> int:
    """A build parameter as an int >= ``minimum``, or a one-line ValueError."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < minimum:
        raise ValueError(
            f"index.{name}={value!r} is invalid for {owner}; valid: an integer >= {minimum}"
            + (f" ({hint})" if hint else "")
        )
    return int(value)


def check_choice(owner: str, name: str, value: Any, choices: tuple) -> Any:
    """A build parameter that must be one of ``choices``, or a one-line BadInput."""
    if value not in choices:
        valid = ", ".join(map(str, choices))
        raise BadInput(f"index.{name}={value!r} is invalid for {owner}; valid: {valid}")
    return value


def check_metric_of(owner: str, metric: str, supported: tuple[str, ...]) -> str:
    """``metric`` if the backend supports it; a one-line BadInput naming what is valid if not."""
    check_metric(metric)
    if metric not in supported:
        raise BadInput(
            f"metric={metric!r} is not supported by index {owner}; valid: {', '.join(supported)}"
        )
    return metric


def require(module: str, package: str, owner: str) -> ModuleType:
    """Import a backend's library when it is first needed (listing or configuring the backend
    needs none), or a one-line MissingExtra naming the package and the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"index {owner} needs the package {package} ({exc.name or module} is not "
            f"installed); valid: {INSTALL_HINT} or pip install {package}"
        ) from None


def path_bytes(path: str | os.PathLike) -> int:
    """Bytes of a file, or of every file under a folder (what a saved index occupies)."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())
    return p.stat().st_size


class BaseIndex:
    """Shared shell of an :class:`lookup.protocols.Index`: readiness, knob storage and
    validation, query preparation, single/batch plans, ``search`` and ``save``."""

    NAME: ClassVar[str] = "index"
    KNOBS: ClassVar[tuple[Knob, ...]] = ()
    NORMALISE: ClassVar[bool] = True  # serve cosine as inner product on rows we normalise

    def __init__(self, metric: str = "cosine") -> None:
        self.metric = check_metric(metric)
        self._knobs: dict[str, int] = {}
        self._built = False
        self._n = 0
        self._dim = 0

    # -- hooks (override) -------------------------------------------------------------------
    def _build(self, xb: np.ndarray) -> None:
        raise NotImplementedError

    def _call(self, k: int, batch: bool):
        raise NotImplementedError

    def _collect(self, raws: list, k: int, batch: bool) -> tuple[np.ndarray, np.ndarray]:
        """Default: each raw output is ``(dist, ids)`` arrays of shape (m, k)."""
        dist = np.vstack([np.asarray(r[0], dtype=np.float32).reshape(-1, k) for r in raws])
        ids = np.vstack([np.asarray(r[1], dtype=np.int64).reshape(-1, k) for r in raws])
        return dist, ids

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return dist

    def _save(self, path: str) -> None:
        raise NotImplementedError

    def _apply_knobs(self) -> None:
        """Push ``self._knobs`` into the built library index (default: read at call time)."""

    def _single_inputs(self, xq: np.ndarray) -> list:
        return list(xq[:, None, :])  # (1, d) views, no copy

    def _batch_input(self, xq: np.ndarray) -> Any:
        return xq

    def build_params(self) -> dict[str, Any]:
        return {"metric": self.metric}

    def threads_used(self, mode: str) -> dict[str, int]:
        return {"build": 1, "search": 1}

    # -- shared -----------------------------------------------------------------------------
    @property
    def library_index(self) -> Any:
        """The library's own index object (``self._index`` unless a backend says otherwise),
        for benchmarks that time the bare library call on the index the harness built."""
        self.ready()
        return self._index

    @property
    def knob_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.KNOBS)

    def _prepare(self, x: np.ndarray, name: str, dim: int | None = None) -> np.ndarray:
        x = as_matrix(x, name, dim)
        return normalize_rows(x) if self.metric == "cosine" and self.NORMALISE else x

    def build(self, xb: np.ndarray) -> None:
        """Index the rows of ``xb`` under ids 0..n-1 (a second call rebuilds)."""
        xb = self._prepare(xb, "xb")
        self._build(xb)
        self._n, self._dim = xb.shape
        self._built = True
        self._apply_knobs()

    def ready(self) -> None:
        """Raise RuntimeError unless ``build`` ran."""
        if not self._built:
            raise RuntimeError(f"{type(self).__name__}.search called before build")

    def set_search_params(self, **params: Any) -> None:
        """Validate and store query knobs (see ``KNOBS``); applied now or after the build."""
        schema = {k.name: k for k in self.KNOBS}
        for name, value in params.items():
            if name not in schema:
                valid = ", ".join(schema) or "none (this backend has no query knobs)"
                raise ValueError(
                    f"index.search.{name} is not a search parameter of {self.NAME}; valid: {valid}"
                )
            self._knobs[name] = schema[name].check(self.NAME, value)
        if self._built:
            self._apply_knobs()

    def search_params(self) -> dict[str, Any]:
        return dict(self._knobs)

    def query_plan(self, xq: np.ndarray, k: int, mode: str = "batch") -> QueryPlan:
        """Prepared inputs, the bare library call and the finishing step (see QueryPlan)."""
        self.ready()
        check_mode(mode)
        k = check_k(k, self._n)
        xq = self._prepare(xq, "xq", self._dim)
        batch = mode == "batch"

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            if not raws:
                return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
            dist, ids = self._collect(raws, k, batch)
            ids = np.asarray(ids, dtype=np.int64)
            dist = self._to_harness(np.asarray(dist, dtype=np.float32), ids)
            return np.where(ids >= 0, dist, np.float32(np.inf)).astype(np.float32), ids

        inputs = [self._batch_input(xq)] if batch else self._single_inputs(xq)
        return QueryPlan(inputs, self._call(k, batch), finish)

    def search(self, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(D, I)``, each (nq, k): harness distances (float32), ids (int64, -1 padded)."""
        plan = self.query_plan(xq, k, "batch")
        return plan.finish([plan.call(plan.inputs[0])])

    def save(self, path: str) -> int:
        """Serialize to ``path`` (a file, or a folder for multi-file libraries); return the
        bytes written."""
        self.ready()
        self._save(os.fspath(path))
        return path_bytes(path)


def largest_found(query: Any, k: int, errors: tuple[type[BaseException], ...]) -> tuple:
    """For libraries that raise instead of returning fewer than k: ``query(k')`` for the largest
    ``k' < k`` that does not raise (the count a graph can return is monotone in k'), padded by
    the caller; ``None`` when even one result raises. ``query(k')`` returns ``(ids, dist)``."""
    lo, hi, best = 1, k - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        try:
            best = query(mid)
            lo = mid + 1
        except errors:
            hi = mid - 1
    return best


def padded(ids: np.ndarray | None, dist: np.ndarray | None, k: int) -> tuple:
    """One row's ``(ids, dist)`` of length <= k as (1, k) arrays, -1 / inf padded."""
    out_i = np.full((1, k), -1, dtype=np.int64)
    out_d = np.full((1, k), np.inf, dtype=np.float32)
    if ids is not None:
        ids, dist = np.ravel(ids), np.ravel(dist)
        out_i[0, : len(ids)] = ids
        out_d[0, : len(ids)] = dist
    return out_i, out_d


def drop_repeats(dist: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a repeated id (after its first place) or a non-finite distance turned into
    padding (-1, inf) and moved to the end, order otherwise kept: for libraries that pad a
    short result by repeating an id. ``(dist, ids)`` are (nq, k)."""
    dist = np.array(dist, dtype=np.float32)
    ids = np.array(ids, dtype=np.int64)
    bad = (ids < 0) | ~np.isfinite(dist)
    order = np.argsort(ids, axis=1, kind="stable")
    sorted_ids = np.take_along_axis(ids, order, axis=1)
    repeat = np.zeros_like(bad)
    repeat[:, 1:] = sorted_ids[:, 1:] == sorted_ids[:, :-1]  # later copies, in sorted order
    # a copy is a repeat unless it is the earliest place of that id in the row
    np.put_along_axis(bad, order, np.take_along_axis(bad, order, axis=1) | repeat, axis=1)
    ids[bad], dist[bad] = -1, np.inf
    keep = np.argsort(bad, axis=1, kind="stable")  # valid places first, in their order
    return np.take_along_axis(dist, keep, axis=1), np.take_along_axis(ids, keep, axis=1)


class WorkFolder:
    """A fresh temporary folder that an index (or an embedded database) lives in, inside
    ``root`` (default: the system's temporary folder).

    Removed by :meth:`close`, or when the owner drops it (garbage collection), or at interpreter
    exit, whichever comes first (``weakref.finalize``), so no run leaves a folder behind.
    """

    def __init__(self, owner: str, root: str | None = None) -> None:
        self.path = tempfile.mkdtemp(prefix=f"lookup-{owner}-", dir=root)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def close(self) -> None:
        """Remove the folder (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive
