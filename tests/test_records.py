"""Job identity and the results table: fixed columns, widening, resume, safe concurrent appends."""

from __future__ import annotations

import csv
import multiprocessing as mp
from dataclasses import replace
from pathlib import Path

from bench import table as results_table
from lookup.job import Job, Option, Settings, base_row, config_id


def _job(k: int = 10, M: int = 16, **kw) -> Job:
    return Job(
        dataset=Option("vectors", {"_target_": "lookup.data.vectors.load_vectors"}),
        encoder=None,
        index=Option("hnswlib", {"_target_": "lookup.index.hnswlib_backend.HnswlibIndex", "M": M}),
        settings=Settings(k=k),
        grid=({"ef": 10},),
        **kw,
    )


def test_config_id_ignores_where_caches_and_labels_live_but_not_parameters() -> None:
    a = config_id(_job())
    assert a == config_id(_job(cache_dir="/tmp/elsewhere", labels={"overrides": "x"}))
    assert a != config_id(_job(M=32))
    assert a != config_id(_job(k=5))
    assert a != config_id(replace(_job(), grid=({"ef": 20},)))
    assert a != config_id(replace(_job(), kind="probe"))


def test_base_row_has_provenance() -> None:
    row = base_row(_job())
    for key in (
        "schema_version",
        "run_id",
        "config_id",
        "timestamp_utc",
        "git_sha",
        "cpu_model",
        "version_torch",
        "version_faiss_cpu",
        "k",
        "metric",
        "threads",
        "mode",
        "row_kind",
    ):
        assert key in row
    assert row["timestamp_utc"].endswith("+00:00")


def test_append_widens_the_table_and_keeps_old_rows(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    results_table.append_rows(table, [{"schema_version": 2, "config_id": "a", "x": 1}])
    results_table.append_rows(table, [{"schema_version": 2, "config_id": "b", "y": 2}])
    rows = results_table.read_rows(table)
    assert [r["config_id"] for r in rows] == ["a", "b"]
    assert rows[0]["y"] == "" and rows[1]["x"] == "" and rows[1]["y"] == "2"
    with results_table.claim(table, "b") as stored:
        assert len(stored) == 1
    with results_table.claim(table, "c") as stored:
        assert stored == []
    assert not list(tmp_path.glob("*.tmp")), "no temp files left behind"


def _writer(args) -> None:
    table, i = args
    results_table.append_rows(
        table,
        [{"schema_version": 2, "config_id": f"c{i}", "job": i, f"col{i % 3}": i} for _ in range(5)],
    )


def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    table = str(tmp_path / "t.csv")
    with mp.get_context("spawn").Pool(4) as pool:
        pool.map(_writer, [(table, i) for i in range(12)])
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60
    assert sorted({r["job"] for r in rows}, key=int) == [str(i) for i in range(12)]
