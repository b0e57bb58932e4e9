"""Char-RNN encoding: the fast path (``CharRNNEncoder.encode``) vs the tutorial's loop.

Both paths encode all tutorial surnames (train + test) with the same weights at the same torch
thread count: ``reference_encode`` runs the tutorial's step-by-step Elman loop over padded
batches of 128 with the Python ``column_gather``; the fast path (tokenisation included) encodes
duplicates once, sorts names by length and runs only the live rows. Claim: the fast path is at
least 3x faster, for rnn01 and rnn02, pooling ``last`` and ``gather``, at 1 and 2 threads.
Single-name latency (``encode([name])``, a different random name per call) is measured too.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

ENCODERS = (("rnn01", "classify"), ("rnn02", "predict"))
POOLINGS = ("last", "gather")
THREADS = (1, 2)
EPOCHS = 10  # the conf/encoder defaults; speed does not depend on it
SEED = 0
ROUNDS = 15  # whole-corpus encodings per variant
SINGLE_CALLS = 1000  # single-name calls per variant
MIN_SPEEDUP = 3.0

CASES = [
    (name, task, pooling, threads)
    for threads in THREADS
    for name, task in ENCODERS
    for pooling in POOLINGS
]


@pytest.fixture(scope="module")
def surnames(perf):
    from lookup.data.surnames import load_surnames

    path = perf.data_dir / "surnames.csv"
    if not path.is_file():
        pytest.skip(f"reference data not found at {path} (set LOOKUP_DATA_DIR)")
    return load_surnames(str(path))


@pytest.fixture(scope="module")
def encoders(perf, surnames):
    """Trained (or cached) encoders by (task, pooling), loaded on first use."""
    from lookup.encoders.char_rnn import CharRNNSpec, load_or_train

    cache: dict = {}

    def get(task: str, pooling: str):
        if (task, pooling) not in cache:
            cache[task, pooling] = load_or_train(
                CharRNNSpec(task=task, pooling=pooling, epochs=EPOCHS, seed=SEED),
                cache_dir=perf.cache_dir,
                train_texts=surnames.db,
                train_labels=surnames.db_labels,
            )
        return cache[task, pooling]

    return get


def _paths(enc, task: str, pooling: str):
    from lookup.encoders.char_rnn import reference_encode

    def reference(texts):
        return reference_encode(enc.model, enc.vectorizer, texts, task=task, pooling=pooling)

    return {"reference": reference, "fast": enc.encode}


@pytest.mark.parametrize("path", ["reference", "fast"])  # reference first: fast reads its median
@pytest.mark.parametrize(("name", "task", "pooling", "threads"), CASES)
def test_encode_all_surnames(
    benchmark, perf, surnames, encoders, name, task, pooling, threads, path
) -> None:
    texts = list(surnames.db) + list(surnames.queries)
    enc = encoders(task, pooling)
    fn = _paths(enc, task, pooling)[path]
    benchmark.group = f"encode {name} {pooling} {threads}t"
    benchmark.extra_info.update(
        encoder=name, pooling=pooling, path=path, n_names=len(texts), epochs=EPOCHS
    )
    with perf.pinned(threads) as got:
        benchmark.extra_info["loadavg_1m_before"] = perf.loadavg()
        out = benchmark.pedantic(fn, args=(texts,), rounds=ROUNDS, warmup_rounds=1)
    key = f"encode/{name}/{pooling}/{threads}/{path}"
    median = perf.store(benchmark, key, threads=got["threads_torch"])
    benchmark.extra_info["names_per_s"] = round(len(texts) / median) if median else None
    if path == "fast":
        with perf.pinned(threads):
            ref = _paths(enc, task, pooling)["reference"](texts)
        diff = float(np.abs(out - ref).max())
        benchmark.extra_info["max_abs_diff_vs_reference"] = diff
        assert diff <= 1e-5
        perf.check_ratio(
            benchmark,
            "speedup",
            f"encode/{name}/{pooling}/{threads}/reference",
            key,
            minimum=MIN_SPEEDUP,
        )


@pytest.mark.parametrize("path", ["reference", "fast"])
@pytest.mark.parametrize(("name", "task", "pooling", "threads"), CASES)
def test_encode_one_name(
    benchmark, perf, surnames, encoders, name, task, pooling, threads, path
) -> None:
    texts = list(surnames.db) + list(surnames.queries)
    rng = np.random.default_rng(SEED)
    names = itertools.cycle([texts[i] for i in rng.integers(0, len(texts), SINGLE_CALLS)])
    fn = _paths(encoders(task, pooling), task, pooling)[path]
    benchmark.group = f"encode one name {name} {pooling} {threads}t"
    benchmark.extra_info.update(encoder=name, pooling=pooling, path=path)
    with perf.pinned(threads) as got:
        benchmark.extra_info["loadavg_1m_before"] = perf.loadavg()
        benchmark.pedantic(
            fn,
            setup=lambda: (([next(names)],), {}),
            rounds=SINGLE_CALLS,
            warmup_rounds=20,
        )
    perf.store(benchmark, f"one/{name}/{pooling}/{threads}/{path}", threads=got["threads_torch"])
    if perf.measuring(benchmark):
        data = np.asarray(benchmark.stats.stats.data)
        benchmark.extra_info["p50_ms"] = round(float(np.percentile(data, 50)) * 1e3, 4)
        benchmark.extra_info["p99_ms"] = round(float(np.percentile(data, 99)) * 1e3, 4)
