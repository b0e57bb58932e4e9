"""The results table on disk: checked before any compute, claimed per configuration, appended
atomically, never rewritten when it is not ours.

- ``check_table(path)``: before any work, one-line BadInput/BadPath when rows could not be
  stored (not a regular file: a FIFO, device or folder is refused before it is read; parent is
  a file, folder not writable, table unreadable, read-only, not UTF-8 CSV, a foreign CSV, or
  rows of another ``schema_version`` than :data:`lookup.schema.SCHEMA_VERSION`). An empty or
  missing file is fine.
- ``claim(path, config_id)``: a per-configuration lock held for a whole job; yields the rows
  already stored for that configuration, so identical jobs launched at once measure it once.
- ``append_rows(path, rows)``: under the table lock, re-checks, widens the header, writes a
  temp file, fsyncs and renames it over the table, keeping the table's permission bits.

The table is written through the path the user gave: a symlink is followed to its target,
which gets the rows (the link stays a link), and the locks live beside the target, so every
path to one table shares them. A row cut mid-line (the file ends inside it: fewer fields, an
unterminated quote, no line end) is ignored with a warning naming the line: it never counts as
a measured configuration. A full disk leaves the table as it was (one line, exit 2).

A table is ours when its header has both ``schema_version`` and ``config_id``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lookup import schema
from lookup.errors import BadInput, BadPath
from lookup.io import atomic_path, check_output_file, hold_lock, read_bounded, resolve_output

log = logging.getLogger(__name__)

KEY = "results.table"
SCHEMA_MARK = "schema_version"
ID_COLUMN = "config_id"
_OURS = (SCHEMA_MARK, ID_COLUMN)


def default_table() -> str:
    """The table every command reads or writes when none is given: ``results.table`` of
    conf/config.yaml, i.e. ``$LOOKUP_RESULTS_TABLE`` or ``results/runs.csv``."""
    return os.environ.get("LOOKUP_RESULTS_TABLE") or "results/runs.csv"


def _fail(path: Path, problem: str) -> BadInput:
    return BadInput(f"results table {path} {problem}; choose another results.table")


def current_schema() -> int:
    """The schema version this code writes (:data:`lookup.schema.SCHEMA_VERSION`)."""
    return int(schema.SCHEMA_VERSION)


def _parse(path: Path) -> tuple[list[str], list[dict]]:
    """(header, complete rows) of a CSV file; BadInput naming the path when it is not UTF-8
    CSV. A row the file ends inside (cut mid-line) or with fewer fields than the header is
    left out with a warning naming its line."""
    header, rows, _ = _parse_all(path)
    return header, rows


def _damaged_id(header: list[str], values: list[str]) -> str | None:
    """The config id a left-out row names, when its fields reach that column."""
    if ID_COLUMN in header and header.index(ID_COLUMN) < len(values) - 1:
        return values[header.index(ID_COLUMN)]  # a later field exists: this one is whole
    return None


def _parse_all(path: Path) -> tuple[list[str], list[dict], set[str]]:
    """:func:`_parse` and the config ids of the rows it left out (those configurations count
    as not measured: their complete rows are replaced when they are measured again)."""
    damaged: set[str] = set()
    try:
        text = read_bounded(KEY, path).decode("utf-8")
        if "\x00" in text:
            raise BadInput("is not a CSV table (it holds NUL bytes: binary data)")
        with io.StringIO(text, newline="") as f:
            reader = csv.reader(f, strict=True)
            records: list[tuple[int, list[str]]] = []  # (first line, fields)
            start, cut = 1, None
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    if "unexpected end of data" not in str(exc):
                        raise
                    cut = start  # an unterminated quote: the file ends inside this row
                    break
                records.append((start, values))
                start = reader.line_num + 1
        cut_values: list[str] = []
        if cut is None and text and not text.endswith(("\n", "\r")) and len(records) > 1:
            cut, cut_values = records.pop()  # no line end: the last row may be cut in a field
        elif cut is not None:  # inside a quote: the fields before it are plain
            cut_values = text.splitlines()[cut - 1].split(",")
        header = records[0][1] if records else []
        rows = []
        for line_no, values in records[1:]:
            if not values:
                continue
            if len(values) > len(header):
                raise ValueError(
                    f"is not a valid CSV table: line {line_no} has {len(values)} fields, "
                    f"the header {len(header)}"
                )
            if len(values) < len(header):
                _skip(path, line_no, f"{len(values)} of {len(header)} fields")
                damaged.add(_damaged_id(header, values) or "")
                continue
            rows.append(dict(zip(header, values, strict=True)))
        if cut is not None:
            _skip(path, cut, "the file ends inside it")
            damaged.add(_damaged_id(header, cut_values) or "")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except csv.Error as exc:
        raise _fail(path, f"is not a valid CSV table ({exc})") from None
    except BadPath:
        raise
    except ValueError as exc:
        raise _fail(path, str(exc)) from None
    except PermissionError:
        raise _fail(path, "cannot be read (permission denied)") from None
    return header, rows, damaged - {""}


_WARNED: set[tuple] = set()  # (table, size, mtime, line): one warning per damaged row and process


def _skip(path: Path, line_no: int, why: str) -> None:
    try:
        st = os.stat(path)
        stamp = (str(path), st.st_size, st.st_mtime_ns, line_no)
    except OSError:
        stamp = (str(path), line_no)
    if stamp in _WARNED:
        return
    _WARNED.add(stamp)
    log.warning(
        "results table %s: line %d is an incomplete row (%s, e.g. a write cut short); ignored: "
        "its configuration counts as not measured, and measuring it again replaces its rows",
        path,
        line_no,
        why,
    )


def _check_header(path: Path, header: list[str]) -> None:
    if header and not all(col in header for col in _OURS):
        shown = ", ".join(header[:4]) + (", ..." if len(header) > 4 else "")
        raise _fail(
            path,
            f"is not a lookup results table (its columns {shown} lack schema_version and "
            "config_id); it is left untouched",
        )


def _check_schema(path: str | os.PathLike, rows: list[dict], version: int) -> None:
    """BadInput unless every row of the table has schema ``version`` (the table is refused,
    never appended to, so one table never mixes row layouts)."""
    found = sorted({r.get(SCHEMA_MARK, "") for r in rows} - {"", str(version)})
    if not found:
        return
    p = Path(path)
    new = p.with_name(f"{p.stem}.v{version}{p.suffix}")
    migrate = (  # bench.migrate reads schema 2 tables only
        f"migrate it (python -m bench.migrate {p} --out {new}), or "
        if set(found) <= {str(version - 1)}
        else ""
    )
    raise BadInput(
        f"results table {p} holds rows of schema_version {', '.join(found)} and this code "
        f"writes schema_version {version}; it is left untouched: write to a new table "
        f"(results.table={new}), or {migrate}move it aside (bench.report and bench.plot read "
        "both versions)"
    )


def check_table(path: str | os.PathLike, schema_version: int | None = None) -> None:
    """Raise a one-line BadInput (BadPath) naming ``path`` when rows could not be appended.

    Call it before any compute. Checks, before anything is read: the path (followed through
    symlinks) is absent or a regular file (not a folder, FIFO or device), readable and
    writable, in a folder that is writable or can be created; then that the table is UTF-8
    CSV, either empty or ours (``schema_version`` and ``config_id`` columns), and that all
    its rows have ``schema_version`` (default: :func:`current_schema`).
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise BadInput(f"results.table={path!r} is invalid; valid: a path to a .csv file")
    target = check_output_file(KEY, path)
    if not target.exists():
        return
    if not os.access(target, os.R_OK):
        raise _fail(Path(path), "cannot be read (permission denied)")
    header, rows = _parse(target)
    _check_header(Path(path), header)
    _check_schema(path, rows, current_schema() if schema_version is None else schema_version)


