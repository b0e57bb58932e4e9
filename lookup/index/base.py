"""What the bundled backends share, so each backend file holds only its library's quirks.

A backend subclasses :class:`BaseIndex` and writes five small hooks:

``_build(xb)``
    build the library index on prepared rows (already float32, contiguous, normalised for
    cosine when ``NORMALISE``, rescaled by a power of two when their magnitude is unsafe for
    float32 arithmetic, see ``_prepare``); return nothing.
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
    serialize.

plus ``KNOBS`` (the query knob schema), ``_apply_knobs()`` (push the stored knobs into the
built library index), ``build_params()`` and ``threads_used(mode)``.

Rows handed to a library (``_prepare``): libraries compute in float32, where vectors that are
finite but large or small (scaled by 1e30 or 1e-40) overflow or underflow (a float32
normalisation turned such rows into zeros). So cosine rows are normalised in float64 (served
as inner product), and otherwise (``RESCALE``) rows whose magnitude is outside
:data:`lookup.distances.SAFE_ABS` are multiplied by a power of two, which is exact and keeps
the neighbour order: per row for cosine, one factor for the whole database for euclidean and
ip (ip queries per row; for ip small values count as unsafe too, as hnswlib and usearch rank
by ``1 - <q, x>`` in float32). Distances the library reports are scaled back. When rows
still differ from what the harness scores (a nonzero row that became zeros, values clipped to
the float32 range or not finite), a warning gives the counts, also kept in ``altered``.
"""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar

import numpy as np

from lookup.distances import (
    F32_MAX,
    SAFE_ABS,
    as_matrix,
    check_k,
    check_metric,
    max_abs_rows,
    normalize_rows,
    pow2_scale,
    scale_rows,
)
from lookup.errors import BadInput
from lookup.protocols import C_INT_MAX, Knob, QueryPlan, check_mode

log = logging.getLogger(__name__)

# ip rows keep |values| >= 1/16: hnswlib and usearch rank by 1 - <q, x> in float32, which
# cannot tell small dot products apart (hnswlib recall 0.95 at max |x| ~ 2e-3, 0.015 at ~2e-5,
# 1.0 from ~2e-2 up on 32-d data); rows outside are rescaled to [0.5, 1).
_IP_RANGE = (2.0**-4, SAFE_ABS[1])


