"""Shared fixtures: the reference data folder and a private cache for every test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("LOOKUP_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The reference data (../shared/data or $LOOKUP_DATA_DIR); skips when it is absent."""
    path = _data_dir()
    if not (path / "surnames.csv").is_file():
        pytest.skip(f"reference data not found at {path} (set LOOKUP_DATA_DIR)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_env(tmp_path_factory: pytest.TempPathFactory):
    """Point caches at a per-session folder and the data variable at the reference data."""
    old = {k: os.environ.get(k) for k in ("LOOKUP_CACHE_DIR", "LOOKUP_DATA_DIR")}
    os.environ["LOOKUP_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.setdefault("LOOKUP_DATA_DIR", str(_data_dir()))
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# The slowest tests of the default run (pytest --durations, 2 cores, coverage on): each takes
# 4-18 s, together over a minute, and keeps the default run within its 5-minute budget when it
# runs with the slow ones instead (python -m pytest -m slow).
SLOW_IDS = (
    "tests/test_bad_inputs.py::test_bad_input_is_one_line_and_exit_2[text-dataset-no-encoder]",
    "tests/test_bad_inputs.py::test_bad_input_is_one_line_and_exit_2[unknown-build-key]",
    "tests/test_trust.py::test_pooling_sweep_gives_two_configurations_and_two_curves",
    "tests/test_cli.py::test_a_key_of_another_option_names_that_option",
    "tests/test_cli.py::test_real_ctrl_c_of_python_m_bench",
    "tests/test_cli.py::test_card_command_writes_rows",
    "tests/test_cli.py::test_embed_writes_an_ann_benchmarks_file_the_bench_reads",
    "tests/test_cli.py::test_precheck_names_the_problem_in_one_line",
    "tests/test_cli.py::test_lookup_prints_neighbours_and_prediction",
    "tests/test_examples.py::test_quickstart_notebook_runs_and_draws_inline",
    "tests/test_runbook.py::test_plot_and_report_read_runbook_rows_beside_job_rows",
    "tests/test_runbook.py::test_a_runbook_killed_half_way_leaves_nothing_and_its_rerun_everything",
    "tests/test_cache_locking.py::test_char_rnn_checkpoint_is_trained_once",
    "tests/test_query.py::test_interactive_session_through_stdin",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Mark the tests of SLOW_IDS slow (one list, beside the @pytest.mark.slow ones)."""
    missing = set(SLOW_IDS) - {item.nodeid for item in items}
    for item in items:
        if item.nodeid in SLOW_IDS:
            item.add_marker(pytest.mark.slow)
    if missing and config.args == ["tests"]:  # the whole suite collected: every id must exist
        raise pytest.UsageError(f"SLOW_IDS names tests that do not exist: {sorted(missing)}")
