"""Timing: thread pinning, build stats, single/batch query runs, cheap knob sweeps, and the
the speed claims themselves are pytest-benchmark suites under benchmarks/."""

from __future__ import annotations

import numpy as np
import pytest

from lookup.index.exact import ExactIndex, exact_knn
from lookup.index.faiss_backend import FaissIndex
from lookup.index.hnswlib_backend import HnswlibIndex
from lookup.metrics import recall_ids
from lookup.timing import BuildStats, QueryPlan, QueryRun, measure_build, pin_threads, run_queries


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    z = rng.standard_normal((530, 4))
    x = (z @ rng.standard_normal((4, 16))).astype(np.float64)  # float64 on purpose
    return x[:500], x[500:]


def test_pin_threads_reports_every_library() -> None:
    import faiss
    import torch

    pinned = pin_threads(1)
    assert pinned == {"threads_torch": 1, "threads_blas": 1, "threads_faiss": 1}
    assert torch.get_num_threads() == 1 and faiss.omp_get_max_threads() == 1
    with pytest.raises(ValueError):
        pin_threads(0)


def test_measure_build(data, tmp_path) -> None:
    xb, _ = data
    index = HnswlibIndex(metric="euclidean", M=8, ef_construction=32)
    stats = measure_build(index, xb)
    assert isinstance(stats, BuildStats)
    assert stats.build_s > 0
    assert stats.index_bytes == index.save(str(tmp_path / "again.bin")) > 0


@pytest.mark.parametrize("mode", ["single", "batch"])
def test_run_queries_modes(data, mode: str) -> None:
    xb, xq = data
    index = ExactIndex(metric="euclidean")
    index.build(xb)
    run = run_queries(index, xq, 5, mode=mode, warmup=3, passes=2)
    assert isinstance(run, QueryRun) and run.mode == mode and run.total_s > 0
    true_D, true_I = exact_knn(xb, xq, 5, "euclidean")
    np.testing.assert_array_equal(run.I, true_I)
    np.testing.assert_allclose(run.D, true_D)
    stats = run.latency_stats()
    if mode == "batch":  # one call for all queries: no per-query times, no percentiles
        assert run.latencies_s is None
        assert stats["latency_p50_ms"] is None and stats["latency_p99_ms"] is None
        assert stats["qps"] == pytest.approx(len(xq) / run.total_s)
    else:
        assert run.latencies_s.shape == (len(xq),) and (run.latencies_s > 0).all()
        assert run.total_s == pytest.approx(run.latencies_s.sum())
        assert stats["latency_p50_ms"] is not None


def test_run_queries_rejects_bad_arguments(data) -> None:
    xb, xq = data
    index = ExactIndex(metric="euclidean")
    index.build(xb)
    with pytest.raises(ValueError, match="'parallel'.*single, batch"):
        run_queries(index, xq, 5, mode="parallel")
    with pytest.raises(ValueError, match="passes=0"):
        run_queries(index, xq, 5, passes=0)


def test_knob_sweep_reuses_one_built_index(data) -> None:
    """The harness loops set_search_params on one index; each point is just queries."""
    xb, xq = data
    index = FaissIndex(metric="euclidean", factory="IVF8,Flat")
    builds = 0
    real_build = index.build

    def counting_build(x: np.ndarray) -> None:
        nonlocal builds
        builds += 1
        real_build(x)

    index.build = counting_build  # type: ignore[method-assign]
    measure_build(index, xb)
    _, true_I = exact_knn(xb, xq, 5, "euclidean")
    recalls = []
    for nprobe in (1, 2, 8):
        index.set_search_params(nprobe=nprobe)
        run = run_queries(index, xq, 5, mode="single", warmup=0, passes=1)
        recalls.append(recall_ids(true_I, run.I, 5))
    assert builds == 1
    assert recalls == sorted(recalls) and recalls[-1] == 1.0


def test_plan_times_a_prebound_library_call(data) -> None:
    """Single mode hands the timer the bare hnswlib call on prepared float32 rows."""
    xb, xq = data
    index = HnswlibIndex(metric="euclidean", M=8, ef_construction=32)
    index.build(xb)
    plan = index.query_plan(xq, 5, "single")
    assert isinstance(plan, QueryPlan) and len(plan.inputs) == len(xq)
    q = plan.inputs[0]
    assert q.dtype == np.float32 and q.flags["C_CONTIGUOUS"]
    labels, _ = plan.call(q)
    np.testing.assert_array_equal(labels, index.library_index.knn_query(q, 5)[0])


def test_an_index_without_a_query_plan_is_rejected(data) -> None:
    """Only the library call may be timed, so every Index hands out a query plan."""
    xb, xq = data

    class Plain:  # build/search only: no way to time the library call alone
        def __init__(self) -> None:
            self.inner = ExactIndex(metric="ip")

        def search(self, x: np.ndarray, k: int):
            return self.inner.search(x, k)

    with pytest.raises(TypeError, match="query_plan"):
        run_queries(Plain(), xq, 4, mode="single", warmup=1, passes=1)
