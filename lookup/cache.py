"""A content-keyed on-disk cache of numpy arrays, safe against crashes and concurrent jobs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from filelock import FileLock

log = logging.getLogger(__name__)


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


def cached_arrays(
    cache_dir: str | os.PathLike,
    kind: str,
    key: str,
    compute: Callable[[], tuple[dict[str, np.ndarray], dict]],
) -> tuple[dict[str, np.ndarray], dict, bool]:
    """Load ``<cache_dir>/<kind>/<key>.npz`` or compute, save and return it.

    ``compute`` returns (arrays, meta); meta is JSON-able and saved beside the arrays (e.g. the
    seconds the computation took). Returns (arrays, meta, hit). The file appears only complete:
    it is written to a temp file and renamed, under a lock so parallel jobs compute it once.
    """
    folder = Path(cache_dir) / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.npz"
    with FileLock(str(path) + ".lock"):
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files if name != "__meta__"}
                meta = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
            log.info("cache hit: %s/%s", kind, key)
            return arrays, meta, True
        arrays, meta = compute()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return arrays, meta, False
