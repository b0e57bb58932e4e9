"""Exact search speed: ``lookup.metrics.exact_knn`` vs ``scipy.spatial.distance.cdist`` + argsort.

``python -m bench.perf_exact`` (defaults: 100k x 64 random database, 10k queries, k=10,
euclidean) times ``exact_knn`` on all queries (best of ``--repeats``) and the scipy baseline
(``cdist`` then a full ``argsort`` per row, keeping the first k) on the first
``--scipy-queries`` queries only, scaled linearly to all queries, which the output says. On that
subset the neighbours are compared: ids identical row by row, and up to ties (tie-aware recall
of our answer against scipy's distances with eps 1e-5, and the largest distance difference).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np
import scipy
import torch
from scipy.spatial.distance import cdist

from lookup.index.exact import exact_knn
from lookup.metrics import recall_tie_aware
from lookup.timing import pin_threads

log = logging.getLogger(__name__)

MIN_SPEEDUP = 20.0
_SCIPY_METRIC = {"euclidean": "euclidean", "cosine": "cosine"}


def _scipy_knn(xb: np.ndarray, xq: np.ndarray, k: int, metric: str):
    if metric == "ip":
        dist = -(xq.astype(np.float64) @ xb.T.astype(np.float64))
    else:
        dist = cdist(xq, xb, _SCIPY_METRIC[metric])
    ids = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, ids, axis=1), ids


def measure(
    n: int,
    dim: int,
    queries: int,
    k: int,
    metric: str,
    scipy_queries: int,
    repeats: int,
    threads: int,
    seed: int,
) -> dict:
    """Time both methods and compare their neighbours; return the record."""
    pinned = pin_threads(threads)
    rng = np.random.default_rng(seed)
    xb = rng.standard_normal((n, dim), dtype=np.float32)
    xq = rng.standard_normal((queries, dim), dtype=np.float32)
    exact_knn(xb, xq[:8], k, metric)  # warm-up (thread pools, allocator)
    ours = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dist, ids = exact_knn(xb, xq, k, metric)
        ours.append(time.perf_counter() - t0)
    m = min(scipy_queries, queries)
    t0 = time.perf_counter()
    sD, sI = _scipy_knn(xb, xq[:m], k, metric)
    scipy_subset_s = time.perf_counter() - t0
    scipy_scaled_s = scipy_subset_s * queries / m
    ours_s = min(ours)
    max_diff = float(np.max(np.abs(sD - dist[:m].astype(np.float64))))
    return {
        "benchmark": "perf_exact",
        "metric": metric,
        "n": n,
        "dim": dim,
        "queries": queries,
        "k": k,
        **pinned,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "exact_knn_s": ours_s,
        "exact_knn_s_all_repeats": ours,
        "scipy_queries_timed": m,
        "scipy_subset_s": scipy_subset_s,
        "scipy_scaled_s": scipy_scaled_s,
        "scipy_scaled": m < queries,
        "speedup": scipy_scaled_s / ours_s,
        "min_speedup": MIN_SPEEDUP,
        "within_target": scipy_scaled_s / ours_s >= MIN_SPEEDUP,
        "compared_queries": m,
        "rows_identical_ids": float(np.mean(np.all(sI == ids[:m], axis=1))),
        "recall_tie_aware_vs_scipy": recall_tie_aware(sD, dist[:m], k, eps=1e-5),
        "max_abs_distance_diff": max_diff,
    }


def _table(r: dict) -> str:
    factor = r["queries"] / r["scipy_queries_timed"]
    scaled = (
        f"timed on {r['scipy_queries_timed']} queries, scaled x{factor:.0f}"
        if r["scipy_scaled"]
        else "timed on all queries"
    )
    return "\n".join(
        [
            f"exact k-NN, {r['n']} x {r['dim']} database, {r['queries']} queries, k={r['k']}, "
            f"{r['metric']}, threads torch={r['threads_torch']} blas={r['threads_blas']}",
            "",
            "| method | seconds |",
            "|---|---:|",
            f"| lookup.metrics.exact_knn (best of {len(r['exact_knn_s_all_repeats'])}) "
            f"| {r['exact_knn_s']:.2f} |",
            f"| scipy cdist + argsort ({scaled}) | {r['scipy_scaled_s']:.1f} |",
            f"| speedup | {r['speedup']:.1f}x (target >= {r['min_speedup']:.0f}x) |",
            "",
            f"on {r['compared_queries']} queries: rows with identical ids "
            f"{r['rows_identical_ids']:.4f}, tie-aware recall vs scipy (eps 1e-5) "
            f"{r['recall_tie_aware_vs_scipy']:.4f}, max |distance diff| "
            f"{r['max_abs_distance_diff']:.2e}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns 1 with ``--strict`` when the speedup target is missed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="database vectors")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--metric", default="euclidean", choices=("euclidean", "cosine", "ip"))
    p.add_argument("--scipy-queries", type=int, default=500, help="queries timed with scipy")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/perf_exact.json"))
    p.add_argument("--strict", action="store_true", help="exit 1 if the speedup is below 20x")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader logs every missing ISA
    rec = measure(
        args.n,
        args.dim,
        args.queries,
        args.k,
        args.metric,
        args.scipy_queries,
        args.repeats,
        args.threads,
        args.seed,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rec, indent=2) + "\n")
    table = _table(rec)
    args.out.with_suffix(".md").write_text("# Exact search vs scipy\n\n" + table + "\n")
    print(table)
    return 1 if args.strict and not rec["within_target"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
