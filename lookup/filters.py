"""Filtered lookups: the k nearest database items among those a label filter lets through.

Every dataset here labels its items (a name's country, a surname's nationality), so a filter is
a set of labels and its exact answer is exact search over the items that pass. This module
makes the filters, their exact truth and the rows; :mod:`lookup.filter_strategies` holds the
three ways of answering a filtered query.

**Filter kinds** (``filter.kinds``), one filter per query:

- ``own_label``: the query's own label (positively correlated with its neighbours);
- ``other_label``: one other label per query, drawn (seeded) with probability proportional to
  its share of the database, so its selectivity is distributed like the own label's and what
  differs is the correlation with the query;
- ``selectivity``: one label set per target in ``filter.selectivity``, the same for every
  query and chosen independently of it: the labels in a seeded order are taken whole while they
  fit in ``round(target * n_db)`` items, and the rest of that count is a seeded sample of one
  more label (so tiny targets are reachable when the smallest label is larger; the row says
  how many items came from that split label);
- ``labels``: the labels of ``filter.labels`` for every query ("nearest names among JP").

**Selectivity** is the share of the database a filter passes: ``filter_selectivity`` is the
target (kind ``selectivity``), ``filter_selectivity_achieved`` the mean over the row's queries
of the share that actually passed (with ``_min``/``_max``). Own- and other-label rows also come
per query group of half-decade selectivity bins (``query_group`` = ``"0.001-0.003"``, ...;
``"all"`` for every query), so those kinds have curves over selectivity as well.

**Truth** is exact search over each filter's passing items (:func:`lookup.index.exact.exact_knn`,
the ground-truth engine), cached by content (the vectors, the metric, k and every passing set);
a query whose filter passes fewer than k items has ``min(k, passing)`` true neighbours, recall
counts against that (:func:`lookup.metrics.filtered_recall_per_query`), and the row counts such
queries (``filter_n_below_k``) and the answers short of them (``n_short_answers``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookup import schema
from lookup.cache import array_digest, cached_arrays, key_of
from lookup.data.base import Dataset
from lookup.distances import tie_floor
from lookup.errors import BadInput
from lookup.index.exact import exact_knn

log = logging.getLogger(__name__)

KINDS = ("own_label", "other_label", "selectivity", "labels")
STRATEGIES = ("post", "in_search", "exact")
SELECTORS = ("bitmap", "batch")  # faiss IDSelectorBitmap / IDSelectorBatch
# The default sweep: ten targets from 0.1% of the database to all of it.
DEFAULT_SELECTIVITY = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# Edges of the half-decade selectivity bins of own- and other-label rows (query groups).
BIN_EDGES = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
CACHE_FORMAT = 1  # bump when the filtered truth's cache changes meaning
_KIND_SEED = {kind: i for i, kind in enumerate(KINDS)}  # one random stream per kind


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


@dataclass(frozen=True)
class FilterOptions:
    """The ``filter`` config group: which filters, which strategies, how hard post-filtering
    tries. Checked on construction (one-line BadInput naming the key)."""

    kinds: Sequence[str] = ("own_label", "other_label", "selectivity")
    selectivity: Sequence[float] = DEFAULT_SELECTIVITY
    labels: Sequence[str] = ()
    strategies: Sequence[str] = STRATEGIES
    oversample: Sequence[int] = (1, 4, 16, 64, 256)
    faiss_selector: str = "bitmap"

    def __post_init__(self) -> None:
        for name in ("kinds", "selectivity", "labels", "strategies", "oversample"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        _check_choices("kinds", self.kinds, KINDS)
        _check_choices("strategies", self.strategies, STRATEGIES)
        if self.faiss_selector not in SELECTORS:
            raise BadInput(
                f"filter.faiss_selector={self.faiss_selector!r} is invalid; valid: "
                f"{', '.join(SELECTORS)}"
            )
        bad = [s for s in self.selectivity if not _is_share(s)]
        if bad or ("selectivity" in self.kinds and not self.selectivity):
            raise BadInput(
                f"filter.selectivity={list(self.selectivity)} is invalid; valid: shares of the "
                "database that pass, each in (0, 1], e.g. [0.001, 0.01, 0.1, 1.0]"
            )
        ints = all(isinstance(f, int) and not isinstance(f, bool) for f in self.oversample)
        if not self.oversample or not ints or min(self.oversample) < 1:
            raise BadInput(
                f"filter.oversample={list(self.oversample)} is invalid; valid: integers >= 1 "
                "(post-filtering asks the index for oversample x k candidates)"
            )
        if ("labels" in self.kinds) != bool(self.labels):
            raise BadInput(
                f"filter.labels={list(self.labels)} with filter.kinds={list(self.kinds)} is "
                "invalid; valid: labels given exactly when kinds holds 'labels'"
            )

    def plain(self) -> dict[str, Any]:
        """The options as JSON-able plain data (the job's identity)."""
        return {
            "kinds": list(self.kinds),
            "selectivity": [float(s) for s in self.selectivity],
            "labels": [str(x) for x in self.labels],
            "strategies": list(self.strategies),
            "oversample": list(self.oversample),
            "faiss_selector": self.faiss_selector,
        }


def _is_share(value: Any) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return ok and math.isfinite(value) and 0 < value <= 1


def _check_choices(key: str, values: tuple, valid: tuple[str, ...]) -> None:
    if not values or len(set(values)) < len(values) or any(v not in valid for v in values):
        raise BadInput(
            f"filter.{key}={list(values)} is invalid; valid: a non-empty list of distinct "
            f"values among {', '.join(valid)}"
        )


# ---------------------------------------------------------------------------------- filters
@dataclass(frozen=True)
class Filters:
    """One filter per query: the distinct passing sets (sorted int64 database ids) and which
    query uses which, with what describes them in a row."""

    kind: str
    sets: tuple[np.ndarray, ...]
    of_query: np.ndarray  # (nq,) index into sets
    n_db: int
    selectivity: float | None = None  # the target share (kind "selectivity")
    n_labels: int | None = None  # whole labels in the set (kinds "selectivity", "labels")
    n_split: int = 0  # items taken from a split label (kind "selectivity")
    label_names: tuple[str, ...] = field(default=())  # kind "labels"

    @property
    def n_pass(self) -> np.ndarray:
        """(nq,) how many database items each query's filter passes."""
        sizes = np.array([len(s) for s in self.sets], dtype=np.int64)
        return sizes[self.of_query]

    @property
    def name(self) -> str:
        """What a log line calls this filter."""
        if self.selectivity is not None:
            return f"{self.kind} {self.selectivity:g}"
        return self.kind if not self.label_names else f"labels {','.join(self.label_names)}"


@dataclass(frozen=True)
class LabelIndex:
    """The database's labels as codes with their posting lists (sorted ids per label), and
    the queries' labels as the same codes (-1: a label the database lacks)."""

    names: np.ndarray  # (L,) the distinct database labels, sorted
    codes: np.ndarray  # (n_db,) int64 code of each database item
    postings: tuple[np.ndarray, ...]  # (L,) sorted int64 ids per label
    query_codes: np.ndarray | None  # (nq,) int64, or None without query labels

    @classmethod
    def of(cls, db_labels: np.ndarray, query_labels: np.ndarray | None) -> LabelIndex:
        names, codes = np.unique(np.asarray(db_labels).astype(str), return_inverse=True)
        codes = codes.astype(np.int64)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        postings = tuple(order[bounds[i] : bounds[i + 1]] for i in range(len(names)))
        qc = None
        if query_labels is not None:
            ql = np.asarray(query_labels).astype(str)
            pos = np.minimum(np.searchsorted(names, ql), len(names) - 1)
            qc = np.where(names[pos] == ql, pos, -1).astype(np.int64)
        return cls(names, codes, postings, qc)

    def counts(self) -> np.ndarray:
        return np.array([len(p) for p in self.postings], dtype=np.int64)


def check_dataset(ds: Dataset, opts: FilterOptions) -> LabelIndex:
    """The dataset's label index; one-line BadInput for a dataset without the labels the
    kinds need or a ``filter.labels`` entry the database does not hold."""
    if ds.db_labels is None:
        raise BadInput(
            f"filter needs database labels but dataset {ds.name} has none; valid: a labelled "
            "dataset (names, surnames, captions) or dataset.db_labels for vectors"
        )
    per_query = [k for k in opts.kinds if k in ("own_label", "other_label")]
    if per_query and ds.query_labels is None:
        raise BadInput(
            f"filter.kinds={list(opts.kinds)} needs query labels ({per_query[0]}) but dataset "
            f"{ds.name} has none; valid: kinds selectivity, labels"
        )
    index = LabelIndex.of(ds.db_labels, ds.query_labels)
    for label in opts.labels:
        if str(label) not in set(index.names.tolist()):
            shown = ", ".join(index.names[:20].tolist())
            more = f", ... ({len(index.names)} labels)" if len(index.names) > 20 else ""
            raise BadInput(
                f"filter.labels={list(opts.labels)} is invalid: {label!r} is not a label of "
                f"dataset {ds.name}; valid: {shown}{more}"
            )
    if "other_label" in opts.kinds and len(index.names) < 2:
        raise BadInput(
            f"filter.kinds=other_label needs two database labels; dataset {ds.name} has one"
        )
    return index


def _rng(seed: int, kind: str, extra: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, _KIND_SEED[kind], extra])


