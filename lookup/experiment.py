"""The engine: a typed :class:`lookup.job.Job` in, rows and per-query arrays out.

One job: data -> encoder -> vectors -> exact neighbours -> index (built ``repeats`` times) ->
search-knob sweep -> one row per operating point, its metric columns computed from the metric
table (:mod:`lookup.schema`). No Hydra here, and no results table: storing rows and the
resume rule belong to the caller (``bench`` or :mod:`lookup.api`-style scripts).

- :func:`prepare` is the prelude every command shares (threads pinned, dataset loaded and its
  query side capped, encoder trained or loaded, vectors encoded or read from the cache);
- :func:`ground_truth` is exact search in the harness metric, cached by the vectors' content;
- :func:`measure` runs the sweep and returns a :class:`Result`: the rows and, per operating
  point, what the index returned (:class:`lookup.schema.Answer` per repeat), so any metric can
  be recomputed later (:mod:`lookup.perquery`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lookup import codes, schema
from lookup.cache import array_digest, cached_arrays, key_of
from lookup.data.base import Dataset
from lookup.distances import (
    check_finite,
    check_ids,
    count_zero_rows,
    recompute_distances,
    tie_floor,
)
from lookup.errors import BadInput
from lookup.index.exact import exact_knn
from lookup.index.faiss_binary_backend import exact_knn_hamming
from lookup.job import Checked, Job, backend_knobs, base_row, check, make_index, rescore_factor
from lookup.kernels import kernel_columns
from lookup.protocols import EncoderData
from lookup.provenance import load_average
from lookup.timing import measure_build, pin_threads, run_queries

log = logging.getLogger(__name__)

# Bump when what the vector or ground-truth caches hold changes meaning (invalidates them).
# 3: exact distances in float64 (large or tiny vectors kept exact).
CACHE_FORMAT = 3


@dataclass(frozen=True)
class Vectors:
    """A dataset's database and query vectors with what producing them cost."""

    xb: np.ndarray  # (n_db, dim) float32
    xq: np.ndarray  # (n_queries, dim) float32
    encode_db_s: float
    encode_queries_s: float
    encoder_fingerprint: str
    from_cache: bool
    encoder_training: dict  # the encoder's own fit metrics ({} if none)


@dataclass(frozen=True)
class Prepared:
    """The shared prelude's output: the dataset, its encoder and both sides' vectors."""

    dataset: Dataset
    encoder: Any | None
    vectors: Vectors
    metric: str  # the dataset's own metric (ann-benchmarks files) or the job's
    threads: dict[str, int]  # what pin_threads set


@dataclass(frozen=True)
class Point:
    """One operating point: its knobs as the backend ran them and one Answer per repeat."""

    params: dict[str, Any]
    answers: list[schema.Answer]
    threads_search: int


@dataclass(frozen=True)
class Result:
    """A measured job: its rows (one per operating point, per query group) and the arrays."""

    rows: list[dict[str, Any]]
    truth: schema.Truth
    points: list[Point]
    query_groups: np.ndarray | None = None


def search_grid(search: Mapping[str, Any] | None) -> tuple[dict[str, Any], ...]:
    """The cartesian product of the query-time knob lists (one empty point if there are none);
    a repeated value in a list is measured once (a log line says so)."""
    import itertools

    if not search:
        return ({},)
    if not isinstance(search, Mapping):
        raise BadInput(
            f"index.search={search!r} is invalid; valid: a mapping of knob lists, e.g. "
            "index.search.ef=[10,40]"
        )
    names, values = list(search), []
    for name, v in search.items():
        v = list(v) if isinstance(v, (list, tuple)) else [v]
        if not v:
            raise BadInput(f"index.search.{name}=[] is invalid; valid: a non-empty list of values")
        unique: list[Any] = []
        for x in v:  # equal values of the same type once (values may be unhashable)
            if not any(type(x) is type(y) and x == y for y in unique):
                unique.append(x)
        if len(unique) < len(v):
            log.warning(
                "index.search.%s=%s repeats values; measuring %s once each", name, v, unique
            )
        values.append(unique)
    return tuple(dict(zip(names, combo, strict=True)) for combo in itertools.product(*values))


