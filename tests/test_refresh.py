"""Encoder refresh on a toy encoder whose checkpoints are known: a rescaled checkpoint leaves
cosine neighbours as they were (a stale index loses nothing), another seed makes an unrelated
space (a stale index is useless), and each row carries the price of the rebuild."""

from __future__ import annotations

import numpy as np
import pytest

from lookup import refresh, registry
from lookup.data.base import Dataset, fingerprint
from lookup.errors import BadInput
from lookup.job import Job, Option, Settings

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


class ToyEncoder:
    """Letter counts through a seeded random map, times ``scale``."""

    def __init__(self, dim: int, seed: int, scale: float) -> None:
        self.dim = dim
        self._map = np.random.default_rng(seed).normal(size=(26, dim)) * scale
        self.fingerprint = f"toy-{dim}-{seed}-{scale}"
        self.training = {"fit_s": 0.0}

    def encode(self, texts, *, batch_size: int = 256, role: str = "document") -> np.ndarray:
        counts = np.array([[t.count(c) for c in _ALPHABET] for t in texts], dtype=np.float64)
        return (counts @ self._map).astype(np.float32)


class ToySpec:
    def __init__(self, dim: int = 8, seed: int = 0, scale: float = 1.0) -> None:
        self.dim, self.seed, self.scale = dim, seed, scale

    def load(self, data, *, cache_dir: str) -> ToyEncoder:
        return ToyEncoder(self.dim, self.seed, self.scale)


def toy_names(n: int = 300, nq: int = 40, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(list(_ALPHABET[:8]), rng.integers(3, 9))) for _ in range(n + nq)]
    labels = np.array([w[0] for w in words])
    return Dataset("toy", words[:n], words[n:], labels[:n], labels[n:], fingerprint(words, labels))


@pytest.fixture()
def allowed(monkeypatch) -> None:
    monkeypatch.setenv(registry.EXTRA_ENV, f"{__name__}.ToySpec,{__name__}.toy_names")


def _job(changes, tmp_path, index: str = "exact") -> Job:
    indexes = {
        "exact": {"_target_": "lookup.index.exact.ExactIndex"},
        "hnswlib": {"_target_": "lookup.index.hnswlib_backend.HnswlibIndex", "M": 8},
    }
    return Job(
        dataset=Option("toy", {"_target_": f"{__name__}.toy_names"}),
        encoder=Option("toy", {"_target_": f"{__name__}.ToySpec", "dim": 8, "seed": 0}),
        index=Option(index, indexes[index]),
        settings=Settings(warmup=0, passes=1),
        cache_dir=str(tmp_path / "cache"),
        grid=({},) if index == "exact" else ({"ef": 10}, {"ef": 40}),
        kind="refresh",
        options={"refresh": {"encoder": changes}},
    )


def _by_setup(rows: list[dict]) -> dict[str, dict]:
    return {r["refresh_setup"]: r for r in rows}


def test_a_rescaled_checkpoint_keeps_the_stale_index_exact(allowed, tmp_path) -> None:
    rows = refresh.measure(_job({"scale": 3.0}, tmp_path))
    by = _by_setup(rows)
    assert list(by) == list(refresh.SETUPS)
    assert all(r["recall_at_k"] == 1.0 for r in rows)  # cosine ignores the scale
    assert by["stale"]["knn_acc"] == by["rebuilt"]["knn_acc"] == by["rebuilt"]["knn_acc_exact"]
    assert rows[0]["refresh_encoder"] == "toy scale=3.0" and rows[0]["refresh_encoder_scale"] == 3.0
    assert all(r["refresh_cost_s"] == r["refresh_encode_db_s"] + r["refresh_build_s"] for r in rows)
    assert by["rebuilt"]["build_s"] == by["rebuilt"]["refresh_build_s"]
    assert by["stale"]["build_s"] != by["rebuilt"]["build_s"]  # its own (old) build


def test_another_seed_makes_the_stale_index_useless(allowed, tmp_path) -> None:
    rows = refresh.measure(_job({"seed": 1}, tmp_path, index="hnswlib"))
    assert len(rows) == 3 * 2 and {r["search_ef"] for r in rows} == {10, 40}
    by = {(r["refresh_setup"], r["search_ef"]): r for r in rows}
    assert by[("rebuilt", 40)]["recall_at_k"] > 0.9
    assert by[("stale", 40)]["recall_at_k"] < 0.5 * by[("rebuilt", 40)]["recall_at_k"]
    assert by[("kept", 40)]["encoder_fingerprint"] == "toy-8-0-1.0"
    assert by[("kept", 40)]["refresh_encoder_fingerprint"] == "toy-8-1-1.0"


def test_a_new_dimension_has_no_stale_setup(allowed, tmp_path) -> None:
    rows = refresh.measure(_job({"dim": 6}, tmp_path))
    assert [r["refresh_setup"] for r in rows] == ["kept", "rebuilt"]


@pytest.mark.parametrize(
    "changes,match",
    [
        ({}, r"refresh.encoder=\{\} is invalid"),
        (
            {"epochs": 20},
            "refresh.encoder.epochs is not a parameter of ToySpec; valid: dim, seed, scale",
        ),
        ({"seed": 0}, r"refresh.encoder=\{'seed': 0\} changes nothing"),
        ({"dim": "wide"}, r"refresh.encoder.dim='wide' is invalid"),
    ],
)
def test_bad_refreshes_are_one_line(allowed, tmp_path, changes, match) -> None:
    with pytest.raises(BadInput, match=match) as err:
        refresh.check_refresh(_job(changes, tmp_path))
    assert "\n" not in str(err.value)
