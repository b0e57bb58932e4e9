"""The three ways to answer a filtered query, each a per-query callable that
:func:`lookup.timing.run_queries` times (only the call inside the timer, fastest pass kept).

Before timing, once per filter (what a database's payload index holds): the passing ids
(sorted), their bool mask over the database and, for faiss, the mask packed into bits. Inside
the timer, per query: the strategy builds the library's filter object from those, searches and
returns at most k ids, nearest first. What each costs per call:

- ``post`` (any backend): the index's own search for ``k' = min(n_db, oversample * k)``
  candidates (the library call of the backend's ``QueryPlan``, the one a plain job times; the
  candidate ids taken from its raw output: hnswlib's and faiss's id row as is, other backends
  through their finishing step), then the mask test ``ids[mask[ids]][:k]`` (a numpy gather
  over k' ids, about a microsecond). No filter object; the cost is k' candidates (hnswlib and
  faiss HNSW search with ef raised to k'). Answers short of ``min(k, passing)`` are counted.
- ``in_search``: the library skips rejected items while it searches.
  *hnswlib* (``knn_query(..., filter=callable)``): the callable is the bound
  ``mask.__getitem__`` of the filter's numpy bool mask (made per query: one attribute lookup),
  which hnswlib calls from C++ once per candidate it considers, taking the GIL each time; with
  a filter hnswlib keeps searching until ``ef`` passing items are found, so at low selectivity
  it visits about ``ef / selectivity`` nodes. It asks for ``min(k, passing)`` neighbours and,
  when hnswlib still finds fewer (it raises instead of returning them), searches again for the
  largest count it can return (binary search, inside the timer: what a caller has to do).
  *faiss* (``search(..., params=SearchParameters*(sel=...))``): per query an
  ``IDSelectorBitmap`` over the packed mask (constant cost: it points at the bits) or an
  ``IDSelectorBatch`` of the passing ids (``filter.faiss_selector=batch``: a hash set built per
  query, cost proportional to the passing count), wrapped in ``SearchParametersIVF`` (nprobe,
  max_codes), ``SearchParametersHNSW`` (efSearch) or ``SearchParameters`` (Flat); the selector
  is asked once per scanned code (IVF, Flat) or visited node (HNSW), in C++. IVF returns fewer
  than k when the probed lists hold fewer passing items; faiss's HNSW keeps its ``efSearch``
  budget, so recall falls with selectivity. usearch's Python API (2.x ``Index.search``) and
  annoy take no filter: ``in_search`` is refused for them.
- ``exact`` (any backend, the index unused): gather the passing rows (float32, prepared as the
  harness compares them), one BLAS product with the query, the best ``k + 8`` by
  ``argpartition`` re-ranked in float64 (ties to the smaller id): cost proportional to
  ``passing * dim``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookup.distances import as_matrix
from lookup.errors import BadInput
from lookup.protocols import QueryPlan

EMPTY = np.empty(0, dtype=np.int64)
RERANK_EXTRA = 8  # exact strategy: float32 candidates beyond k re-ranked in float64
# faiss knobs SearchParameters carry, per index family
_FAISS_KNOBS = {"ivf": ("nprobe", "max_codes"), "hnsw": ("efSearch",), "flat": ()}


class Passing:
    """A filter's passing sets in the forms the strategies take, made once before timing
    and kept per set: the sorted ids, the bool mask over the database, the packed mask."""

    def __init__(self, sets: tuple[np.ndarray, ...], n_db: int) -> None:
        self.sets = sets
        self.n_db = n_db
        self._masks: dict[int, np.ndarray] = {}
        self._packed: dict[int, np.ndarray] = {}

    def mask(self, j: int) -> np.ndarray:
        """(n_db,) bool: item passes set ``j``."""
        if j not in self._masks:
            m = np.zeros(self.n_db, dtype=bool)
            m[self.sets[j]] = True
            self._masks[j] = m
        return self._masks[j]

    def packed(self, j: int) -> np.ndarray:
        """Set ``j``'s mask as bits, little-endian within each byte (IDSelectorBitmap's)."""
        if j not in self._packed:
            self._packed[j] = np.packbits(self.mask(j), bitorder="little")
        return self._packed[j]


@dataclass(frozen=True)
class Calls:
    """What :func:`lookup.timing.run_queries` needs from a strategy: one prepared input per
    query and the call (both in place of an index's ``query_plan``); ``finish`` pads the
    returned id lists to (nq, k) after the clock stopped (distances are the harness's job)."""

    inputs: list
    call: Callable[[Any], np.ndarray]
    k: int

    def query_plan(self, xq: np.ndarray, k: int, mode: str) -> QueryPlan:
        if mode != "single" or len(xq) != len(self.inputs):
            raise ValueError("filtered queries are timed one by one (mode single)")
        return QueryPlan(self.inputs, self.call, self.finish)

    def finish(self, raws: list) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(raws), self.k), -1, dtype=np.int64)
        for i, r in enumerate(raws):
            r = np.asarray(r, dtype=np.int64)[: self.k]
            ids[i, : len(r)] = r
        return np.where(ids >= 0, np.nan, np.inf).astype(np.float32), ids


