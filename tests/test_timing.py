"""Timing: thread pinning, build stats, single/batch query runs, cheap knob sweeps, and the
two perf benchmarks run tiny."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from lookup.index import ExactIndex, FaissIndex, HnswlibIndex
from lookup.index.exact import exact_knn
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
    assert stats.build_peak_rss > 10_000_000  # a Python process with numpy is well above 10 MB


@pytest.mark.parametrize("mode", ["single", "batch"])
def test_run_queries_modes(data, mode: str) -> None:
    xb, xq = data
    index = ExactIndex(metric="euclidean")
    index.build(xb)
    run = run_queries(index, xq, 5, mode=mode, warmup=3, passes=2)
    assert isinstance(run, QueryRun) and run.mode == mode
    assert run.latencies_s.shape == (len(xq),) and (run.latencies_s > 0).all()
    true_D, true_I = exact_knn(xb, xq, 5, "euclidean")
    np.testing.assert_array_equal(run.I, true_I)
    np.testing.assert_allclose(run.D, true_D)
    if mode == "batch":
        assert np.unique(run.latencies_s).size == 1  # total / nq for every query


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


def test_plain_index_without_plan_is_timed_through_search(data) -> None:
    xb, xq = data

    class Plain:  # satisfies lookup.protocols.Index only
        def __init__(self) -> None:
            self.inner = ExactIndex(metric="ip")

        def build(self, x: np.ndarray) -> None:
            self.inner.build(x)

        def set_search_params(self, **params) -> None:
            self.inner.set_search_params(**params)

        def search(self, x: np.ndarray, k: int):
            return self.inner.search(x, k)

        def save(self, path: str) -> int:
            return self.inner.save(path)

    index = Plain()
    index.build(xb)
    for mode in ("single", "batch"):
        run = run_queries(index, xq, 4, mode=mode, warmup=1, passes=1)
        np.testing.assert_array_equal(run.I, exact_knn(xb, xq, 4, "ip")[1])


def test_perf_overhead_runs_tiny(tmp_path) -> None:
    from bench.perf_overhead import main

    out = tmp_path / "overhead.json"
    assert (
        main(["--n", "500", "--dim", "8", "--queries", "50", "--rounds", "2", "--out", str(out)])
        == 0
    )
    rec = json.loads(out.read_text())
    assert rec["n"] == 500 and rec["same_neighbours"] is True
    assert rec["ratio"] > 0 and os.path.exists(out.with_suffix(".md"))


def test_perf_exact_runs_tiny(tmp_path) -> None:
    from bench.perf_exact import main

    out = tmp_path / "exact.json"
    argv = ["--n", "2000", "--dim", "16", "--queries", "40", "--scipy-queries", "10"]
    assert main([*argv, "--repeats", "1", "--threads", "1", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["scipy_scaled"] is True and rec["scipy_queries_timed"] == 10
    assert rec["recall_tie_aware_vs_scipy"] == 1.0 and rec["rows_identical_ids"] == 1.0