def own_label(index: LabelIndex) -> Filters:
    """Each query's own label (a label the database lacks passes nothing)."""
    qc = index.query_codes
    used = np.unique(qc)
    sets = tuple(index.postings[c] if c >= 0 else np.empty(0, np.int64) for c in used)
    return Filters("own_label", sets, np.searchsorted(used, qc), len(index.codes))


def other_label(index: LabelIndex, seed: int) -> Filters:
    """One other label per query, drawn with probability proportional to its database share."""
    rng = _rng(seed, "other_label")
    counts = index.counts().astype(np.float64)
    qc = index.query_codes
    drawn = np.empty(len(qc), dtype=np.int64)
    for c in np.unique(qc):  # queries of one label share the distribution
        rows = np.flatnonzero(qc == c)
        p = counts.copy()
        if c >= 0:
            p[c] = 0.0
        drawn[rows] = rng.choice(len(p), size=len(rows), p=p / p.sum())
    used = np.unique(drawn)
    sets = tuple(index.postings[c] for c in used)
    return Filters("other_label", sets, np.searchsorted(used, drawn), len(index.codes))


def label_set(index: LabelIndex, target: float, seed: int, nq: int) -> Filters:
    """One label set reaching ``round(target * n_db)`` items (at least one) for every query:
    whole labels in a seeded order while they fit, then a seeded sample of the next label
    that did not fit."""
    n = len(index.codes)
    want = max(1, int(round(target * n)))
    rng = _rng(seed, "selectivity", want)
    taken: list[np.ndarray] = []
    left, skipped = want, None
    for c in rng.permutation(len(index.names)):
        size = len(index.postings[c])
        if size <= left:
            taken.append(index.postings[c])
            left -= size
        elif skipped is None:
            skipped = c
        if left == 0:
            break
    n_labels = len(taken)
    if left > 0:  # every label still out is larger than what is left: split the first
        taken.append(rng.permutation(index.postings[skipped])[:left])
    ids = np.sort(np.concatenate(taken)) if taken else np.empty(0, np.int64)
    return Filters(
        "selectivity",
        (ids,),
        np.zeros(nq, dtype=np.int64),
        n,
        selectivity=float(target),
        n_labels=n_labels,
        n_split=left,
    )