def read_rows(path: str | os.PathLike) -> list[dict]:
    """All complete rows of a table as dicts of strings ([] when there is no table).

    Raises a one-line BadInput naming the path when the file is not a regular UTF-8 CSV file.
    """
    return _read(path)[0]


def _read(path: str | os.PathLike) -> tuple[list[dict], set[str]]:
    """:func:`read_rows` and the config ids of the rows it left out (see :func:`_parse_all`)."""
    target = resolve_output(path)
    if not os.path.lexists(target):
        return [], set()
    if not target.is_file():
        check_output_file(KEY, path)  # raises: names the kind (FIFO, device, folder)
    _, rows, damaged = _parse_all(target)
    return rows, damaged


def _lock_name(config_id: str) -> str:
    """A file name for a config id (ids are hex; anything else is hashed)."""
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", config_id) and not config_id.startswith("."):
        return f"{config_id}.lock"
    return hashlib.sha256(config_id.encode()).hexdigest()[:16] + ".lock"


def _table_lock(target: Path):
    return hold_lock(str(target) + ".lock", f"the results table {target}")


class Stored(list):
    """The rows a table holds for one configuration; ``damaged`` when one of its rows was cut
    (then it counts as not measured: it is measured again and its rows are replaced)."""

    def __init__(self, rows: Iterable[dict], *, damaged: bool = False) -> None:
        super().__init__([] if damaged else rows)
        self.damaged = damaged


