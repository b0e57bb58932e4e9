"""One job: data -> encoder -> vectors -> exact neighbours -> index -> search-knob sweep -> rows."""

from __future__ import annotations

import inspect
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from bench import records
from lookup import metrics
from lookup.cache import array_digest, cached_arrays, key_of
from lookup.data.base import Dataset
from lookup.distances import recompute_distances
from lookup.index.exact import exact_knn
from lookup.protocols import METRICS
from lookup.timing import MODES, measure_build, pin_threads, run_queries

log = logging.getLogger(__name__)

# Bump when what the vector or ground-truth caches hold changes meaning (invalidates them).
CACHE_FORMAT = 2
# What the harness hands an encoder factory, when its signature asks for it.
_ENCODER_RUNTIME = ("cache_dir", "train_texts", "train_labels", "heldout_texts", "heldout_labels")


@dataclass(frozen=True)
class Vectors:
    """A dataset's database and query vectors with what producing them cost."""

    xb: np.ndarray  # (n_db, dim) float32
    xq: np.ndarray  # (n_queries, dim) float32
    encode_db_s: float
    encode_queries_s: float
    encoder_fingerprint: str
    from_cache: bool
    encoder_training: dict  # the encoder's own training metrics ({} if none)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_settings(cfg: DictConfig) -> None:
    """Reject bad top-level values before any work is done."""
    if not _is_int(cfg.k) or cfg.k <= 0:
        raise ValueError(f"k={cfg.k} is invalid; k must be a positive integer")
    if cfg.metric not in METRICS:
        raise ValueError(f"metric={cfg.metric} is invalid; valid: {', '.join(METRICS)}")
    if cfg.mode not in MODES:
        raise ValueError(f"mode={cfg.mode} is invalid; valid: {', '.join(MODES)}")
    for key, low in (("threads", 1), ("passes", 1), ("warmup", 0)):
        if not _is_int(cfg[key]) or cfg[key] < low:
            raise ValueError(f"{key}={cfg[key]} is invalid; {key} must be an integer >= {low}")
    if cfg.max_queries is not None and (not _is_int(cfg.max_queries) or cfg.max_queries <= 0):
        raise ValueError(f"max_queries={cfg.max_queries} is invalid; use a positive int or null")
    if not isinstance(cfg.eps, (int, float)) or isinstance(cfg.eps, bool) or cfg.eps < 0:
        raise ValueError(f"eps={cfg.eps} is invalid; eps must be a number >= 0")


def instantiate_option(node: Any, group: str, **runtime: Any) -> Any:
    """``hydra.utils.instantiate`` whose parameter errors become one-line ValueErrors.

    A key the target does not take, or a value of the wrong type, names the group option and
    lists the target's valid keys.
    """
    target = node["_target_"]
    try:
        return instantiate(node, **runtime)
    except InstantiationException as exc:
        cause = exc.__cause__
        if not isinstance(cause, TypeError):
            raise
        valid = [p for p in inspect.signature(get_method(target)).parameters if p not in runtime]
        raise ValueError(
            f"{group} option ({target}) rejected its parameters: {cause}; "
            f"valid keys: {', '.join(valid)}"
        ) from None


def load_dataset(cfg: DictConfig) -> Dataset:
    """Instantiate the dataset option and cap its query side at ``max_queries``."""
    ds: Dataset = instantiate_option(cfg.dataset, "dataset")
    if cfg.max_queries is not None and len(ds.queries) > cfg.max_queries:
        n = cfg.max_queries
        labels = None if ds.query_labels is None else ds.query_labels[:n]
        ds = Dataset(
            ds.name,
            ds.db,
            ds.queries[:n],
            ds.db_labels,
            labels,
            f"{ds.fingerprint}-q{n}",
            ds.metric,
            ds.extra,
        )
    return ds


def is_no_encoder(enc_cfg: DictConfig) -> bool:
    return not enc_cfg or enc_cfg.get("_target_") is None


