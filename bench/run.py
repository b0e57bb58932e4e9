"""One job: data -> encoder -> vectors -> exact neighbours -> index (built ``repeats`` times) ->
search-knob sweep -> one row per operating point.

Order of work: every value is validated first (settings, the three options against their
constructors' signatures, the knob grid, the results table), then the configuration is
claimed in the table (a configuration already measured is not measured again), and only then
is data read. Options are turned into plain Python before anything is constructed: data
never passes through OmegaConf, so no per-job cost grows with the dataset.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from bench import records, table
from lookup import metrics, registry
from lookup.cache import array_digest, cached_arrays, key_of
from lookup.data.base import Dataset
from lookup.distances import (
    METRICS,
    check_finite,
    check_ids,
    count_zero_rows,
    recompute_distances,
    tie_floor,
)
from lookup.index.exact import exact_knn
from lookup.params import check_call, check_range
from lookup.protocols import MODES, EncoderData
from lookup.provenance import load_average
from lookup.timing import measure_build, pin_threads, run_queries

log = logging.getLogger(__name__)

# Bump when what the vector or ground-truth caches hold changes meaning (invalidates them).
CACHE_FORMAT = 2
N_BOOT = 1000  # bootstrap resamples of the queries for the 95% confidence intervals


@dataclass(frozen=True)
class Settings:
    """The top-level keys of ``conf/config.yaml`` that shape a measurement."""

    k: int = 10
    metric: str = "cosine"
    eps: float = 1e-3
    seed: int = 0
    threads: int = 1
    mode: str = "single"
    warmup: int = 10
    passes: int = 3
    repeats: int = 1
    max_queries: int | None = None
    force: bool = False
    target_recall: float = 0.95


def check_settings(cfg: DictConfig) -> Settings:
    """Top-level values, typed and in range, before any work; one-line ValueError otherwise."""
    given = {f.name: cfg[f.name] for f in fields(Settings) if f.name in cfg}
    s = Settings(**check_call(Settings, given, prefix=""))
    check_range("", "k", s.k, minimum=1)
    check_range("", "metric", s.metric, choices=METRICS)
    check_range("", "mode", s.mode, choices=MODES)
    check_range("", "eps", s.eps, minimum=0.0)
    check_range("", "seed", s.seed, minimum=0)
    for key in ("threads", "passes", "repeats"):
        check_range("", key, getattr(s, key), minimum=1)
    check_range("", "warmup", s.warmup, minimum=0)
    if s.max_queries is not None:
        check_range("", "max_queries", s.max_queries, minimum=1)
    check_range("", "target_recall", s.target_recall, minimum=0.0, maximum=1.0)
    cache = cfg.get("cache_dir")
    if not isinstance(cache, str) or not cache or os.path.isfile(cache):
        raise ValueError(f"cache_dir={cache!r} is invalid; valid: a folder path (made if missing)")
    return s


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


def _option(cfg: DictConfig, group: str) -> dict[str, Any]:
    node = cfg.get(group)
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


def _dataset_loader(cfg: DictConfig):
    params = _option(cfg, "dataset")
    target = params.pop("_target_", None)
    module, _, name = str(target).rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(f"dataset._target_={target!r} is invalid; valid: a loader path") from None
    return fn, check_call(fn, params, prefix="dataset")


def load_dataset(cfg: DictConfig) -> Dataset:
    """Load the dataset option (plain keyword arguments) and cap its query side."""
    fn, params = _dataset_loader(cfg)
    ds: Dataset = fn(**params)
    n = cfg.get("max_queries")
    if n is not None and len(ds.queries) > n:
        labels = None if ds.query_labels is None else ds.query_labels[:n]
        ds = Dataset(
            ds.name,
            ds.db,
            ds.queries[:n],
            ds.db_labels,
            labels,
            f"{ds.fingerprint}-q{n}",
            ds.metric,
        )
    return ds


def has_encoder(cfg: DictConfig) -> bool:
    node = cfg.get("encoder")
    return bool(node) and node.get("_target_") is not None


def make_encoder_spec(cfg: DictConfig):
    """The encoder option as a validated spec (None for ``encoder=none``)."""
    return registry.make_encoder_spec(_option(cfg, "encoder")) if has_encoder(cfg) else None


def make_encoder(cfg: DictConfig, ds: Dataset, spec=None):
    """The encoder a dataset needs (None for precomputed vectors); rejects mismatched pairs."""
    if not ds.is_text:
        if has_encoder(cfg):
            raise ValueError(
                "encoder is set but the dataset already holds vectors; use encoder=none"
            )
        return None
    if not has_encoder(cfg):
        raise ValueError(f"dataset {ds.name} holds texts; encoder=none is only for dataset=vectors")
    spec = spec if spec is not None else make_encoder_spec(cfg)
    data = EncoderData(ds.db, ds.db_labels, ds.queries, ds.query_labels)
    return spec.load(data, cache_dir=cfg.cache_dir)


def vectors_of(cfg: DictConfig, ds: Dataset, encoder) -> Vectors:
    """Vectors of both sides: the dataset's own, or encoded (cached by content); finite."""
    if encoder is None:
        vec = Vectors(ds.db, ds.queries, 0.0, 0.0, "none", False, {})
    else:

        def encode() -> tuple[dict[str, np.ndarray], dict]:
            t0 = time.perf_counter()
            xb = encoder.encode(ds.db)
            t1 = time.perf_counter()
            xq = encoder.encode(ds.queries)
            t2 = time.perf_counter()
            return {"xb": xb, "xq": xq}, {"encode_db_s": t1 - t0, "encode_queries_s": t2 - t1}

        key = key_of(data=ds.fingerprint, encoder=encoder.fingerprint, format=CACHE_FORMAT)
        arrays, meta, hit = cached_arrays(cfg.cache_dir, "vectors", key, encode)
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


