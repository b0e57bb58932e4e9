"""What a filter costs per query inside the library's search, against the same search without
one, on the same index at the same knob (the filter passes every item, so the graph walk or the
scanned lists are the same and only the filter's own cost differs).

Data: 30,000 x 64 unit vectors of 50 Gaussian clusters (the size and dimension of the names
database under rnn02), 1,000 queries, k=10, one thread, seeded.

- hnswlib (M=16, ef_construction=200, ef=40): ``knn_query(q, k)`` vs ``knn_query(q, k,
  filter=f)`` with ``f`` the bound ``__getitem__`` of a numpy bool mask (what
  ``lookup.filter_strategies`` uses), of a Python list of bools and of a ``bytes`` object.
  hnswlib calls ``f`` from C++ once per candidate, taking the GIL; ``calls_per_query`` counts
  them (untimed, a counting callable), and ``us_per_call`` = (filtered - plain) per query /
  calls per query. Claim: a filter never makes the search faster (ratio >= 1).
- faiss HNSW32 (efSearch=40) and IVF256,Flat (nprobe=8): ``search(q, k)`` vs
  ``search(q, k, params=SearchParameters*(sel=IDSelectorBitmap(packed mask)))`` made per query,
  and the same with ``IDSelectorBatch(all ids)`` (a hash set built per query). Claim: >= 1.
"""

from __future__ import annotations

import numpy as np
import pytest

N, DIM, CLUSTERS, QUERIES, K, SEED = 30_000, 64, 50, 1_000, 10, 0
EF, EF_SEARCH, NPROBE = 40, 40, 8
ROUNDS = 7


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(SEED)
    centres = rng.normal(size=(CLUSTERS, DIM)).astype(np.float32)
    xb = centres[rng.integers(0, CLUSTERS, N)] + 0.5 * rng.normal(size=(N, DIM)).astype(np.float32)
    xq = centres[rng.integers(0, CLUSTERS, QUERIES)]
    xq = xq + 0.5 * rng.normal(size=(QUERIES, DIM)).astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    return xb, np.ascontiguousarray(xq)


@pytest.fixture(scope="module")
def hnsw(data, perf):
    import hnswlib

    xb, _ = data
    index = hnswlib.Index(space="ip", dim=DIM)
    index.init_index(max_elements=N, M=16, ef_construction=200, random_seed=SEED)
    with perf.pinned(1):
        index.set_num_threads(1)
        index.add_items(xb, np.arange(N), num_threads=1)
    index.set_ef(EF)
    return index


MASK = np.ones(N, dtype=bool)
FILTERS = {
    "numpy_mask": lambda: MASK.__getitem__,
    "list": lambda: MASK.tolist().__getitem__,
    "bytes": lambda: MASK.astype(np.uint8).tobytes().__getitem__,
}


def _calls_per_query(index, xq) -> float:
    count = [0]

    def counting(i: int) -> bool:
        count[0] += 1
        return True

    for q in xq[:200]:
        index.knn_query(q[None], k=K, num_threads=1, filter=counting)
    return count[0] / 200


@pytest.mark.parametrize("variant", ["plain", *FILTERS])
def test_hnswlib_filter_callable(benchmark, perf, data, hnsw, variant) -> None:
    _, xq = data
    rows = list(xq[:, None, :])
    knn = hnsw.knn_query
    make = FILTERS.get(variant)
    allowed = make() if make else None

    def one_pass() -> None:
        if allowed is None:
            for q in rows:
                knn(q, k=K, num_threads=1)
        else:
            for q in rows:
                knn(q, k=K, num_threads=1, filter=allowed)

    benchmark.group = f"hnswlib filter callable ef={EF} 1t"
    with perf.pinned(1) as got:
        benchmark.extra_info["loadavg_1m_before"] = perf.loadavg()
        benchmark.pedantic(one_pass, rounds=ROUNDS, warmup_rounds=1)
    info = dict(n=N, dim=DIM, queries=QUERIES, k=K, ef=EF, threads=1, threads_pinned=got)
    median = perf.store(benchmark, f"hnswlib/{variant}", **info)
    if median is not None:
        benchmark.extra_info["us_per_query"] = round(median / QUERIES * 1e6, 2)
    if variant != "plain":
        calls = _calls_per_query(hnsw, xq)
        benchmark.extra_info["calls_per_query"] = calls
        ratio = perf.check_ratio(
            benchmark, "over_plain", f"hnswlib/{variant}", "hnswlib/plain", minimum=1.0
        )
        if ratio is not None:
            extra = (median - perf.medians["hnswlib/plain"]) / QUERIES
            benchmark.extra_info["us_per_call"] = round(extra / calls * 1e6, 4)


@pytest.fixture(scope="module")
def faiss_indexes(data, perf):
    import faiss

    xb, _ = data
    out = {}
    with perf.pinned(1):
        for name, factory in (("hnsw", "HNSW32"), ("ivf", "IVF256,Flat")):
            index = faiss.index_factory(DIM, factory, faiss.METRIC_INNER_PRODUCT)
            if not index.is_trained:
                index.train(xb)
            index.add(xb)
            out[name] = index
    return out


@pytest.mark.parametrize("family", ["hnsw", "ivf"])
@pytest.mark.parametrize("variant", ["plain", "bitmap", "batch"])
def test_faiss_id_selector(benchmark, perf, data, faiss_indexes, family, variant) -> None:
    import faiss

    _, xq = data
    index = faiss_indexes[family]
    rows = list(xq[:, None, :])
    if family == "hnsw":
        cls, knobs = faiss.SearchParametersHNSW, {"efSearch": EF_SEARCH}
    else:
        cls, knobs = faiss.SearchParametersIVF, {"nprobe": NPROBE}
    packed = np.packbits(MASK, bitorder="little")
    ids = np.arange(N, dtype=np.int64)
    search = index.search

    def one_pass() -> None:
        if variant == "plain":
            for q in rows:
                search(q, K, params=cls(**knobs))
        elif variant == "bitmap":
            for q in rows:
                search(q, K, params=cls(sel=faiss.IDSelectorBitmap(packed), **knobs))
        else:
            for q in rows:
                search(q, K, params=cls(sel=faiss.IDSelectorBatch(ids), **knobs))

    benchmark.group = f"faiss {family} IDSelector {knobs} 1t"
    with perf.pinned(1) as got:
        benchmark.extra_info["loadavg_1m_before"] = perf.loadavg()
        benchmark.pedantic(one_pass, rounds=ROUNDS, warmup_rounds=1)
    info = dict(n=N, dim=DIM, queries=QUERIES, k=K, threads=1, threads_pinned=got, **knobs)
    median = perf.store(benchmark, f"faiss_{family}/{variant}", **info)
    if median is not None:
        benchmark.extra_info["us_per_query"] = round(median / QUERIES * 1e6, 2)
    if variant != "plain":
        perf.check_ratio(
            benchmark, "over_plain", f"faiss_{family}/{variant}", f"faiss_{family}/plain",
            minimum=1.0,
        )  # fmt: skip