def load_encoder(cfg: DictConfig, ds: Dataset):
    """Instantiate the encoder option, handing it the training data its factory asks for."""
    runtime = {
        "cache_dir": cfg.cache_dir,
        "train_texts": list(ds.db),
        "train_labels": None if ds.db_labels is None else list(ds.db_labels),
        "heldout_texts": list(ds.queries),
        "heldout_labels": None if ds.query_labels is None else list(ds.query_labels),
    }
    params = inspect.signature(get_method(cfg.encoder._target_)).parameters
    accepts_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    extra = {k: v for k, v in runtime.items() if accepts_all or k in params}
    extra = {k: v for k, v in extra.items() if k not in cfg.encoder}  # config wins
    return instantiate_option(cfg.encoder, "encoder", **extra)


def encoder_for(cfg: DictConfig, ds: Dataset):
    """The encoder a dataset needs (None for precomputed vectors); rejects mismatched pairs."""
    if not ds.is_text:
        if not is_no_encoder(cfg.encoder):
            raise ValueError("this dataset already holds vectors; use encoder=none")
        return None
    if is_no_encoder(cfg.encoder):
        raise ValueError(f"dataset {ds.name} holds texts; encoder=none is only for dataset=vectors")
    return load_encoder(cfg, ds)


def vectors_of(cfg: DictConfig, ds: Dataset, encoder) -> Vectors:
    """Vectors of both sides: the dataset's own, or encoded (cached by content)."""
    if encoder is None:
        return Vectors(ds.db, ds.queries, 0.0, 0.0, "none", False, {})

    def encode() -> tuple[dict[str, np.ndarray], dict]:
        t0 = time.perf_counter()
        xb = encoder.encode(list(ds.db))
        t1 = time.perf_counter()
        xq = encoder.encode(list(ds.queries))
        t2 = time.perf_counter()
        return {"xb": xb, "xq": xq}, {"encode_db_s": t1 - t0, "encode_queries_s": t2 - t1}

    key = key_of(data=ds.fingerprint, encoder=encoder.fingerprint, format=CACHE_FORMAT)
    arrays, meta, hit = cached_arrays(cfg.cache_dir, "vectors", key, encode)
    return Vectors(
        np.ascontiguousarray(arrays["xb"], dtype=np.float32),
        np.ascontiguousarray(arrays["xq"], dtype=np.float32),
        meta["encode_db_s"],
        meta["encode_queries_s"],
        encoder.fingerprint,
        hit,
        dict(encoder.training),
    )


def ground_truth(cfg: DictConfig, xb: np.ndarray, xq: np.ndarray, metric: str, k: int):
    """Exact (D, I) in the harness's metric, cached by the vectors' content."""

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        t0 = time.perf_counter()
        D, I = exact_knn(xb, xq, k, metric, progress=True)
        return {"D": D, "I": I}, {"exact_s": time.perf_counter() - t0}

    key = key_of(xb=array_digest(xb), xq=array_digest(xq), metric=metric, k=k, format=CACHE_FORMAT)
    arrays, _, _ = cached_arrays(cfg.cache_dir, "exact", key, compute)
    return arrays["D"], arrays["I"]


def search_grid(search: DictConfig | None) -> list[dict[str, Any]]:
    """The cartesian product of the query-time knob lists (one empty point if there are none)."""
    if not search:
        return [{}]
    plain = OmegaConf.to_container(search, resolve=True)
    names = list(plain)
    values = [v if isinstance(v, list) else [v] for v in plain.values()]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def make_index(cfg: DictConfig, metric: str):
    """Instantiate the index option's build parameters (everything but ``search``)."""
    build = OmegaConf.to_container(cfg.index, resolve=True)
    build.pop("search", None)
    return instantiate_option(build, "index", metric=metric)


