"""Harness overhead: single-query time measured by ``run_queries`` vs the bare hnswlib call.

``python -m bench.perf_overhead`` builds hnswlib (M=16, ef_construction=200, one thread) on
random vectors (default 100k x 100), sets ef=10 and alternates, ``--rounds`` times, a bare
tight loop of ``index.knn_query(q, k)`` (total / nq) with one harness pass
(``run_queries(mode="single", passes=1)``, mean per-query ``perf_counter`` time). The best
(smallest) of each is compared; the target is harness / bare <= 1.10. The median over rounds of
the paired ratio is reported too, as a check that is less sensitive to a busy machine. The
harness times each call alone while the bare figure includes the loop, so a ratio slightly
below 1 is expected. Writes a JSON record and a Markdown summary, and prints a small table.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import hnswlib
import numpy as np

from lookup.index.hnswlib_backend import HnswlibIndex
from lookup.timing import measure_build, pin_threads, run_queries

log = logging.getLogger(__name__)

MAX_RATIO = 1.10


def _bare_pass(knn, rows: list, k: int) -> float:
    """Mean seconds per query of a tight loop of bare ``knn_query`` calls."""
    t0 = time.perf_counter()
    for q in rows:
        knn(q, k)
    return (time.perf_counter() - t0) / len(rows)


def measure(n: int, dim: int, queries: int, k: int, ef: int, rounds: int, seed: int) -> dict:
    """Build the index, interleave bare and harness passes, return the record."""
    threads = pin_threads(1)
    rng = np.random.default_rng(seed)
    xb = rng.random((n, dim), dtype=np.float32)
    xq = rng.random((queries, dim), dtype=np.float32)
    index = HnswlibIndex(metric="euclidean", M=16, ef_construction=200, seed=seed, threads=1)
    build = measure_build(index, xb)
    log.info("built %d x %d in %.1f s", n, dim, build.build_s)
    index.set_search_params(ef=ef)

    raw = index.library_index
    raw.set_num_threads(1)
    raw.set_ef(max(ef, k))
    knn = raw.knn_query
    rows = list(xq)  # 1-d float32 views, made once outside the loop
    for q in rows[:10]:  # warm-up, as run_queries does
        knn(q, k)

    bare, harness = [], []
    for _ in range(rounds):
        bare.append(_bare_pass(knn, rows, k))
        run = run_queries(index, xq, k, mode="single", warmup=10, passes=1)
        harness.append(float(run.latencies_s.mean()))
    labels, _ = knn(xq, k)
    same = bool(np.array_equal(labels.astype(np.int64), run.I))
    ratio = min(harness) / min(bare)
    paired = float(np.median(np.asarray(harness) / np.asarray(bare)))
    return {
        "benchmark": "perf_overhead",
        "library": "hnswlib",
        "hnswlib_version": getattr(hnswlib, "__version__", "unknown"),
        "python": platform.python_version(),
        "n": n,
        "dim": dim,
        "queries": queries,
        "k": k,
        "ef": ef,
        "M": 16,
        "ef_construction": 200,
        "rounds": rounds,
        **threads,
        "threads_hnswlib": 1,
        "build_s": build.build_s,
        "bare_us_per_query": min(bare) * 1e6,
        "harness_us_per_query": min(harness) * 1e6,
        "bare_us_all_rounds": [b * 1e6 for b in bare],
        "harness_us_all_rounds": [h * 1e6 for h in harness],
        "ratio": ratio,
        "ratio_median_paired": paired,
        "max_ratio": MAX_RATIO,
        "within_limit": ratio <= MAX_RATIO,
        "same_neighbours": same,
    }


def _table(rec: dict) -> str:
    return "\n".join(
        [
            f"hnswlib {rec['n']} x {rec['dim']}, {rec['queries']} queries, k={rec['k']}, "
            f"ef={rec['ef']}, 1 thread, best of {rec['rounds']} interleaved rounds",
            "",
            "| measurement | us / query |",
            "|---|---:|",
            f"| bare `knn_query` loop | {rec['bare_us_per_query']:.2f} |",
            f"| harness `run_queries` single | {rec['harness_us_per_query']:.2f} |",
            f"| ratio harness / bare, best of each | {rec['ratio']:.3f} "
            f"(limit {rec['max_ratio']:.2f}) |",
            f"| ratio, median over rounds of harness / bare | {rec['ratio_median_paired']:.3f} |",
            "",
            f"within limit: {rec['within_limit']}; identical neighbours: {rec['same_neighbours']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns 1 with ``--strict`` when the ratio exceeds the limit."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="database vectors")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ef", type=int, default=10)
    p.add_argument("--rounds", type=int, default=15, help="interleaved bare/harness rounds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/perf_overhead.json"))
    p.add_argument("--strict", action="store_true", help="exit 1 if the ratio exceeds 1.10")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader logs every missing ISA
    rec = measure(args.n, args.dim, args.queries, args.k, args.ef, args.rounds, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rec, indent=2) + "\n")
    table = _table(rec)
    args.out.with_suffix(".md").write_text("# Harness overhead (single-query)\n\n" + table + "\n")
    print(table)
    return 1 if args.strict and not rec["within_limit"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
