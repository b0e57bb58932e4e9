"""Atomic file writes: a file appears complete or not at all, with the mode a user expects.

``tempfile.mkstemp`` creates files at mode 0600; a cache or a table renamed from it would lose
the group/other bits the user's umask grants. Here a replaced file keeps its old permission
bits and a new one gets ``0o666 & ~umask``, as ``open(path, "w")`` would give it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    """The process umask: from /proc on Linux (no side effect), else read by setting it back."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # set straight back; process-wide for an instant
    os.umask(mask)
    return mask


def target_mode(path: str | os.PathLike) -> int:
    """The permission bits a file written at ``path`` should get: the old file's, else the
    umask's default for a new file (``0o666 & ~umask``)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path in ``path``'s folder; on success it replaces ``path`` atomically.

    Write the temp file inside the ``with`` block (by name, with any library). On leaving it
    the file is fsynced, given ``target_mode(path)`` and renamed over ``path``; on an error it
    is removed and ``path`` is untouched. ``suffix`` ends the temp name (e.g. ``".npz"`` for
    libraries that append an extension otherwise).
    """
    final = Path(path)
    folder = final.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{final.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        mode = target_mode(final)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename; mode as ``atomic_path``)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
