"""Fast char-RNN encoding vs the tutorial's step-by-step loop, on the same weights and threads.

Encodes all tutorial surnames (train + test) with `CharRNNEncoder.encode` and with
`reference_encode` (padded batches of 128, explicit Elman loop, Python ``column_gather``),
interleaved, after a warm-up, keeping the best of N; then single-name latency (p50/p99 over
many calls). Writes ``results/perf_encoders.json`` (flat rows) and ``.md``.

    LOOKUP_DATA_DIR=../shared/data python -m bench.perf_encoders
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import subprocess
import time

import numpy as np
import torch

from lookup.data.surnames import load_surnames
from lookup.encoders.char_rnn import load_or_train, reference_encode

log = logging.getLogger("bench.perf_encoders")

SCHEMA_VERSION = 1


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def latencies_ms(fns, names: list[str]) -> list[np.ndarray]:
    """Per-call latency of each fn([name]), calls of the fns alternating name by name."""
    for n in names[:20]:
        for fn in fns:
            fn([n])  # warm-up
    out = [np.empty(len(names)) for _ in fns]
    for i, n in enumerate(names):
        for fn, o in zip(fns, out, strict=True):
            t0 = time.perf_counter()
            fn([n])
            o[i] = (time.perf_counter() - t0) * 1e3
    return out


def run(args: argparse.Namespace) -> list[dict]:
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows += run_threads(args)
    return rows


def run_threads(args: argparse.Namespace) -> list[dict]:
    """All encoders and poolings at the current torch thread count."""
    ds = load_surnames(args.data)
    texts = list(ds.db) + list(ds.queries)
    rng = np.random.default_rng(0)
    single = [texts[i] for i in rng.integers(0, len(texts), args.single_calls)]
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    rows = []
    for task, name, epochs in (("classify", "rnn01", 40), ("predict", "rnn02", 40)):
        for pooling in ("last", "gather"):
            enc = load_or_train(
                task=task,
                pooling=pooling,
                epochs=epochs,
                cache_dir=args.cache_dir,
                train_texts=ds.db,
                train_labels=ds.db_labels,
            )

            def ref(xs, enc=enc, task=task, pooling=pooling):
                return reference_encode(enc.model, enc.vectorizer, xs, task=task, pooling=pooling)

            diff = float(np.abs(enc.encode(texts) - ref(texts)).max())
            fast_t, ref_t = [], []
            for _ in range(args.pairs):  # adjacent pairs: background load hits both alike
                fast_t.append(best_of(lambda enc=enc: enc.encode(texts), 1))
                ref_t.append(best_of(lambda ref=ref: ref(texts), 1))
            fast_s, ref_s = min(fast_t), min(ref_t)
            pair_ratio = np.asarray(ref_t) / np.asarray(fast_t)
            lat, ref_lat = latencies_ms([enc.encode, ref], single)
            row = {
                "schema_version": SCHEMA_VERSION,
                "encoder": name,
                "task": task,
                "pooling": pooling,
                "n_names": len(texts),
                "threads": torch.get_num_threads(),
                "fast_best_s": round(fast_s, 4),
                "ref_best_s": round(ref_s, 4),
                "speedup": round(ref_s / fast_s, 2),
                "speedup_median_pair": round(float(np.median(pair_ratio)), 2),
                "speedup_min_pair": round(float(pair_ratio.min()), 2),
                "fast_median_s": round(float(np.median(fast_t)), 4),
                "ref_median_s": round(float(np.median(ref_t)), 4),
                "fast_names_per_s": round(len(texts) / fast_s),
                "max_abs_diff": diff,
                "single_p50_ms": round(float(np.percentile(lat, 50)), 4),
                "single_p99_ms": round(float(np.percentile(lat, 99)), 4),
                "ref_single_p50_ms": round(float(np.percentile(ref_lat, 50)), 4),
                "single_calls": len(single),
                "pairs": args.pairs,
                "fast_batch_size": 4096,
                "ref_batch_size": 128,
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "torch_version": torch.__version__,
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "git_sha": sha,
                "utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
            log.info("%s", {k: row[k] for k in list(row)[1:20]})
            rows.append(row)
    return rows


def to_markdown(rows: list[dict]) -> str:
    r0 = rows[0]
    lines = [
        "# Char-RNN encoding speed: fast path vs the tutorial's loop",
        "",
        f"All {r0['n_names']} tutorial surnames (train + test), same trained weights, torch "
        "threads pinned to the same count for both paths (column 'threads'; machine: "
        f"{r0['cpu_count']} cores; the 1-min load average, in the table, shows other load). "
        "Fast path: `CharRNNEncoder.encode` "
        "(tokenisation included): duplicate names encoded once, per-character input table "
        "(V, H), names sorted by steps so each step updates only the running rows (`gather` "
        "runs no padded steps), batches of 4096, `inference_mode`. Reference: the tutorial's "
        "step-by-step Elman loop over padded batches of 128 with the Python `column_gather`. "
        f"{r0['pairs']} interleaved fast/reference pairs after a warm-up; 'best' is the minimum "
        "of each, 'pair median' the median of the per-pair ratios (robust to background load). "
        f"Single-name latency: `encode([name])` over {r0['single_calls']} random names.",
        "",
        "| encoder | pooling | threads | fast best s | ref best s | speedup (best) "
        "| speedup (pair median) "
        "| names/s | max abs diff | 1-name p50 ms | 1-name p99 ms | ref 1-name p50 ms | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['pooling']} | {r['threads']} | {r['fast_best_s']:.4f} | "
            f"{r['ref_best_s']:.4f} | "
            f"{r['speedup']:.2f}x | {r['speedup_median_pair']:.2f}x | {r['fast_names_per_s']} | "
            f"{r['max_abs_diff']:.1e} | {r['single_p50_ms']:.3f} | {r['single_p99_ms']:.3f} | "
            f"{r['ref_single_p50_ms']:.3f} | {r['loadavg_1m']} |"
        )
    lines += [
        "",
        f"torch {r0['torch_version']}, Python {r0['python']}, git `{r0['git_sha']}`, {r0['utc']}.",
        "Produced by `LOOKUP_DATA_DIR=../shared/data python -m bench.perf_encoders`; raw rows "
        "in `perf_encoders.json`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="surnames.csv (default $LOOKUP_DATA_DIR)")
    p.add_argument(
        "--threads",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 2],
        help="comma-separated torch thread counts, each applied to both paths",
    )
    p.add_argument("--pairs", type=int, default=15, help="interleaved fast/reference timings")
    p.add_argument("--single-calls", type=int, default=1000)
    p.add_argument("--cache-dir", default=".cache/lookup")
    p.add_argument("--out", default="results/perf_encoders")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = run(args)
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write(to_markdown(rows))
    log.info("wrote %s.json and %s.md", args.out, args.out)


if __name__ == "__main__":
    main()