def load_dataset(job: Job, checked: Checked | None = None) -> Dataset:
    """Load the dataset option and cap its query side at ``settings.max_queries``."""
    checked = checked or check(job)
    ds: Dataset = checked.loader(**checked.loader_params)
    n = job.settings.max_queries
    if n is not None and len(ds.queries) > n:
        cut = {"query_labels": None if ds.query_labels is None else ds.query_labels[:n]}
        groups = getattr(ds, "query_groups", None)
        if groups is not None:
            cut["query_groups"] = groups[:n]
        ds = replace(ds, queries=ds.queries[:n], fingerprint=f"{ds.fingerprint}-q{n}", **cut)
    return ds


def make_encoder(job: Job, ds: Dataset, checked: Checked | None = None):
    """The encoder a dataset needs (None for precomputed vectors); rejects mismatched pairs."""
    if not ds.is_text:
        if job.encoder is not None:
            raise BadInput("encoder is set but the dataset already holds vectors; use encoder=none")
        return None
    if job.encoder is None:
        raise BadInput(f"dataset {ds.name} holds texts; encoder=none is only for dataset=vectors")
    spec = (checked or check(job)).encoder_spec
    data = EncoderData(ds.db, ds.db_labels, ds.queries, ds.query_labels)
    return spec.load(data, cache_dir=job.cache_dir)


def encode_queries(encoder, texts) -> np.ndarray:
    """Queries as queries (``role="query"``): prompted models (e5, bge) put their query prompt
    on this side (:class:`lookup.protocols.Encoder`)."""
    return encoder.encode(texts, role="query")


def vectors_of(cache_dir: str, ds: Dataset, encoder) -> Vectors:
    """Vectors of both sides: the dataset's own, or encoded (cached by content); finite."""
    if encoder is None:
        vec = Vectors(ds.db, ds.queries, 0.0, 0.0, "none", False, {})
    else:

        def encode() -> tuple[dict[str, np.ndarray], dict]:
            getattr(encoder, "model", None)  # a lazily loaded model loads here, not in the timer
            t0 = time.perf_counter()
            xb = encoder.encode(ds.db)
            t1 = time.perf_counter()
            xq = encode_queries(encoder, ds.queries)
            t2 = time.perf_counter()
            return {"xb": xb, "xq": xq}, {"encode_db_s": t1 - t0, "encode_queries_s": t2 - t1}

        key = key_of(data=ds.fingerprint, encoder=encoder.fingerprint, format=CACHE_FORMAT)
        arrays, meta, hit = cached_arrays(cache_dir, "vectors", key, encode)
        vec = Vectors(
            np.ascontiguousarray(arrays["xb"], dtype=np.float32),
            np.ascontiguousarray(arrays["xq"], dtype=np.float32),
            meta["encode_db_s"],
            meta["encode_queries_s"],
            encoder.fingerprint,
            hit,
            dict(encoder.training),
        )
    source = "the dataset's vectors" if encoder is None else "the encoder's output"
    check_finite(vec.xb, f"{source} (database side)")
    check_finite(vec.xq, f"{source} (query side)")
    return vec


def prepare(job: Job, checked: Checked | None = None) -> Prepared:
    """Pin threads, load the dataset, train or load the encoder, encode both sides (cached)."""
    checked = checked or check(job)
    threads = pin_threads(job.settings.threads)
    ds = load_dataset(job, checked)
    if job.settings.k > len(ds.db):  # before any encoding or training
        raise BadInput(
            f"k={job.settings.k} is invalid; valid: k <= {len(ds.db)} (the database size)"
        )
    t0 = time.perf_counter()
    log.info("dataset loaded: %s, %d database / %d queries", ds.name, len(ds.db), len(ds.queries))
    encoder = make_encoder(job, ds, checked)
    vec = vectors_of(job.cache_dir, ds, encoder)
    how = (
        "the dataset's own"
        if not ds.is_text
        else ("from the cache" if vec.from_cache else "encoded")
    )
    log.info("vectors ready: %d x %d in %.3f s (%s)", *vec.xb.shape, time.perf_counter() - t0, how)
    return Prepared(ds, encoder, vec, ds.metric or job.settings.metric, threads)


def ground_truth(cache_dir: str, xb: np.ndarray, xq: np.ndarray, metric: str, k: int):
    """Exact (D, I) in the harness's metric, cached by the vectors' content."""

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        t0 = time.perf_counter()
        if metric == "hamming":
            D, I = exact_knn_hamming(xb, xq, k)  # noqa: E741
        else:
            D, I = exact_knn(xb, xq, k, metric, progress=True)  # noqa: E741
        return {"D": D, "I": I}, {"exact_s": time.perf_counter() - t0}

    key = key_of(xb=array_digest(xb), xq=array_digest(xq), metric=metric, k=k, format=CACHE_FORMAT)
    arrays, _, _ = cached_arrays(cache_dir, "exact", key, compute)
    return arrays["D"], arrays["I"]