def _ids_of(index: Any, plan: QueryPlan) -> Callable[[Any], np.ndarray]:
    """The candidate ids of one raw library output, as cheaply as the library allows:
    hnswlib's labels row and faiss's id row as they are (the backend's finishing step, with
    its distance conversion, is for other backends)."""
    name = getattr(index, "NAME", "")
    if name == "hnswlib":  # (labels (1, k') uint64, or int64 -1 padded, distances)
        return lambda raw: raw[0][0]
    if name == "faiss":  # (distances, ids (1, k') int64, -1 padded)
        return lambda raw: raw[1][0]
    finish = plan.finish
    return lambda raw: finish([raw])[1][0]


def post(index: Any, xq: np.ndarray, k: int, k2: int, masks: list) -> Calls:
    """Post-filtering: ``k2`` candidates from the index (``min(n_db, oversample * k)``), the
    first k that pass kept. ``masks[i]`` is query i's bool mask."""
    plan = index.query_plan(xq, k2, "single")
    lib, ids_of = plan.call, _ids_of(index, plan)

    def call(inp: tuple) -> np.ndarray:
        q, mask = inp
        ids = ids_of(lib(q))
        ids = ids[ids >= 0]
        return ids[mask[ids]][:k]

    return Calls(list(zip(plan.inputs, masks, strict=True)), call, k)


def _hnswlib_partial(knn, q: np.ndarray, kq: int, allowed) -> np.ndarray:
    """The most neighbours (< kq) hnswlib returns with this filter: hnswlib raises rather than
    return fewer than asked, and the count it can return is monotone in what is asked."""
    lo, hi, best = 1, kq - 1, EMPTY
    while lo <= hi:
        mid = (lo + hi) // 2
        try:
            best = knn(q, k=mid, num_threads=1, filter=allowed)[0][0]
            lo = mid + 1
        except RuntimeError:
            hi = mid - 1
    return best


def hnswlib_in_search(index: Any, xq: np.ndarray, k: int, masks: list, n_pass: np.ndarray):
    """hnswlib's filter callable: the bound ``__getitem__`` of the query's bool mask."""
    plan = index.query_plan(xq, k, "single")  # the prepared queries (and ef = max(ef, k))
    knn = index.library_index.knn_query

    def call(inp: tuple) -> np.ndarray:
        q, kq, mask = inp
        if kq == 0:
            return EMPTY
        allowed = mask.__getitem__  # the filter object, per query
        try:
            return knn(q, k=kq, num_threads=1, filter=allowed)[0][0]
        except RuntimeError:  # fewer than kq passing items found
            return _hnswlib_partial(knn, q, kq, allowed)

    kqs = np.minimum(n_pass, k).tolist()
    return Calls(list(zip(plan.inputs, kqs, masks, strict=True)), call, k)


def faiss_family(lib: Any) -> str:
    """``ivf``, ``hnsw`` or ``flat``: the faiss index families that take an IDSelector in
    their SearchParameters; BadInput for any other."""
    import faiss

    inner = faiss.downcast_index(lib)
    if isinstance(inner, faiss.IndexIVF):
        return "ivf"
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(inner, faiss.IndexFlat):
        return "flat"
    raise BadInput(
        f"filter.strategies=in_search is invalid for faiss {type(inner).__name__}: its "
        "search takes no IDSelector; valid: a Flat, IVF* or HNSW* factory, or strategies "
        "post, exact"
    )


