"""``dataset=texts``: a user's own corpus from a CSV, TSV, JSONL or Parquet file (or a folder).

Reading. ``path`` is one file, or a folder whose files of one format are all read in sorted
name order (hidden files and files of other extensions are skipped). CSV and TSV files are
UTF-8 (a byte-order mark is allowed) with a header row, read strictly (pyarrow): a row with
more or fewer fields than the header is bad input, not silently shifted; a blank line is no
row. Every cell is read as text, so ``NA``, ``null`` or ``007`` stay what they are. TSV is
tab-separated without quoting. JSONL is one JSON object per line (a key missing from a line is
a missing cell); Parquet columns of any scalar type are read as text. ``text`` names
the text column; ``label``, ``id`` and ``group`` name optional columns.

Empty and duplicate texts. A row whose text is missing, empty or whitespace only is dropped
(the count is logged): it has nothing to encode. Exact duplicate texts are kept (their count is
logged): duplicates are real data (one caption for two images, one surname under two
nationalities), dropping them would change the label statistics, and the harness's tie-aware
recall counts an equidistant duplicate as a correct neighbour. Texts are not stripped or
otherwise changed.

Queries, one of three sources:

- ``queries_path``: another file or folder (same formats, same column names; ``group`` is read
  here). Every row of ``path`` is the database.
- ``split``: a column of ``path`` whose value ``db_split`` marks database rows and
  ``query_split`` query rows (rows with other values are skipped, their count logged). The
  tutorial surnames CSV: ``split=split db_split=train query_split=test``.
- neither: a seeded split as :func:`lookup.data.names.load_names` makes it. The rows are
  permuted with ``numpy.random.default_rng(seed)``, the first ``limit`` kept, and of those the
  first ``n_queries`` (else ``round(kept * test_fraction)``) are the queries and the rest the
  database; for one seed and ``n_queries`` the queries are the same at every ``limit`` and a
  smaller ``limit``'s database is a prefix of a larger one's.

With ``queries_path`` or ``split``, ``limit`` keeps a seeded sample of ``limit`` database rows
and ``n_queries`` a seeded sample of that many queries, both in file order (a smaller sample
is a subset of a larger one for the same seed). ``id`` names a column of unique row ids: rows
are ordered by id (compared as text) before anything is sampled, so the same rows are drawn
whatever the file's row order. ``group`` names the query group of each query row (short,
long, misspelt, another language, ...): ``Dataset.query_groups``.

Labels: with ``label`` set, every kept row needs one (read as text) and the database and
queries together need at least two distinct labels (kNN accuracy compares them).

Bad input raises :class:`lookup.errors.BadInput` (:class:`~lookup.errors.MissingFile` for a
missing path) with one line naming the key, the bad value or path, and what is valid.

The fingerprint (the vector cache's key) covers the content digest of every file read
(:func:`content_digest`) and the options that shape what is read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from lookup.data.base import Dataset, fingerprint
from lookup.errors import BadInput, BadPath, MissingFile
from lookup.params import check_range
from lookup.provenance import file_digest

log = logging.getLogger(__name__)

FORMATS = {".csv": "CSV", ".tsv": "TSV", ".jsonl": "JSONL", ".parquet": "Parquet"}
VALID_PATH = "a .csv, .tsv, .jsonl or .parquet file, or a folder of files of one of these formats"
# Bump when what a fingerprint stands for changes (it keys the vector cache).
_FORMAT = 1


def _fail(message: str) -> BadInput:
    return BadInput(" ".join(message.split()))


def _shown(values: Sequence[str], at_most: int = 12) -> str:
    """``a, b, c`` (at most ``at_most`` items, then ``... (n in all)``)."""
    items = [str(v) for v in values]
    more = f", ... ({len(items)} in all)" if len(items) > at_most else ""
    return ", ".join(items[:at_most]) + more


def source_files(path: str, key: str = "path") -> list[Path]:
    """The files ``dataset.<key>=path`` stands for: the file itself, or a folder's files of
    its one format in sorted name order. One-line BadInput (MissingFile) otherwise."""
    p = Path(path)
    if not p.exists():
        raise MissingFile(f"dataset.{key}={path} does not exist; valid: {VALID_PATH}")
    if p.is_file():
        if p.suffix.lower() not in FORMATS:
            raise _fail(
                f"dataset.{key}={path} has the extension {p.suffix or '(none)'!r}; valid: "
                f"{VALID_PATH}"
            )
        return [p]
    if not p.is_dir():
        raise BadPath(f"dataset.{key}={path} is neither a file nor a folder; valid: {VALID_PATH}")
    found = [q for q in sorted(p.iterdir()) if q.is_file() and not q.name.startswith(".")]
    ours = [q for q in found if q.suffix.lower() in FORMATS]
    if not ours:
        raise _fail(
            f"dataset.{key}={path} is a folder without .csv, .tsv, .jsonl or .parquet files; "
            f"valid: {VALID_PATH}"
        )
    kinds = Counter(q.suffix.lower() for q in ours)
    if len(kinds) > 1:
        mix = ", ".join(f"{n} {ext}" for ext, n in sorted(kinds.items()))
        raise _fail(
            f"dataset.{key}={path} mixes formats ({mix}); valid: a folder of files of one format"
        )
    if len(found) > len(ours):
        log.info("%s: %d files of other formats skipped", path, len(found) - len(ours))
    return ours


def content_digest(path: str) -> str:
    """sha256 (16 hex) of the content of what ``path`` stands for: a file's bytes, or the names
    and bytes of the files of a folder that :func:`source_files` reads."""
    files = source_files(path)
    p = Path(path)
    if p.is_file():
        return file_digest(p)
    h = hashlib.sha256(b"folder\0")
    for f in files:
        h.update(f"{f.name}\0{file_digest(f)}\0".encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Reading columns
# ---------------------------------------------------------------------------------------------
@dataclass
class Table:
    """Columns read from one source (a file or a folder's files, concatenated).

    ``columns`` maps an option key (``text``, ``label``, ...) to its cells, each a ``str`` or
    None (a missing cell); ``files``/``starts`` say which file row i came from.
    """

    source: str  # "dataset.path=..." as messages name it
    columns: dict[str, list[str | None]]
    files: list[Path]
    starts: list[int]  # index of the first row of each file

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def where(self, i: int) -> str:
        """``<file> row <n>`` (n counts data rows from 1) for row ``i``."""
        f = int(np.searchsorted(self.starts, i, side="right")) - 1
        return f"{self.files[f]} row {i - self.starts[f] + 1}"


def _cells(values: list[Any], key: str, column: str, where: str) -> list[str | None]:
    """Cells as text: None/NaN -> None, scalars -> str; a list or mapping is bad input."""
    out: list[str | None] = []
    for n, v in enumerate(values, start=1):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, (bool, int, float, np.generic)):
            out.append(str(v))
        else:
            raise _fail(
                f"dataset.{key}={column!r}: {where} row {n} holds a {type(v).__name__}, not "
                "text; valid: a column of strings or numbers"
            )
    return out


def _unknown_column(key: str, column: str, source: str, existing: Sequence[str]) -> BadInput:
    return _fail(
        f"dataset.{key}={column!r} is not a column of {source}; columns: "
        f"{_shown(list(existing), 30) or '(none)'}"
    )


def _not_utf8(f: Path, source: str, fmt: str) -> BadInput:
    """The one line for a file that is not UTF-8: the first bad byte and its line."""
    data = f.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f"byte 0x{data[exc.start : exc.start + 1].hex()} on line {line}: {exc.reason}"
    else:  # pragma: no cover - only called after a decoding failure
        where = "a decoding error"
    return _fail(f"{source} is not UTF-8 text ({where}); valid: a UTF-8 encoded {fmt} file")


def _header(f: Path, fmt: str, source: str) -> list[str]:
    """The column names of a CSV/TSV file (its first record)."""
    try:
        with open(f, encoding="utf-8-sig", newline="") as handle:
            if fmt == "TSV":
                reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            else:
                reader = csv.reader(handle)
            header = next(reader, None)
    except UnicodeDecodeError:
        raise _not_utf8(f, source, fmt) from None
    except csv.Error as exc:
        raise _fail(f"{source} is not a valid {fmt} file ({exc}); valid: {VALID_PATH}") from None
    if not header:
        raise _fail(f"{source} is empty; valid: a {fmt} file with a header row")
    return header


def _read_delimited(
    f: Path, fmt: str, wanted: dict[str, str], source: str
) -> dict[str, list[str | None]]:
    """Columns of a CSV/TSV file, every cell as text, read strictly by pyarrow: a row with
    too many or too few fields is bad input (a loose reader would shift or drop cells)."""
    import pyarrow as pa
    import pyarrow.csv as pc

    header = _header(f, fmt, source)
    for key, column in wanted.items():
        if column not in header:
            raise _unknown_column(key, column, source, header)
    columns = list(dict.fromkeys(wanted.values()))
    tsv = fmt == "TSV"
    parse = pc.ParseOptions(
        delimiter="\t" if tsv else ",", quote_char=False if tsv else '"', newlines_in_values=not tsv
    )
    convert = pc.ConvertOptions(
        column_types={c: pa.string() for c in columns},
        include_columns=columns,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pc.read_csv(f, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        reason = " ".join(str(exc).split())
        if "invalid UTF8" in reason:
            raise _not_utf8(f, source, fmt) from None
        raise _fail(
            f"{source} is not a valid {fmt} file ({reason[:200]}); valid: {VALID_PATH}"
        ) from None
    return {key: table.column(column).to_pylist() for key, column in wanted.items()}


def _read_jsonl(f: Path, wanted: dict[str, str], source: str) -> dict[str, list[Any]]:
    try:
        lines = f.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise _not_utf8(f, source, "JSONL") from None
    records: list[dict] = []
    seen: dict[str, None] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(
                f"{source} line {n} is not valid JSON ({exc.msg} at column {exc.colno}); "
                "valid: one JSON object per line"
            ) from None
        if not isinstance(rec, dict):
            raise _fail(
                f"{source} line {n} holds a JSON {type(rec).__name__}, not an object; valid: "
                "one JSON object per line"
            )
        seen.update(dict.fromkeys(rec))
        records.append(rec)
    if not records:
        raise _fail(f"{source} is empty; valid: a JSONL file with one JSON object per line")
    for key, column in wanted.items():
        if column not in seen:
            raise _unknown_column(key, column, source, list(seen))
    return {key: [rec.get(column) for rec in records] for key, column in wanted.items()}


def _read_parquet(f: Path, wanted: dict[str, str], source: str) -> dict[str, list[Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(f).names
        for key, column in wanted.items():
            if column not in names:
                raise _unknown_column(key, column, source, names)
        table = pq.read_table(f, columns=sorted(set(wanted.values())))
    except (pa.ArrowException, OSError) as exc:
        reason = " ".join(str(exc).split())
        raise _fail(
            f"{source} is not a readable Parquet file ({reason}); valid: {VALID_PATH}"
        ) from None
    return {key: table.column(column).to_pylist() for key, column in wanted.items()}


def read_columns(path: str, wanted: dict[str, str], key: str = "path") -> Table:
    """The ``wanted`` columns (option key -> column name) of every file ``path`` stands for."""
    files = source_files(path, key)
    columns: dict[str, list[str | None]] = {k: [] for k in wanted}
    starts: list[int] = []
    for f in files:
        source = f"dataset.{key}={f}"
        fmt = FORMATS[f.suffix.lower()]
        if fmt in ("CSV", "TSV"):
            raw = _read_delimited(f, fmt, wanted, source)
        elif fmt == "JSONL":
            raw = _read_jsonl(f, wanted, source)
        else:
            raw = _read_parquet(f, wanted, source)
        starts.append(len(columns[next(iter(wanted))]))
        for k, column in wanted.items():
            columns[k].extend(_cells(raw[k], k, column, str(f)))
    return Table(f"dataset.{key}={path}", columns, files, starts)


# ---------------------------------------------------------------------------------------------
# Selecting rows
# ---------------------------------------------------------------------------------------------
def _with_text(t: Table, text: str) -> np.ndarray:
    """Indices of the rows whose text is not empty; logs how many were dropped."""
    cells = t.columns["text"]
    keep = np.array([i for i, c in enumerate(cells) if c is not None and c.strip()], np.int64)
    if not cells:
        raise _fail(f"{t.source} has no rows; valid: a file with at least one row of text")
    if not len(keep):
        raise _fail(
            f"dataset.text={text!r}: every row of {t.source} has an empty text ({len(cells)} "
            "rows); valid: a column holding text"
        )
    if len(keep) < len(cells):
        log.warning(
            "%s: %d of %d rows have an empty text and are dropped",
            t.source,
            len(cells) - len(keep),
            len(cells),
        )
    return keep


def _require(t: Table, rows: np.ndarray, key: str, column: str, what: str) -> None:
    """Every row of ``rows`` has a non-empty ``key`` cell; else one line naming the first."""
    cells = t.columns[key]
    missing = [int(i) for i in rows if cells[i] is None or not cells[i].strip()]
    if missing:
        raise _fail(
            f"dataset.{key}={column!r}: no {what} on {len(missing)} row(s) with text (first: "
            f"{t.where(missing[0])}); valid: a {what} on every row with text, or {key}=null"
        )


def _by_id(t: Table, rows: np.ndarray, column: str) -> np.ndarray:
    """``rows`` ordered by their (unique) id."""
    _require(t, rows, "id", column, "id")
    ids = t.columns["id"]
    first: dict[str, int] = {}
    for i in rows:
        j = first.setdefault(ids[i], int(i))
        if j != i:
            raise _fail(
                f"dataset.id={column!r}: the id {ids[i]!r} is on two rows ({t.where(j)}, "
                f"{t.where(int(i))}); valid: a column of unique ids, or id=null"
            )
    return rows[np.argsort(np.array([ids[i] for i in rows], dtype=object), kind="stable")]


def _sample(rows: np.ndarray, n: int | None, seed: Any) -> np.ndarray:
    """A seeded sample of ``n`` of ``rows`` in their order (all of them when n is None or
    not smaller); for one seed a smaller sample is a subset of a larger one."""
    if n is None or n >= len(rows):
        return rows
    return rows[np.sort(np.random.default_rng(seed).permutation(len(rows))[:n])]


def _split_rows(
    t: Table, rows: np.ndarray, column: str, db_split: str, query_split: str
) -> tuple[np.ndarray, np.ndarray]:
    _require(t, rows, "split", column, "split value")
    values = np.array([t.columns["split"][i] for i in rows], dtype=object)
    present = sorted(set(values))
    sides = []
    for key, value in (("db_split", db_split), ("query_split", query_split)):
        side = rows[values == value]
        if not len(side):
            raise _fail(
                f"dataset.{key}={value!r} matches no row with text of column {column!r} in "
                f"{t.source}; values: {_shown(present)}"
            )
        sides.append(side)
    other = len(rows) - len(sides[0]) - len(sides[1])
    if other:
        log.info("%s: %d rows of other splits skipped", t.source, other)
    return sides[0], sides[1]


def _check_options(o: SimpleNamespace) -> None:
    """Every option of :func:`load_texts` (``o``: its arguments), before any file is read."""
    path, text, queries_path, split = o.path, o.text, o.queries_path, o.split
    db_split, query_split, n_queries = o.db_split, o.query_split, o.n_queries
    test_fraction, limit, seed = o.test_fraction, o.limit, o.seed
    if path is None:
        raise _fail(f"dataset.path is not set; valid: {VALID_PATH}")
    if not text:
        raise _fail("dataset.text='' is invalid; valid: the name of the text column")
    try:
        if n_queries is not None:
            check_range("dataset", "n_queries", n_queries, minimum=1)
        if limit is not None:
            check_range("dataset", "limit", limit, minimum=1)
        check_range("dataset", "seed", seed, minimum=0)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise _fail(
            f"dataset.test_fraction={test_fraction!r} is invalid; valid: a number between 0 "
            "and 1 (both excluded)"
        )
    if queries_path is not None and split is not None:
        raise _fail(
            f"dataset.split={split!r} is invalid with dataset.queries_path set; valid: one "
            "source of queries: queries_path, split, or neither (a seeded split)"
        )
    if split is not None and db_split == query_split:
        raise _fail(
            f"dataset.query_split={query_split!r} is invalid: it equals dataset.db_split; "
            "valid: two different values of the split column"
        )


def _choose_rows(main, rows, o: SimpleNamespace):
    """(query table, database rows, query rows, whether the seed was used): the queries from
    their file, the split column or a seeded split; both sides cut to ``limit``/``n_queries``."""
    text, label, id, group = o.text, o.label, o.id, o.group  # noqa: A001 - the option key
    queries_path, split, db_split, query_split = o.queries_path, o.split, o.db_split, o.query_split
    n_queries, test_fraction, limit, seed, path = (
        o.n_queries,
        o.test_fraction,
        o.limit,
        o.seed,
        o.path,
    )
    q_table = main
    used_seed = limit is not None or n_queries is not None
    if queries_path is not None:
        q_optional = {"label": label, "id": id, "group": group}
        q_wanted = {"text": text, **{k: v for k, v in q_optional.items() if v is not None}}
        q_table = read_columns(queries_path, q_wanted, key="queries_path")
        q_rows = _with_text(q_table, text)
        if id is not None:
            q_rows = _by_id(q_table, q_rows, id)
        db_rows = rows
    elif split is not None:
        db_rows, q_rows = _split_rows(main, rows, split, db_split, query_split)
    else:
        used_seed = True
        chosen = rows[np.random.default_rng(seed).permutation(len(rows))][:limit]
        if len(chosen) < 2:
            raise _fail(
                f"dataset.path={path} has {len(chosen)} row with text (limit={limit}); valid: "
                "at least 2 (a query and a database row), or queries_path=..."
            )
        if n_queries is None:
            n_test = min(max(1, round(len(chosen) * test_fraction)), len(chosen) - 1)
        elif n_queries < len(chosen):
            n_test = n_queries
        else:
            raise _fail(
                f"dataset.n_queries={n_queries} is invalid: {len(chosen)} rows with text are "
                f"kept and the database needs at least one; valid: an integer between 1 and "
                f"{len(chosen) - 1}"
            )
        q_rows, db_rows = chosen[:n_test], chosen[n_test:]
    if queries_path is not None or split is not None:
        db_rows = _sample(db_rows, limit, seed)
        if n_queries is not None and n_queries > len(q_rows):
            raise _fail(
                f"dataset.n_queries={n_queries} is invalid: {q_table.source} has "
                f"{len(q_rows)} queries with text; valid: an integer between 1 and {len(q_rows)}"
            )
        q_rows = _sample(q_rows, n_queries, (seed, 1))

    return q_table, db_rows, q_rows, used_seed


def _labels_and_groups(main, q_table, db_rows, q_rows, label, group):
    """(database labels, query labels, query groups) as str arrays, or None; checked."""
    db_labels = query_labels = groups = None
    if label is not None:
        _require(main, db_rows, "label", label, "label")
        _require(q_table, q_rows, "label", label, "label")
        db_labels = np.array([main.columns["label"][i] for i in db_rows], dtype=str)
        query_labels = np.array([q_table.columns["label"][i] for i in q_rows], dtype=str)
        classes = np.unique(np.concatenate([db_labels, query_labels]))
        if len(classes) < 2:
            raise _fail(
                f"dataset.label={label!r} has one value ({str(classes[0])!r}) in the rows read "
                f"from {main.source}; valid: a column with at least two labels, or label=null"
            )
    if group is not None:
        _require(q_table, q_rows, "group", group, "group")
        groups = np.array([q_table.columns["group"][i] for i in q_rows], dtype=str)

    return db_labels, query_labels, groups


def load_texts(
    *,
    path: str | None = None,
    text: str = "text",
    label: str | None = None,
    id: str | None = None,  # noqa: A002 - the option key
    group: str | None = None,
    queries_path: str | None = None,
    split: str | None = None,
    db_split: str = "train",
    query_split: str = "test",
    n_queries: int | None = None,
    test_fraction: float = 0.2,
    limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """A text dataset from the user's own file(s); see the module docstring for the rules.

    Args:
        path: a .csv, .tsv, .jsonl or .parquet file, or a folder of files of one format.
        text: the text column.
        label: optional label column (kNN accuracy, hit@k); None: no labels.
        id: optional column of unique row ids; rows are ordered by it before sampling.
        group: optional column naming each query's group (``Dataset.query_groups``).
        queries_path: queries from this file or folder (same formats and column names).
        split: column of ``path`` that assigns rows to the database (``db_split``) or to
            the queries (``query_split``).
        db_split: the ``split`` value of database rows.
        query_split: the ``split`` value of query rows.
        n_queries: number of queries (a seeded sample of them with ``queries_path``/``split``).
        test_fraction: share of the kept rows that are queries in a seeded split when
            ``n_queries`` is None.
        limit: rows kept: queries and database together in a seeded split, else database rows
            (a seeded sample); None keeps all.
        seed: seed of every permutation and sample.

    Raises:
        BadInput: one line naming the key, the bad value or path, and what is valid.
    """
    o = SimpleNamespace(**locals())  # the options, for the helpers below
    _check_options(o)
    optional = {"label": label, "id": id, "split": split}
    if queries_path is None:
        optional["group"] = group
    wanted = {"text": text, **{k: v for k, v in optional.items() if v is not None}}
    main = read_columns(path, wanted)
    rows = _with_text(main, text)
    if id is not None:
        rows = _by_id(main, rows, id)
    q_table, db_rows, q_rows, used_seed = _choose_rows(main, rows, o)
    db = [main.columns["text"][i] for i in db_rows]
    queries = [q_table.columns["text"][i] for i in q_rows]
    db_labels, query_labels, groups = _labels_and_groups(
        main, q_table, db_rows, q_rows, label, group
    )
    options = {
        "text": text,
        "label": label,
        "id": id,
        "group": group,
        "split": [split, db_split, query_split] if split is not None else None,
        "n_queries": n_queries,
        "test_fraction": test_fraction if queries_path is None and split is None else None,
        "limit": limit,
        "seed": seed if used_seed else None,
    }
    content = [content_digest(path), content_digest(queries_path) if queries_path else "-"]
    digest = fingerprint(f"texts{_FORMAT}".encode(), content, json.dumps(options, sort_keys=True))
    _log_summary(path, db, queries, db_labels, groups)
    return Dataset(
        name=f"texts:{Path(path).stem}",
        db=db,
        queries=queries,
        db_labels=db_labels,
        query_labels=query_labels,
        fingerprint=digest,
        query_groups=groups,
    )


def _log_summary(
    path: str,
    db: list[str],
    queries: list[str],
    db_labels: np.ndarray | None,
    groups: np.ndarray | None,
) -> None:
    dup = len(db) - len(set(db))
    in_db = set(db)
    leaked = sum(q in in_db for q in queries)
    log.info(
        "texts: %d database / %d queries from %s; %s labels; %d duplicate database texts kept; "
        "%d queries also in the database",
        len(db),
        len(queries),
        path,
        "no" if db_labels is None else len(np.unique(db_labels)),
        dup,
        leaked,
    )
    if groups is not None:
        counts = Counter(groups.tolist())
        log.info("query groups: %s", ", ".join(f"{g}: {n}" for g, n in sorted(counts.items())))
