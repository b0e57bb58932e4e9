"""The results table: checked before compute, claimed per configuration, appended atomically
with its mode kept, and never rewritten when it is foreign, read-only or damaged."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.table import SCHEMA_MARK, append_rows, check_table, claim, read_rows

REPO = Path(__file__).resolve().parents[1]


def _row(cid: str = "c1", **extra) -> dict:
    return {SCHEMA_MARK: 1, "config_id": cid, "recall_at_k": 0.9, **extra}


def test_append_creates_widens_and_reads(tmp_path: Path) -> None:
    table = tmp_path / "deep" / "runs.csv"
    check_table(table)  # a missing folder that can be created is fine
    append_rows(table, [_row(), _row(qps=10)])
    append_rows(table, [_row("c2", build_trees=5)])
    rows = read_rows(table)
    assert [r["config_id"] for r in rows] == ["c1", "c1", "c2"]
    assert rows[0]["qps"] == "" and rows[1]["qps"] == "10" and rows[2]["build_trees"] == "5"
    header = table.read_text().splitlines()[0].split(",")
    assert header == [SCHEMA_MARK, "config_id", "recall_at_k", "qps", "build_trees"]
    assert [p.name for p in table.parent.iterdir() if p.name.startswith(".")] == []
    append_rows(table, [])  # nothing to append: nothing happens
    assert read_rows(tmp_path / "none.csv") == []


def test_an_empty_file_is_fine(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    table.write_bytes(b"")
    check_table(table)
    append_rows(table, [_row()])
    assert len(read_rows(table)) == 1


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o600])
def test_append_keeps_the_mode(tmp_path: Path, mode: int) -> None:
    table = tmp_path / "runs.csv"
    append_rows(table, [_row()])
    os.chmod(table, mode)
    append_rows(table, [_row("c2")])
    assert stat.S_IMODE(table.stat().st_mode) == mode
    assert len(read_rows(table)) == 2


def test_a_new_table_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        append_rows(tmp_path / "runs.csv", [_row()])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "runs.csv").stat().st_mode) == 0o664


FOREIGN = {
    "foreign": b"name,score\nalice,1\n",
    "schema-only": b"schema_version,x\n1,2\n",
    "not-utf8": b"schema_version,config_id\n\xff\xfe,1\n",
    "nul-bytes": b"schema_version,config_id\n1,\x00\x00\n",
    "too-many-fields": b"schema_version,config_id\n1,c,extra,more\n",
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_or_damaged_table_is_an_error_and_untouched(tmp_path: Path, kind: str) -> None:
    table = tmp_path / "runs.csv"
    table.write_bytes(FOREIGN[kind])
    with pytest.raises(ValueError) as info:
        check_table(table)
    msg = str(info.value)
    assert str(table) in msg and "\n" not in msg
    with pytest.raises(ValueError):
        append_rows(table, [_row()])
    assert table.read_bytes() == FOREIGN[kind]


def test_decode_errors_name_the_path(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    table.write_bytes(FOREIGN["not-utf8"])
    with pytest.raises(ValueError, match=str(table)):
        read_rows(table)


def test_read_only_table_is_an_error_not_a_replacement(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    append_rows(table, [_row()])
    before = table.read_bytes()
    os.chmod(table, 0o444)
    with pytest.raises(ValueError, match="read-only"):
        check_table(table)
    with pytest.raises(ValueError, match="read-only"):
        append_rows(table, [_row("c2")])
    assert table.read_bytes() == before and stat.S_IMODE(table.stat().st_mode) == 0o444


def test_parent_that_is_a_file_and_table_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_table(tmp_path / "file" / "sub" / "runs.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        check_table(tmp_path / "dir.csv")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes whatever the mode says")
def test_unwritable_folder_and_unreadable_table(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    table = folder / "runs.csv"
    append_rows(table, [_row()])
    os.chmod(table, 0o200)
    try:
        with pytest.raises(ValueError, match="cannot be read"):
            check_table(table)
    finally:
        os.chmod(table, 0o644)
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(ValueError, match="not writable"):
            check_table(folder / "new.csv")
    finally:
        os.chmod(folder, 0o755)


def test_rows_must_be_ours(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="config_id"):
        append_rows(tmp_path / "runs.csv", [{SCHEMA_MARK: 1}])
    assert not (tmp_path / "runs.csv").exists()


def test_claim_yields_the_stored_rows_of_that_configuration(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    with claim(table, "c1") as done:
        assert done == []
        append_rows(table, [_row("c1"), _row("c2")])
    with claim(table, "c1") as done:
        assert [r["config_id"] for r in done] == ["c1"]
    with claim(table, "weird/id") as done:  # any id maps to a safe lock file name
        assert done == []


_JOB = textwrap.dedent(
    """
    import sys, time
    from bench.table import SCHEMA_MARK, append_rows, claim

    table, cid = sys.argv[1], sys.argv[2]
    with claim(table, cid) as done:
        if done:
            print("skipped", flush=True)
        else:
            time.sleep(1.0)  # the measurement
            append_rows(table, [{SCHEMA_MARK: 1, "config_id": cid, "qps": 1}])
            print("measured", flush=True)
    """
)


def test_three_identical_jobs_at_once_measure_once(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    script = tmp_path / "job.py"
    script.write_text(_JOB)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(table), "same"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out.strip())
    assert sorted(outs) == ["measured", "skipped", "skipped"]
    assert len(read_rows(table)) == 1


@pytest.mark.slow
def test_three_identical_bench_jobs_at_once_measure_once(tmp_path: Path) -> None:
    """The real app: `python -m bench` three times at once on one table, one configuration."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(tmp_path / "db.npy", rng.normal(size=(300, 8)).astype(np.float32))
    np.save(tmp_path / "q.npy", rng.normal(size=(30, 8)).astype(np.float32))
    table = tmp_path / "runs.csv"
    argv = [
        "dataset=vectors",
        "encoder=none",
        f"dataset.db={tmp_path / 'db.npy'}",
        f"dataset.queries={tmp_path / 'q.npy'}",
        "index=exact",
        "passes=1",
        f"results.table={table}",
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench", *argv, f"hydra.run.dir={tmp_path / f'run{i}'}"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    rows = read_rows(table)
    assert len(rows) == 1 and len({r["run_id"] for r in rows}) == 1
