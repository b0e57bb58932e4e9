"""A content-keyed on-disk cache of numpy arrays, safe against crashes and concurrent jobs.

Entries heal: one that fails to load (empty, truncated or garbage ``.npz``, a missing array,
unreadable meta, or not a regular file at all, e.g. a FIFO, which is never opened) is moved
aside to ``<name>.corrupt`` with one warning and recomputed, so a damaged file never stops
later runs. ``quarantine`` does the same move for other caches.

An entry is written by :func:`lookup.io.atomic_path`: complete or not at all; a full disk
leaves no partial file and is one line naming the entry (:class:`lookup.errors.BadPath`). A job
waiting for another job's entry says so every few seconds (:func:`lookup.io.hold_lock`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from lookup.errors import BadPath
from lookup.io import atomic_path, check_output_dir, hold_lock, open_regular

log = logging.getLogger(__name__)

_META = "__meta__"
_NAMES = "__arrays__"  # the names of the stored arrays, so a missing one is noticed


def array_digest(*arrays: np.ndarray) -> str:
    """sha256 over the shapes, dtypes and bytes of arrays."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.data)
    return h.hexdigest()[:16]


def key_of(**parts) -> str:
    """A short stable key from JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _move_aside(src: Path) -> str:
    """Move ``src`` to ``<name>.corrupt`` (replacing an older one), or delete it; say which."""
    dst = src.with_name(src.name + ".corrupt")
    try:
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif dst.exists() or dst.is_symlink():
            dst.unlink()
        os.replace(src, dst)
        return f"moved aside to {dst}"
    except FileNotFoundError:
        return "already gone"
    except OSError as exc:
        try:
            shutil.rmtree(src) if src.is_dir() else src.unlink()
            return f"deleted (could not move it aside: {exc.strerror or exc})"
        except OSError as exc2:
            return f"could not be moved or deleted ({exc2.strerror or exc2})"


def quarantine(
    path: str | os.PathLike, reason: str, *, files: Iterable[str | os.PathLike] | None = None
) -> None:
    """Move a damaged cache entry aside to ``<name>.corrupt`` with ONE warning.

    The entry is ``path`` (a file or folder), or, with ``files``, those files together (an
    entry made of several files, e.g. a checkpoint's weights, vocab and meta: each existing one
    is moved aside, one warning names the entry). An older ``.corrupt`` is replaced. If a file
    cannot be moved it is deleted; if that fails too the warning says so (the caller's
    recompute then overwrites it). The caller holds the entry's lock and recomputes it.
    """
    if files is None:
        where = _move_aside(Path(path))
    else:
        moved = [_move_aside(Path(f)) for f in files if os.path.lexists(f)]
        where = f"its {len(moved)} files moved aside (*.corrupt)"
    log.warning("damaged cache entry %s (%s); %s, recomputing", path, _one_line(reason), where)


def _load(path: Path, expect: Iterable[str]) -> tuple[dict[str, np.ndarray], dict]:
    """Read an entry fully (every array, so truncation shows); raises on any damage (a FIFO
    or device in its place included, found before it is read)."""
    with open_regular(None, path) as f, np.load(f, allow_pickle=False) as z:
        files = set(z.files)
        if _META not in files:
            raise ValueError("no __meta__ entry")
        meta = json.loads(str(z[_META]))
        if not isinstance(meta, dict):
            raise ValueError(f"meta is {type(meta).__name__}, not a JSON object")
        stored = [str(n) for n in z[_NAMES]] if _NAMES in files else []
        missing = [n for n in (*stored, *expect) if n not in files]
        if missing:
            raise ValueError(f"missing array {', '.join(dict.fromkeys(missing))}")
        arrays = {name: z[name] for name in z.files if name not in (_META, _NAMES)}
    return arrays, meta


def cached_arrays(
    cache_dir: str | os.PathLike,
    kind: str,
    key: str,
    compute: Callable[[], tuple[dict[str, np.ndarray], dict]],
    *,
    expect: Iterable[str] = (),
) -> tuple[dict[str, np.ndarray], dict, bool]:
    """Load ``<cache_dir>/<kind>/<key>.npz`` or compute, save and return it.

    ``compute`` returns (arrays, meta); meta is JSON-able and saved beside the arrays (e.g. the
    seconds the computation took). Returns (arrays, meta, hit). ``expect`` names arrays a
    valid entry must hold (the names written are checked anyway). The file appears only
    complete: written to a temp file, fsynced and renamed, under a lock so parallel jobs
    compute it once. An entry that fails to load is quarantined (one warning) and recomputed.
    """
    folder = check_output_dir("cache_dir", cache_dir) / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BadPath(f"cache_dir={cache_dir}: {folder} is not a folder") from None
    path = folder / f"{key}.npz"
    expect = tuple(expect)
    with hold_lock(str(path) + ".lock", f"the cache entry {kind}/{key}, computed by another job"):
        if os.path.lexists(path):
            try:
                arrays, meta = _load(path, expect)
            except Exception as exc:  # noqa: BLE001 - any damage: heal by recomputing
                quarantine(path, f"{type(exc).__name__}: {exc}")
            else:
                log.info("cache hit: %s/%s", kind, key)
                return arrays, meta, True
        arrays, meta = compute()
        names = np.asarray(sorted(arrays), dtype=str)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **{_META: np.array(json.dumps(meta)), _NAMES: names}, **arrays)
        return arrays, meta, False
