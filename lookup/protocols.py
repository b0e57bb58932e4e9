"""Every contract the harness relies on, in one place.

Two roles carry the design: an **Index** finds neighbours of vectors, an **Encoder** turns texts
into vectors. An ``encoder=`` option instantiates an **EncoderSpec** (validated settings, cheap),
whose ``load(data, cache_dir=...)`` trains or loads the Encoder. A new backend or encoder is one
class that satisfies its protocol, one line in :mod:`lookup.registry` and one YAML option file.

Implementations are structural (no base class is required); :class:`lookup.index.base.BaseIndex`
holds what the bundled backends share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from lookup.distances import METRICS  # noqa: F401 - part of the contract
from lookup.errors import BadInput

MODES = ("single", "batch")
ROLES = ("document", "query")  # the side a text is encoded for (Encoder.encode's ``role``)
# The largest C ``int``: what annoy's search_k and seed, faiss's efSearch and k-means seed
# take (hnswlib and faiss's nprobe take a size_t); a larger value overflows in the library.
C_INT_MAX = 2**31 - 1


# ---------------------------------------------------------------------------------------------
# Index
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    """One query-time parameter of a backend: an integer in ``minimum..maximum`` (or one of
    ``special``; ``maximum`` defaults to :data:`C_INT_MAX`, the library's integer), or, with
    ``real=True``, a finite number ``>= minimum`` (e.g. NGT's and PyNNDescent's ``epsilon``).

    ``set_search_params`` validates every value with :meth:`check`; the row column is
    ``search_<name>``.
    """

    name: str
    minimum: float = 1
    special: tuple[int, ...] = ()  # accepted values below ``minimum`` (e.g. annoy's -1)
    doc: str = ""
    maximum: int = C_INT_MAX
    real: bool = False  # a float knob instead of an integer one

    def valid(self) -> str:
        """What a valid value is, for error messages."""
        extra = "".join(f" or {v}" for v in self.special)
        if self.real:
            return f"a number >= {self.minimum}{extra}"
        return f"an integer >= {self.minimum} and <= {self.maximum}{extra}"

    def check(self, owner: str, value: Any) -> int | float:
        """``value`` as an int (a float for a real knob), or a one-line BadInput naming the
        knob and what is valid."""
        kinds = (int, np.integer, float, np.floating) if self.real else (int, np.integer)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        ok = ok and (not isinstance(value, (float, np.floating)) or bool(np.isfinite(value)))
        top = np.inf if self.real else self.maximum
        if not ok or (not self.minimum <= value <= top and value not in self.special):
            raise BadInput(
                f"index.search.{self.name}={value!r} is invalid for {owner}; valid: {self.valid()}"
            )
        return float(value) if self.real else int(value)


@dataclass(frozen=True)
class QueryPlan:
    """Everything needed to time queries with nothing but the library call inside the timer.

    ``inputs[i]`` is the ready argument for ``call`` (one query in single mode; the whole
    prepared batch as ``inputs[0]`` in batch mode). ``finish(raw_outputs)`` turns the list of
    ``call`` results into ``(D, I)`` with harness distances, int64 ids and -1 padding, after the
    clock stopped.
    """

    inputs: Sequence[Any]
    call: Callable[[Any], Any]
    finish: Callable[[list], tuple[np.ndarray, np.ndarray]]


@runtime_checkable
class Index(Protocol):
    """An ANN backend. Constructor keywords are its build parameters plus ``metric``.

    Contract of the results: ``(D, I)`` each ``(nq, k)``; ``I`` int64 ids into the database,
    ``-1`` padded when fewer than k were found (never an exception for that); no id twice in a
    row; ``D`` harness distances (:mod:`lookup.distances`, smaller is nearer, ``inf`` for padding).
    The harness re-scores with its own distances and checks ids, so ``D`` is informational.
    """

    KNOBS: ClassVar[tuple[Knob, ...]]  # the query-time knob schema (may be empty)

    def build(self, xb: np.ndarray) -> None:
        """Index the rows of ``xb`` ((n, d) float32) under ids 0..n-1."""

    def set_search_params(self, **params: Any) -> None:
        """Set query knobs by name; unknown name or bad value -> one-line ValueError listing
        the valid ones. May be called before ``build`` (applied after it)."""

    def search_params(self) -> dict[str, Any]:
        """The knobs as the last search ran them (e.g. hnswlib's ef raised to k)."""

    def build_params(self) -> dict[str, Any]:
        """Flat, JSON-able build parameters (the ``build_*`` columns), metric included."""

    def query_plan(self, xq: np.ndarray, k: int, mode: str) -> QueryPlan:
        """Prepared inputs, the bare library call and the finishing step (see QueryPlan)."""

    def search(self, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(D, I)`` for all queries in one call (the batch plan, untimed)."""

    def save(self, path: str) -> int:
        """Serialize to ``path``; return the bytes written (the ``index_bytes`` column)."""

    def threads_used(self, mode: str) -> dict[str, int]:
        """``{"build": n, "search": m}``: threads the build used and a search in ``mode`` uses,
        read from the library after the build."""


# Changes an index can make in place (MutableIndex.changes): adding rows, removing rows.
CHANGES = ("insert", "delete")


@runtime_checkable
class MutableIndex(Index, Protocol):
    """An Index that changes in place (optional; used by runbooks, :mod:`lookup.runbook`).

    Ids are the caller's (a dataset's row numbers), kept through every change: ``search``
    returns them, never positions. A backend without this role (annoy) is only measured
    rebuilt from scratch at each checkpoint.
    """

    def changes(self) -> frozenset[str]:
        """What this index does in place, a subset of :data:`CHANGES` (faiss HNSW: only
        ``insert``). Known before ``build``, so a runbook is refused before any work."""

    def build_with_ids(self, xb: np.ndarray, ids: np.ndarray) -> None:
        """``build`` with row i of ``xb`` under ``ids[i]`` (distinct int64 ids >= 0)."""

    def add_call(self, xb: np.ndarray, ids: np.ndarray) -> Callable[[], None]:
        """The insert of rows ``xb`` under new ``ids``, inputs converted and checked now; the
        returned call does only the library's work (what a runbook times)."""

    def remove_call(self, ids: np.ndarray) -> Callable[[], None]:
        """The removal of the live ``ids``, checked now; the call does the library's work.
        One-line BadInput when the index cannot delete (see :meth:`changes`)."""

    def add(self, xb: np.ndarray, ids: np.ndarray) -> None:
        """``add_call(xb, ids)()``."""

    def remove(self, ids: np.ndarray) -> None:
        """``remove_call(ids)()``."""


# ---------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EncoderData:
    """What the harness hands an encoder spec: the database side (what it may fit on) and the
    query side (only for held-out metrics). Labels are (n,) arrays or None."""

    texts: Sequence[str]
    labels: np.ndarray | None = None
    heldout_texts: Sequence[str] = ()
    heldout_labels: np.ndarray | None = None


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to an ``(n, dim)`` float32 array in input order.

    ``role`` says which side a text is encoded for: ``"document"`` (the database, the default)
    or ``"query"``. Encoders whose vectors do not depend on the side accept and ignore it;
    prompted models (e5, bge: ``query_prompt``/``document_prompt``) put their query or
    document prompt before the text. Callers encode queries with ``role="query"``.
    """

    dim: int
    fingerprint: str  # changes whenever the vectors could change (weights, vocab, pooling, prompts)
    training: dict  # numeric fit metrics (columns encoder_fit_<name>); {} when nothing was fitted

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 256, role: str = "document"
    ) -> np.ndarray:
        """(n, dim) float32, row i the vector of texts[i] as a ``role`` text (:data:`ROLES`)."""


@runtime_checkable
class EncoderSpec(Protocol):
    """What an ``encoder=`` option instantiates: its keyword arguments are the option's keys,
    validated on construction (cheap, before any data is read)."""

    def load(self, data: EncoderData, *, cache_dir: str) -> Encoder:
        """Train (seeded, cached under ``cache_dir``) or load the encoder."""


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else a TypeError: a caller's bug, not input,
    so it keeps its traceback (as Python's own error for a bad keyword argument does)."""
    if role not in ROLES:
        raise TypeError(f"encode(role={role!r}) is invalid; valid: {', '.join(ROLES)}")
    return role


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else a one-line BadInput."""
    if mode not in MODES:
        raise BadInput(f"mode={mode!r} is invalid; valid: {', '.join(MODES)}")
    return mode
