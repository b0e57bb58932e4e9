"""dataset=texts: every format and folder reads the same rows, the rules for empty and duplicate
texts, the three query sources, nested samples, id ordering, content fingerprints, the
surnames CSV read as the surnames loader reads it, and every bad input as its exact line."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lookup.data.surnames import load_surnames
from lookup.data.texts import VALID_PATH, load_texts
from lookup.errors import BadInput, MissingFile

ROWS = [
    {"id": f"r{i:02d}", "text": f"text number {i}", "label": "even" if i % 2 == 0 else "odd"}
    for i in range(12)
]


def write(path: Path, rows: list[dict], fmt: str | None = None) -> Path:
    """``rows`` as a CSV, TSV, JSONL or Parquet file (by extension)."""
    fmt = fmt or path.suffix.lstrip(".")
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0])
    if fmt == "csv":
        body = [",".join(cols)] + [",".join(str(r[c]) for c in cols) for r in rows]
        path.write_text("\n".join(body) + "\n", encoding="utf-8")
    elif fmt == "tsv":
        body = ["\t".join(cols)] + ["\t".join(str(r[c]) for c in cols) for r in rows]
        path.write_text("\n".join(body) + "\n", encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _same(a, b) -> None:
    assert a.db == b.db and a.queries == b.queries
    np.testing.assert_array_equal(a.db_labels, b.db_labels)
    np.testing.assert_array_equal(a.query_labels, b.query_labels)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def test_every_format_and_a_folder_read_the_same_rows(tmp_path) -> None:
    paths = [write(tmp_path / f"data.{ext}", ROWS) for ext in ("csv", "tsv", "jsonl", "parquet")]
    write(tmp_path / "parts" / "b.csv", ROWS[6:])  # read in sorted name order: a, then b
    write(tmp_path / "parts" / "a.csv", ROWS[:6])
    (tmp_path / "parts" / "README.md").write_text("not data: skipped")
    (tmp_path / "parts" / ".hidden.csv").write_text("x\n1\n")
    sets = [
        load_texts(path=str(p), label="label", n_queries=3) for p in [*paths, tmp_path / "parts"]
    ]
    for ds in sets[1:]:
        _same(sets[0], ds)
    assert sets[0].name == "texts:data" and len(sets[0].db) == 9 and len(sets[0].queries) == 3
    assert sorted(sets[0].db + sets[0].queries) == sorted(r["text"] for r in ROWS)


def test_cells_are_read_as_written(tmp_path) -> None:
    rows = [{"text": t, "label": lab} for t, lab in [("NA", "1"), ("null", "2"), ("007", "1")]]
    p = write(tmp_path / "t.csv", rows)
    ds = load_texts(path=str(p), label="label", split=None, n_queries=1, seed=3)
    assert sorted(ds.db + ds.queries) == ["007", "NA", "null"]
    pq_path = write(tmp_path / "n.parquet", [{"text": "x", "n": 7}, {"text": "y", "n": 8}])
    ds = load_texts(path=str(pq_path), label="n", n_queries=1)
    assert sorted([*ds.db_labels, *ds.query_labels]) == ["7", "8"]  # numbers read as text


def test_csv_with_a_bom_quotes_and_newlines(tmp_path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes('\ufefftext,label\n"two\nlines, one text",x\n"say ""hi""",y\n'.encode())
    ds = load_texts(path=str(p), label="label", split=None, n_queries=1, seed=0)
    assert sorted(ds.db + ds.queries) == ['say "hi"', "two\nlines, one text"]


def test_empty_texts_dropped_duplicates_kept(tmp_path, caplog) -> None:
    rows = [
        {"text": t, "n": i} for i, t in enumerate(["a dog", "", "   ", "a dog", "a cat", "a cow"])
    ]
    p = write(tmp_path / "t.csv", rows)
    with caplog.at_level(logging.INFO, logger="lookup.data.texts"):
        ds = load_texts(path=str(p), n_queries=1, seed=0)
    assert sorted(ds.db + ds.queries) == ["a cat", "a cow", "a dog", "a dog"]
    assert "2 of 6 rows have an empty text and are dropped" in caplog.text
    assert ds.db_labels is None and ds.query_labels is None and ds.query_groups is None