def faiss_params(index: Any) -> tuple[Any, dict[str, int]]:
    """The SearchParameters class of a built faiss index and the current knobs it carries."""
    import faiss

    family = faiss_family(index.library_index)
    knobs = dict(index.search_params())
    extra = sorted(set(knobs) - set(_FAISS_KNOBS[family]))
    if extra:
        valid = ", ".join(_FAISS_KNOBS[family]) or "none"
        raise BadInput(
            f"index.search.{extra[0]} is invalid with filter.strategies=in_search: faiss "
            f"SearchParameters of a {family} index carry only: {valid}"
        )
    cls = {
        "ivf": faiss.SearchParametersIVF,
        "hnsw": faiss.SearchParametersHNSW,
        "flat": faiss.SearchParameters,
    }[family]
    return cls, knobs


def faiss_in_search(
    index: Any, xq: np.ndarray, k: int, data: list, n_pass: np.ndarray, selector: str
) -> Calls:
    """faiss with an IDSelector per query: ``data[i]`` is query i's packed mask (bitmap) or
    its passing ids (batch)."""
    import faiss

    cls, knobs = faiss_params(index)
    plan = index.query_plan(xq, k, "single")  # the prepared queries, threads applied
    search = index.library_index.search
    make = faiss.IDSelectorBitmap if selector == "bitmap" else faiss.IDSelectorBatch

    def call(inp: tuple) -> np.ndarray:
        q, kq, passing = inp
        if kq == 0:
            return EMPTY
        params = cls(sel=make(passing), **knobs)  # the filter object, per query
        return search(q, kq, params=params)[1][0]

    kqs = np.minimum(n_pass, k).tolist()
    return Calls(list(zip(plan.inputs, kqs, data, strict=True)), call, k)


class ExactRows:
    """The database for exact search over subsets: float32 rows for the candidate scores,
    float64 rows for the re-rank, both in the harness's metric (unit rows for cosine)."""

    def __init__(self, xb: np.ndarray, metric: str) -> None:
        self.metric = metric
        self.x64 = self._prepare(xb)
        self.x32 = np.ascontiguousarray(self.x64, dtype=np.float32)
        self.sq32 = np.einsum("ij,ij->i", self.x32, self.x32) if metric == "euclidean" else None

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        x = as_matrix(x, "x").astype(np.float64)
        if self.metric == "cosine":
            norms = np.sqrt(np.einsum("ij,ij->i", x, x))
            x /= np.where(norms > 0, norms, 1.0)[:, None]
        return x

    def queries(self, xq: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(float32, float64) of each query, prepared like the rows."""
        q64 = self._prepare(xq)
        q32 = q64.astype(np.float32)
        return list(zip(q32, q64, strict=True))


def exact(rows: ExactRows, xq: np.ndarray, k: int, sets: list) -> Calls:
    """Exact search over the passing rows; ``sets[i]`` is query i's sorted passing ids."""
    x32, x64, sq32, metric = rows.x32, rows.x64, rows.sq32, rows.metric
    extra = RERANK_EXTRA

    def call(inp: tuple) -> np.ndarray:
        q32, q64, ids = inp
        n = len(ids)
        if n == 0:
            return EMPTY
        sub = x32[ids]  # gather the passing rows
        key = sq32[ids] - 2.0 * (sub @ q32) if sq32 is not None else -(sub @ q32)
        c = min(n, k + extra)
        cand = ids[np.argpartition(key, c - 1)[:c]] if c < n else ids
        cv = x64[cand]
        if metric == "euclidean":
            d = np.sqrt(np.square(cv - q64).sum(axis=1))
        else:
            d = -(cv @ q64) + (1.0 if metric == "cosine" else 0.0)
        return cand[np.lexsort((cand, d))[:k]]

    inputs = [(q32, q64, ids) for (q32, q64), ids in zip(rows.queries(xq), sets, strict=True)]
    return Calls(inputs, call, k)