def given_labels(index: LabelIndex, labels: Sequence[str], nq: int) -> Filters:
    """The same labels for every query (checked by :func:`check_dataset`)."""
    codes = np.searchsorted(index.names, np.asarray([str(x) for x in labels]))
    ids = np.sort(np.concatenate([index.postings[c] for c in np.unique(codes)]))
    return Filters(
        "labels",
        (ids,),
        np.zeros(nq, dtype=np.int64),
        len(index.codes),
        n_labels=len(np.unique(codes)),
        label_names=tuple(str(x) for x in labels),
    )


def make_filters(index: LabelIndex, opts: FilterOptions, seed: int, nq: int) -> list[Filters]:
    """Every filter the options ask for, in the order of ``opts.kinds``."""
    out: list[Filters] = []
    for kind in opts.kinds:
        if kind == "own_label":
            out.append(own_label(index))
        elif kind == "other_label":
            out.append(other_label(index, seed))
        elif kind == "selectivity":
            out += [label_set(index, s, seed, nq) for s in sorted(set(opts.selectivity))]
        else:
            out.append(given_labels(index, opts.labels, nq))
    return out


def label_open(index: LabelIndex, f: Filters) -> np.ndarray:
    """(nq,) True where the query's filter passes its own label and at least one other."""
    out = np.zeros(len(f.of_query), dtype=bool)
    if index.query_codes is None:
        return out
    for j, ids in enumerate(f.sets):
        rows = np.flatnonzero(f.of_query == j)
        present = np.unique(index.codes[ids])
        if len(present) > 1:
            out[rows] = np.isin(index.query_codes[rows], present)
    return out