def test_split_column(tmp_path) -> None:
    rows = [{"split": s, "text": f"t{i}", "label": f"l{i % 2}"} for i, s in
            enumerate(["train", "test", "train", "val", "train", "test"])]  # fmt: skip
    p = write(tmp_path / "s.csv", rows)
    ds = load_texts(path=str(p), label="label", split="split")
    assert ds.db == ["t0", "t2", "t4"] and ds.queries == ["t1", "t5"]  # val rows skipped
    assert ds.db_labels.tolist() == ["l0", "l0", "l0"] and ds.query_labels.tolist() == ["l1"] * 2
    flipped = load_texts(path=str(p), label="label", split="split", db_split="test",
                         query_split="train")  # fmt: skip
    assert flipped.db == ["t1", "t5"] and flipped.fingerprint != ds.fingerprint


def test_queries_file_with_groups(tmp_path) -> None:
    db = write(tmp_path / "db.jsonl", ROWS)
    queries = [
        {"text": "number 3", "label": "odd", "group": "short"},
        {"text": "this is text number 4", "label": "even", "group": "long"},
        {"text": "txet nmber 5", "label": "odd", "group": "misspelt"},
    ]
    q = write(tmp_path / "q.jsonl", queries)
    ds = load_texts(path=str(db), label="label", queries_path=str(q), group="group")
    assert ds.db == [r["text"] for r in ROWS] and ds.queries == [r["text"] for r in queries]
    assert ds.query_groups.tolist() == ["short", "long", "misspelt"]
    assert ds.query_labels.tolist() == ["odd", "even", "odd"]
    two = load_texts(path=str(db), label="label", queries_path=str(q), group="group", n_queries=2)
    assert len(two.queries) == 2 and len(two.query_groups) == 2
    assert set(two.queries) < set(ds.queries)


def test_seeded_split_nests_across_limits(tmp_path) -> None:
    rows = [{"text": f"t{i}"} for i in range(200)]
    p = str(write(tmp_path / "t.csv", rows))
    small = load_texts(path=p, n_queries=10, limit=50, seed=1)
    large = load_texts(path=p, n_queries=10, limit=120, seed=1)
    assert small.queries == large.queries and large.db[: len(small.db)] == small.db
    assert (len(small.db), len(large.db)) == (40, 110)
    frac = load_texts(path=p, test_fraction=0.25, seed=1)
    assert (len(frac.queries), len(frac.db)) == (50, 150)
    assert load_texts(path=p, test_fraction=0.25, seed=2).queries != frac.queries


def test_limit_samples_the_database_in_file_order(tmp_path) -> None:
    db = str(write(tmp_path / "db.csv", [{"text": f"t{i:03d}"} for i in range(100)]))
    q = str(write(tmp_path / "q.csv", [{"text": "q"}]))
    small = load_texts(path=db, queries_path=q, limit=20, seed=4)
    large = load_texts(path=db, queries_path=q, limit=60, seed=4)
    assert small.db == sorted(small.db) and set(small.db) < set(large.db)
    assert load_texts(path=db, queries_path=q).db == [f"t{i:03d}" for i in range(100)]


def test_id_makes_the_split_independent_of_row_order(tmp_path) -> None:
    shuffled = [ROWS[i] for i in np.random.default_rng(0).permutation(len(ROWS))]
    a = load_texts(path=str(write(tmp_path / "a.csv", ROWS)), id="id", n_queries=4, seed=5)
    b = load_texts(path=str(write(tmp_path / "b.csv", shuffled)), id="id", n_queries=4, seed=5)
    assert a.queries == b.queries and a.db == b.db


