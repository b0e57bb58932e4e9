"""One rule for every file the harness reads or writes, and atomic writes.

Reading. ``check_input_file(key, path)`` runs before anything opens or digests a file a user
named: it must exist (:class:`~lookup.errors.MissingFile`) and be a regular file (or, where a
folder is meant, a folder); a FIFO, a device, a socket or a folder where a file belongs is a
one-line :class:`~lookup.errors.BadPath` -- reading a FIFO blocks until a writer comes, reading
``/dev/zero`` never ends. ``open_regular`` opens a file without blocking and checks the kind
again on the open descriptor (so a path swapped meanwhile cannot hang), and a read is bounded
by the size the file had (``read_bounded``).

Writing. ``check_output_file(key, path)`` runs before any work: a symlink is followed to the
file it points at (writes go through the link, which stays a link); that file must be a
regular file or absent, writable, in a folder that is writable or can be created.
``check_output_dir(key, path)`` is the same rule for a folder. ``atomic_path`` writes by that
rule: a temp file beside the real target, fsynced, given the target's permission bits (a new
file ``0o666 & ~umask``: ``tempfile.mkstemp`` would give 0600) and renamed over the target;
on any error the temp file is removed and the target is untouched. A full disk (or quota, or a
read-only file system) is a one-line BadPath naming the path that could not be written.

Locks. ``hold_lock(path, what)`` takes a :class:`filelock.FileLock`; while it waits it logs
every ``LOCK_REPORT_S`` seconds what it waits for, the lock's path and its holder (pid and
command, read from ``/proc/locks`` when the holder runs on this machine).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

from lookup.errors import BadInput, BadPath, MissingFile

log = logging.getLogger(__name__)

LOCK_REPORT_S = 5.0  # seconds between two "waiting for ..." lines while a lock is held elsewhere
_FULL = (errno.ENOSPC, errno.EDQUOT)


# --------------------------------------------------------------------------------- kinds
def kind_of(mode: int) -> str:
    """What a ``st_mode`` is, for messages: "a regular file", "a FIFO (named pipe)", ..."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def _named(key: str | None, path: str | os.PathLike) -> str:
    return f"{key}={path}" if key else str(path)


def _stat(key: str | None, path: str | os.PathLike) -> os.stat_result | None:
    """``os.stat`` (symlinks followed); None when nothing is there (a dangling link included).
    A path that cannot be looked up (a loop of links, a file as a folder, no permission) is a
    BadPath."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        anchor = Path(path).parent
        while anchor != anchor.parent and not os.path.isfile(anchor):
            anchor = anchor.parent
        raise BadPath(
            f"{_named(key, path)} cannot be created: {anchor} is a file, not a folder"
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BadPath(f"{_named(key, path)} cannot be looked up ({reason})") from None


_BLOCKS = "reading it could block or never end"


def check_input_file(
    key: str | None,
    path: str | os.PathLike,
    *,
    folder: bool = False,
    valid: str | None = None,
) -> Path:
    """``path`` as a Path once it is known to be a readable regular file (or, with ``folder``,
    a folder too); MissingFile or BadPath naming ``key=path`` and what is valid otherwise.

    Call it before anything opens, reads or digests the path.
    """
    valid = valid or ("a regular file or a folder" if folder else "a regular file")
    st = _stat(key, path)
    if st is None:
        raise MissingFile(f"{_named(key, path)} does not exist; valid: {valid}")
    ok = stat.S_ISREG(st.st_mode) or (folder and stat.S_ISDIR(st.st_mode))
    if not ok:
        why = "" if stat.S_ISDIR(st.st_mode) else f": {_BLOCKS}"
        raise BadPath(f"{_named(key, path)} is {kind_of(st.st_mode)}{why}; valid: {valid}")
    if not os.access(path, os.R_OK):
        raise BadPath(f"{_named(key, path)} cannot be read (permission denied)")
    return Path(path)


def open_regular(key: str | None, path: str | os.PathLike) -> BinaryIO:
    """Open a regular file for binary reading; BadPath (nothing read, nothing blocked) when
    what is opened is not one. The open does not wait for a FIFO's writer (O_NONBLOCK) and
    the kind is checked on the descriptor, so a path swapped after a check is caught too."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise MissingFile(f"{_named(key, path)} does not exist; valid: a regular file") from None
    except IsADirectoryError:
        raise BadPath(f"{_named(key, path)} is a folder; valid: a regular file") from None
    except PermissionError:
        raise BadPath(f"{_named(key, path)} cannot be read (permission denied)") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise BadPath(f"{_named(key, path)} is {kind_of(mode)}: {_BLOCKS}; valid: a regular file")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "rb")


