"""Timing: thread pinning, build measurement and query timing (single-query or batch).

Only the library call sits inside the timer. A backend hands the timer a :class:`QueryPlan`:
queries already converted once (float32, contiguous, normalised for cosine, split per query),
a pre-bound raw callable (``hnswlib.Index.knn_query``, ``faiss.Index.search``,
``AnnoyIndex.get_nns_by_vector`` ...) and a ``finish`` step that converts, pads and re-labels
the raw outputs after the clock stopped. Changing a query knob only re-binds that callable, so a
sweep over knobs on one built index costs nothing but the queries themselves.

Peak RSS during a build is measured two ways and the larger kept: a psutil sampler thread
(every 5 ms; it sees memory only while the library releases the GIL) and the process
``ru_maxrss`` high-water mark, which counts when it rises during the build (it is a lifetime
maximum, so a build that stays below an earlier peak is only seen by the sampler).
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookup.distances import as_matrix
from lookup.errors import BadPath
from lookup.metrics import latency_stats
from lookup.protocols import QueryPlan, check_mode

log = logging.getLogger(__name__)


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    counts = [pool.get("num_threads", 0) for pool in threadpool_info()]
    return int(min(counts)) if counts else 0


def pin_threads(n: int) -> dict[str, int]:
    """Pin torch, BLAS (threadpoolctl) and faiss (OpenMP) to ``n`` threads; return what is set.

    hnswlib and annoy take their thread counts per index (``threads`` / ``n_jobs`` build
    parameters, reported by ``build_params()``). The settings are process-wide.
    """
    if n <= 0:
        raise ValueError(f"threads={n} must be positive")
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(limits=n)
    faiss.omp_set_num_threads(n)
    os.environ["OMP_NUM_THREADS"] = str(n)  # for libraries that start OpenMP later
    pinned = {
        "threads_torch": int(torch.get_num_threads()),
        "threads_blas": _blas_threads(),
        "threads_faiss": int(faiss.omp_get_max_threads()),
    }
    log.debug("pinned threads: %s", pinned)
    return pinned


@dataclass(frozen=True)
class BuildStats:
    """Cost of building one index: wall seconds, serialized bytes, peak RSS (bytes) in the build."""

    build_s: float
    index_bytes: int
    build_peak_rss: int


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # Linux reports KiB


class _RssSampler(threading.Thread):
    def __init__(self, interval_s: float = 0.005) -> None:
        super().__init__(daemon=True)
        import psutil

        self._proc = psutil.Process()
        self._interval = interval_s
        self._stop_event = threading.Event()
        self.peak = self._proc.memory_info().rss

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        return self.peak


def _inputs(index: Any, x: np.ndarray, name: str) -> np.ndarray:
    """Rows as the index takes them: float32, or packed uint8 codes for a Hamming index."""
    if getattr(index, "metric", None) == "hamming":
        return np.ascontiguousarray(x)
    return as_matrix(x, name)


def _no_room(folder: str) -> bool:
    """Whether the file system of ``folder`` has no free block left (a write there failed or
    was cut short)."""
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def measure_build(index: Any, xb: np.ndarray) -> BuildStats:
    """Build ``index`` on ``xb`` and report seconds, serialized bytes and peak RSS.

    The input is converted to float32/contiguous before the timer starts; only
    ``index.build`` is timed. Bytes come from ``index.save`` into a temporary file.
    """
    xb = _inputs(index, xb, "xb")
    maxrss_before = _maxrss_bytes()
    sampler = _RssSampler()
    sampler.start()
    t0 = time.perf_counter()
    try:
        index.build(xb)
    finally:
        build_s = time.perf_counter() - t0
        peak = sampler.stop()
    maxrss_after = _maxrss_bytes()
    if maxrss_after > maxrss_before:
        peak = max(peak, maxrss_after)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            index_bytes = int(index.save(os.path.join(tmp, "index.bin")))
            error = None
        except Exception as exc:  # noqa: BLE001 - libraries report a full disk in many ways
            error = exc
        if _no_room(tmp):  # hnswlib even writes 0 bytes and reports no error
            raise BadPath(
                "the index could not be saved to measure its size (index_bytes): no space left "
                f"in the temporary folder {tempfile.gettempdir()}; set TMPDIR to one with room"
            ) from None
        if error is not None:
            raise error
    stats = BuildStats(build_s=build_s, index_bytes=index_bytes, build_peak_rss=int(peak))
    log.debug("built %s in %.3fs, %d bytes", type(index).__name__, build_s, index_bytes)
    return stats


@dataclass(frozen=True)
class QueryRun:
    """Results and timings of the fastest pass, all from that one pass.

    ``latencies_s`` holds one time per query in single mode and is None in batch mode, where
    only ``total_s`` (the one library call) was measured.
    """

    D: np.ndarray
    I: np.ndarray  # noqa: E741 (API name)
    latencies_s: np.ndarray | None
    total_s: float
    mode: str

    def latency_stats(self) -> dict[str, float | None]:
        """The latency and QPS columns (:func:`lookup.metrics.latency_stats`)."""
        return latency_stats(self.latencies_s, n=len(self.I), total_s=self.total_s)


def _plan(index: Any, xq: np.ndarray, k: int, mode: str) -> QueryPlan:
    plan = getattr(index, "query_plan", None)
    if plan is None:
        raise TypeError(f"{type(index).__name__} has no query_plan; see lookup.protocols.Index")
    return plan(xq, k, mode)


def run_queries(
    index: Any, xq: np.ndarray, k: int, *, mode: str = "single", warmup: int = 10, passes: int = 3
) -> QueryRun:
    """Time ``k``-NN queries on a built index and keep the fastest of ``passes`` passes.

    ``single``: one library call per query, each timed with ``perf_counter``; the pass with
    the smallest total is kept. ``batch``: one library call for all queries, timed as a whole
    (no per-query times exist, so none are reported). Results, latencies and the total all
    come from the same (fastest) pass. Before the passes, untimed: ``warmup`` single queries
    (first rows, cycled) in single mode, one batch of the first ``warmup`` rows in batch mode.
    """
    check_mode(mode)
    if passes <= 0:
        raise ValueError(f"passes={passes} must be positive")
    xq = _inputs(index, xq, "xq")
    nq = len(xq)
    if nq == 0:
        raise ValueError("xq holds no queries; valid: at least one row")
    plan = _plan(index, xq, k, mode)
    call, inputs = plan.call, plan.inputs
    perf = time.perf_counter

    if mode == "batch" and warmup > 0:  # one small batch, not `warmup` full batches
        small = _plan(index, xq[:warmup], k, mode)
        small.call(small.inputs[0])
    elif mode == "single":
        for i in range(warmup):
            call(inputs[i % nq])

    best_total = float("inf")
    best_raws: list = []
    best_lat: np.ndarray | None = None
    for _ in range(passes):
        if mode == "batch":
            q = inputs[0]
            t0 = perf()
            raw = call(q)
            t1 = perf()
            raws = [raw]
            total = t1 - t0
            lat = None
        else:
            raws = [None] * nq
            lat_list = [0.0] * nq
            for i in range(nq):
                q = inputs[i]
                t0 = perf()
                r = call(q)
                t1 = perf()
                raws[i] = r
                lat_list[i] = t1 - t0
            lat = np.asarray(lat_list)
            total = float(lat.sum())
        if total < best_total:
            best_total, best_raws, best_lat = total, raws, lat
    dist, ids = plan.finish(best_raws)
    return QueryRun(D=dist, I=ids, latencies_s=best_lat, total_s=best_total, mode=mode)