def test_fingerprint_follows_content_and_options(tmp_path) -> None:
    p = write(tmp_path / "a.csv", ROWS)
    base = load_texts(path=str(p), label="label", n_queries=3).fingerprint
    assert load_texts(path=str(p), label="label", n_queries=3).fingerprint == base
    copy = write(tmp_path / "elsewhere" / "copy.csv", ROWS)
    assert load_texts(path=str(copy), label="label", n_queries=3).fingerprint == base
    for kw in (dict(label=None), dict(n_queries=4), dict(seed=1), dict(limit=10)):
        assert (
            load_texts(**{"path": str(p), "label": "label", "n_queries": 3, **kw}).fingerprint
            != base
        )
    write(p, [*ROWS[:-1], {**ROWS[-1], "text": "changed"}])
    assert load_texts(path=str(p), label="label", n_queries=3).fingerprint != base
    split = write(
        tmp_path / "s.csv", [{"split": "train", "text": "a"}, {"split": "test", "text": "b"}]
    )
    seeds = {load_texts(path=str(split), split="split", seed=s).fingerprint for s in (0, 1)}
    assert len(seeds) == 1  # no sampling: the seed does not change what is read


def test_surnames_csv_read_as_texts_equals_the_surnames_loader(data_dir) -> None:
    path = str(data_dir / "surnames.csv")
    ours = load_texts(path=path, text="surname", label="nationality", split="split")
    _same(ours, load_surnames(path))
    assert (len(ours.db), len(ours.queries)) == (16059, 4015)


# ---------------------------------------------------------------------------------------------
# Bad input: one line each, exactly
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bad:
    id: str
    setup: Callable[[Path], dict]  # writes files under the folder, returns load_texts kwargs
    line: str  # the exact message; {d} is the folder
    kind: type = BadInput


def _csv(d: Path, text: str, name: str = "t.csv") -> Path:
    (d / name).write_text(text, encoding="utf-8")
    return d / name


def _folder(d: Path, names: list[str]) -> str:
    for n in names:
        write(d / "f" / n, ROWS)
    return str(d / "f")


