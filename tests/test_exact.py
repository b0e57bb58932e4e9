"""Exact search against a float64 brute force: same ids, same distances, same tie rule.

The reference scores every (query, item) pair with the harness's float64 distances and sorts
each row stably by (distance, id). :class:`ExactSearcher` must return exactly that, whether a row
is certified from the float32 candidates or needs the fallback, and whoever proposes them (faiss,
or torch's or numpy's GEMM feeding faiss's heaps or the numba kernel: every test runs each
proposer with each selector); the tests build
data where the fallback must run (ties wider than the candidate window, zero queries, distances
closer than float32 can resolve) and check that it ran.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from lookup.distances import METRICS, pair_distances
from lookup.index import exact
from lookup.index.exact import PROPOSERS, SELECTORS, ExactIndex, ExactSearcher, exact_knn

# Every explicit proposer, the GEMM ones with every explicit selector, as "proposer/selector"
# (float32 products), and torch's GEMM in bfloat16 feeding the kernel (any CPU with oneDNN runs
# it, in hardware or not) as "torch/numba/bfloat16"; "auto" picks one of them (tested below).
PROPOSING = (
    ("faiss",)
    + tuple(
        f"{p}/{s}"
        for p in PROPOSERS
        if p not in ("auto", "faiss")
        for s in SELECTORS
        if s != "auto"
    )
    + ("torch/numba/bfloat16",)
)


def _parts(variant: str) -> tuple[str, str, str]:
    proposer, selector, precision = (variant.split("/") + ["", ""])[:3]
    return proposer, selector, precision or ("float32" if selector else "auto")


def searcher_for(xb, metric: str, variant: str) -> ExactSearcher:
    """An ExactSearcher for a PROPOSING entry (or "auto")."""
    proposer, selector, precision = _parts(variant)
    return ExactSearcher(
        xb, metric, proposer=proposer, selector=selector or "auto", precision=precision
    )


def assert_variant(searcher: ExactSearcher, variant: str) -> None:
    """The search ran the proposer, selector and precision ``variant`` names."""
    proposer, selector, precision = _parts(variant)
    assert searcher.proposed_by == proposer
    assert searcher.selected_by == selector
    assert searcher.computed_in == ("float32" if precision == "auto" else precision)


def brute_force(xb: np.ndarray, xq: np.ndarray, k: int, metric: str):
    """float64 distances of every pair, rows sorted stably by (distance, id)."""
    ids = np.broadcast_to(np.arange(len(xb)), (len(xq), len(xb)))
    dist = pair_distances(xb, xq, ids, metric)  # (nq, n_db) float64
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]  # stable: equal distances by id
    return np.take_along_axis(dist, order, axis=1).astype(np.float32), order


def numpy_distances(xb: np.ndarray, xq: np.ndarray, metric: str) -> np.ndarray:
    """An independent float64 formula for the harness distances (checks pair_distances too)."""
    b, q = xb.astype(np.float64), xq.astype(np.float64)
    if metric == "ip":
        return -(q @ b.T)
    if metric == "euclidean":
        return np.sqrt(((q[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    nb, nq = np.linalg.norm(b, axis=1), np.linalg.norm(q, axis=1)
    denom = nq[:, None] * nb[None, :]
    cos = np.divide(q @ b.T, denom, out=np.zeros_like(denom), where=denom > 0)
    return 1.0 - np.clip(cos, -1.0, 1.0)


def assert_exact(xb, xq, k, metric, proposer: str = "auto", **kw) -> ExactSearcher:
    searcher = searcher_for(xb, metric, proposer)
    D, I = searcher.search(xq, k, **kw)  # noqa: E741
    ref_D, ref_I = brute_force(xb, xq, k, metric)
    assert D.dtype == np.float64 and I.dtype == np.int64 and D.shape == I.shape == (len(xq), k)
    np.testing.assert_array_equal(I, ref_I)
    np.testing.assert_array_equal(D.astype(np.float32), ref_D)  # the reference sums differently
    return searcher


@pytest.mark.parametrize("proposer", PROPOSING)
@pytest.mark.parametrize("metric", METRICS)
def test_random_data_is_exact_without_fallback(metric: str, proposer: str) -> None:
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((3000, 24)).astype(np.float32)
    xq = rng.standard_normal((64, 24)).astype(np.float32)
    searcher = assert_exact(xb, xq, 10, metric, proposer, block_size=20)
    assert_variant(searcher, proposer)
    assert searcher.fallback_rows == 0  # the bound is tight enough for well-separated data
    assert searcher.rechecked_rows == 0  # and the first re-rank certifies every row
    nd = numpy_distances(xb, xq, metric)
    D, I = searcher.search(xq, 10)  # noqa: E741
    np.testing.assert_allclose(D, np.take_along_axis(nd, I, axis=1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("proposer", PROPOSING)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(("n_db", "k"), [(1, 1), (2, 2), (5, 3), (9, 9), (18, 10), (19, 10)])
def test_tiny_databases_and_k_equal_to_n(metric: str, n_db: int, k: int, proposer: str) -> None:
    rng = np.random.default_rng(n_db)
    xb = rng.standard_normal((n_db, 3)).astype(np.float32)
    xq = rng.standard_normal((4, 3)).astype(np.float32)
    assert_exact(xb, xq, k, metric, proposer, block_size=3)


@pytest.mark.parametrize("proposer", PROPOSING)
@pytest.mark.parametrize("metric", METRICS)
def test_duplicates_wider_than_the_candidate_window_fall_back(metric: str, proposer: str) -> None:
    rng = np.random.default_rng(1)
    xb = rng.standard_normal((500, 8)).astype(np.float32)
    xb[100:160] = xb[7]  # 61 identical vectors (ids 7, 100..159): far more than k + 8
    xq = np.vstack([xb[7], xb[7] * 1.5, rng.standard_normal((3, 8))]).astype(np.float32)
    searcher = assert_exact(xb, xq, 10, metric, proposer)
    D, I = searcher.search(xq, 10)  # noqa: E741
    assert searcher.fallback_rows >= 1
    if metric != "ip":  # nearest are the copies, smallest ids first
        np.testing.assert_array_equal(I[0], [7, *range(100, 109)])
        assert np.all(D[0] == D[0, 0])


@pytest.mark.parametrize("proposer", PROPOSING)
@pytest.mark.parametrize("metric", METRICS)
def test_ties_across_the_first_re_rank_are_certified_by_the_second(
    metric: str, proposer: str
) -> None:
    """r + 1 copies of every item, r the first re-rank's width (k + 2 in float32, k + 8 in
    bfloat16): the k-th candidate (index 9) ties with index r, whose key certifies the first
    re-rank, so no row certifies there; the c-th candidate (index k + 7 or k + 23) is in the
    next group of copies, which certifies every row."""
    rng = np.random.default_rng(13)
    k = 10
    bf16 = proposer.endswith("bfloat16")
    r = k + (exact._RANK_EXTRA_BF16 if bf16 else exact._RANK_EXTRA)
    assert k + (exact._PROPOSE_EXTRA_BF16 if bf16 else exact._PROPOSE_EXTRA) > r + 1
    base = rng.standard_normal((60, 16))
    base /= np.linalg.norm(base, axis=1, keepdims=True)  # unit rows: ip ranks as cosine
    xb = np.repeat(base, r + 1, axis=0).astype(np.float32)
    # each query near one item: its group is far nearer than the next, even in bfloat16
    xq = (base[:30] + 0.05 * rng.standard_normal((30, 16))).astype(np.float32)
    searcher = assert_exact(xb, xq, k, metric, proposer)
    assert searcher.rechecked_rows == len(xq)
    assert searcher.fallback_rows == 0


@pytest.mark.parametrize("proposer", PROPOSING)
def test_zero_vectors_under_cosine(proposer: str) -> None:
    rng = np.random.default_rng(2)
    xb = rng.standard_normal((400, 6)).astype(np.float32)
    xb[[3, 50, 51]] = 0.0
    xq = rng.standard_normal((5, 6)).astype(np.float32)
    xq[2] = 0.0
    searcher = assert_exact(xb, xq, 12, "cosine", proposer)
    D, I = searcher.search(xq, 12)  # noqa: E741
    np.testing.assert_array_equal(I[2], np.arange(12))  # zero query: all at distance 1, by id
    assert np.all(D[2] == 1.0) and np.isfinite(D).all()
    assert searcher.fallback_rows >= 1  # the zero query cannot be certified


@pytest.mark.parametrize("proposer", PROPOSING)
def test_distances_closer_than_float32_resolution_fall_back(proposer: str) -> None:
    # Nearly parallel vectors: their cosine distances (t^2 / 2 <= 8e-8, distinct in float64) lie
    # below float32's resolution near 1, so faiss's order is arbitrary and the margin is thin.
    t = np.arange(1, 41, dtype=np.float64) * 1e-5
    near = np.stack([np.ones_like(t), t[::-1]], axis=1)  # reversed: larger ids are nearer
    rng = np.random.default_rng(3)
    xb = np.vstack([near, rng.standard_normal((300, 2))]).astype(np.float32)
    xq = np.array([[1.0, 0.0]], dtype=np.float32)
    searcher = assert_exact(xb, xq, 10, "cosine", proposer)
    assert searcher.fallback_rows == 1
    _, I = searcher.search(xq, 10)  # noqa: E741
    assert list(I[0]) == list(range(39, 29, -1))


@pytest.mark.parametrize("proposer", PROPOSING)
def test_large_common_offset_under_euclidean(proposer: str) -> None:
    rng = np.random.default_rng(4)
    xb = (1e4 + rng.standard_normal((2000, 16)) * 1e-2).astype(np.float32)
    xq = (1e4 + rng.standard_normal((20, 16)) * 1e-2).astype(np.float32)
    assert_exact(xb, xq, 10, "euclidean", proposer)


@pytest.mark.parametrize("proposer", PROPOSING)
def test_ip_with_varying_norms(proposer: str) -> None:
    rng = np.random.default_rng(5)
    xb = rng.standard_normal((2000, 16)) * rng.lognormal(0, 2, size=(2000, 1))
    xq = rng.standard_normal((30, 16)).astype(np.float32)
    assert_exact(xb.astype(np.float32), xq, 7, "ip", proposer)


@pytest.mark.parametrize("proposer", PROPOSING)
def test_seeded_fuzz_with_ties_scales_and_offsets(proposer: str) -> None:
    """Clustered data (near-duplicates at every scale, from 1e-9 to 1e-1 of the spread), rescaled
    by 1e-4..1e4, with offsets, zero queries, any k, any block size: always the brute force."""
    fallbacks = 0
    for trial in range(90):
        rng = np.random.default_rng(100 + trial)
        metric = METRICS[trial % 3]
        n, d, nq = int(rng.integers(1, 300)), int(rng.integers(1, 33)), int(rng.integers(1, 12))
        k = int(rng.integers(1, n + 1))
        centres = rng.standard_normal((max(1, n // 10), d))
        jitter = 10.0 ** rng.integers(-9, 0)
        xb = centres[rng.integers(0, len(centres), n)] + jitter * rng.standard_normal((n, d))
        xq = centres[rng.integers(0, len(centres), nq)] + jitter * rng.standard_normal((nq, d))
        scale = 10.0 ** rng.integers(-4, 5)
        xb, xq = xb * scale, xq * scale
        if metric == "euclidean" and trial % 2:
            offset = 1e4 * scale * rng.standard_normal(d)
            xb, xq = xb + offset, xq + offset
        if trial % 5 == 0:
            xq[0] = 0.0
        xb, xq = xb.astype(np.float32), xq.astype(np.float32)
        block = int(rng.integers(1, 8))
        searcher = assert_exact(xb, xq, k, metric, proposer, block_size=block)
        fallbacks += searcher.fallback_rows
    assert fallbacks > 0  # the data did exercise the fallback


@pytest.mark.parametrize("proposer", PROPOSING)
@pytest.mark.parametrize("metric", METRICS)
def test_every_float32_key_is_within_the_bound(metric: str, proposer: str) -> None:
    """The invariant the method rests on: an item at float64 distance d has a float32 key (from
    the proposer, and from the fallback's own scoring) at most T(d), for every pair."""
    rng = np.random.default_rng(6)
    xb = rng.standard_normal((600, 48)) * rng.lognormal(0, 1, size=(600, 1))
    xq = rng.standard_normal((25, 48))
    if metric == "euclidean":
        xb, xq = xb + 300.0, xq + 300.0
    xb, xq = xb.astype(np.float32), xq.astype(np.float32)
    searcher = searcher_for(xb, metric, proposer)
    q_s = searcher._scale(xq)
    ids = np.broadcast_to(np.arange(len(xb)), (len(xq), len(xb)))
    dist = pair_distances(xb, xq, ids, metric)  # (nq, n_db)
    keys, ids = searcher._propose(q_s, len(xb))
    assert_variant(searcher, proposer)
    by_id = np.empty_like(keys)
    np.put_along_axis(by_id, ids, keys, axis=1)
    for precision, got in ((searcher.computed_in, by_id), ("float32", searcher._keys(q_s))):
        thr = [searcher._thresholds(q_s, dist[:, j], precision) for j in range(len(xb))]
        assert np.all(got <= np.stack(thr, axis=1))


def test_api_single_queries_progress_and_errors() -> None:
    rng = np.random.default_rng(7)
    xb = rng.standard_normal((300, 5)).astype(np.float32)
    xq = rng.standard_normal((6, 5)).astype(np.float32)
    searcher = ExactSearcher(xb.astype(np.float64), "euclidean")
    assert searcher.xb.dtype == np.float32 and searcher.xb.shape == (300, 5)
    D, I = exact_knn(xb, xq, 4, "euclidean", progress=True)  # noqa: E741
    for i in range(len(xq)):
        d1, i1 = searcher.search(xq[i : i + 1], 4)
        np.testing.assert_array_equal(i1[0], I[i])
        np.testing.assert_array_equal(d1[0], D[i])
    assert searcher.threads_used() >= 1
    with pytest.raises(ValueError, match="block_size"):
        searcher.search(xq, 4, block_size=0)
    with pytest.raises(ValueError, match="k="):
        searcher.search(xq, 301)
    with pytest.raises(ValueError, match="dimension"):
        searcher.search(xq[:, :3], 4)


def test_auto_lets_faiss_propose_small_batches_and_a_gemm_the_rest() -> None:
    rng = np.random.default_rng(8)
    xb = rng.standard_normal((4000, 12)).astype(np.float32)
    xq = rng.standard_normal((45, 12)).astype(np.float32)
    searcher = assert_exact(xb, xq, 5, "euclidean", "auto")
    assert searcher.proposed_by == "torch"
    assert assert_exact(xb, xq, 5, "euclidean", "auto", block_size=19).proposed_by == "faiss"
    assert [searcher.proposer_for(n) for n in (1, 19, 20)] == ["faiss", "faiss", "torch"]
    # tiles: more queries and items than one tile of either selector, a last tile of a single
    # item (and a last block of the kernel of one item), 3 threads
    xb = rng.standard_normal((2 * 2048 + 1, 4)).astype(np.float32)
    xq = rng.standard_normal((3 * 512 + 7, 4)).astype(np.float32)
    ref_D, ref_I = brute_force(xb, xq, 3, "ip")
    for variant in PROPOSING[1:]:
        searcher = searcher_for(xb, "ip", variant)
        searcher.threads_used = lambda: 3  # three query chunks, three Python threads
        D, I = searcher.search(xq, 3)  # noqa: E741
        assert_variant(searcher, variant)
        np.testing.assert_array_equal(I, ref_I)
        np.testing.assert_array_equal(D.astype(np.float32), ref_D)  # D: float64 distances


def test_auto_selects_with_numba_from_a_size_on_and_with_faiss_heaps_without_numba(
    monkeypatch,
) -> None:
    from lookup.index import exact

    rng = np.random.default_rng(10)
    xb = rng.standard_normal((700, 6)).astype(np.float32)
    xq = rng.standard_normal((30, 6)).astype(np.float32)
    searcher = assert_exact(xb, xq, 4, "cosine", "auto")
    assert searcher.selected_by == "heaps"  # 30 x 700 scores: below the kernel's size
    big = exact._KERNEL_MIN_SCORES
    assert [searcher.selector_for(n) for n in (big - 1, big)] == ["heaps", "numba"]
    monkeypatch.setattr(exact, "_KERNEL_MIN_SCORES", 30 * 700)
    assert assert_exact(xb, xq, 4, "cosine", "auto").selected_by == "numba"
    monkeypatch.setattr(exact, "_numba_available", lambda: False)
    assert assert_exact(xb, xq, 4, "cosine", "auto").selected_by == "heaps"
    with pytest.raises(ValueError, match=r"index.selector='numba' needs numba.*valid without"):
        ExactIndex(selector="numba")
    with pytest.raises(
        ValueError, match=r"index.selector='simd' is invalid for exact; valid: auto, heaps"
    ):
        ExactSearcher(xb, "ip", selector="simd")


def _torch_openmp_threads() -> int | None:
    """The thread count of torch's own OpenMP runtime, as the calling thread would use it."""
    import os

    import torch
    from threadpoolctl import threadpool_info

    here = os.path.dirname(torch.__file__)
    counts = [
        info["num_threads"]
        for info in threadpool_info()
        if info["internal_api"] == "openmp" and info["filepath"].startswith(here)
    ]
    return counts[0] if counts else None


@pytest.mark.parametrize("selector", ["heaps", "numba"])
def test_two_threads_run_two_workers_each_with_torch_on_one_thread(
    selector: str, monkeypatch
) -> None:
    """Pinned to 2 threads (faiss's OpenMP count, as pin_threads sets it), the GEMM proposer runs
    two worker threads, and in each torch's OpenMP runtime is set to one thread: OpenMP's count
    is per thread, so a worker that does not set it runs torch's GEMM on every core (two such
    workers oversubscribe the machine). When torch is imported before faiss, faiss's OpenMP
    calls bind to torch's runtime and torch's set_num_threads(1) in the caller also sets the
    count faiss reports: emulated here, the workers must be counted before it."""
    import threading

    import faiss

    from lookup.index import exact

    torch = pytest.importorskip("torch")
    if _torch_openmp_threads() is None:
        pytest.skip("this torch has no OpenMP runtime of its own")
    single = exact._single_threaded

    @contextlib.contextmanager
    def shared_runtime(library, precision="float32"):  # torch first: one OpenMP count for both
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            with single(library, precision):
                yield
        finally:
            faiss.omp_set_num_threads(before)

    monkeypatch.setattr(exact, "_single_threaded", shared_runtime)
    rng = np.random.default_rng(11)
    xb = rng.standard_normal((1500, 8)).astype(np.float32)
    xq = rng.standard_normal((2 * 512 + 5, 8)).astype(np.float32)
    searcher = ExactSearcher(xb, "euclidean", proposer="torch", selector=selector)
    seen: list[tuple[int, int | None]] = []
    wrap = searcher._wrap

    def counting(library, q):
        qt, mm, as_library = wrap(library, q)

        def mm_counting(*args, **kw):
            seen.append((threading.get_ident(), _torch_openmp_threads()))
            return mm(*args, **kw)

        return qt, mm_counting, as_library

    searcher._wrap = counting
    before, before_faiss = torch.get_num_threads(), faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    torch.set_num_threads(2)
    try:
        D, I = searcher.search(xq, 5)  # noqa: E741
        assert faiss.omp_get_max_threads() == 2 and torch.get_num_threads() == 2  # restored
    finally:
        faiss.omp_set_num_threads(before_faiss)
        torch.set_num_threads(before)
    assert len({ident for ident, _ in seen}) == 2  # two workers
    assert {threads for _, threads in seen} == {1}  # each on one thread
    np.testing.assert_array_equal(I, brute_force(xb, xq, 5, "euclidean")[1])


def test_the_kernel_compiles_where_numba_cannot_cache() -> None:
    """Code numba has no cache location for (here: source from a string, as for a read-only
    install and home) is compiled per process instead of failing at import."""
    numba = pytest.importorskip("numba")
    from lookup.index.topc import compiled

    namespace: dict = {}
    exec("def twice(x):\n    return 2 * x\n", namespace)  # no file: numba cannot cache it
    with pytest.raises(RuntimeError, match="cannot cache"):
        numba.njit(cache=True)(namespace["twice"])
    assert compiled(nogil=True)(namespace["twice"])(21) == 42


def test_the_compiled_kernel_equals_its_python_source(monkeypatch) -> None:
    """The kernel run as plain Python (``py_func``, its insert too: what coverage can trace)
    keeps exactly what the compiled kernel keeps, on random tiles with ties, NaN and biases."""
    from lookup.index import topc

    rng = np.random.default_rng(14)
    c, nq, block = 6, 9, 8
    tiles = [rng.integers(-20, 20, size=(29, nq)).astype(np.float32) for _ in range(3)]
    tiles[1][rng.random((29, nq)) < 0.1] = np.nan
    biases = [rng.integers(-3, 3, size=29).astype(np.float32) for _ in range(3)]
    out = []
    for kernel in (topc.push_tile, topc.push_tile.py_func):
        if kernel is topc.push_tile.py_func:
            monkeypatch.setattr(topc, "_insert", topc._insert.py_func)
        vals = np.full((nq, c), -np.inf, dtype=np.float32)
        ids = np.full((nq, c), -1, dtype=np.int64)
        scratch = np.empty(2 * nq, dtype=np.float32)
        for t, tile in enumerate(tiles):
            kernel(tile, biases[t], 29 * t, vals, ids, 0, block, scratch)
        out.append((vals, ids))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_the_kernel_keeps_the_largest_scores_of_every_column() -> None:
    """push_tile against a sort: partial blocks, NaN beside the maximum of a block, -inf, ties
    with the threshold, two tiles with id offsets, rows offset into the output, a bias per item
    (zero on the first tile); each row ascending."""
    from lookup.index.topc import push_tile

    rng = np.random.default_rng(12)
    c, nq = 5, 7
    tiles = [rng.standard_normal((37, nq)).astype(np.float32) for _ in range(2)]
    tiles[0][3, 0] = np.nan  # in the block that holds the column's largest score
    tiles[0][5, 0] = 10.0
    tiles[0][4, 3], tiles[0][6, 3] = np.nan, 9.0  # NaN first in a sweep of four rows
    tiles[0][32, 4], tiles[0][36, 4] = np.nan, 8.0  # the last block: a sweep, then one row
    tiles[0][36, 5], tiles[0][33, 5] = np.nan, 7.0
    tiles[0][:, 1] = -np.inf  # a column with no finite score in the first tile
    tiles[0][:, 2] = tiles[0][0, 2]  # one value repeated (no bias): only the first copies enter
    vals = np.full((nq + 2, c), -np.inf, dtype=np.float32)
    ids = np.full((nq + 2, c), -1, dtype=np.int64)
    scratch = np.empty(2 * nq, dtype=np.float32)
    biases = [np.zeros(37, np.float32), rng.standard_normal(37).astype(np.float32)]
    for t, tile in enumerate(tiles):
        push_tile(tile, biases[t], 100 * t, vals, ids, 2, 16, scratch)
    assert np.all(ids[:2] == -1)  # rows before row0 untouched
    # (74, nq) biased scores; item r of tile t has id 100 t + r
    biased = [tile + bias[:, None] for tile, bias in zip(tiles, biases, strict=True)]
    everything = np.concatenate(biased)
    item_ids = np.concatenate([100 * t + np.arange(37) for t in range(2)])
    for q in range(nq):
        col = np.nan_to_num(everything[:, q], nan=-np.inf)
        best = np.sort(col)[::-1][:c]
        np.testing.assert_array_equal(vals[2 + q], best[::-1])  # kept ascending
        for v, i in zip(vals[2 + q], ids[2 + q], strict=True):
            assert everything[np.flatnonzero(item_ids == i)[0], q] == v
    for col, item in ((0, 5), (3, 6), (4, 36), (5, 33)):  # kept, with a NaN in their block
        assert item in ids[2 + col]


def test_the_gemm_proposer_keeps_the_highest_float32_precision_and_restores_it() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    xb = rng.standard_normal((3000, 16)).astype(np.float32)
    xq = rng.standard_normal((40, 16)).astype(np.float32)
    before, threads = torch.get_float32_matmul_precision(), torch.get_num_threads()
    torch.set_float32_matmul_precision("medium")
    try:
        assert_exact(xb, xq, 10, "cosine", "torch")
        assert torch.get_float32_matmul_precision() == "medium"  # restored after the search
        assert torch.get_num_threads() == threads
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_rows_bfloat16_cannot_certify_are_proposed_again_in_float32(metric: str) -> None:
    """Forty items around each query at distances 10^-3 apart (relative): bfloat16's bound
    (~2^-8 relative) cannot separate the k-th from the c-th, float32's (~d 2^-24) can; those
    rows get a float32 proposal, not the whole-database fallback, and stay exact."""
    rng = np.random.default_rng(15)
    d, k = 16, 10
    xq = rng.standard_normal((6, d))
    shells = []
    for q in xq:
        u = rng.standard_normal((40, d))
        u -= np.outer(u @ q, q) / (q @ q)  # perpendicular to q: cosine shell
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        step = 1.0 + 1e-3 * np.arange(40)[:, None]
        if metric == "euclidean":
            shells.append(q + 0.5 * step * u)  # 0.5 (1 + 1e-3 j) from q
        else:
            shells.append(q + 0.2 * step * np.linalg.norm(q) * u)  # tan of the angle
    far = 2.0 * rng.standard_normal((300, d))
    xb = np.vstack([far, *shells]).astype(np.float32)
    searcher = assert_exact(xb, xq.astype(np.float32), k, metric, "torch/numba/bfloat16")
    assert searcher.reproposed_rows == len(xq)
    assert searcher.fallback_rows == 0


def test_auto_precision_is_bfloat16_only_for_the_kernel_on_native_hardware(monkeypatch) -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(16)
    xb = rng.standard_normal((700, 6)).astype(np.float32)
    searcher = ExactSearcher(xb, "cosine")
    monkeypatch.setattr(exact, "_bf16_native", lambda: True)
    assert searcher.precision_for("torch", "numba") == "bfloat16"
    for proposer, selector in (("torch", "heaps"), ("numpy", "numba"), ("faiss", "")):
        assert searcher.precision_for(proposer, selector) == "float32"
    assert (
        ExactSearcher(xb, "cosine", precision="float32").precision_for("torch", "numba")
        == "float32"
    )
    monkeypatch.setattr(exact, "_bf16_native", lambda: False)
    assert searcher.precision_for("torch", "numba") == "float32"
    monkeypatch.setattr(exact, "_bf16_matmul_available", lambda: False)
    with pytest.raises(ValueError, match=r"index.precision='bfloat16' needs torch"):
        ExactIndex(precision="bfloat16")
    with pytest.raises(
        ValueError, match=r"index.precision='fp8' is invalid for exact; valid: auto"
    ):
        ExactSearcher(xb, "ip", precision="fp8")


def test_the_bfloat16_proposal_sets_and_restores_torch_precision() -> None:
    torch = pytest.importorskip("torch")
    from lookup.index.topc import push_tile

    rng = np.random.default_rng(17)
    xb = rng.standard_normal((3000, 16)).astype(np.float32)
    xq = rng.standard_normal((40, 16)).astype(np.float32)
    searcher = ExactSearcher(xb, "ip", proposer="torch", selector="numba", precision="bfloat16")
    seen = []

    def spy(*args):
        seen.append(torch.get_float32_matmul_precision())
        return push_tile(*args)

    import lookup.index.topc as topc

    before = torch.get_float32_matmul_precision()
    original, topc.push_tile = topc.push_tile, spy
    try:
        D, I = searcher.search(xq, 5)  # noqa: E741
    finally:
        topc.push_tile = original
    assert set(seen) == {"medium"} and torch.get_float32_matmul_precision() == before
    np.testing.assert_array_equal(I, brute_force(xb, xq, 5, "ip")[1])


def test_a_bad_proposer_is_one_line() -> None:
    with pytest.raises(
        ValueError, match=r"index.proposer='gpu' is invalid for exact; valid: auto, faiss"
    ):
        ExactSearcher(np.ones((3, 2), dtype=np.float32), "ip", proposer="gpu")
    with pytest.raises(ValueError, match="index.proposer"):
        ExactIndex(proposer="gpu")