def selectivity_groups(f: Filters) -> np.ndarray | None:
    """Half-decade bin names of each query's achieved selectivity (own/other label kinds),
    else None (one row for all queries)."""
    if f.kind not in ("own_label", "other_label"):
        return None
    share = f.n_pass / max(f.n_db, 1)
    edges = np.asarray(BIN_EDGES)
    b = np.clip(np.searchsorted(edges, share, side="left") - 1, 0, len(edges) - 2)
    return np.array([f"{edges[i]:g}-{edges[i + 1]:g}" for i in b])


# ------------------------------------------------------------------------------------ truth
def filtered_truth(
    cache_dir: str, xb: np.ndarray, xq: np.ndarray, metric: str, k: int, f: Filters
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (D, I), (nq, k), of every query among its filter's passing items, padded with
    inf / -1 past the passing count; cached by the vectors', the metric's, k's and the
    filters' content."""

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        t0 = time.perf_counter()
        D = np.full((len(xq), k), np.inf, dtype=np.float32)
        I = np.full((len(xq), k), -1, dtype=np.int64)  # noqa: E741
        for j, ids in enumerate(f.sets):
            rows = np.flatnonzero(f.of_query == j)
            kq = min(k, len(ids))
            if kq == 0 or len(rows) == 0:
                continue
            d, i = exact_knn(xb[ids], xq[rows], kq, metric)
            D[rows, :kq], I[rows, :kq] = d, ids[i]
        return {"D": D, "I": I}, {"exact_s": time.perf_counter() - t0}

    key = key_of(
        xb=array_digest(xb),
        xq=array_digest(xq),
        metric=metric,
        k=k,
        filters=array_digest(f.of_query, *f.sets),
        format=CACHE_FORMAT,
    )
    arrays, _, _ = cached_arrays(cache_dir, "exact_filtered", key, compute)
    return arrays["D"], arrays["I"]


def truth_of(
    cache_dir: str,
    xb: np.ndarray,
    xq: np.ndarray,
    metric: str,
    k: int,
    f: Filters,
    ds: Dataset,
    index: LabelIndex,
) -> schema.FilteredTruth:
    """The filtered truth of one filter kind (and target) for all queries."""
    D, I = filtered_truth(cache_dir, xb, xq, metric, k, f)  # noqa: E741
    labelled = ds.query_labels is not None
    return schema.FilteredTruth(
        D,
        I,
        k,
        atol=tie_floor(xb, xq, metric),
        db_labels=ds.db_labels if labelled else None,
        query_labels=ds.query_labels if labelled else None,
        n_pass=f.n_pass,
        label_open=label_open(index, f),
    )


def filter_columns(f: Filters, rows: np.ndarray | None = None) -> dict[str, Any]:
    """The columns that say which filter a row measured (over ``rows`` of the queries)."""
    share = f.n_pass / max(f.n_db, 1)
    if rows is not None:
        share = share[rows]
    return {
        "filter_kind": f.kind,
        "filter_selectivity": f.selectivity,
        "filter_selectivity_achieved": float(share.mean()) if len(share) else math.nan,
        "filter_selectivity_min": float(share.min()) if len(share) else math.nan,
        "filter_selectivity_max": float(share.max()) if len(share) else math.nan,
        "filter_n_labels": f.n_labels if f.n_labels is not None else 1,
        "filter_n_split": f.n_split,
        "filter_labels": " ".join(f.label_names),
        "filter_n_distinct": len(f.sets),
    }