READ_LIMIT = 1 << 32  # bytes read at most from a file that reports no size (e.g. in /proc)


def read_bounded(key: str | None, path: str | os.PathLike, limit: int = READ_LIMIT) -> bytes:
    """The bytes of a regular file, at most the size it had when opened (a file that keeps
    growing is read up to that size, never endlessly). A file that reports size 0 (a /proc
    or /sys file) is read to its end, up to ``limit`` bytes; more is a BadPath."""
    with open_regular(key, path) as f:
        size = os.fstat(f.fileno()).st_size
        if size:
            return f.read(size)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise BadPath(f"{_named(key, path)} reports no size and holds more than {limit} bytes")
    return data


# --------------------------------------------------------------------------------- writing
def resolve_output(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` lands in: ``path`` with every symlink followed (a dangling
    link: the file it names, which the write creates). Writing there keeps the link a link."""
    return Path(os.path.realpath(os.fspath(path)))


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of ``path`` (or ``path`` itself) that exists, lexically."""
    p = path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def writable(path: str | os.PathLike) -> bool:
    """Whether a file can be written: os.access, and (for root) some write bit set."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _via(path: str | os.PathLike, target: Path) -> str:
    """' (the symlink's target X)' when ``path`` resolves elsewhere, else ''."""
    return "" if Path(os.path.abspath(path)) == target else f" (via its symlink target {target})"


def _check_folder(key: str | None, shown: str, folder: Path) -> None:
    anchor = _existing_ancestor(folder)
    st = _stat(key, anchor)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise BadPath(f"{shown} cannot be created: {anchor} is {kind_of(st.st_mode)}, not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        why = "a read-only file system" if _read_only_fs(anchor) else "no write permission"
        raise BadPath(f"{shown} cannot be written: folder {anchor} is not writable ({why})")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def check_output_file(key: str | None, path: str | os.PathLike) -> Path:
    """The file a write to ``path`` will replace (symlinks followed, see ``resolve_output``),
    once it is known that it can be written; a one-line BadPath naming ``key=path`` otherwise.

    Call it before any work. It refuses a target that exists and is not a regular file (a
    folder, FIFO, device, socket: never replaced by a regular file), a read-only file, and a
    folder that is not writable or cannot be created.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise BadInput(f"{key}={path!r} is invalid; valid: a path to a file")
    target = resolve_output(path)
    shown = f"{_named(key, path)}{_via(path, target)}"
    st = _stat(key, target)
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise BadPath(
                f"{shown} is {kind_of(st.st_mode)}, not a regular file; it is left untouched"
            )
        if not writable(target):
            raise BadPath(f"{shown} is read-only (no write permission); it is left untouched")
    _check_folder(key, shown, target.parent)
    return target


def check_output_dir(key: str | None, path: str | os.PathLike) -> Path:
    """``path`` as a Path once it is known to be (or to be creatable as) a writable folder;
    a one-line BadPath naming ``key=path`` otherwise (a file, FIFO or device there, a parent
    that is a file, a folder without write permission, a read-only file system)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise BadInput(f"{key}={path!r} is invalid; valid: a folder path (made if missing)")
    p = Path(path)
    st = _stat(key, p)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise BadPath(f"{_named(key, path)} is invalid; it is {kind_of(st.st_mode)}, not a folder")
    _check_folder(key, _named(key, path), p)
    return p


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


def _disk_full(exc: BaseException, folder: Path) -> bool:
    """Whether a failed write ran out of space: ENOSPC/EDQUOT, or an OSError without errno
    (numpy's "N requested and M written") while the file system has no free block left."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno in _FULL:
        return True
    try:
        return exc.errno is None and os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def write_error(key: str | None, path: str | os.PathLike, folder: Path, exc: OSError) -> BadPath:
    """The one-line BadPath for a write to ``path`` that failed with ``exc`` for lack of space,
    of permission or of a writable file system (nothing was left behind)."""
    shown = _named(key, path)
    if exc.errno == errno.EROFS:
        why = f"{folder} is on a read-only file system"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = f"no write permission in {folder}"
    elif exc.errno == errno.EDQUOT:
        why = f"disk quota exceeded on the file system of {folder}"
    else:
        why = f"no space left on device: the file system of {folder} is full"
    return BadPath(f"{shown} could not be written ({why}); nothing was left behind")


@contextmanager
def atomic_path(
    path: str | os.PathLike, suffix: str = "", *, key: str | None = None
) -> Iterator[Path]:
    """Yield a temp path beside ``path``'s real target; on success it replaces that target.

    Write the temp file inside the ``with`` block (by name, with any library). ``path`` is
    followed through symlinks first, so a link keeps pointing at the (new) file. On leaving
    the block the file is fsynced, given ``target_mode(target)`` and renamed over the target;
    on an error it is removed and the target is untouched. A target that exists and is not a
    regular file (a folder, FIFO, device) is refused before anything is written, and a full
    disk, a quota or a read-only file system is a one-line BadPath naming ``key=path``.
    ``suffix`` ends the temp name (e.g. ``".npz"`` for libraries that append an extension).
    """
    final = resolve_output(path)
    st = _stat(key, final)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise BadPath(
            f"{_named(key, path)}{_via(path, final)} is {kind_of(st.st_mode)}, not a regular "
            "file; it is left untouched"
        )
    folder = final.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{final.name}.", suffix=f".tmp{suffix}")
    except (FileExistsError, NotADirectoryError):
        raise BadPath(f"{_named(key, path)} cannot be created: {folder} is not a folder") from None
    except OSError as exc:
        if exc.errno in (*_FULL, errno.EROFS, errno.EACCES, errno.EPERM):
            raise write_error(key, path, folder, exc) from None
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        mode = target_mode(final)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, final)
    except BaseException as exc:
        full = _disk_full(exc, folder)  # before the temp file's blocks are freed
        tmp.unlink(missing_ok=True)
        if full:
            raise write_error(key, path, folder, exc) from None
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, key: str | None = None) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename; mode as ``atomic_path``)."""
    with atomic_path(path, key=key) as tmp:
        tmp.write_bytes(data)


# --------------------------------------------------------------------------------- locks
def lock_holder(path: str | os.PathLike) -> str | None:
    """Who holds the flock on ``path``: "pid N (command)" from /proc/locks, or None when it is
    not known (another machine, no /proc, an open-file-description lock)."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        parts = line.split()
        if "->" in parts or want not in parts:  # "->": a blocked waiter, not the holder
            continue
        pid = parts[parts.index(want) - 1]
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = " ".join(f.read().replace(b"\0", b" ").decode(errors="replace").split())
        except OSError:
            cmd = ""
        if len(cmd) > 120:
            cmd = cmd[:117] + "..."
        return f"pid {pid}" + (f" ({cmd})" if cmd else "")
    return None


@contextmanager
def hold_lock(
    path: str | os.PathLike, what: str, *, every: float = LOCK_REPORT_S
) -> Iterator[FileLock]:
    """Hold the file lock ``path`` for the block; while another process holds it, log every
    ``every`` seconds ``waiting for <what>: lock <path> held by <holder> (<n> s so far)``."""
    lock = FileLock(os.fspath(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        t0 = time.monotonic()
        while True:
            holder = lock_holder(path) or "another process (holder unknown)"
            log.info(
                "waiting for %s: lock %s is held by %s (%.0f s so far)",
                what,
                path,
                holder,
                time.monotonic() - t0,
            )
            try:
                lock.acquire(timeout=every)
                break
            except Timeout:
                continue
        log.info("got %s after %.1f s", what, time.monotonic() - t0)
    try:
        yield lock
    finally:
        lock.release()
