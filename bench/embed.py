"""`python -m bench.embed [overrides] [results.embeddings=DIR]`: write a dataset's vectors.

Writes ``db.npy``, ``queries.npy`` (and ``db_labels.npy``/``query_labels.npy`` when labelled)
and an ann-benchmarks HDF5 file ``<dataset>-<dim>-<distance>.hdf5`` with ``train``, ``test``,
``neighbors`` and ``distances`` (exact, k = 100 or the database size) and the ``distance``
attribute. Files appear complete or not at all (temp names, then rename).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from bench.errors import user_errors_exit
from bench.run import check_settings, encoder_for, ground_truth, load_dataset, vectors_of
from lookup.timing import pin_threads

log = logging.getLogger(__name__)

_ANN_DISTANCE = {"cosine": "angular", "euclidean": "euclidean"}
GT_K = 100


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def write_ann_benchmarks(path: Path, xb, xq, I, D, distance: str) -> None:
    """An HDF5 file in the layout ann-benchmarks reads."""
    import h5py

    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["type"] = "dense"
        f.attrs["distance"] = distance
        f.attrs["dimension"] = xb.shape[1]
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=xb)
        f.create_dataset("test", data=xq)
        f.create_dataset("neighbors", data=I.astype(np.int32))
        f.create_dataset("distances", data=D.astype(np.float32))
    os.replace(tmp, path)


def embed(cfg: DictConfig, out: str) -> list[Path]:
    """Encode the configured dataset and write its arrays under ``out``; returns the paths."""
    check_settings(cfg)
    pin_threads(cfg.threads)
    ds = load_dataset(cfg)
    metric = ds.metric or cfg.metric
    if metric not in _ANN_DISTANCE:
        raise ValueError(
            f"metric={metric} has no ann-benchmarks distance; valid: {', '.join(_ANN_DISTANCE)}"
        )
    vec = vectors_of(cfg, ds, encoder_for(cfg, ds))
    k = min(GT_K, len(vec.xb))
    D, I = ground_truth(cfg, vec.xb, vec.xq, metric, k)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    arrays = {
        "db": vec.xb,
        "queries": vec.xq,
        "db_labels": ds.db_labels,
        "query_labels": ds.query_labels,
    }
    for name, arr in arrays.items():
        if arr is not None:
            path = folder / f"{name}.npy"
            _save_npy(path, np.asarray(arr) if "labels" not in name else np.asarray(arr, dtype=str))
            written.append(path)
    h5 = folder / f"{ds.name}-{vec.xb.shape[1]}-{_ANN_DISTANCE[metric]}.hdf5"
    # ann-benchmarks stores true (not squared) euclidean and 1 - cos for angular: as ours.
    write_ann_benchmarks(h5, vec.xb, vec.xq, I, D, _ANN_DISTANCE[metric])
    written.append(h5)
    return written


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    out = cfg.results.embeddings
    for path in embed(cfg, out):
        print(path, flush=True)


if __name__ == "__main__":
    main()
