"""bench.embed: files named after dataset, encoder and fingerprint in an ignored folder; the
ann-benchmarks HDF5 layout; a second export never overwrites the first."""

from __future__ import annotations

import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

from bench import embed as E
from bench.cli import CONF_DIR, compose_and_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def npy(tmp_path: Path) -> dict[str, Path]:
    """A tiny labelled vector dataset as .npy files (seeded)."""
    rng = np.random.default_rng(0)
    files = {
        "db": rng.standard_normal((300, 8)).astype(np.float32),
        "queries": rng.standard_normal((20, 8)).astype(np.float32),
        "db_labels": np.asarray([f"c{i % 3}" for i in range(300)]),
        "query_labels": np.asarray([f"c{i % 3}" for i in range(20)]),
    }
    paths = {}
    for name, arr in files.items():
        paths[name] = tmp_path / f"in_{name}.npy"
        np.save(paths[name], arr)
    return paths


def _export(out: Path, *overrides: str, capsys) -> list[Path]:
    compose_and_run(E._job, [*overrides, f"results.embeddings={out}"], table_key=None)
    return [Path(line) for line in capsys.readouterr().out.split()]


def _vectors(npy: dict[str, Path]) -> list[str]:
    return ["dataset=vectors", "encoder=none", *(f"dataset.{k}={v}" for k, v in npy.items())]


def test_default_folder_is_git_ignored() -> None:
    cfg = OmegaConf.load(CONF_DIR / "config.yaml")
    folder = cfg.results.embeddings
    assert folder.startswith("outputs/")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", f"{folder}/x.hdf5"], cwd=REPO, capture_output=True
    )
    assert ignored.returncode == 0, f"{folder} is not git-ignored"


def test_names_layout_and_round_trip(npy, tmp_path, capsys) -> None:
    out = tmp_path / "emb"
    written = _export(out, *_vectors(npy), capsys=capsys)
    names = sorted(p.name for p in written)
    (h5,) = [n for n in names if n.endswith(".hdf5")]
    stem = h5.removesuffix("-8-angular.hdf5")
    assert stem.startswith("in_db-none-") and len(stem.rsplit("-", 1)[1]) == 8  # .npy: its stem
    assert names == sorted(
        [
            f"{stem}.db.npy",
            f"{stem}.queries.npy",
            f"{stem}.db_labels.npy",
            f"{stem}.query_labels.npy",
            f"{stem}-8-angular.hdf5",
        ]
    )
    assert sorted(p.name for p in out.iterdir()) == names  # no temp files left
    np.testing.assert_array_equal(np.load(out / f"{stem}.db.npy"), np.load(npy["db"]))
    assert list(np.load(out / f"{stem}.query_labels.npy")[:3]) == ["c0", "c1", "c2"]
    with h5py.File(out / f"{stem}-8-angular.hdf5") as f:
        assert f.attrs["distance"] == "angular" and f.attrs["dimension"] == 8
        assert f["train"].shape == (300, 8) and f["test"].shape == (20, 8)
        assert f["neighbors"].shape == (20, 100) and f["neighbors"].dtype == np.int32
        D = f["distances"][:]
        assert f["distances"].dtype == np.float32 and np.all(np.diff(D, axis=1) >= 0)


def test_second_export_does_not_overwrite_the_first(npy, tmp_path, capsys) -> None:
    out = tmp_path / "emb"
    first = _export(out, *_vectors(npy), capsys=capsys)
    before = {p: p.read_bytes() for p in first}
    again = _export(out, *_vectors(npy), capsys=capsys)
    assert again == first  # the same export: the same names (rewritten, identical)
    other = _export(out, *_vectors(npy), "metric=euclidean", capsys=capsys)
    assert not set(other) & set(first)
    more = _export(out, *_vectors(npy), "max_queries=10", capsys=capsys)
    assert not set(more) & (set(first) | set(other))
    for p, data in before.items():
        assert p.read_bytes() == data
    assert len(list(out.iterdir())) == 15


def test_stem_names_dataset_encoder_and_both_fingerprints() -> None:
    a = E.file_stem("names", "rnn02", "d1", "e1", "cosine")
    assert a.startswith("names-rnn02-")
    assert len({a, E.file_stem("names", "rnn02", "d2", "e1", "cosine")}) == 2
    assert len({a, E.file_stem("names", "rnn02", "d1", "e2", "cosine")}) == 2
    assert E.file_stem("a/b", "x y", "d", "e", "ip").startswith("a_b-x_y-")


def test_trained_encoder_export(data_dir, tmp_path, capsys) -> None:
    """A text dataset and a trained encoder: the encoder choice names the files, and other
    training settings give other files."""
    base = ["dataset=surnames", "encoder=rnn02", "encoder.epochs=1", "max_queries=50"]
    out = tmp_path / "emb"
    one = _export(out, *base, capsys=capsys)
    assert all(p.name.startswith("surnames-rnn02-") for p in one)
    two = _export(out, *base, "encoder.hidden_size=16", capsys=capsys)
    assert not set(one) & set(two)
    with h5py.File(next(p for p in two if p.suffix == ".hdf5")) as f:
        assert f["train"].shape[1] == 16 and f["test"].shape[0] == 50
