"""The results table on disk: checked before any compute, claimed per configuration, appended
atomically, never rewritten when it is not ours.

- ``check_table(path)``: before any work, one-line ValueError when rows could not be stored
  (parent is a file, folder not writable, table unreadable, read-only, not UTF-8 CSV, or a
  foreign CSV). An empty or missing file is fine.
- ``claim(path, config_id)``: a per-configuration lock held for a whole job; yields the rows
  already stored for that configuration, so identical jobs launched at once measure it once.
- ``append_rows(path, rows)``: under the table lock, re-checks, widens the header, writes a
  temp file, fsyncs and renames it over the table, keeping the table's permission bits.

A table is ours when its header has both ``schema_version`` and ``config_id``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from lookup.errors import BadInput
from lookup.io import atomic_path

log = logging.getLogger(__name__)

SCHEMA_MARK = "schema_version"
ID_COLUMN = "config_id"
_OURS = (SCHEMA_MARK, ID_COLUMN)


def _fail(path: Path, problem: str) -> BadInput:
    return BadInput(f"results table {path} {problem}; choose another results.table")


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of ``path`` (or ``path`` itself) that exists, lexically."""
    p = path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _writable(path: Path) -> bool:
    """Whether ``path`` can be written: os.access, and (for root) some write bit set."""
    mode = stat.S_IMODE(path.stat().st_mode)
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _parse(path: Path) -> tuple[list[str], list[dict]]:
    """(header, rows) of a CSV file; ValueError naming the path when it is not UTF-8 CSV."""
    try:
        text = path.read_bytes().decode("utf-8")
        if "\x00" in text:
            raise BadInput("is not a CSV table (it holds NUL bytes: binary data)")
        with io.StringIO(text, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None) or []
            rows = []
            for line_no, values in enumerate(reader, start=2):
                if not values:
                    continue
                if len(values) > len(header):
                    raise BadInput(
                        f"is not a valid CSV table: line {line_no} has {len(values)} fields, "
                        f"the header {len(header)}"
                    )
                rows.append(
                    dict(zip(header, values + [""] * (len(header) - len(values)), strict=True))
                )
    except UnicodeDecodeError as exc:
        raise _fail(path, f"is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except csv.Error as exc:
        raise _fail(path, f"is not a valid CSV table ({exc})") from None
    except ValueError as exc:
        raise _fail(path, str(exc)) from None
    except IsADirectoryError:
        raise _fail(path, "is a folder, not a file") from None
    except PermissionError:
        raise _fail(path, "cannot be read (permission denied)") from None
    return header, rows


def _check_header(path: Path, header: list[str]) -> None:
    if header and not all(col in header for col in _OURS):
        shown = ", ".join(header[:4]) + (", ..." if len(header) > 4 else "")
        raise _fail(
            path,
            f"is not a lookup results table (its columns {shown} lack schema_version and "
            "config_id); it is left untouched",
        )


def check_table(path: str | os.PathLike) -> None:
    """Raise a one-line ValueError naming ``path`` when rows could not be appended to it.

    Call it before any compute. Checks: the nearest existing ancestor is a writable folder
    (so the folder can be created), the table is not a folder, is readable, writable, UTF-8
    CSV, and either empty or ours (``schema_version`` and ``config_id`` columns).
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise BadInput(f"results.table={path!r} is invalid; valid: a path to a .csv file")
    p = Path(path)
    anchor = _existing_ancestor(p.parent)
    if not anchor.is_dir():
        raise _fail(p, f"cannot be created: {anchor} is a file, not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise _fail(p, f"cannot be created: folder {anchor} is not writable")
    if not os.path.lexists(p):
        return
    if p.is_dir():
        raise _fail(p, "is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise _fail(p, "cannot be read (permission denied)")
    if not _writable(p):
        raise _fail(p, "is read-only (no write permission); it is left untouched")
    header, _ = _parse(p)
    _check_header(p, header)


def read_rows(path: str | os.PathLike) -> list[dict]:
    """All rows of a table as dicts of strings ([] when there is no table).

    Raises a one-line ValueError naming the path when the file is not UTF-8 CSV.
    """
    p = Path(path)
    if not p.exists():
        return []
    return _parse(p)[1]


def _lock_name(config_id: str) -> str:
    """A file name for a config id (ids are hex; anything else is hashed)."""
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", config_id) and not config_id.startswith("."):
        return f"{config_id}.lock"
    return hashlib.sha256(config_id.encode()).hexdigest()[:16] + ".lock"


def _table_lock(p: Path) -> FileLock:
    return FileLock(str(p) + ".lock")


@contextmanager
def claim(path: str | os.PathLike, config_id: str) -> Iterator[list[dict]]:
    """Hold configuration ``config_id`` of table ``path`` for a whole job.

    Yields the rows the table already holds for it (read under the table lock). A second job
    with the same id blocks here until the first leaves, then sees the first job's rows, so
    a configuration launched several times at once is measured once. Locks live in
    ``<table>.locks/<config_id>.lock``.
    """
    p = Path(path)
    folder = p.with_name(p.name + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / _lock_name(config_id)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("configuration %s is being measured by another job; waiting for it", config_id)
        lock.acquire()
    try:
        with _table_lock(p):
            rows = [r for r in read_rows(p) if r.get(ID_COLUMN) == config_id]
        yield rows
    finally:
        lock.release()


def append_rows(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append rows to table ``path`` atomically, under the table lock.

    Re-checks the table (ours or empty, writable) under the lock, widens the header when
    rows bring new columns, writes a temp file, fsyncs and renames it over the table. The
    table keeps its permission bits; a new one gets ``0o666 & ~umask``. Rows must carry
    ``schema_version`` and ``config_id`` so the table stays recognisably ours. Raises a
    one-line ValueError (and changes nothing) for a foreign, read-only or damaged table.
    """
    rows = list(rows)
    if not rows:
        return
    p = Path(path)
    for row in rows:
        missing = [col for col in _OURS if col not in row]
        if missing:
            raise ValueError(f"a row for {p} lacks the column {missing[0]}; not appended")
    check_table(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    with _table_lock(p):
        check_table(p)
        header, old = _parse(p) if p.exists() else ([], [])
        header = list(header)
        for row in rows:
            header += [key for key in row if key not in header]
        with atomic_path(p, suffix=".csv") as tmp:
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
        append_rows(path, rows)
    return rows
