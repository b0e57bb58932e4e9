"""`python -m bench.embed [overrides] [results.embeddings=DIR]`: write a dataset's vectors.

Writes into ``results.embeddings`` (default ``outputs/embeddings``, git-ignored) files named
after the dataset, the encoder and a fingerprint of both (the data's content, the encoder's
weights and settings), ``<dataset>-<encoder>-<fp8>``:

- ``<stem>.db.npy``, ``<stem>.queries.npy`` (and ``<stem>.db_labels.npy``,
  ``<stem>.query_labels.npy`` when labelled);
- ``<stem>-<dim>-<distance>.hdf5`` in the ann-benchmarks layout: ``train``, ``test``,
  ``neighbors`` and ``distances`` (exact, k = 100 or the database size) and the ``distance``
  attribute, readable back with ``dataset=vectors dataset.path=... encoder=none``.

Another dataset, encoder or training gives other names, so a second export never overwrites
the first (the same export again rewrites identical files). Files appear complete or not at
all (temp names, then rename; through symlinks, see :mod:`lookup.io`), and an export is whole
or absent: when one file cannot be written (a full disk: one line naming the path, exit 2),
the files this export had created are removed again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from bench.cli import run_app
from bench.jobs import job_of
from lookup.errors import BadInput
from lookup.experiment import ground_truth, prepare
from lookup.io import atomic_path, check_output_dir

log = logging.getLogger(__name__)

_ANN_DISTANCE = {"cosine": "angular", "euclidean": "euclidean"}
GT_K = 100


KEY = "results.embeddings"


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy", key=KEY) as tmp:
        np.save(tmp, array)


def write_ann_benchmarks(path: Path, xb, xq, I, D, distance: str) -> None:  # noqa: E741
    """An HDF5 file in the layout ann-benchmarks reads."""
    import h5py

    with atomic_path(path, suffix=".hdf5", key=KEY) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["type"] = "dense"
        f.attrs["distance"] = distance
        f.attrs["dimension"] = xb.shape[1]
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=xb)
        f.create_dataset("test", data=xq)
        f.create_dataset("neighbors", data=I.astype(np.int32))
        f.create_dataset("distances", data=D.astype(np.float32))


def file_stem(dataset: str, encoder: str, data_fp: str, encoder_fp: str, metric: str) -> str:
    """``<dataset>-<encoder>-<fp8>``: fp8 digests the data, the encoder and the metric."""
    fp = hashlib.sha256(f"{data_fp}\x1f{encoder_fp}\x1f{metric}".encode()).hexdigest()[:8]
    safe = [
        "".join(ch if ch.isalnum() or ch in "._" else "_" for ch in x) for x in (dataset, encoder)
    ]
    return f"{safe[0]}-{safe[1]}-{fp}"


def _check_distance(metric: str) -> None:
    if metric not in _ANN_DISTANCE:
        raise BadInput(
            f"metric={metric} has no ann-benchmarks distance; valid: {', '.join(_ANN_DISTANCE)}"
        )


def embed(cfg: DictConfig, out: str) -> list[Path]:
    """Encode the configured dataset and write its arrays under ``out``; returns the paths."""
    job = job_of(cfg)
    if "metric" not in job.dataset.params:  # before any work (a vectors file brings its own)
        _check_distance(job.settings.metric)
    prep = prepare(job)
    ds, vec, metric = prep.dataset, prep.vectors, prep.metric
    _check_distance(metric)
    k = min(GT_K, len(vec.xb))
    D, I = ground_truth(job.cache_dir, vec.xb, vec.xq, metric, k)  # noqa: E741
    folder = check_output_dir(KEY, out)
    stem = file_stem(
        ds.name,
        job.encoder.name if job.encoder else "none",
        ds.fingerprint,
        vec.encoder_fingerprint,
        metric,
    )
    arrays = {
        "db": vec.xb,
        "queries": vec.xq,
        "db_labels": ds.db_labels,
        "query_labels": ds.query_labels,
    }
    files: list[tuple[Path, object]] = [
        (folder / f"{stem}.{name}.npy", arr) for name, arr in arrays.items() if arr is not None
    ]
    h5 = folder / f"{stem}-{vec.xb.shape[1]}-{_ANN_DISTANCE[metric]}.hdf5"
    new = [p for p in [*(p for p, _ in files), h5] if not os.path.lexists(p)]
    written = []
    try:
        for path, arr in files:
            labels = "labels" in path.name
            _save_npy(path, np.asarray(arr, dtype=str) if labels else np.asarray(arr))
            written.append(path)
        # ann-benchmarks stores true (not squared) euclidean and 1 - cos for angular: as ours.
        write_ann_benchmarks(h5, vec.xb, vec.xq, I, D, _ANN_DISTANCE[metric])
        written.append(h5)
    except BaseException:
        for path in new:  # an export is whole or absent: drop the files this one created
            if path in written:
                path.unlink(missing_ok=True)
        raise
    log.info("wrote %d files to %s", len(written), folder)
    return written


def _job(cfg: DictConfig) -> None:
    out = cfg.results.embeddings
    check_output_dir(KEY, out)  # before any compute
    for path in embed(cfg, out):
        print(path, flush=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.embed [overrides]`: one-line errors (exit 2), Ctrl-C exits 130."""
    run_app(_job, argv, table_key=None)


if __name__ == "__main__":
    main()
