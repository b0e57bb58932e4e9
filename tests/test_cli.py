"""The user's commands on small real data: the card's command, bench.lookup, bench.embed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from bench import records

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", *args, f"hydra.run.dir={tmp / 'hydra'}"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_card_command_writes_rows(data_dir: Path, tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    proc = _cli(
        "bench",
        "encoder=rnn02",
        "index=annoy",
        "index.trees=50",
        "dataset=surnames",
        "encoder.epochs=1",
        "max_queries=300",
        "passes=1",
        f"results.table={table}",
        tmp=tmp_path,
    )
    rows = records.read_rows(table)
    assert len(rows) == 4  # one per search_k of the annoy option
    assert {r["build_trees"] for r in rows} == {"50"}
    assert {r["choice_encoder"] for r in rows} == {"rnn02"}
    assert 0 < float(rows[0]["encoder_heldout_char_accuracy"]) < 1  # trained here, on the spot
    assert rows[0]["overrides"].startswith("encoder=rnn02 index=annoy index.trees=50")
    assert "recall" in proc.stdout and "search_k" in proc.stdout


def test_lookup_prints_neighbours_and_prediction(tmp_path: Path) -> None:
    proc = _cli("bench.lookup", "Smith", "Nakamoto", "experiment=smoke", "k=5", tmp=tmp_path)
    blocks = proc.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    for block, name in zip(blocks, ("Smith", "Nakamoto"), strict=True):
        lines = block.splitlines()
        assert lines[0].startswith(f"'{name}'") and "predicted:" in lines[0]
        assert len(lines) == 6


def test_embed_writes_an_ann_benchmarks_file_the_bench_reads(tmp_path: Path) -> None:
    out = tmp_path / "emb"
    _cli("bench.embed", "experiment=smoke", f"results.embeddings={out}", tmp=tmp_path)
    (h5,) = out.glob("*.hdf5")
    with h5py.File(h5) as f:
        assert f.attrs["distance"] == "angular"
        n_db, n_q = f["train"].shape[0], f["test"].shape[0]
        assert f["neighbors"].shape == (n_q, 100) and f["distances"].shape == (n_q, 100)
    assert np.load(out / "db.npy").shape[0] == n_db
    table = tmp_path / "runs.csv"
    _cli(
        "bench",
        "dataset=vectors",
        "encoder=none",
        f"dataset.path={h5}",
        "index=faiss_flat",
        f"results.table={table}",
        tmp=tmp_path,
    )
    (row,) = records.read_rows(table)
    assert float(row["recall_at_k"]) == 1.0 and row["n_db"] == str(n_db)
