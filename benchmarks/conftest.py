"""pytest-benchmark suites behind the project's speed claims (not part of the installed package).

Run them, then render the tables in ``results/``::

    python -m pytest benchmarks --benchmark-only --benchmark-json=results/benchmarks.json
    python benchmarks/render.py results/benchmarks.json

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


def pytest_configure(config: pytest.Config) -> None:
    """``--benchmark-only`` means measure: override pyproject's ``--benchmark-disable``.

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


class Perf:
    """What every suite shares: thread pinning, load average, and the session's medians.

    ``medians`` maps a variant's key to its median seconds per round, measured in this session.
    """

    def __init__(self) -> None:
        self.medians: dict[str, float] = {}
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
