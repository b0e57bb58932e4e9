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
