"""Precomputed vectors: .npy database/query files or an ann-benchmarks HDF5 file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookup.cache import array_digest
from lookup.data.base import Dataset

_ANN_METRICS = {"angular": "cosine", "euclidean": "euclidean"}


def _existing(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    return p


def _labels(path: str | None, n: int, what: str) -> np.ndarray | None:
    if path is None:
        return None
    labels = np.load(_existing(path, what), allow_pickle=False)
    if labels.shape != (n,):
        raise ValueError(f"{what} {path} has shape {labels.shape}; expected ({n},), one per vector")
    return labels.astype(str)


def _matrix(a: np.ndarray, what: str) -> np.ndarray:
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{what} must be a non-empty 2-d array (n, dim); got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def load_vectors(
    path: str | None = None,
    *,
    db: str | None = None,
    queries: str | None = None,
    db_labels: str | None = None,
    query_labels: str | None = None,
    metric: str | None = None,
) -> Dataset:
    """Read vectors from an ann-benchmarks HDF5 file (``path``) or from .npy files.

    HDF5: datasets ``train`` (database) and ``test`` (queries), attribute ``distance``
    (angular -> cosine, euclidean). The file's ``neighbors``/``distances`` are kept in
    ``extra`` for reference; the harness computes its own ground truth.
    ``metric`` overrides the file's; with .npy files it is the only source (else the run's).
    """
    extra: dict = {}
    if path is not None:
        import h5py

        p = _existing(path, "ann-benchmarks HDF5")
        try:
            f = h5py.File(p, "r")
        except OSError as exc:
            raise ValueError(f"{path} is not an HDF5 file ({exc})") from None
        with f:
            missing = [name for name in ("train", "test") if name not in f]
            if missing:
                raise ValueError(
                    f"{path} has no {' or '.join(missing)} array; an ann-benchmarks file holds "
                    f"train, test, neighbors, distances (found: {', '.join(sorted(f)) or 'none'})"
                )
            xb, xq = _matrix(f["train"][:], "train"), _matrix(f["test"][:], "test")
            distance = f.attrs.get("distance")
            for name in ("neighbors", "distances"):
                if name in f:
                    extra[name] = f[name][:]
        if isinstance(distance, bytes):
            distance = distance.decode()
        if metric is None and distance is not None:
            if distance not in _ANN_METRICS:
                raise ValueError(
                    f"{path}: distance attribute {distance!r} is not supported; "
                    f"valid: {', '.join(_ANN_METRICS)}"
                )
            metric = _ANN_METRICS[distance]
        name = p.stem
    else:
        if db is None or queries is None:
            raise ValueError(
                "dataset=vectors needs either path=FILE.hdf5 or both db= and queries= .npy paths"
            )
        xb = _matrix(np.load(_existing(db, "database .npy"), allow_pickle=False), "database")
        xq = _matrix(np.load(_existing(queries, "queries .npy"), allow_pickle=False), "queries")
        name = Path(db).stem
    if xb.shape[1] != xq.shape[1]:
        raise ValueError(f"database dim {xb.shape[1]} != query dim {xq.shape[1]}")
    return Dataset(
        name=name,
        db=xb,
        queries=xq,
        db_labels=_labels(db_labels, len(xb), "db_labels"),
        query_labels=_labels(query_labels, len(xq), "query_labels"),
        fingerprint=array_digest(xb, xq),
        metric=metric,
        extra=extra,
    )