GOOD = "text,label\na dog,x\na cat,y\na cow,x\n"
BAD = [
    Bad("path-not-set", lambda d: {}, f"dataset.path is not set; valid: {VALID_PATH}"),
    Bad(
        "missing-file",
        lambda d: {"path": str(d / "nope.csv")},
        f"dataset.path={{d}}/nope.csv does not exist; valid: {VALID_PATH}",
        MissingFile,
    ),
    Bad(
        "extension",
        lambda d: {"path": str(_csv(d, GOOD, "t.xlsx"))},
        f"dataset.path={{d}}/t.xlsx has the extension '.xlsx'; valid: {VALID_PATH}",
    ),
    Bad(
        "folder-without-data",
        lambda d: {"path": str(_csv(d, "x", "notes.txt").parent)},
        "dataset.path={d} is a folder without .csv, .tsv, .jsonl or .parquet files; valid: "
        + VALID_PATH,
    ),
    Bad(
        "folder-mixed",
        lambda d: {"path": _folder(d, ["a.csv", "b.jsonl", "c.csv"])},
        "dataset.path={d}/f mixes formats (2 .csv, 1 .jsonl); valid: a folder of files of one "
        "format",
    ),
    Bad(
        "unknown-text-column",
        lambda d: {"path": str(_csv(d, GOOD)), "text": "txt"},
        "dataset.text='txt' is not a column of dataset.path={d}/t.csv; columns: text, label",
    ),
    Bad(
        "unknown-label-column",
        lambda d: {"path": str(write(d / "t.jsonl", ROWS)), "label": "class"},
        "dataset.label='class' is not a column of dataset.path={d}/t.jsonl; columns: id, text, "
        "label",
    ),
    Bad(
        "queries-without-text-column",
        lambda d: {
            "path": str(_csv(d, GOOD)),
            "queries_path": str(_csv(d, "query,label\nx,y\n", "q.csv")),
        },
        "dataset.text='text' is not a column of dataset.queries_path={d}/q.csv; columns: "
        "query, label",
    ),
    Bad(
        "empty-text-column",
        lambda d: {"path": str(_csv(d, "text,label\n,x\n  ,y\n"))},
        "dataset.text='text': every row of dataset.path={d}/t.csv has an empty text (2 rows); "
        "valid: a column holding text",
    ),
    Bad(
        "header-only",
        lambda d: {"path": str(_csv(d, "text,label\n"))},
        "dataset.path={d}/t.csv has no rows; valid: a file with at least one row of text",
    ),
    Bad(
        "empty-file",
        lambda d: {"path": str(_csv(d, ""))},
        "dataset.path={d}/t.csv is empty; valid: a CSV file with a header row",
    ),
    Bad(
        "not-utf8",
        lambda d: {"path": str(_write_bytes(d / "t.csv", b"text\ncaf\xe9\n"))},
        "dataset.path={d}/t.csv is not UTF-8 text (byte 0xe9 on line 2: invalid continuation "
        "byte); valid: a UTF-8 encoded CSV file",
    ),
    Bad(
        "ragged-csv",
        lambda d: {"path": str(_csv(d, "text,label\na,x\nb,y,z\n"))},
        "dataset.path={d}/t.csv is not a valid CSV file (CSV parse error: Expected 2 columns, "
        f"got 3: b,y,z); valid: {VALID_PATH}",
    ),
    Bad(
        "short-row",
        lambda d: {"path": str(_csv(d, "text,label\na,x\nb\n"))},
        "dataset.path={d}/t.csv is not a valid CSV file (CSV parse error: Expected 2 columns, "
        f"got 1: b); valid: {VALID_PATH}",
    ),
    Bad(
        "bad-json-line",
        lambda d: {"path": str(_csv(d, '{"text": "a"}\n{"text": b}\n', "t.jsonl"))},
        "dataset.path={d}/t.jsonl line 2 is not valid JSON (Expecting value at column 10); "
        "valid: one JSON object per line",
    ),
    Bad(
        "json-line-not-an-object",
        lambda d: {"path": str(_csv(d, '{"text": "a"}\n["b"]\n', "t.jsonl"))},
        "dataset.path={d}/t.jsonl line 2 holds a JSON list, not an object; valid: one JSON "
        "object per line",
    ),
    Bad(
        "json-text-is-a-list",
        lambda d: {"path": str(_csv(d, '{"text": "a"}\n{"text": ["b"]}\n', "t.jsonl"))},
        "dataset.text='text': {d}/t.jsonl row 2 holds a list, not text; valid: a column of "
        "strings or numbers",
    ),
    Bad(
        "not-parquet",
        lambda d: {"path": str(_csv(d, GOOD, "t.parquet"))},
        "dataset.path={d}/t.parquet is not a readable Parquet file (Parquet magic bytes not "
        f"found in footer. Either the file is corrupted or this is not a parquet file.); valid: "
        f"{VALID_PATH}",
    ),
    Bad(
        "label-one-value",
        lambda d: {"path": str(_csv(d, "text,label\na,x\nb,x\nc,x\n")), "label": "label"},
        "dataset.label='label' has one value ('x') in the rows read from dataset.path={d}/t.csv; "
        "valid: a column with at least two labels, or label=null",
    ),
    Bad(
        "label-missing",
        lambda d: {"path": str(_csv(d, "text,label\na,x\nb,\nc,y\n")), "label": "label"},
        "dataset.label='label': no label on 1 row(s) with text (first: {d}/t.csv row 2); valid: "
        "a label on every row with text, or label=null",
    ),
    Bad(
        "duplicate-id",
        lambda d: {"path": str(_csv(d, "id,text\n1,a\n2,b\n1,c\n")), "id": "id"},
        "dataset.id='id': the id '1' is on two rows ({d}/t.csv row 1, {d}/t.csv row 3); valid: "
        "a column of unique ids, or id=null",
    ),
    Bad(
        "group-missing",
        lambda d: {
            "path": str(_csv(d, GOOD)),
            "queries_path": str(_csv(d, "text,group\nq1,short\nq2,\n", "q.csv")),
            "group": "group",
        },
        "dataset.group='group': no group on 1 row(s) with text (first: {d}/q.csv row 2); valid: "
        "a group on every row with text, or group=null",
    ),
    Bad(
        "n-queries-too-many",
        lambda d: {"path": str(_csv(d, GOOD)), "n_queries": 3},
        "dataset.n_queries=3 is invalid: 3 rows with text are kept and the database needs at "
        "least one; valid: an integer between 1 and 2",
    ),
    Bad(
        "n-queries-more-than-the-queries-file",
        lambda d: {
            "path": str(_csv(d, GOOD)),
            "queries_path": str(_csv(d, "text\nq1\nq2\n", "q.csv")),
            "n_queries": 5,
        },
        "dataset.n_queries=5 is invalid: dataset.queries_path={d}/q.csv has 2 queries with "
        "text; valid: an integer between 1 and 2",
    ),
    Bad(
        "split-and-queries-path",
        lambda d: {"path": str(_csv(d, GOOD)), "queries_path": "q.csv", "split": "split"},
        "dataset.split='split' is invalid with dataset.queries_path set; valid: one source of "
        "queries: queries_path, split, or neither (a seeded split)",
    ),
    Bad(
        "split-value-absent",
        lambda d: {
            "path": str(_csv(d, "split,text\ntrain,a\ntest,b\n")),
            "split": "split",
            "db_split": "training",
        },
        "dataset.db_split='training' matches no row with text of column 'split' in "
        "dataset.path={d}/t.csv; values: test, train",
    ),
    Bad(
        "same-split-twice",
        lambda d: {"path": str(_csv(d, GOOD)), "split": "label", "query_split": "train"},
        "dataset.query_split='train' is invalid: it equals dataset.db_split; valid: two "
        "different values of the split column",
    ),
    Bad(
        "test-fraction",
        lambda d: {"path": str(_csv(d, GOOD)), "test_fraction": 1.0},
        "dataset.test_fraction=1.0 is invalid; valid: a number between 0 and 1 (both excluded)",
    ),
    Bad(
        "one-row",
        lambda d: {"path": str(_csv(d, "text\nonly\n"))},
        "dataset.path={d}/t.csv has 1 row with text (limit=None); valid: at least 2 (a query "
        "and a database row), or queries_path=...",
    ),
]


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input_is_one_exact_line(case: Bad, tmp_path: Path) -> None:
    kwargs = case.setup(tmp_path)
    with pytest.raises(case.kind) as exc:
        load_texts(**kwargs)
    assert str(exc.value) == case.line.format(d=tmp_path)


def test_there_are_at_least_fifteen_distinct_bad_inputs() -> None:
    assert len({c.line for c in BAD}) == len(BAD) >= 15


def test_bad_input_through_the_app_is_one_line_and_exit_2(tmp_path, capfd) -> None:
    """Through the bench app: ``error: <the line>``, exit code 2, no table written."""
    from bench.__main__ import job
    from bench.cli import compose_and_run

    p = _csv(tmp_path, GOOD)
    table = tmp_path / "runs.csv"
    argv = ["dataset=texts", f"dataset.path={p}", "dataset.text=txt", "encoder=glove_mean",
            "index=exact", f"results.table={table}"]  # fmt: skip
    capfd.readouterr()
    with pytest.raises(SystemExit) as exc:
        compose_and_run(job, argv)
    err = capfd.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and not table.exists()
    assert err[-1] == (
        f"error: dataset.text='txt' is not a column of dataset.path={p}; columns: text, label"
    )
