"""What the embedded vector databases share (``lancedb``, ``chroma``, ``milvus_lite``,
``qdrant``): each build works in a fresh database folder of its own, and the folder is the index.

- **Build** = the inserts plus the index creation, on prepared rows (ids are the row numbers).
- **Timer**: the client's search call as a user makes it, request building and (de)serialization
  included (each backend's docstring says what that call is); converting its answer to arrays
  happens after the clock stopped.
- **index_bytes**: the database folder on disk after the build (``save`` copies the folder).
- **Folder**: ``workdir`` (a build parameter; null: the system's temporary folder, ``$TMPDIR``,
  and the row's ``build_workdir`` column records which folder that was) holds a fresh
  ``lookup-<name>-*`` folder per build, removed by :meth:`DatabaseIndex.close`, on a failed
  build, when the index is garbage-collected (which closes the client first), or at exit.
  Where the folder lives matters: a database that commits (fsyncs) per write builds orders of
  magnitude faster on a memory file system (``workdir=/dev/shm``) than on disk, so
  ``workdir`` is a column of every row.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np

from lookup.errors import BadPath
from lookup.index.base import BaseIndex, WorkFolder


def check_workdir(owner: str, workdir: str | None) -> str | None:
    """``workdir`` if it is None or an existing folder; else a one-line BadPath."""
    if workdir is None:
        return None
    path = os.path.expanduser(str(workdir))
    if not os.path.isdir(path):
        raise BadPath(
            f"index.workdir={workdir!r} is invalid for {owner}: not an existing folder; "
            "valid: a folder (e.g. /dev/shm or /tmp) or null for the system's temporary folder"
        )
    return path


class DatabaseIndex(BaseIndex):
    """Shared shell of an embedded vector database (see the module docstring). Subclasses
    write ``_build`` (client, collection, inserts, index), ``_close_client`` and, when the
    database buffers writes, ``_flush``."""

    def __init__(self, metric: str = "cosine", workdir: str | None = None) -> None:
        super().__init__(metric)
        self.workdir = check_workdir(self.NAME, workdir)
        self._folder: WorkFolder | None = None

    @property
    def workdir_used(self) -> str:
        """The folder the database folders go in (``workdir``, else the system's temporary
        folder); this is what ``build_params`` reports."""
        return self.workdir or tempfile.gettempdir()

    @property
    def folder(self) -> str:
        """The database folder of the current build."""
        self.ready()
        return self._folder.path

    def build(self, xb: np.ndarray) -> None:
        """A fresh database folder, then the inserts and the index; on failure nothing stays."""
        self.close()
        self._folder = WorkFolder(self.NAME, root=self.workdir)
        try:
            super().build(xb)
            self._flush()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the client and remove the database folder (idempotent)."""
        self._built = False
        try:
            self._close_client()
        finally:
            if self._folder is not None:
                self._folder.close()

    def __del__(self) -> None:
        """Dropped without :meth:`close`: close the client too (an engine may still write into
        the folder from a background thread), then the folder goes."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit modules may be half torn down
            pass

    def _close_client(self) -> None:
        """Close the database client (override)."""

    def _flush(self) -> None:
        """Make the database write everything it buffers to its folder (override)."""

    def _save(self, path: str) -> None:
        shutil.copytree(self._folder.path, path)

    def __enter__(self) -> DatabaseIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