def run(cfg: DictConfig) -> list[dict]:
    """Run one job and append its rows to ``cfg.results.table``; returns the rows.

    Nothing is written unless every sweep point was measured.
    """
    check_settings(cfg)
    table = cfg.results.table
    cid = records.config_id(cfg)
    if not cfg.force and records.has_config(table, cid):
        log.warning(
            "configuration %s already has rows in %s; skipped (force=true reruns)", cid, table
        )
        return []
    grid = search_grid(cfg.index.get("search"))
    index = make_index(cfg, cfg.metric)  # validates build parameters before any heavy work
    for point in grid:
        index.set_search_params(**point)  # validates knob names before any heavy work
    threads = pin_threads(cfg.threads)

    ds = load_dataset(cfg)
    k = cfg.k
    if k > len(ds.db):  # before any encoding or training
        raise ValueError(
            f"k={k} is larger than the database ({len(ds.db)} items); use k <= {len(ds.db)}"
        )
    metric = ds.metric or cfg.metric
    if metric != cfg.metric:
        index = make_index(cfg, metric)
    vec = vectors_of(cfg, ds, encoder_for(cfg, ds))
    n_db, dim = vec.xb.shape
    true_D, true_I = ground_truth(cfg, vec.xb, vec.xq, metric, k)
    has_labels = ds.db_labels is not None and ds.query_labels is not None
    knn_exact = metrics.knn_accuracy(true_I, ds.db_labels, ds.query_labels) if has_labels else None

    build = measure_build(index, vec.xb)
    log.info(
        "built %s in %.2f s (%d bytes)", type(index).__name__, build.build_s, build.index_bytes
    )
    base = records.base_row(cfg)
    base.update(threads)
    base.update(
        dataset=ds.name,
        encoder=base["choice_encoder"] or (_encoder_name(cfg) if ds.is_text else "none"),
        encoder_fingerprint=vec.encoder_fingerprint,
        index=base["choice_index"] or type(index).__name__,
        metric=metric,
        n_db=n_db,
        n_queries=len(vec.xq),
        dim=dim,
        encode_db_s=vec.encode_db_s,
        encode_queries_s=vec.encode_queries_s,
        encode_db_items_per_s=_rate(n_db, vec.encode_db_s),
        encode_queries_items_per_s=_rate(len(vec.xq), vec.encode_queries_s),
        encode_from_cache=vec.from_cache,
        build_s=build.build_s,
        index_bytes=build.index_bytes,
        build_peak_rss=build.build_peak_rss,
    )
    base.update({f"build_{k_}": v for k_, v in index.build_params().items()})
    base.update(
        {
            f"encoder_{k_}": v
            for k_, v in vec.encoder_training.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    )

    rows = []
    for point in grid:
        index.set_search_params(**point)
        q = run_queries(index, vec.xq, k, mode=cfg.mode, warmup=cfg.warmup, passes=cfg.passes)
        run_D = recompute_distances(vec.xb, vec.xq, q.I, metric)
        row = dict(base)
        row.update({f"search_{k_}": v for k_, v in index.search_params().items()})
        row.update(
            recall_at_k=metrics.recall_tie_aware(true_D, run_D, k, eps=cfg.eps),
            recall_at_k_ids=metrics.recall_ids(true_I, q.I, k),
        )
        if has_labels:
            row.update(
                knn_acc=metrics.knn_accuracy(q.I, ds.db_labels, ds.query_labels),
                knn_acc_exact=knn_exact,
                hit_at_k=metrics.hit_at_k(q.I, ds.db_labels, ds.query_labels, k),
                label_precision_at_k=metrics.label_precision_at_k(
                    q.I, ds.db_labels, ds.query_labels, k
                ),
            )
        row.update(metrics.latency_stats(q.latencies_s))
        rows.append(row)
    records.append_rows(table, rows)
    return rows


def _encoder_name(cfg: DictConfig) -> str:
    """A readable encoder name outside Hydra's runtime (module name, plus task if any)."""
    module = cfg.encoder._target_.rsplit(".", 2)[-2]
    task = cfg.encoder.get("task")
    return f"{module}:{task}" if task else module


def _rate(n: int, seconds: float) -> float | None:
    return n / seconds if seconds > 0 else None
