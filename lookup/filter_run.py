"""Measure a filtered-lookup job (row kind ``filter``): the engine's prelude, the filters and
their exact truth (:mod:`lookup.filters`), then per build of the index every filter x strategy
x knob point (x oversampling factor for post-filtering), timed by :func:`lookup.timing.run_queries`
and scored by the metric table (:func:`lookup.schema.evaluate`, kind ``filter``).

Order of work: the strategies are checked against the backend and the labels against the
dataset (an unknown label, no labels) before any encoding; the exact strategy and every index
strategy are measured on the same built index, build after build (``repeats``), so their QPS
have the same spread columns. A returned id the filter rejects is scored as a miss (and logged);
the harness recomputes every distance itself, as for job rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookup import experiment, schema
from lookup import filter_strategies as strat
from lookup.distances import check_ids, recompute_distances
from lookup.errors import BadInput
from lookup.experiment import Prepared, job_columns, load_dataset, prepare
from lookup.filters import (
    FilterOptions,
    Filters,
    LabelIndex,
    check_dataset,
    filter_columns,
    make_filters,
    selectivity_groups,
    truth_of,
)
from lookup.index.faiss_backend import FaissIndex
from lookup.index.hnswlib_backend import HnswlibIndex
from lookup.job import Checked, Job, check, make_index
from lookup.provenance import load_average
from lookup.timing import measure_build, run_queries

log = logging.getLogger(__name__)

IN_SEARCH = (HnswlibIndex, FaissIndex)  # backends whose library filters inside the search


@dataclass(frozen=True)
class Key:
    """One measured series: a filter, a strategy, a knob point (-1: exact), a factor."""

    filter: int
    strategy: str
    point: int
    oversample: int | None = None


@dataclass
class Series:
    """The answers of one series, one per build, with the columns that describe it."""

    params: dict[str, Any]
    columns: dict[str, Any]
    answers: list[schema.Answer] = field(default_factory=list)


def check_job(job: Job, opts: FilterOptions) -> None:
    """What can be checked before any data is read: single mode, an index, and a backend
    that can filter inside its search when ``in_search`` is asked for."""
    if job.settings.mode != "single":
        raise BadInput(
            f"mode={job.settings.mode} is invalid for filtered lookups; valid: single (each "
            "query carries its own filter and is timed alone)"
        )
    if job.index is None:
        raise BadInput("a filtered lookup needs an index option; valid: index=<an index>")
    if "in_search" in opts.strategies:
        index = make_index(job, job.settings.metric)
        if not isinstance(index, IN_SEARCH):
            raise BadInput(
                f"filter.strategies={list(opts.strategies)} is invalid for index "
                f"{job.index.name}: its Python API takes no filter inside the search (only "
                "hnswlib and faiss do); valid strategies for it: post, exact"
            )


def _in_search(index: Any, xq: np.ndarray, k: int, f: Filters, p: strat.Passing, selector: str):
    if isinstance(index, HnswlibIndex):
        masks = [p.mask(j) for j in f.of_query]
        return strat.hnswlib_in_search(index, xq, k, masks, f.n_pass), "callable"
    data = [p.packed(j) if selector == "bitmap" else p.sets[j] for j in f.of_query]
    return strat.faiss_in_search(index, xq, k, data, f.n_pass, selector), selector


def _series(
    job: Job,
    opts: FilterOptions,
    index: Any,
    prep: Prepared,
    fi: int,
    f: Filters,
    p: strat.Passing,
    rows: strat.ExactRows | None,
) -> Iterator[tuple[Key, strat.Calls, dict, dict]]:
    """Each series of one filter on one built index, made just before it is timed (making a
    plan sets the backend's knobs); a post-filtering point that would run exactly like one
    already measured (the same k' and effective knobs) is measured once."""
    k, xq = job.settings.k, prep.vectors.xq
    masks = [p.mask(j) for j in f.of_query]
    seen: set[tuple] = set()  # post-filtering points already measured, as they ran
    if "exact" in opts.strategies:
        calls = strat.exact(rows, xq, k, [f.sets[j] for j in f.of_query])
        yield Key(fi, "exact", -1), calls, {}, {}
    for pi, point in enumerate(job.grid):
        index.set_search_params(**point)
        if "in_search" in opts.strategies:
            calls, selector = _in_search(index, xq, k, f, p, opts.faiss_selector)
            yield (
                Key(fi, "in_search", pi),
                calls,
                index.search_params(),
                {"filter_selector": selector},
            )
        if "post" in opts.strategies:
            for over in opts.oversample:
                k2 = min(f.n_db, over * k)
                calls = strat.post(index, xq, k, k2, masks)
                ran = _effective(index.search_params(), k2)
                if (k2, ran) in seen:  # e.g. every ef below k' searches with ef = k'
                    continue
                seen.add((k2, ran))
                cols = {"filter_oversample": over, "filter_k_searched": k2}
                yield Key(fi, "post", pi, over), calls, index.search_params(), cols


def _effective(params: dict, k2: int) -> tuple:
    """The knobs a search for ``k2`` candidates really runs with: HNSW beams below k' are
    raised to k' (hnswlib reports that itself, faiss's efSearch does not)."""
    out = dict(params)
    if "efSearch" in out:
        out["efSearch"] = max(int(out["efSearch"]), k2)
    return tuple(sorted(out.items()))


def _rejected(I: np.ndarray, f: Filters, p: strat.Passing) -> np.ndarray:  # noqa: E741
    """(nq, k) True where a returned id does not pass the query's filter."""
    out = np.zeros(I.shape, dtype=bool)
    for j in range(len(f.sets)):
        rows = np.flatnonzero(f.of_query == j)
        ids = I[rows]
        valid = ids >= 0
        out[rows] = valid & ~p.mask(j)[np.where(valid, ids, 0)]
    return out


def _timed(
    job: Job, prep: Prepared, calls: strat.Calls, f: Filters, p: strat.Passing, key: Key
) -> schema.Answer:
    """Time one series (only the call inside the timer) and score its ids the harness's way:
    its own distances, rejected ids as misses."""
    s, vec = job.settings, prep.vectors
    q = run_queries(calls, vec.xq, s.k, mode="single", warmup=s.warmup, passes=s.passes)
    check_ids(q.I, len(vec.xb), f"filtered search ({key.strategy})")
    D = recompute_distances(vec.xb, vec.xq, q.I, prep.metric)
    bad = _rejected(q.I, f, p)
    if bad.any():
        log.warning(
            "%s returned %d ids its filter rejects (%s); scored as misses",
            key.strategy,
            int(bad.sum()),
            f.name,
        )
        D = np.where(bad, np.float32(np.inf), D)
    return schema.Answer(q.I, D, q.latencies_s, q.total_s)


def sweep(
    job: Job, opts: FilterOptions, prep: Prepared, filters: list[Filters]
) -> tuple[dict[Key, Series], list, Any]:
    """Build the index ``repeats`` times; on each build, time every series of every filter."""
    s, vec = job.settings, prep.vectors
    rows = strat.ExactRows(vec.xb, prep.metric) if "exact" in opts.strategies else None
    measured: dict[Key, Series] = {}
    builds, index = [], None
    for r in range(s.repeats):
        index = make_index(job, prep.metric, seed_offset=r)
        builds.append(measure_build(index, vec.xb))
        if "in_search" in opts.strategies and isinstance(index, FaissIndex):
            strat.faiss_family(index.library_index)  # BadInput before any timing
        for fi, f in enumerate(filters):
            t0 = time.perf_counter()
            p = strat.Passing(f.sets, f.n_db)  # the filter's payload index, made once
            for key, calls, params, cols in _series(job, opts, index, prep, fi, f, p, rows):
                series = measured.setdefault(key, Series(dict(params), cols))
                series.answers.append(_timed(job, prep, calls, f, p, key))
            log.info(
                "build %d/%d, filter %s: %d series in %.1f s",
                r + 1,
                s.repeats,
                f.name,
                sum(1 for k in measured if k.filter == fi),
                time.perf_counter() - t0,
            )
    return measured, builds, index


def rows_of(
    base: dict, truth: schema.FilteredTruth, f: Filters, key: Key, series: Series, *, seed: int
) -> list[dict]:
    """The rows of one series: all queries, and for own/other-label filters one row per
    selectivity bin (``query_group``)."""
    groups = selectivity_groups(f)
    cases: list[tuple[str | None, np.ndarray | None]] = [(None, None)]
    if groups is not None:
        cases = [("all", None)] + [(str(g), np.flatnonzero(groups == g)) for g in np.unique(groups)]
    out = []
    for name, sel in cases:
        t = truth if sel is None else truth.subset(sel)
        answers = series.answers if sel is None else [a.subset(sel) for a in series.answers]
        row = dict(base)
        row.update(filter_columns(f, sel))
        row.update(filter_strategy=key.strategy, point_index=key.point, threads_search=1)
        row.update(series.columns)
        row.update({f"search_{k}": v for k, v in series.params.items()})
        if name is not None:
            row.update(query_group=name, n_queries=len(t.I))
        row.update(schema.evaluate(t, answers, kind="filter", seed=seed))
        out.append(row)
    return out


def measure(
    job: Job, opts: FilterOptions, cid: str | None = None, checked: Checked | None = None
) -> list[dict]:
    """Run a filtered-lookup job: checks, prelude, filters, truth, sweep, rows."""
    checked = checked or check(job)
    check_job(job, opts)
    check_dataset(load_dataset(job, checked), opts)  # labels, before any encoding
    prep = prepare(job, checked)
    ds, vec, k = prep.dataset, prep.vectors, job.settings.k
    labels = LabelIndex.of(ds.db_labels, ds.query_labels)
    filters = make_filters(labels, opts, job.settings.seed, len(vec.xq))
    truths = [
        truth_of(job.cache_dir, vec.xb, vec.xq, prep.metric, k, f, ds, labels) for f in filters
    ]
    load = load_average()
    measured, builds, index = sweep(job, opts, prep, filters)
    base = job_columns(job, prep, cid)
    base.update(experiment._build_columns(job, experiment._Sweep([], builds, index)))
    base["load_avg_1m"] = load
    rows = []
    for key, series in measured.items():
        f, t = filters[key.filter], truths[key.filter]
        rows += rows_of(base, t, f, key, series, seed=job.settings.seed)
    return rows