def truth_of(job: Job, prep: Prepared, ref: schema.Truth | None = None) -> schema.Truth:
    """Exact neighbours and the tie floor of a prepared job; warns when ann-benchmarks' eps
    is too coarse for these distances. ``ref``: the float32 truth when ``prep`` holds codes."""
    s, vec, ds = job.settings, prep.vectors, prep.dataset
    D, I = ground_truth(job.cache_dir, vec.xb, vec.xq, prep.metric, s.k)  # noqa: E741
    median_kth = float(np.median(np.abs(D[:, s.k - 1])))
    if s.eps > 0.01 * median_kth:
        log.warning(
            "eps=%g is above 1%% of the median true %d-th distance (%.3g): recall_at_k_annb "
            "counts non-neighbours as ties; recall_at_k (relative tolerance) does not",
            s.eps,
            s.k,
            median_kth,
        )
    labelled = ds.db_labels is not None and ds.query_labels is not None
    return schema.Truth(
        D,
        I,
        s.k,
        atol=tie_floor(vec.xb, vec.xq, prep.metric),
        eps=s.eps,
        db_labels=ds.db_labels if labelled else None,
        query_labels=ds.query_labels if labelled else None,
        ref=ref,
    )


def coded(job: Job, prep: Prepared) -> tuple[Prepared, schema.Truth | None]:
    """The prepared job in its code (``job.codes``) and the float32 reference truth; the job
    itself and None when the code is float32 at full width."""
    if job.codes.is_identity:
        return prep, None
    ref = truth_of(job, prep)
    vec = prep.vectors
    cv = codes.apply(
        job.codes, vec.xb, vec.xq, prep.metric, seed=job.settings.seed, cache_dir=job.cache_dir
    )
    return replace(prep, vectors=replace(vec, xb=cv.xb, xq=cv.xq), metric=cv.metric), ref


@dataclass(frozen=True)
class _Sweep:
    points: list[Point]
    builds: list[Any]  # BuildStats per repeat
    index: Any  # the last built index (build parameters, threads)


def sweep(job: Job, prep: Prepared, floats: Prepared | None = None) -> _Sweep:
    """Build the index ``repeats`` times and measure every knob point on each build.

    ``floats``: the float32 vectors when ``prep`` holds codes; a point's ``rescore`` factor
    re-ranks with them (:class:`lookup.codes.Rescored`), and every answer carries its ids'
    float32-space distances for the reference metrics."""
    s, vec = job.settings, prep.vectors
    fv = (floats or prep).vectors
    float_metric = (floats or prep).metric
    answers: list[list[schema.Answer]] = [[] for _ in job.grid]
    ran: list[dict[str, Any]] = [dict(p) for p in job.grid]
    threads = [1] * len(job.grid)
    builds = []
    for r in range(s.repeats):
        index = make_index(job, prep.metric, seed_offset=r)
        build = measure_build(index, vec.xb)
        builds.append(build)
        log.info(
            "built %s (repeat %d/%d) in %.2f s, %d bytes",
            type(index).__name__,
            r + 1,
            s.repeats,
            build.build_s,
            build.index_bytes,
        )
        for i, point in enumerate(job.grid):
            index.set_search_params(**backend_knobs(point))
            r_factor = rescore_factor(point)
            target = index
            if r_factor > 1:
                target = codes.Rescored(index, fv.xb, fv.xq, r_factor, float_metric)
            q = run_queries(target, vec.xq, s.k, mode=s.mode, warmup=s.warmup, passes=s.passes)
            check_ids(q.I, len(vec.xb), f"index {type(index).__name__}")
            run_D = recompute_distances(vec.xb, vec.xq, q.I, prep.metric)
            d_ref = None
            if floats is not None:
                d_ref = recompute_distances(fv.xb, fv.xq, q.I, float_metric)
            answers[i].append(schema.Answer(q.I, run_D, q.latencies_s, q.total_s, d_ref))
            ran[i] = {
                **target.search_params(),
                **({"rescore": r_factor} if "rescore" in point else {}),
            }
            threads[i] = index.threads_used(s.mode)["search"]
    points = [Point(p, a, t) for p, a, t in zip(ran, answers, threads, strict=True)]
    return _Sweep(points, builds, index)


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return None, None
    return float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else None


