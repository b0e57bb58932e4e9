"""Precomputed vectors: .npy database/query files or an ann-benchmarks HDF5 file.

Every path is checked for its kind before it is opened (:func:`lookup.io.check_input_file`:
a FIFO or a device such as /dev/zero is one line, never read) and .npy files are read from the
descriptor that check opened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookup.data.base import Dataset, fingerprint
from lookup.distances import METRICS, check_finite
from lookup.errors import BadInput
from lookup.io import check_input_file, open_regular

_ANN_METRICS = {"angular": "cosine", "euclidean": "euclidean"}


_NPY = "a .npy file written by numpy.save"


def _load_npy(path: str, key: str) -> np.ndarray:
    """``np.load`` of a plain numeric or string array; one line naming the key and path else."""
    p = check_input_file(key, Path(path).expanduser(), valid=_NPY)
    try:
        with open_regular(key, p) as f:
            return np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, BadInput):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise BadInput(
            f"{key}={path} is not a readable .npy array ({reason}); valid: a file written by "
            "numpy.save from a numeric (or, for labels, string) array"
        ) from None


def _labels(path: str | None, n: int, what: str) -> np.ndarray | None:
    if path is None:
        return None
    labels = _load_npy(path, f"dataset.{what}")
    if labels.shape != (n,):
        raise BadInput(f"{what} {path} has shape {labels.shape}; expected ({n},), one per vector")
    return labels.astype(str)


def _matrix(a: np.ndarray, what: str) -> np.ndarray:
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise BadInput(
            f"{what} has shape {a.shape}; valid: a non-empty 2-d array (n, dim) of numbers"
        )
    if np.iscomplexobj(a) or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise BadInput(f"{what} holds {a.dtype} values; valid: a numeric array (n, dim)")
    a = np.ascontiguousarray(a, dtype=np.float32)
    check_finite(a, what)
    return a


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
    (angular -> cosine, euclidean). The file's ``neighbors``/``distances`` are not read: the
    harness computes its own ground truth with its own distance function.
    ``metric`` overrides the file's; with .npy files it is the only source (else the run's).
    """
    if metric is not None and metric not in METRICS:
        raise BadInput(f"dataset.metric={metric!r} is invalid; valid: {', '.join(METRICS)}")
    if path is not None:
        import h5py

        p = check_input_file(
            "dataset.path", Path(path).expanduser(), valid="an ann-benchmarks HDF5 file"
        )
        try:
            f = h5py.File(p, "r")
        except OSError as exc:
            raise BadInput(f"{path} is not an HDF5 file ({exc})") from None
        with f:
            missing = [name for name in ("train", "test") if name not in f]
            if missing:
                raise BadInput(
                    f"{path} has no {' or '.join(missing)} array; an ann-benchmarks file holds "
                    f"train, test, neighbors, distances (found: {', '.join(sorted(f)) or 'none'})"
                )
            xb = _matrix(f["train"][:], f"dataset.path={path} (train)")
            xq = _matrix(f["test"][:], f"dataset.path={path} (test)")
            distance = f.attrs.get("distance")
        if isinstance(distance, bytes):
            distance = distance.decode()
        if metric is None and distance is not None:
            if distance not in _ANN_METRICS:
                raise BadInput(
                    f"{path}: distance attribute {distance!r} is not supported; "
                    f"valid: {', '.join(_ANN_METRICS)}"
                )
            metric = _ANN_METRICS[distance]
        name = p.stem
    else:
        if db is None or queries is None:
            raise BadInput(
                "dataset=vectors needs either path=FILE.hdf5 or both db= and queries= .npy paths"
            )
        xb = _matrix(_load_npy(db, "dataset.db"), f"dataset.db={db}")
        xq = _matrix(_load_npy(queries, "dataset.queries"), f"dataset.queries={queries}")
        name = Path(db).stem
    if xb.shape[1] != xq.shape[1]:
        raise BadInput(
            f"dataset queries have dimension {xq.shape[1]} but the database {xb.shape[1]} "
            f"(dataset.db={db}, dataset.queries={queries}, dataset.path={path}); "
            "valid: one dimension for both"
        )
    lb = _labels(db_labels, len(xb), "db_labels")
    lq = _labels(query_labels, len(xq), "query_labels")
    return Dataset(
        name=name,
        db=xb,
        queries=xq,
        db_labels=lb,
        query_labels=lq,
        fingerprint=fingerprint(xb, xq, lb, lq),
        metric=metric,
    )