def check_int(
    owner: str, name: str, value: Any, minimum: int, hint: str = "", maximum: int = C_INT_MAX
) -> int:
    """A build parameter as an int in ``minimum..maximum`` (``maximum`` by default the largest
    C ``int``, what faiss and annoy take), or a one-line BadInput."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or not minimum <= value <= maximum:
        raise BadInput(
            f"index.{name}={value!r} is invalid for {owner}; valid: an integer >= {minimum} "
            f"and <= {maximum}" + (f" ({hint})" if hint else "")
        )
    return int(value)


class BaseIndex:
    """Shared shell of an :class:`lookup.protocols.Index`: readiness, knob storage and
    validation, query preparation, single/batch plans, ``search`` and ``save``."""

    NAME: ClassVar[str] = "index"
    KNOBS: ClassVar[tuple[Knob, ...]] = ()
    NORMALISE: ClassVar[bool] = True  # serve cosine as inner product on rows we normalise
    RESCALE: ClassVar[bool] = True  # the library computes in float32: hand it safe magnitudes

    def __init__(self, metric: str = "cosine") -> None:
        self.metric = check_metric(metric)
        self._knobs: dict[str, int] = {}
        self._built = False
        self._n = 0
        self._dim = 0
        self._scale = 1.0  # the database's power-of-two factor (euclidean, ip)
        self.altered: dict[str, int] = {}  # what the library got that the harness does not score

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
    def knob_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.KNOBS)

    def _prepare(
        self, x: np.ndarray, name: str, dim: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(rows for the library, the factor each row's distances were scaled by, or None).

        ``name`` is "xb" (the build: sets the database's factor) or "xq". See the module
        docstring; a warning with counts when the rows differ from what the harness scores.
        """
        src = x
        with np.errstate(over="ignore"):  # a cast beyond float32 is counted just below
            x = as_matrix(x, name, dim)
        clipped = 0
        if np.asarray(src).dtype != np.float32:  # a cast from float64 may overflow
            over = np.isinf(x) & np.isfinite(np.asarray(src, dtype=np.float64))
            if over.any():
                clipped += int(over.sum())
                x = np.clip(x, -F32_MAX, F32_MAX)
        build = name == "xb"
        factor: np.ndarray | None = None
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        finite = bool(np.isfinite(lo) and np.isfinite(hi))  # one NaN or inf shows in min/max
        if self.metric == "cosine" and self.NORMALISE:
            rows = normalize_rows(x)  # in float64: a finite nonzero row never becomes zeros
        elif not self.RESCALE:
            rows = x
        elif self.metric == "cosine":  # the library normalises itself, in float32
            rows, c = scale_rows(x, pow2_scale(max_abs_rows(x)))
            clipped += c
        else:
            safe = _IP_RANGE if self.metric == "ip" else SAFE_ABS
            if build:
                self._scale = pow2_scale(max(hi, -lo, 0.0), safe)
            scale: float | np.ndarray = self._scale
            if self.metric == "ip" and not build:  # a query's scale does not move its ranking
                scale = pow2_scale(max_abs_rows(x), safe)
            rows, c = scale_rows(x, scale)
            clipped += c
            factor = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(x),))
            if self.metric == "ip" and not build:
                factor = factor * self._scale
        # Only a rescale can zero a row (underflow); rows come out finite when x is finite.
        rescaled = rows is not x and not (self.metric == "cosine" and self.NORMALISE)
        zeroed = int((np.any(x, axis=1) & ~np.any(rows, axis=1)).sum()) if rescaled else 0
        bad = 0 if finite else int((~np.isfinite(rows)).sum())
        self._report(name, len(rows), zeroed, clipped, bad)
        return rows, factor

    def _report(self, name: str, n: int, zeroed: int, clipped: int, bad: int) -> None:
        """Keep (and warn about) what the library gets that differs from the harness's rows."""
        side = "db" if name == "xb" else "query"
        self.altered.update(
            {
                f"{side}_rows_zeroed": zeroed,
                f"{side}_values_clipped": clipped,
                f"{side}_values_not_finite": bad,
            }
        )
        if zeroed or clipped or bad:
            log.warning(
                "%s gets %s vectors that differ from those the harness scores: %d of %d rows "
                "became all zeros, %d values were clipped to the float32 range, %d values are "
                "not finite; its neighbours are scored on the harness's vectors",
                self.NAME,
                "database" if side == "db" else "query",
                zeroed,
                n,
                clipped,
                bad,
            )

    def build(self, xb: np.ndarray) -> None:
        """Index the rows of ``xb`` under ids 0..n-1 (a second call rebuilds)."""
        xb, _ = self._prepare(xb, "xb")
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
                raise BadInput(
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
        xq, factor = self._prepare(xq, "xq", self._dim)
        batch = mode == "batch"

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            if not raws:
                return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
            dist, ids = self._collect(raws, k, batch)
            ids = np.asarray(ids, dtype=np.int64)
            dist = self._to_harness(np.asarray(dist, dtype=np.float32), ids)
            if factor is not None and np.any(factor != 1.0):  # back to the vectors' scale
                back = np.asarray(dist, dtype=np.float64) / factor[: len(dist), None]
                dist = np.clip(back, -F32_MAX, F32_MAX)
            return np.where(ids >= 0, dist, np.float32(np.inf)).astype(np.float32), ids

        inputs = [self._batch_input(xq)] if batch else self._single_inputs(xq)
        return QueryPlan(inputs, self._call(k, batch), finish)

    def search(self, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(D, I)``, each (nq, k): harness distances (float32), ids (int64, -1 padded)."""
        plan = self.query_plan(xq, k, "batch")
        return plan.finish([plan.call(plan.inputs[0])])

    def save(self, path: str) -> int:
        """Serialize to ``path``; return the bytes written."""
        self.ready()
        self._save(os.fspath(path))
        return os.path.getsize(path)
