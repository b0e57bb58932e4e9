"""pytest-benchmark suites behind the project's speed claims (not part of the installed package).

Run them, then render the tables (into ``outputs/``; ``--out results`` to update the ones the
README cites)::

    python -m pytest benchmarks --benchmark-only --benchmark-json=outputs/benchmarks.json
    python benchmarks/render.py outputs/benchmarks.json

Which OpenBLAS core faiss's bundled copy runs is fixed when it loads, once per process, so a
session runs under one setting, ``LOOKUP_BENCH_OPENBLAS`` (see :func:`set_openblas`):
``installed`` (default: as the machine picks it), ``generic`` (faiss's OpenBLAS forced to its
generic Prescott kernels, numpy's left alone: the machine of issue 24) or ``fixed`` (the
``OPENBLAS_CORETYPE`` that ``lookup.kernels.prepare_kernels`` sets on such a machine). The exact
search table covers all three::

    for s in installed generic fixed; do LOOKUP_BENCH_OPENBLAS=$s python -m pytest \
      benchmarks/test_perf_exact.py --benchmark-only --benchmark-json=outputs/exact_$s.json; done
    python benchmarks/render.py outputs/exact_installed.json outputs/exact_generic.json \
      outputs/exact_fixed.json

The default ``python -m pytest`` never collects this folder (``testpaths = ["tests"]``), and
pyproject's ``addopts`` carry ``--benchmark-disable``; asking for ``--benchmark-only`` here turns
measuring back on (see :func:`pytest_configure`). ``python -m pytest benchmarks`` without it
runs every benchmarked call once, untimed, as a smoke test, and asserts no speed ratio.

Every A/B pair sits in one benchmark group, measured one variant right after the other; the
variant measured last reads the other's median from the session store (:class:`Perf`) and
records the ratio in its ``extra_info`` (rendered into the tables), asserting the claimed limit
only when benchmarks are really measured. Each benchmark also records the threads it really
ran on and the 1-minute load average before and after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OPENBLAS_ENV = "LOOKUP_BENCH_OPENBLAS"
OPENBLAS_SETTINGS = ("installed", "generic", "fixed")


def set_openblas(setting: str) -> dict[str, str]:
    """Make faiss's bundled OpenBLAS run as ``setting`` says, before anything imports faiss.

    ``generic``: load it now with ``OPENBLAS_CORETYPE=Prescott`` (faiss reuses the loaded
    library), then unset the variable, so numpy's OpenBLAS picks its own core. ``fixed``: set
    ``OPENBLAS_CORETYPE`` to the value ``lookup.kernels`` verifies for a faiss OpenBLAS that
    went generic on this CPU (as ``prepare_kernels`` would). Returns what was set.
    """
    from dataclasses import replace

    from lookup import kernels
    from lookup._openblas_probe import load_openblas

    if setting not in OPENBLAS_SETTINGS:
        valid = ", ".join(OPENBLAS_SETTINGS)
        raise pytest.UsageError(f"{OPENBLAS_ENV}={setting!r} is invalid; valid: {valid}")
    if setting == "installed":
        return {}
    faiss_files = kernels.openblas_files(("faiss",))
    if not faiss_files:
        raise pytest.UsageError(f"{OPENBLAS_ENV}={setting}: faiss bundles no OpenBLAS here")
    if setting == "generic":
        os.environ[kernels.CORETYPE_ENV] = "Prescott"
        try:
            for path in faiss_files:
                load_openblas(path)
        finally:
            del os.environ[kernels.CORETYPE_ENV]
        return {"faiss": "Prescott"}
    files = kernels.openblas_files()
    base = kernels.probe_openblas(files) or []
    pretend = [replace(b, arch="Prescott") if b.owner == "faiss" else b for b in base]
    _, vendor, flags = kernels.cpu_info()
    plan = kernels.plan_fix(pretend, flags, vendor)
    plan = plan and kernels.verify_fix(plan, files, pretend)
    if plan is None or plan.coretype is None:
        raise pytest.UsageError(f"{OPENBLAS_ENV}=fixed: no OPENBLAS_CORETYPE verifies here")
    os.environ[kernels.CORETYPE_ENV] = os.environ[kernels.APPLIED_ENV] = plan.coretype
    return {kernels.CORETYPE_ENV: plan.coretype}


def pytest_configure(config: pytest.Config) -> None:
    """``--benchmark-only`` means measure: override pyproject's ``--benchmark-disable``.
    Then the session's OpenBLAS setting (``LOOKUP_BENCH_OPENBLAS``) is applied.

    Runs before pytest-benchmark reads its options (its hook is ``trylast``); otherwise the two
    options together are a usage error.
    """
    if config.getoption("benchmark_only", False):
        config.option.benchmark_enable = True
        if config.pluginmanager.hasplugin("_cov") and not config.getoption("no_cov", False):
            raise pytest.UsageError(
                "benchmarks measure time: add --no-cov (pyproject's addopts turn coverage on "
                "for the tests, and coverage tracing slows the timed Python code)"
            )
    set_openblas(os.environ.get(OPENBLAS_ENV, "installed"))


class Perf:
    """What every suite shares: thread pinning, load average, and the session's medians.

    ``medians`` maps a variant's key to its median seconds per round, measured in this session.
    """

    def __init__(self) -> None:
        self.medians: dict[str, float] = {}
        self.openblas = os.environ.get(OPENBLAS_ENV, "installed")
        self.data_dir = Path(os.environ.get("LOOKUP_DATA_DIR", REPO.parent / "shared" / "data"))
        self.cache_dir = os.environ.get("LOOKUP_CACHE_DIR", str(REPO / ".cache" / "lookup"))

    @staticmethod
    def loadavg() -> float:
        """The 1-minute load average (other work on the machine), rounded."""
        return round(os.getloadavg()[0], 2)

    @staticmethod
    @contextmanager
    def pinned(n: int) -> Iterator[dict[str, int]]:
        """Pin torch, BLAS and faiss to ``n`` threads for the block; yields what was set."""
        import torch

        from lookup.timing import pin_threads

        before = torch.get_num_threads()
        try:
            yield pin_threads(n)
        finally:
            pin_threads(before)

    @staticmethod
    def kernels() -> dict[str, str]:
        """The core each loaded OpenBLAS runs, by owner (``{"faiss": "Prescott", ...}``)."""
        from lookup.kernels import blas_libraries

        return {b.owner: b.arch for b in blas_libraries()}

    @staticmethod
    def measuring(benchmark) -> bool:
        """True when pytest-benchmark times the calls (not under ``--benchmark-disable``)."""
        return not benchmark.disabled

    def store(self, benchmark, key: str, **info) -> float | None:
        """Record ``info`` and the load average in ``extra_info``, and this benchmark's median
        (seconds per round) in the session store under ``key``."""
        benchmark.extra_info.update(info)
        benchmark.extra_info["loadavg_1m_after"] = self.loadavg()
        if not self.measuring(benchmark):
            return None
        self.medians[key] = float(benchmark.stats.stats.median)
        return self.medians[key]

    def check_ratio(
        self,
        benchmark,
        name: str,
        numerator: str,
        denominator: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float | None:
        """``extra_info[name] = median[numerator] / median[denominator]``; assert the limit.

        Both medians come from this session. Nothing is asserted when benchmarks are disabled,
        or when a partner was not measured (e.g. deselected with ``-k``): the ratio is None.
        """
        benchmark.extra_info[f"{name}_limit"] = (
            f">= {minimum}" if minimum is not None else f"<= {maximum}"
        )
        med = self.medians
        if not self.measuring(benchmark) or numerator not in med or denominator not in med:
            benchmark.extra_info[name] = None
            return None
        ratio = med[numerator] / med[denominator]
        benchmark.extra_info[name] = round(ratio, 4)
        if minimum is not None:
            assert ratio >= minimum, f"{name}={ratio:.3f} < {minimum} ({numerator}/{denominator})"
        if maximum is not None:
            assert ratio <= maximum, f"{name}={ratio:.3f} > {maximum} ({numerator}/{denominator})"
        return ratio


@pytest.fixture(scope="session")
def perf() -> Perf:
    """The shared helpers and the session's store of medians."""
    return Perf()