def ground_truth(cfg: DictConfig, xb: np.ndarray, xq: np.ndarray, metric: str, k: int):
    """Exact (D, I) in the harness's metric, cached by the vectors' content."""

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        t0 = time.perf_counter()
        D, I = exact_knn(xb, xq, k, metric, progress=True)
        return {"D": D, "I": I}, {"exact_s": time.perf_counter() - t0}

    key = key_of(xb=array_digest(xb), xq=array_digest(xq), metric=metric, k=k, format=CACHE_FORMAT)
    arrays, _, _ = cached_arrays(cfg.cache_dir, "exact", key, compute)
    return arrays["D"], arrays["I"]


def search_grid(search: Mapping | DictConfig | None) -> list[dict[str, Any]]:
    """The cartesian product of the query-time knob lists (one empty point if there are none)."""
    if search is None or (isinstance(search, Mapping) or OmegaConf.is_dict(search)) and not search:
        return [{}]
    plain = OmegaConf.to_container(search, resolve=True) if OmegaConf.is_config(search) else search
    if not isinstance(plain, Mapping):
        raise ValueError(
            f"index.search={plain!r} is invalid; valid: a mapping of knob lists, e.g. "
            "index.search.ef=[10,40]"
        )
    names = list(plain)
    values = []
    for name, v in plain.items():
        v = v if isinstance(v, list) else [v]
        if not v:
            raise ValueError(
                f"index.search.{name}=[] is invalid; valid: a non-empty list of values"
            )
        values.append(v)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def make_index(cfg: DictConfig, metric: str, *, seed_offset: int = 0):
    """The index option's build parameters as a constructed (unbuilt) index.

    ``seed_offset`` shifts a ``seed`` build parameter (repeats build with seed, seed+1, ...).
    """
    node = _option(cfg, "index")
    if "seed" in node and isinstance(node["seed"], int) and not isinstance(node["seed"], bool):
        node["seed"] += seed_offset
    return registry.make_index(node, metric=metric)


