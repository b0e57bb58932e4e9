"""What the backends that change in place share (:class:`lookup.protocols.MutableIndex`).

A backend mixes :class:`Mutable` in before :class:`lookup.index.base.BaseIndex`, declares
``CHANGES`` (or overrides :meth:`Mutable.changes` when it depends on a build parameter) and
writes three small hooks:

``ids_of(n)`` (provided)
    the ids its ``_build`` must store: the ones given to :meth:`Mutable.build_with_ids`, else
    ``0..n-1`` (a plain ``build``), so a backend has one build path.
``_add(xb, ids)``
    add prepared rows (float32, contiguous, normalised for cosine when ``NORMALISE``) under
    ``ids`` (int64, distinct, not live).
``_remove(ids)``
    remove live ``ids`` (int64, distinct).

The mixin checks ids and capabilities where data enters, converts inputs before the call a
runbook times, and keeps the live count (``k`` is checked against it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from lookup.distances import as_matrix, scale_rows
from lookup.errors import BadInput


def as_ids(ids: np.ndarray, n: int, owner: str) -> np.ndarray:
    """``ids`` as a 1-D int64 array of ``n`` distinct ids >= 0; ValueError otherwise (the
    caller's ids are a program's, not a user's input: a bad one is a bug)."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or len(arr) != n or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{owner}: ids must be {n} integers in a 1-D array, got {arr.shape}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or len(np.unique(arr)) != len(arr)):
        raise ValueError(f"{owner}: ids must be distinct and >= 0")
    return arr


class Mutable:
    """Mixin of an index that changes in place; see the module docstring."""

    CHANGES: ClassVar[frozenset[str]] = frozenset({"insert", "delete"})
    NAME: ClassVar[str]
    _build_ids: np.ndarray | None = None
    _scale: float  # BaseIndex: the database's power-of-two factor (euclidean, ip)

    def changes(self) -> frozenset[str]:
        """What this index does in place (``insert``, ``delete``)."""
        return self.CHANGES

    def ids_of(self, n: int) -> np.ndarray:
        """The ids a build stores: those given to :meth:`build_with_ids`, else 0..n-1."""
        if self._build_ids is None:
            return np.arange(n, dtype=np.int64)
        return self._build_ids

    def build_with_ids(self, xb: np.ndarray, ids: np.ndarray) -> None:
        """Build with row i of ``xb`` stored under ``ids[i]``."""
        self._build_ids = as_ids(ids, len(xb), type(self).__name__)
        try:
            self.build(xb)  # BaseIndex.build: prepares rows, calls _build, applies knobs
        finally:
            self._build_ids = None

    def _refuse(self, change: str) -> None:
        if change not in self.changes():
            can = " and ".join(sorted(self.changes())) or "nothing"
            raise BadInput(
                f"index={self.NAME} ({self._describe()}) cannot {change} in place (it does "
                f"{can}); valid: a runbook without {change} steps, workload.rebuild=true, or "
                "an index that does (hnswlib, usearch, faiss_ivf)"
            )

    def _describe(self) -> str:
        return type(self).__name__

    def add_call(self, xb: np.ndarray, ids: np.ndarray) -> Callable[[], None]:
        """The insert with inputs converted now; the returned call does the library's work."""
        self._refuse("insert")
        self.ready()
        rows = self._added_rows(xb)
        ids = as_ids(ids, len(rows), type(self).__name__)

        def call() -> None:
            self._add(rows, ids)
            self._n += len(ids)

        return call

    def remove_call(self, ids: np.ndarray) -> Callable[[], None]:
        """The removal of live ids, checked now; the returned call does the library's work."""
        self._refuse("delete")
        self.ready()
        ids = as_ids(ids, len(np.asarray(ids)), type(self).__name__)

        def call() -> None:
            self._remove(ids)
            self._n -= len(ids)

        return call

    def _added_rows(self, xb: np.ndarray) -> np.ndarray:
        """Rows added after the build, prepared as the build prepared its rows. The base's
        ``_prepare`` of database rows sets the database's power-of-two factor (euclidean, ip)
        from the rows it is given; rows added later must keep the build's factor, or their
        distances would not compare with the others'."""
        built = self._scale
        rows, _ = self._prepare(xb, "xb", self._dim)
        if self._scale != built:
            self._scale = built
            rows, _ = scale_rows(as_matrix(xb, "xb", self._dim), built)
        return rows

    def add(self, xb: np.ndarray, ids: np.ndarray) -> None:
        """Add rows ``xb`` under new ``ids``."""
        self.add_call(xb, ids)()

    def remove(self, ids: np.ndarray) -> None:
        """Remove the live ``ids``."""
        self.remove_call(ids)()

    # -- hooks (override) -----------------------------------------------------------------
    def _add(self, xb: np.ndarray, ids: np.ndarray) -> None:
        raise NotImplementedError

    def _remove(self, ids: np.ndarray) -> None:
        raise NotImplementedError
