"""bench.migrate: a schema 2 table rewritten as schema 3, so new rows can be appended."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import migrate
from bench.table import append_rows, check_table, read_rows
from lookup.errors import BadInput
from lookup.schema import SCHEMA_VERSION


def _old_table(path: Path) -> Path:
    """A schema 2 table: one job row, one probe row (no row_kind column then)."""
    import csv

    rows = [
        {"schema_version": 2, "config_id": "a", "recall_at_k": 0.9, "probe_query_kind": ""},
        {"schema_version": 2, "config_id": "b", "recall_at_k": "", "probe_query_kind": "word"},
    ]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_an_old_table_is_refused_with_the_migration_command_then_migrated(tmp_path, capsys):
    old = _old_table(tmp_path / "runs.csv")
    with pytest.raises(BadInput, match=r"python -m bench\.migrate .*runs\.csv --out"):
        check_table(old)
    new = tmp_path / "runs.v3.csv"
    assert migrate.main([str(old), "--out", str(new)]) == 0
    rows = read_rows(new)
    assert [r["row_kind"] for r in rows] == ["job", "probe"]
    assert {r["schema_version"] for r in rows} == {str(SCHEMA_VERSION)}
    assert [r["recall_at_k"] for r in rows] == ["0.9", ""]  # every old value kept
    check_table(new)  # appendable now
    append_rows(new, [{"schema_version": SCHEMA_VERSION, "config_id": "c"}])
    assert read_rows(old)[0]["schema_version"] == "2"  # the old table is left untouched


def test_migrate_never_writes_over_a_file_and_names_unknown_versions(tmp_path, capsys):
    old = _old_table(tmp_path / "runs.csv")
    assert migrate.main([str(old), "--out", str(old)]) == 2
    assert "exists" in capsys.readouterr().err
    with pytest.raises(BadInput, match=r"schema_version '1'"):
        migrate.migrate_rows([{"schema_version": "1", "config_id": "x"}])
    assert migrate.main([str(tmp_path / "missing.csv"), "--out", str(tmp_path / "n.csv")]) == 2
