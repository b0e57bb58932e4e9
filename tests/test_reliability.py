"""Hostile but plausible inputs (issue 25): nothing lost, nothing hung, one line for each.

- odd files: a FIFO or /dev/zero as a data file or as the table, a device, a folder, a
  symlinked table (written through, the link kept), a read-only folder;
- full disks: a monkeypatched ENOSPC everywhere, and a real 1 MiB tmpfs when the machine lets
  us mount one (root): no partial file anywhere, one line naming the path;
- odd tables: a row cut mid-line is ignored with a warning naming the line, a table of another
  schema version is refused with one line saying where to write instead;
- lock waits say what they wait for; device strings and knobs too large are one line.

A test that opens a FIFO by mistake would block forever: ``_unblock`` opens the other end after
a while, so such a regression fails (and says it blocked) instead of hanging the suite. The
command-line cases run as subprocesses with a timeout for the same reason.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from bench.table import SCHEMA_MARK, append_rows, check_table, claim, measure_once, read_rows
from lookup import io as lio
from lookup import schema as records
from lookup.cache import cached_arrays
from lookup.errors import BadInput, BadPath, MissingFile
from lookup.io import (
    atomic_path,
    atomic_write_bytes,
    check_input_file,
    check_output_dir,
    check_output_file,
    hold_lock,
    open_regular,
    read_bounded,
)
from lookup.provenance import file_digest

REPO = Path(__file__).resolve().parents[1]
ROOT = os.geteuid() == 0
BLOCK_S = 10.0  # after this long a blocked FIFO reader is released (and the test fails)


def _row(cid: str = "c1", **extra) -> dict:
    return {SCHEMA_MARK: records.SCHEMA_VERSION, "config_id": cid, "qps": 1, **extra}


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@contextmanager
def _unblock(fifo: Path, after: float = BLOCK_S) -> Iterator[None]:
    """Fail instead of hanging when the code under test opens ``fifo`` for reading: after
    ``after`` seconds its write end is opened and closed, so a blocked reader sees EOF."""
    done = threading.Event()
    blocked = []

    def release() -> None:
        while not done.wait(0.2):
            if time.monotonic() - t0 < after:
                continue
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                blocked.append(True)
            except OSError:  # nobody is reading it
                pass

    t0 = time.monotonic()
    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    assert not blocked, f"{fifo} was opened for reading and blocked"


def _one_line(exc: pytest.ExceptionInfo, *needles: str) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    for needle in needles:
        assert needle in text, text
    return text


# ------------------------------------------------------------------------------ odd files
def test_input_kinds(tmp_path: Path, fifo: Path) -> None:
    good = tmp_path / "x.npy"
    good.write_bytes(b"x")
    (tmp_path / "link").symlink_to(good)
    assert check_input_file("dataset.db", tmp_path / "link") == tmp_path / "link"
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    for path, kind, needle in (
        (fifo, BadPath, "is a FIFO (named pipe): reading it could block or never end"),
        ("/dev/zero", BadPath, "is a character device"),
        (tmp_path, BadPath, "is a folder; valid: a regular file"),
        (tmp_path / "gone", MissingFile, "does not exist"),
        (tmp_path / "dangling", MissingFile, "does not exist"),
        (good / "sub", BadPath, f"{good} is a file, not a folder"),
    ):
        with _unblock(fifo), pytest.raises(kind) as exc:
            check_input_file("dataset.db", path)
        _one_line(exc, f"dataset.db={path}", needle)
    assert check_input_file("dataset.root", tmp_path, folder=True) == tmp_path


@pytest.mark.parametrize("where", ["fifo", "/dev/zero"])
def test_digest_and_reads_never_open_a_fifo_or_read_dev_zero(fifo: Path, where: str) -> None:
    """The configuration's identity digests every input file: a FIFO blocked there, and
    /dev/zero never ended, before anything checked the kind."""
    path = fifo if where == "fifo" else Path("/dev/zero")
    t0 = time.monotonic()
    with _unblock(fifo):
        for read in (
            lambda: file_digest(path, key="dataset.db"),
            lambda: open_regular("dataset.db", path),
            lambda: read_bounded("dataset.db", path),
        ):
            with pytest.raises(BadPath) as exc:
                read()
            _one_line(exc, f"dataset.db={path}", "block or never end")
    assert time.monotonic() - t0 < 5


def test_read_bounded_reads_files_without_a_size() -> None:
    assert b"Pid:" in read_bounded(None, "/proc/self/status")  # st_size 0, read to its end
    assert file_digest("/proc/self/cmdline") != file_digest("/proc/self/environ")


@pytest.mark.parametrize("loader", ["npy", "hdf5", "coco", "nli", "vocab"])
def test_loaders_refuse_a_fifo_without_opening_it(fifo: Path, loader: str) -> None:
    from lookup.data.captions import load_coco_captions
    from lookup.data.nli import load_nli
    from lookup.data.vectors import load_vectors
    from lookup.data.vocab import CharVectorizer

    call = {
        "npy": lambda: load_vectors(db=str(fifo), queries=str(fifo)),
        "hdf5": lambda: load_vectors(path=str(fifo)),
        "coco": lambda: load_coco_captions(str(fifo)),
        "nli": lambda: load_nli(fifo),
        "vocab": lambda: CharVectorizer.load(fifo),
    }[loader]
    with _unblock(fifo), pytest.raises(BadPath) as exc:
        call()
    _one_line(exc, str(fifo), "FIFO")


# ------------------------------------------------------------------------- the table
def test_a_symlinked_table_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real" / "runs.csv"
    append_rows(real, [_row("c1")])
    link = tmp_path / "runs.csv"
    link.symlink_to(Path("real") / "runs.csv")
    check_table(link)
    append_rows(link, [_row("c2")])
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "runs.csv")
    assert [r["config_id"] for r in read_rows(real)] == ["c1", "c2"]
    assert [r["config_id"] for r in read_rows(link)] == ["c1", "c2"]
    with claim(link, "c2") as stored:  # its locks live beside the real file
        assert len(stored) == 1
    assert (real.parent / "runs.csv.lock").exists() and (real.parent / "runs.csv.locks").is_dir()
    assert not (tmp_path / "runs.csv.lock").exists()
    assert sorted(p.name for p in real.parent.iterdir() if p.name.startswith(".")) == []


def test_a_dangling_symlink_table_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "runs.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    check_table(link)
    append_rows(link, [_row()])
    assert link.is_symlink() and len(read_rows(tmp_path / "elsewhere.csv")) == 1


def test_a_fifo_folder_or_device_as_table_is_one_line_and_untouched(
    tmp_path: Path, fifo: Path
) -> None:
    cases = [(fifo, "FIFO"), (tmp_path, "folder")]
    if ROOT:  # a device node of our own (never /dev/null: the old code replaced it)
        dev = tmp_path / "null"
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        cases.append((dev, "character device"))
    link = tmp_path / "to-fifo.csv"
    link.symlink_to(fifo)
    cases.append((link, "FIFO"))
    for path, kind in cases:
        before = os.stat(path)
        with _unblock(fifo):
            for call in (check_table, lambda p: append_rows(p, [_row()]), read_rows):
                with pytest.raises(BadPath) as exc:
                    call(path)
                _one_line(exc, str(path), kind)
        after = os.stat(path)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


def _cut(path: Path, cut: bytes) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(cut)])


@pytest.mark.parametrize("how", ["fewer fields", "inside a field", "unterminated quote"])
def test_a_row_cut_mid_line_is_ignored_with_a_warning(tmp_path: Path, caplog, how: str) -> None:
    """A table whose last row was cut counted the configuration as measured (a row of dashes
    in the summary); now the row is ignored, named in a warning, and dropped on the next
    append, and the configuration is measured."""
    table = tmp_path / "runs.csv"
    append_rows(table, [_row("done", note="x"), _row("cut", note="quoted, with a comma")])
    data = table.read_bytes()
    if how == "fewer fields":
        table.write_bytes(data[: data.index(b"cut") + 3])
    elif how == "inside a field":  # every field there, the last one cut short, no line end
        table.write_bytes(data.rstrip(b"\r\n")[:-3])
    else:
        table.write_bytes(data[: data.index(b"with a")])
    with caplog.at_level(logging.WARNING, logger="bench.table"):
        assert [r["config_id"] for r in read_rows(table)] == ["done"]
    assert f"results table {table}: line 3 is an incomplete row" in caplog.text
    measured = []
    rows = measure_once(table, "cut", lambda: measured.append(1) or [_row("cut")], force=False)
    assert measured == [1] and rows == [_row("cut")]
    assert [r["config_id"] for r in read_rows(table)] == ["done", "cut"]
    assert table.read_bytes().endswith(b"\r\n")


def test_a_configuration_with_a_cut_row_is_measured_again_and_replaced(tmp_path: Path) -> None:
    """The last of a configuration's five rows was cut: the other four still counted it as
    measured, so the cut point was never measured again."""
    table = tmp_path / "runs.csv"
    append_rows(table, [_row("other")])
    append_rows(table, [_row("sweep", note=str(i)) for i in range(5)])
    table.write_bytes(table.read_bytes().rstrip(b"\r\n")[:-1])  # the fifth row, cut
    fresh = [_row("sweep", note=f"new {i}") for i in range(5)]
    rows = measure_once(table, "sweep", lambda: fresh, force=False)
    assert rows == fresh
    stored = read_rows(table)
    assert [r["config_id"] for r in stored] == ["other"] + ["sweep"] * 5
    assert [r["note"] for r in stored[1:]] == [f"new {i}" for i in range(5)]
    again = measure_once(table, "sweep", lambda: pytest.fail("measured twice"), force=False)
    assert len(again) == 5


def test_a_complete_table_without_a_final_line_end_keeps_its_header(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    table.write_bytes(f"{SCHEMA_MARK},config_id".encode())  # a header alone, no line end
    check_table(table)
    append_rows(table, [_row()])
    assert len(read_rows(table)) == 1


def test_a_table_of_another_schema_version_is_refused(tmp_path: Path, monkeypatch) -> None:
    table = tmp_path / "runs.csv"
    append_rows(table, [_row("old")])
    before = table.read_bytes()
    monkeypatch.setattr(records, "SCHEMA_VERSION", records.SCHEMA_VERSION + 1)  # the next bump
    new = records.SCHEMA_VERSION
    for call in (check_table, lambda p: append_rows(p, [_row("new")])):
        with pytest.raises(BadInput) as exc:
            call(table)
        _one_line(
            exc,
            f"results table {table} holds rows of schema_version {new - 1}",
            f"this code writes schema_version {new}",
            f"results.table={tmp_path / f'runs.v{new}.csv'}",
        )
    assert table.read_bytes() == before
    append_rows(tmp_path / f"runs.v{new}.csv", [_row("new")])  # where the line said to write


# ------------------------------------------------------------------------- output rules
def test_output_rules(tmp_path: Path, fifo: Path) -> None:
    (tmp_path / "file").write_text("x")
    new = tmp_path / "new" / "t.csv"
    assert check_output_file("results.table", new) == new
    assert check_output_dir("results.embeddings", tmp_path / "a" / "b") == tmp_path / "a" / "b"
    for call, path, needle in (
        (check_output_file, fifo, "is a FIFO (named pipe), not a regular file"),
        (check_output_file, tmp_path, "is a folder, not a regular file"),
        (check_output_file, tmp_path / "file" / "t.csv", "is a file, not a folder"),
        (check_output_dir, tmp_path / "file", "it is a regular file, not a folder"),
        (check_output_dir, fifo, "it is a FIFO (named pipe), not a folder"),
        (check_output_dir, tmp_path / "file" / "d", "is a file, not a folder"),
    ):
        with pytest.raises(BadPath) as exc:
            call("key", path)
        _one_line(exc, f"key={path}", needle)
    with pytest.raises(BadPath, match="FIFO"), atomic_path(fifo) as tmp:
        tmp.write_text("never")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.fixture()
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write: a read-only tmpfs for root (who ignores modes), else 0555."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if ROOT:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
            capture_output=True,
        )
        if proc.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
        try:
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], check=False)
    else:
        os.chmod(folder, 0o555)
        try:
            yield folder
        finally:
            os.chmod(folder, 0o755)


def test_a_read_only_folder_is_one_line_before_any_work(read_only_folder: Path) -> None:
    calls = {
        "table": lambda: check_table(read_only_folder / "runs.csv"),
        "cache": lambda: cached_arrays(read_only_folder, "x", "k", lambda: ({}, {})),
        "embeddings": lambda: check_output_dir("results.embeddings", read_only_folder / "e"),
        "write": lambda: atomic_write_bytes(read_only_folder / "f.bin", b"x"),
    }
    for name, call in calls.items():
        with pytest.raises(BadPath) as exc:
            call()
        text = _one_line(exc, str(read_only_folder))
        assert "read-only file system" in text or "no write permission" in text, (name, text)
    assert list(read_only_folder.iterdir()) == []


# ------------------------------------------------------------------------------ full disks
def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


def test_a_full_disk_leaves_the_table_whole_and_says_which_path(tmp_path, monkeypatch) -> None:
    table = tmp_path / "runs.csv"
    append_rows(table, [_row("c1")])
    before = table.read_bytes()
    monkeypatch.setattr(lio.os, "fsync", _enospc)
    with pytest.raises(BadPath) as exc:
        append_rows(table, [_row("c2")])
    _one_line(exc, f"results.table={table}", "no space left on device", "nothing was left")
    assert table.read_bytes() == before and _leftovers(tmp_path) == []


def test_a_full_disk_leaves_no_cache_entry(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(lio.os, "fsync", _enospc)
    compute = lambda: ({"x": np.ones((4, 4), np.float32)}, {"s": 1.0})  # noqa: E731
    with pytest.raises(BadPath) as exc:
        cached_arrays(tmp_path, "vectors", "k1", compute)
    _one_line(exc, str(tmp_path / "vectors" / "k1.npz"), "no space left on device")
    assert not (tmp_path / "vectors" / "k1.npz").exists() and _leftovers(tmp_path) == []


def test_a_short_write_without_errno_on_a_full_disk_is_named_too(tmp_path, monkeypatch) -> None:
    """numpy reports a full disk as "N requested and M written" (no errno): a file system
    with no free block left at that moment makes it the same one line."""

    class Full:
        f_bavail = 0

    monkeypatch.setattr(lio.os, "statvfs", lambda _p: Full)
    with pytest.raises(BadPath, match="no space left on device"), atomic_path(tmp_path / "a.npy"):
        raise OSError("64000 requested and 8160 written")
    with pytest.raises(OSError, match="other") as exc, atomic_path(tmp_path / "b.npy"):
        raise OSError(errno.EIO, "other")
    assert not isinstance(exc.value, BadPath) and _leftovers(tmp_path) == []


@pytest.fixture()
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs with 1 KiB left (root only; skipped where mounting is not allowed)."""
    if not ROOT:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _fill(mnt: Path, leave: int) -> None:
    free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
    with open(mnt / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def test_a_real_tmpfs_that_fills(full_tmpfs: Path) -> None:
    table = full_tmpfs / "runs.csv"
    append_rows(table, [_row("c1")])
    before = table.read_bytes()
    _fill(full_tmpfs, 0)
    with pytest.raises(BadPath) as exc:
        append_rows(table, [_row("c2", pad="x" * 8192)])
    _one_line(exc, f"results.table={table}", "no space left on device")
    assert table.read_bytes() == before
    big = lambda: ({"x": np.ones((256, 256), np.float32)}, {})  # noqa: E731
    with pytest.raises(BadPath, match="no space left on device"):
        cached_arrays(full_tmpfs / "cache", "vectors", "k", big)
    with (
        pytest.raises(BadPath, match="no space left on device"),
        atomic_path(full_tmpfs / "e.npy", suffix=".npy") as tmp,
    ):
        np.save(tmp, np.ones((512, 512), np.float32))  # numpy's short write, no errno
    assert _leftovers(full_tmpfs) == [] and not (full_tmpfs / "e.npy").exists()
    assert not (full_tmpfs / "cache" / "vectors" / "k.npz").exists()


def _bench(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args, f"hydra.run.dir={cwd / 'run'}"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("vec")
    rng = np.random.default_rng(0)
    paths = {"db": d / "db.npy", "queries": d / "q.npy"}
    np.save(paths["db"], rng.normal(size=(400, 8)).astype(np.float32))
    np.save(paths["queries"], rng.normal(size=(20, 8)).astype(np.float32))
    return paths


def test_embed_on_a_full_disk_leaves_no_file(full_tmpfs: Path, vectors, tmp_path) -> None:
    """The .npy files written before the disk filled used to stay behind."""
    _fill(full_tmpfs, 20_000)  # the .npy files fit, the HDF5 file does not
    out = full_tmpfs / "emb"
    proc = _bench(
        [
            "bench.embed",
            "dataset=vectors",
            "encoder=none",
            f"dataset.db={vectors['db']}",
            f"dataset.queries={vectors['queries']}",
            f"results.embeddings={out}",
        ],
        tmp_path,
    )
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and err[-1].startswith("error: results.embeddings="), proc.stderr
    assert "no space left on device" in err[-1] and "Traceback" not in proc.stderr
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- the commands
@pytest.mark.parametrize("what", ["db-fifo", "db-dev-zero", "table-fifo"])
def test_bench_never_hangs_on_a_fifo_or_dev_zero(what: str, vectors, tmp_path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = [
        "bench",
        "dataset=vectors",
        "encoder=none",
        "index=exact",
        f"dataset.db={vectors['db']}",
        f"dataset.queries={vectors['queries']}",
        f"results.table={tmp_path / 'runs.csv'}",
    ]
    if what == "db-fifo":
        args.append(f"dataset.db={fifo}")
    elif what == "db-dev-zero":
        args.append("dataset.db=/dev/zero")
    else:
        args.append(f"results.table={fifo}")
    proc = _bench(args, tmp_path, timeout=60)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    shown = "/dev/zero" if what == "db-dev-zero" else str(fifo)
    assert err[0].startswith("error: ") and shown in err[0]
    assert ("character device" if what == "db-dev-zero" else "FIFO") in err[0]


def test_bench_appends_through_a_symlinked_table(vectors, tmp_path) -> None:
    """The table was replaced by a regular file holding the old rows plus the new ones, and
    the real table it pointed to got none of them."""
    from bench.__main__ import job
    from bench.cli import compose_and_run

    real = tmp_path / "results" / "runs.csv"
    append_rows(real, [_row("earlier")])
    link = tmp_path / "runs.csv"
    link.symlink_to(real)
    argv = [
        "dataset=vectors",
        "encoder=none",
        f"dataset.db={vectors['db']}",
        f"dataset.queries={vectors['queries']}",
        "index=exact",
        "passes=1",
        "warmup=0",
        f"results.table={link}",
    ]
    compose_and_run(job, argv)
    assert link.is_symlink() and len(read_rows(real)) == 2
    # the per-query arrays sit beside the real table too (they went beside the link)
    assert len(list((real.parent / "runs.csv.perquery").glob("*.npz"))) == 1
    assert not (tmp_path / "runs.csv.perquery").exists()


def test_a_failed_append_leaves_no_per_query_arrays(vectors, tmp_path, monkeypatch) -> None:
    """A full disk at the table write left the job's arrays behind a message saying nothing
    was left behind."""
    from bench import table
    from bench.__main__ import job
    from bench.cli import compose_and_run

    def full(*args, **kwargs):
        raise BadInput("results.table could not be written (no space left on device)")

    monkeypatch.setattr(table, "append_rows", full)
    path = tmp_path / "runs.csv"
    argv = [
        "dataset=vectors",
        "encoder=none",
        f"dataset.db={vectors['db']}",
        f"dataset.queries={vectors['queries']}",
        "index=exact",
        "passes=1",
        "warmup=0",
        f"results.table={path}",
    ]
    with pytest.raises(SystemExit) as exc:
        compose_and_run(job, argv)
    assert exc.value.code == 2
    assert not path.exists() and not list(tmp_path.glob("runs.csv.perquery/*"))


# ------------------------------------------------------------------------------ lock waits
_HOLDER = textwrap.dedent(
    """
    import sys, time
    from filelock import FileLock
    with FileLock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_a_lock_wait_says_what_it_waits_for(tmp_path: Path, caplog) -> None:
    lock = tmp_path / "entry.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock), "1.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with caplog.at_level(logging.INFO, logger="lookup.io"):
            with hold_lock(lock, "the cache entry vectors/k1", every=0.3):
                pass
    finally:
        holder.wait(timeout=30)
    waits = [m for m in caplog.messages if m.startswith("waiting for")]
    assert len(waits) >= 2, caplog.messages
    assert waits[0].startswith(
        f"waiting for the cache entry vectors/k1: lock {lock} is held by pid {holder.pid} ("
    )
    assert "_HOLDER" not in waits[0] and "FileLock" in waits[0]  # the holder's command line
    assert caplog.messages[-1].startswith("got the cache entry vectors/k1 after ")


def test_no_waiting_line_when_the_lock_is_free(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="lookup.io"), hold_lock(tmp_path / "l", "x"):
        pass
    assert caplog.messages == []


# ----------------------------------------------------------------- devices, knobs, integers
def test_device_strings(monkeypatch) -> None:
    from lookup.encoders import device

    for bad in ("cuda:x", "cuda:0:1", "CUDA", "gpu", "cuda:", "cuda:-1"):
        with pytest.raises(BadInput) as exc:
            device.check_device(bad)
        _one_line(exc, f"encoder.device={bad!r} is invalid; valid: cpu, cuda, cuda:N or auto")
    assert device.check_device("cpu") == "cpu" and device.check_device("auto") == "auto"
    monkeypatch.setattr(device, "_gpus", lambda: (0, "no CUDA GPU is available"))
    for gone in ("cuda", "cuda:0"):
        with pytest.raises(BadInput) as exc:
            device.check_device(gone)
        _one_line(exc, f"{gone!r} is invalid: no CUDA GPU is available; valid: cpu or auto")
    monkeypatch.setattr(device, "_gpus", lambda: (2, ""))
    assert device.check_device("cuda:1") == "cuda:1" and device.check_device("cuda") == "cuda"
    with pytest.raises(BadInput) as exc:
        device.check_device("cuda:99", prefix="encoder.base")
    _one_line(exc, "encoder.base.device='cuda:99'", "2 CUDA devices", "cuda:0..cuda:1")


def test_cuda_on_this_machine() -> None:
    import torch

    from lookup.encoders.device import check_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(BadInput, match=r"^encoder\.device='cuda' is invalid: .*valid: cpu or auto"):
        check_device("cuda")


def test_integers_too_large_for_the_library() -> None:
    from lookup.index.annoy_backend import AnnoyIndex
    from lookup.index.hnswlib_backend import HnswlibIndex
    from lookup.protocols import C_INT_MAX

    for make in (
        lambda: HnswlibIndex().set_search_params(ef=10**20),
        lambda: AnnoyIndex().set_search_params(search_k=C_INT_MAX + 1),
        lambda: AnnoyIndex(seed=C_INT_MAX + 1),
        lambda: HnswlibIndex(M=2**64),
    ):
        with pytest.raises(BadInput) as exc:
            make()
        _one_line(exc, f"and <= {C_INT_MAX}")
    HnswlibIndex(seed=C_INT_MAX).set_search_params(ef=C_INT_MAX)


def test_a_full_temporary_folder_is_not_an_index_of_0_bytes(monkeypatch) -> None:
    """hnswlib's save_index on a full disk writes 0 bytes and reports no error: index_bytes
    would be 0. A temporary folder without room left is one line instead."""
    from lookup import timing
    from lookup.index.hnswlib_backend import HnswlibIndex

    xb = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    assert timing.measure_build(HnswlibIndex(M=4), xb).index_bytes > 0
    monkeypatch.setattr(timing, "_no_room", lambda _folder: True)
    with pytest.raises(BadPath) as exc:
        timing.measure_build(HnswlibIndex(M=4), xb)
    _one_line(exc, "index_bytes", "no space left in the temporary folder", "TMPDIR")