def _numbers(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return None, None
    return float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else None


@dataclass
class _Point:
    """Measurements of one operating point over the repeats."""

    params: dict
    recall: list  # (nq,) per repeat
    recall_ids: list
    recall_annb: list
    eps_recall: list
    rel: list
    knn: list  # (nq,) per repeat
    hit: list
    precision: list
    latency: list  # latency_stats dict per repeat
    threads_search: int = 1


def run(cfg: DictConfig) -> list[dict]:
    """Run one job and append its rows to ``cfg.results.table``; returns the rows.

    A configuration already in the table is not measured again (unless ``force``): its stored
    rows are returned, each marked with ``"_stored": True``. Nothing is written unless every
    sweep point of every repeat was measured.
    """
    s = check_settings(cfg)
    grid = search_grid(cfg.index.get("search"))
    index = make_index(cfg, s.metric)  # validates build parameters before any heavy work
    for point in grid:
        index.set_search_params(**point)  # validates knob names and values
    spec = make_encoder_spec(cfg)  # validates encoder settings
    _dataset_loader(cfg)  # validates dataset parameters
    path = cfg.results.table
    table.check_table(path)  # before hashing the inputs: a bad table is reported first
    cid = records.config_id(cfg)
    return table.measure_once(path, cid, lambda: _measure(cfg, s, grid, spec, cid), force=s.force)


def _measure(cfg: DictConfig, s: Settings, grid: list[dict], spec, cid: str) -> list[dict]:
    threads = pin_threads(s.threads)
    ds = load_dataset(cfg)
    k = s.k
    if k > len(ds.db):  # before any encoding or training
        raise ValueError(f"k={k} is invalid; valid: k <= {len(ds.db)} (the database size)")
    metric = ds.metric or s.metric
    t0 = time.perf_counter()
    log.info("dataset loaded: %s, %d database / %d queries", ds.name, len(ds.db), len(ds.queries))
    vec = vectors_of(cfg, ds, make_encoder(cfg, ds, spec))
    n_db, dim = vec.xb.shape
    log.info(
        "vectors ready: %d x %d in %.3f s (%s)",
        n_db,
        dim,
        time.perf_counter() - t0,
        "from the cache" if vec.from_cache else "encoded",
    )
    true_D, true_I = ground_truth(cfg, vec.xb, vec.xq, metric, k)
    atol = tie_floor(vec.xb, vec.xq, metric)
    median_kth = float(np.median(np.abs(true_D[:, k - 1])))
    if s.eps > 0.01 * median_kth:
        log.warning(
            "eps=%g is above 1%% of the median true %d-th distance (%.3g): recall_at_k_annb "
            "counts non-neighbours as ties; recall_at_k (relative tolerance) does not",
            s.eps,
            k,
            median_kth,
        )
    has_labels = ds.db_labels is not None and ds.query_labels is not None
    knn_exact = metrics.knn_accuracy(true_I, ds.db_labels, ds.query_labels) if has_labels else None

    points = [_Point(p, *([] for _ in range(9))) for p in grid]
    builds = []
    load = load_average()
    for r in range(s.repeats):
        index = make_index(cfg, metric, seed_offset=r)
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
        for pt in points:
            index.set_search_params(**pt.params)
            q = run_queries(index, vec.xq, k, mode=s.mode, warmup=s.warmup, passes=s.passes)
            owner = f"index {type(index).__name__}"
            check_ids(q.I, n_db, owner)
            run_D = recompute_distances(vec.xb, vec.xq, q.I, metric)
            pt.params = dict(index.search_params())
            pt.threads_search = index.threads_used(s.mode)["search"]
            pt.recall.append(metrics.recall_per_query(true_D, run_D, k, atol=atol))
            pt.recall_ids.append(metrics.recall_ids(true_I, q.I, k))
            pt.recall_annb.append(metrics.recall_at_k_annb(true_D, run_D, k, s.eps))
            pt.eps_recall.append(metrics.epsilon_recall_at_k(true_D, run_D, k))
            pt.rel.append(metrics.rel(true_D, run_D, k))
            if has_labels:
                pt.knn.append(metrics.knn_correct(q.I, ds.db_labels, ds.query_labels))
                pt.hit.append(metrics.hit_at_k(q.I, ds.db_labels, ds.query_labels, k))
                pt.precision.append(
                    metrics.label_precision_at_k(q.I, ds.db_labels, ds.query_labels, k)
                )
            pt.latency.append(q.latency_stats())
        threads_build = index.threads_used(s.mode)["build"]

    base = records.base_row(cfg, cid)
    base.update(threads)
    build_s, build_s_std = _mean_std([b.build_s for b in builds])
    base.update(
        dataset=ds.name,
        encoder=base["choice_encoder"] or (_encoder_name(cfg) if ds.is_text else "none"),
        encoder_fingerprint=vec.encoder_fingerprint,
        index=base["choice_index"] or registry.name_of(type(index)),
        metric=metric,
        n_db=n_db,
        n_queries=len(vec.xq),
        dim=dim,
        n_zero_db=count_zero_rows(vec.xb) if metric == "cosine" else None,
        n_zero_queries=count_zero_rows(vec.xq) if metric == "cosine" else None,
        encode_db_s=vec.encode_db_s,
        encode_queries_s=vec.encode_queries_s,
        encode_db_items_per_s=_rate(n_db, vec.encode_db_s),
        encode_queries_items_per_s=_rate(len(vec.xq), vec.encode_queries_s),
        encode_from_cache=vec.from_cache,
        build_s=build_s,
        build_s_std=build_s_std,
        index_bytes=builds[0].index_bytes,
        build_peak_rss=max(b.build_peak_rss for b in builds),
        threads_build=threads_build,
        n_repeats=s.repeats,
        load_avg_1m=load,
    )
    base.update({f"build_{k_}": v for k_, v in index.build_params().items()})
    base.update({f"encoder_fit_{k_}": v for k_, v in _numbers(vec.encoder_training).items()})

    rows = []
    for pt in points:
        row = dict(base)
        row.update({f"search_{k_}": v for k_, v in pt.params.items()})
        row["threads_search"] = pt.threads_search
        recall_q = np.mean(pt.recall, axis=0)  # (nq,) mean over repeats
        lo, hi = metrics.bootstrap_ci(recall_q, seed=s.seed, n_boot=N_BOOT)
        row.update(
            recall_at_k=float(recall_q.mean()),
            recall_at_k_ci_low=lo,
            recall_at_k_ci_high=hi,
            recall_at_k_ids=float(np.mean(pt.recall_ids)),
            recall_at_k_annb=float(np.mean(pt.recall_annb)),
            epsilon_recall_at_k=float(np.mean(pt.eps_recall)),
            rel=float(np.mean(pt.rel)),
        )
        if has_labels:
            knn_q = np.mean(pt.knn, axis=0)
            lo, hi = metrics.bootstrap_ci(knn_q, seed=s.seed, n_boot=N_BOOT)
            row.update(
                knn_acc=float(knn_q.mean()),
                knn_acc_ci_low=lo,
                knn_acc_ci_high=hi,
                knn_acc_exact=knn_exact,
                hit_at_k=float(np.mean(pt.hit)),
                label_precision_at_k=float(np.mean(pt.precision)),
            )
        for col in pt.latency[0]:
            mean, std = _mean_std([lat[col] for lat in pt.latency])
            row[col] = mean
            if col in ("qps", "latency_mean_ms"):
                row[f"{col}_std"] = std
        qps = [lat["qps"] for lat in pt.latency]
        row.update(qps_min=float(min(qps)), qps_max=float(max(qps)))
        rows.append(row)
    return rows


def _encoder_name(cfg: DictConfig) -> str:
    """A readable encoder name outside Hydra's runtime (the spec's class, plus task if any)."""
    name = registry.short_name(cfg.encoder._target_, "encoder")
    task = cfg.encoder.get("task")
    return f"{name}:{task}" if task else name


def _rate(n: int, seconds: float) -> float | None:
    return n / seconds if seconds > 0 else None
