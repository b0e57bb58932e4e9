"""`python -m bench.lookup NAME [NAME ...] [overrides]`: the k nearest database items of any text.

Builds the configured index over the dataset's database vectors (cached encodings), searches
it at the highest-effort point of the index's search sweep, and prints each neighbour with its
label and the harness's own distance, then the kNN-predicted label.
"""

from __future__ import annotations

import sys

import hydra
import numpy as np
from omegaconf import DictConfig

from bench.errors import user_errors_exit
from bench.run import check_settings, encoder_for, load_dataset, make_index, search_grid, vectors_of
from lookup import metrics
from lookup.distances import recompute_distances
from lookup.timing import pin_threads

# Hydra flags that take the next argument as their value
_VALUE_FLAGS = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--info",
    "-i",
    "--experimental-rerun",
}


def _split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Free texts (no '=', not a flag or a flag's value) apart from Hydra overrides and flags."""
    texts, rest = [], []
    takes_value = False
    for arg in argv:
        if takes_value or "=" in arg or arg.startswith("-"):
            rest.append(arg)
            takes_value = arg in _VALUE_FLAGS
        else:
            texts.append(arg)
    return texts, rest


def format_neighbours(text: str, D: np.ndarray, I: np.ndarray, db, db_labels, predicted) -> str:
    """One query's neighbours as an aligned block."""
    lines = [f"{text!r}" + (f"  -> predicted: {predicted}" if predicted is not None else "")]
    for rank, (d, i) in enumerate(zip(D, I, strict=True), 1):
        if i < 0:
            continue
        label = "" if db_labels is None else str(db_labels[i])
        lines.append(f"  {rank:>3}. {str(db[i]):<40} {label:<16} {d:.6f}")
    return "\n".join(lines)


def lookup(cfg: DictConfig, texts: list[str]) -> str:
    """Neighbours of each text in the configured dataset's database, as printable text."""
    check_settings(cfg)
    if not texts:
        raise ValueError('no text to look up; usage: python -m bench.lookup "Nakamoto" [overrides]')
    pin_threads(cfg.threads)
    ds = load_dataset(cfg)
    if not ds.is_text:
        raise ValueError(
            "bench.lookup needs a text dataset (surnames, names, captions), not vectors"
        )
    encoder = encoder_for(cfg, ds)
    metric = ds.metric or cfg.metric
    xb = vectors_of(cfg, ds, encoder).xb
    if cfg.k > len(xb):
        raise ValueError(f"k={cfg.k} is larger than the database ({len(xb)} items)")
    index = make_index(cfg, metric)
    index.build(xb)
    index.set_search_params(**search_grid(cfg.index.get("search"))[-1])
    xq = encoder.encode(texts)
    _, I = index.search(xq, cfg.k)
    D = recompute_distances(xb, xq, I, metric)
    predicted = (
        metrics.knn_predict(I, ds.db_labels) if ds.db_labels is not None else [None] * len(texts)
    )
    blocks = [
        format_neighbours(t, D[j], I[j], ds.db, ds.db_labels, predicted[j])
        for j, t in enumerate(texts)
    ]
    return "\n\n".join(blocks)


def main() -> None:
    texts, rest = _split_argv(sys.argv[1:])
    sys.argv = [sys.argv[0], *rest]

    @hydra.main(config_path="../conf", config_name="config", version_base="1.3")
    @user_errors_exit
    def _app(cfg: DictConfig) -> None:
        print(lookup(cfg, texts), flush=True)

    _app()


if __name__ == "__main__":
    main()