@contextmanager
def claim(path: str | os.PathLike, config_id: str) -> Iterator[Stored]:
    """Hold configuration ``config_id`` of table ``path`` for a whole job.

    Yields the rows the table already holds for it (read under the table lock). A second job
    with the same id blocks here until the first leaves, then sees the first job's rows, so
    a configuration launched several times at once is measured once; while it waits, it logs
    what it waits for every few seconds. Locks live in ``<table>.locks/<config_id>.lock``
    beside the table's real file (symlinks followed).
    """
    target = resolve_output(path)
    folder = target.with_name(target.name + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    what = f"configuration {config_id}, being measured by another job"
    with hold_lock(folder / _lock_name(config_id), what):
        with _table_lock(target):
            rows, damaged = _read(target)
            rows = [r for r in rows if r.get(ID_COLUMN) == config_id]
        yield Stored(rows, damaged=config_id in damaged)


def append_rows(
    path: str | os.PathLike, rows: Iterable[dict], *, replace: str | None = None
) -> None:
    """Append rows to table ``path`` atomically, under the table lock.

    Re-checks the table (ours or empty, writable, rows of the appended rows' schema version)
    under the lock, widens the header when rows bring new columns, writes a temp file beside
    the table's real file (a symlink is followed and kept), fsyncs and renames it over that
    file. The table keeps its permission bits; a new one gets ``0o666 & ~umask``. Rows must
    carry ``schema_version`` and ``config_id`` so the table stays recognisably ours. Raises a
    one-line BadInput (and changes nothing) for a foreign, read-only or damaged table, a table
    of another schema version, or a disk that fills while the table is written.
    """
    rows = list(rows)
    if not rows:
        return
    p = Path(path)
    for row in rows:
        missing = [col for col in _OURS if col not in row]
        if missing:
            raise BadInput(f"a row for {p} lacks the column {missing[0]}; not appended")
    versions = {str(row[SCHEMA_MARK]) for row in rows}
    if len(versions) > 1:
        raise BadInput(f"rows for {p} mix schema versions {', '.join(sorted(versions))}")
    version = int(next(iter(versions)))
    check_table(p, version)
    target = resolve_output(p)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _table_lock(target):
        check_table(p, version)
        header, old = _parse(target) if target.exists() else ([], [])
        header = list(header)
        if replace is not None:  # a configuration whose stored rows were damaged
            old = [r for r in old if r.get(ID_COLUMN) != replace]
        for row in rows:
            header += [key for key in row if key not in header]
        with atomic_path(target, suffix=".csv", key=KEY) as tmp:
            with tmp.open("w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=header, restval="")
                writer.writeheader()
                writer.writerows(old)
                writer.writerows(rows)
    log.info("wrote %d rows to %s", len(rows), p)


def measure_once(
    path: str | os.PathLike, config_id: str, measure: Callable[[], list[dict]], *, force: bool
) -> list[dict]:
    """The resume rule every job follows: check the table, claim the configuration, return
    its stored rows (each marked ``_stored``) unless ``force``, else ``measure()`` and append.

    The check and the append happen under the claim, so a configuration launched several
    times at once is measured once; nothing is written unless ``measure`` returns.
    """
    check_table(path)
    with claim(path, config_id) as stored:
        if stored and not force:
            log.warning(
                "configuration %s already has rows in %s; not measured again", config_id, path
            )
            return [dict(r, _stored=True) for r in stored]
        rows = measure()
        append_rows(path, rows, replace=config_id if stored.damaged else None)
    return rows
