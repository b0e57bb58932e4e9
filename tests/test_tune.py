"""bench.tune: optuna trials as normal jobs on tiny offline vectors (a few seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("optuna")

from bench import tune  # noqa: E402


@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> list[str]:
    """300 database / 30 query vectors near 4 labelled centres, as dataset overrides."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("tune_vectors")
    centres = rng.normal(size=(4, 16)).astype(np.float32)
    lab_b, lab_q = rng.integers(0, 4, 300), rng.integers(0, 4, 30)
    arrays = {
        "db": centres[lab_b] + 0.3 * rng.normal(size=(300, 16)).astype(np.float32),
        "queries": centres[lab_q] + 0.3 * rng.normal(size=(30, 16)).astype(np.float32),
        "db_labels": lab_b.astype(str),
        "query_labels": lab_q.astype(str),
    }
    out = ["dataset=vectors", "encoder=none", "warmup=1", "passes=1"]
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr)
        out.append(f"dataset.{name}={folder / f'{name}.npy'}")
    return out


def test_two_trials_land_in_the_table(vectors, tmp_path: Path, capsys) -> None:
    table = tmp_path / "runs.csv"
    args = [
        "experiment=tune_hnswlib",
        "tune.trials=2",
        "tune.target_recall=0.9",
        "index.search.ef=[10,40]",
        *vectors,
        f"results.table={table}",
    ]
    assert tune.main(args) == 0
    out = capsys.readouterr().out
    assert "best QPS at recall >= 0.9 over 2 trials" in out and "index.M=" in out
    rows = pd.read_csv(table)
    assert rows["run_id"].nunique() == 2 and len(rows) == 4  # 2 builds x 2 ef
    assert set(rows["choice_experiment"]) == {"tune_hnswlib"}
    assert "tune" not in " ".join(rows.columns)


def test_pareto_with_a_faiss_template(vectors, tmp_path: Path, capsys) -> None:
    table = tmp_path / "runs.csv"
    args = [
        "experiment=tune_faiss_ivf",
        "tune.trials=2",
        "tune.objective=pareto",
        "tune.space.vars.nlist.high=16",
        "tune.space.index.train_size.choices=[300]",
        *vectors,
        f"results.table={table}",
    ]
    assert tune.main(args) == 0
    assert "Pareto front (recall, QPS) over 2 trials" in capsys.readouterr().out
    factories = set(pd.read_csv(table)["build_factory"])
    assert all(f.startswith("IVF") and f.endswith(",Flat") for f in factories)


def test_trial_overrides_and_space() -> None:
    space = tune.parse_space(
        {
            "vars": {"nlist": {"type": "int", "low": 4, "high": 8}},
            "index": {"search": {"ef": {"type": "int", "low": 1, "high": 2}}},
        }
    )
    assert sorted(space) == ["index.search.ef", "vars.nlist"]
    got = tune.trial_overrides(
        {"vars.nlist": 5, "index.search.ef": 2}, {"index.factory": "IVF{nlist},Flat"}
    )
    assert got == ["index.search.ef=[2]", "index.factory='IVF5,Flat'"]
    with pytest.raises(ValueError, match="not in tune.space.vars"):
        tune.trial_overrides({}, {"index.factory": "IVF{nlist},Flat"})
    with pytest.raises(ValueError, match="is not a distribution"):
        tune.parse_space({"index": {"M": 16}})


def test_without_a_preset_is_one_line(vectors, tmp_path: Path, capsys) -> None:
    assert tune.main([*vectors, f"results.table={tmp_path / 'r.csv'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "experiment=tune_hnswlib" in err[0]


def test_tune_logs_no_library_loader_noise(caplog) -> None:
    """bench.tune logs at INFO like the app, but faiss's SIMD-module probing (INFO lines with
    ModuleNotFoundError text) stays quiet, as under Hydra's job logging."""
    import logging

    from bench.cli import log_like_the_app

    log_like_the_app()
    assert logging.getLogger("faiss.loader").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("bench.tune").getEffectiveLevel() <= logging.INFO
