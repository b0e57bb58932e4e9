"""End to end: the bench app on tiny offline data, in-process and as the user's commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from bench import table as results_table
from bench.plot import main as plot_main
from bench.run import run

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> dict[str, Path]:
    """A structured synthetic set: 600 database / 50 query vectors near 6 labelled centres."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("vectors")
    centres = rng.normal(size=(6, 16)).astype(np.float32)
    lab_b, lab_q = rng.integers(0, 6, 600), rng.integers(0, 6, 50)
    xb = centres[lab_b] + 0.3 * rng.normal(size=(600, 16)).astype(np.float32)
    xq = centres[lab_q] + 0.3 * rng.normal(size=(50, 16)).astype(np.float32)
    xb[1] = xb[0]  # an exact duplicate: a distance tie
    paths = {}
    for name, arr in {
        "db": xb,
        "queries": xq,
        "db_labels": lab_b.astype(str),
        "query_labels": lab_q.astype(str),
    }.items():
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], arr)
    return paths


def _run(overrides: list[str]) -> list[dict]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        return run(cfg)


def _vector_overrides(v: dict[str, Path], table: Path) -> list[str]:
    return [
        "dataset=vectors",
        "encoder=none",
        f"dataset.db={v['db']}",
        f"dataset.queries={v['queries']}",
        f"dataset.db_labels={v['db_labels']}",
        f"dataset.query_labels={v['query_labels']}",
        f"results.table={table}",
        "warmup=2",
        "passes=1",
    ]


@pytest.mark.parametrize(
    "index", ["exact", "annoy", "hnswlib", "faiss_flat", "faiss_ivf", "faiss_hnsw"]
)
def test_one_row_per_search_point(vectors, tmp_path: Path, index: str) -> None:
    table = tmp_path / "runs.csv"
    extra = ["index.factory='IVF8,Flat'"] if index == "faiss_ivf" else []
    rows = _run([*_vector_overrides(vectors, table), f"index={index}", *extra])
    from omegaconf import OmegaConf

    search = OmegaConf.load(CONF / "index" / f"{index}.yaml").get("search") or {}
    n_points = int(np.prod([len(v) for v in search.values()])) if search else 1
    assert len(rows) == n_points == len(results_table.read_rows(table))
    for r in rows:
        assert r["n_db"] == 600 and r["n_queries"] == 50 and r["dim"] == 16
        assert 0 <= r["recall_at_k"] <= 1 and 0 <= r["recall_at_k_ids"] <= r["recall_at_k"] + 1e-9
        assert r["knn_acc_exact"] > 0.9  # well separated centres
        assert r["latency_p50_ms"] > 0 and r["qps"] > 0 and r["build_s"] >= 0
        assert r["index_bytes"] > 0 and r["choice_index"] == index
    best = max(r["recall_at_k"] for r in rows)
    assert best >= 0.95
    if index in ("exact", "faiss_flat"):
        assert best == 1.0


def test_rerun_is_skipped_unless_forced(vectors, tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    base = [*_vector_overrides(vectors, table), "index=exact"]
    first = _run(base)
    assert len(first) == 1 and not first[0].get("_stored")
    again = _run(base)  # not measured again: the stored rows come back, marked
    assert len(again) == 1 and again[0]["_stored"] and again[0]["run_id"] == first[0]["run_id"]
    assert len(_run([*base, "force=true"])) == 1
    assert len(results_table.read_rows(table)) == 2


def test_batch_mode_and_hdf5_dataset(vectors, tmp_path: Path) -> None:
    h5 = tmp_path / "tiny-16-angular.hdf5"
    with h5py.File(h5, "w") as f:
        f.attrs["distance"] = "angular"
        f.create_dataset("train", data=np.load(vectors["db"]))
        f.create_dataset("test", data=np.load(vectors["queries"]))
    table = tmp_path / "runs.csv"
    rows = _run(
        [
            "dataset=vectors",
            "encoder=none",
            f"dataset.path={h5}",
            "index=hnswlib",
            "index.search.ef=[50]",
            "mode=batch",
            f"results.table={table}",
        ]
    )
    assert len(rows) == 1 and rows[0]["mode"] == "batch" and rows[0]["metric"] == "cosine"
    assert "knn_acc" not in rows[0]  # no labels in the file


def test_plot_reads_the_table(vectors, tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    _run([*_vector_overrides(vectors, table), "index=hnswlib"])
    _run([*_vector_overrides(vectors, table), "index=annoy"])
    assert plot_main([str(table), "--out", str(tmp_path / "fig")]) == 0
    for name in ("recall_vs_qps.png", "knn_acc_vs_recall.png", "build_vs_recall.png"):
        assert (tmp_path / "fig" / name).stat().st_size > 10_000


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HYDRA_FULL_ERROR="0")
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _message_lines(stderr: str) -> list[str]:
    """stderr without log records ('[time][logger][LEVEL] - ...'): must be exactly one line."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("[")]
    assert len(lines) == 1, stderr
    return lines


BAD_INPUTS = {
    "k=0": ["k=0"],
    "k too large": ["k=100000"],
    "trees=0": ["index=annoy", "index.trees=0"],
    "unknown knob": ["index=hnswlib", "+index.search.nprobe=[1]"],
    "missing path": ["dataset.db=/nonexistent/db.npy"],
    "directory as path": ["dataset.db=/tmp"],
    "unknown build key": ["index=annoy", "+index.tree=50"],
    "wrong type": ["index=hnswlib", "index.M=abc"],
    "threads not a number": ["threads=abc"],
    "passes=0": ["passes=0"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_writes_nothing(vectors, tmp_path: Path, case: str) -> None:
    table = tmp_path / "runs.csv"
    overrides = [*_vector_overrides(vectors, table), *BAD_INPUTS[case]]
    # later overrides win in Hydra, so the bad value replaces the good one
    proc = _cli("bench", *overrides, f"hydra.run.dir={tmp_path / 'out'}", cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert _message_lines(proc.stderr)[0].startswith("error: "), proc.stderr
    assert not table.exists()


def test_hdf5_without_train_is_one_line(tmp_path: Path) -> None:
    h5 = tmp_path / "bad.hdf5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("test", data=np.zeros((3, 4), np.float32))
    table = tmp_path / "runs.csv"
    proc = _cli(
        "bench",
        "dataset=vectors",
        "encoder=none",
        f"dataset.path={h5}",
        f"results.table={table}",
        f"hydra.run.dir={tmp_path / 'out'}",
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "no train" in _message_lines(proc.stderr)[0]
    assert not table.exists()