def _numbers(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _rate(n: int, seconds: float) -> float | None:
    return n / seconds if seconds > 0 else None


def job_columns(job: Job, prep: Prepared, cid: str | None) -> dict[str, Any]:
    """The columns every row of a measured job shares: identity, sizes, encoding cost."""
    vec, ds = prep.vectors, prep.dataset
    n_db, dim = vec.xb.shape
    row = base_row(job, cid)
    row.update(prep.threads)
    cosine = prep.metric == "cosine"
    if ds.name != job.dataset.name:  # e.g. dataset=vectors: the file it read
        row["dataset_source"] = ds.name
    row.update(job.codes.columns(dim))
    dtype = job.index.params.get("dtype", "f32") if job.index is not None else "f32"
    row.update(kernel_columns(metric=prep.metric, dim=dim, usearch_dtype=str(dtype)))
    row.update(
        dataset=job.dataset.name,
        encoder=job.encoder.name if job.encoder is not None else "none",
        encoder_fingerprint=vec.encoder_fingerprint,
        metric=prep.metric,
        n_db=n_db,
        n_queries=len(vec.xq),
        dim=dim,
        n_zero_db=count_zero_rows(vec.xb) if cosine else None,
        n_zero_queries=count_zero_rows(vec.xq) if cosine else None,
        encode_db_s=vec.encode_db_s,
        encode_queries_s=vec.encode_queries_s,
        encode_db_items_per_s=_rate(n_db, vec.encode_db_s),
        encode_queries_items_per_s=_rate(len(vec.xq), vec.encode_queries_s),
        encode_from_cache=vec.from_cache,
    )
    row.update({f"encoder_fit_{k}": v for k, v in _numbers(vec.encoder_training).items()})
    return row


def _build_columns(job: Job, sw: _Sweep) -> dict[str, Any]:
    build_s, build_s_std = _mean_std([b.build_s for b in sw.builds])
    row = {
        "index": job.index.name,  # a sweep always has an index
        "build_s": build_s,
        "build_s_std": build_s_std,
        "index_bytes": sw.builds[0].index_bytes,
        "build_peak_rss": max(b.build_peak_rss for b in sw.builds),
        "threads_build": sw.index.threads_used(job.settings.mode)["build"],
        "n_repeats": job.settings.repeats,
    }
    row.update({f"build_{k}": v for k, v in sw.index.build_params().items()})
    return row


def group_rows(
    base: dict, truth: schema.Truth, point: Point, groups, *, seed: int, index: int = 0
) -> list[dict]:
    """The rows of one operating point: all queries, then (when the dataset names query
    groups) one row per group with ``query_group`` set; metrics from the metric table."""
    rows = []
    cases: list[tuple[str | None, np.ndarray | None]] = [(None, None)]
    if groups is not None:
        cases = [("all", None)] + [(str(g), np.flatnonzero(groups == g)) for g in np.unique(groups)]
    for name, sel in cases:
        t = truth if sel is None else truth.subset(sel)
        answers = point.answers if sel is None else [a.subset(sel) for a in point.answers]
        row = dict(base)
        row.update({f"search_{k}": v for k, v in point.params.items()})
        row["threads_search"] = point.threads_search
        row["point_index"] = index  # its place in the sweep: keys its per-query arrays
        if name is not None:
            row.update(query_group=name, n_queries=len(t.I))
        row.update(schema.evaluate(t, answers, kind="job", seed=seed))
        rows.append(row)
    return rows


def measure(job: Job, cid: str | None = None, checked: Checked | None = None) -> Result:
    """Run ``job`` (kind "job"): prepare, exact truth, build and sweep, rows from the table."""
    checked = checked or check(job)
    floats = prepare(job, checked)
    prep, ref = coded(job, floats)
    truth = truth_of(job, prep, ref)
    load = load_average()
    sw = sweep(job, prep, floats if ref is not None else None)
    base = job_columns(job, floats, cid)
    base["code_metric"] = prep.metric
    base.update(_build_columns(job, sw))
    base["load_avg_1m"] = load
    groups = getattr(prep.dataset, "query_groups", None)
    groups = None if groups is None else np.asarray(groups).astype(str)
    rows = [
        r
        for i, p in enumerate(sw.points)
        for r in group_rows(base, truth, p, groups, seed=job.settings.seed, index=i)
    ]
    return Result(rows, truth, sw.points, groups)
