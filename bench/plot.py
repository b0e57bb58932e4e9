"""`python -m bench.plot [TABLE ...] [--out DIR]`: figures from result tables (tables only).

- recall_vs_qps.png: Pareto front of QPS over tie-aware recall@k per encoder x index, recall
  on a logit axis as ann-benchmarks draws it;
- knn_vs_recall.png: kNN accuracy of ANN neighbours against recall, exact-search accuracy dashed;
- build_vs_recall.png: build seconds against the best recall of each built index.
One panel per dataset. No metric is computed here: every plotted value is a column of the table.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

log = logging.getLogger(__name__)

REQUIRED = ("dataset", "encoder", "index", "recall_at_k", "qps", "build_s", "run_id")
_CLIP = (1e-3, 1 - 1e-4)  # logit axis cannot show exactly 0 or 1


def read_tables(paths: list[str]) -> pd.DataFrame:
    """Concatenate result tables; a missing file or column is a one-line error."""
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"result table not found: {p}")
        df = pd.read_csv(p)
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise ValueError(f"{p} is not a results table (missing columns: {', '.join(missing)})")
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    if df.empty:
        raise ValueError(f"no rows in {', '.join(paths)}")
    return df


def pareto_front(recall: pd.Series, qps: pd.Series) -> pd.DataFrame:
    """Points not beaten on both recall and QPS, sorted by recall (ann-benchmarks' front)."""
    pts = pd.DataFrame({"recall": recall, "qps": qps}).sort_values(
        ["recall", "qps"], ascending=False
    )
    keep, best = [], -1.0
    for _, row in pts.iterrows():
        if row.qps > best:
            keep.append(row)
            best = row.qps
    return pd.DataFrame(keep).sort_values("recall")


def _panels(df: pd.DataFrame, title: str):
    """A figure with one panel per dataset: (fig, [(ax, that dataset's rows), ...])."""
    datasets = sorted(df["dataset"].astype(str).unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.8), squeeze=False)
    fig.suptitle(title)
    panels = []
    for ax, name in zip(axes[0], datasets, strict=True):
        ax.set_title(f"dataset={name}")
        panels.append((ax, df[df["dataset"].astype(str) == name]))
    return fig, panels


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


_SPLIT = ("mode", "k", "threads", "metric")  # rows differing in these are not comparable


def _groups(df: pd.DataFrame):
    """(label, rows) per encoder x index, split further by any setting that varies in ``df``
    (mode, k, threads, metric, or encoder weights under one encoder name), so no curve mixes
    rows that were measured differently."""
    keys = ["encoder", "index"] + [c for c in _SPLIT if c in df and df[c].nunique() > 1]
    if (
        "encoder_fingerprint" in df
        and (df.groupby("encoder")["encoder_fingerprint"].nunique() > 1).any()
    ):
        keys.append("encoder_fingerprint")
    for values, g in df.groupby(keys, sort=True):
        parts = dict(zip(keys, values, strict=True))
        label = f"{parts.pop('encoder')} / {parts.pop('index')}"
        label += "".join(
            f" {k.replace('encoder_fingerprint', 'weights')}={str(v)[:8]}" for k, v in parts.items()
        )
        yield label, g


def _logit_x(ax, values: pd.Series) -> None:
    """Logit recall axis with a margin around the plotted points (logit units)."""
    logit = np.log(values / (1 - values))
    lo, hi = logit.min() - 0.5, logit.max() + 0.5
    ax.set_xscale("logit")
    ax.set_xlim(1 / (1 + np.exp(-lo)), 1 / (1 + np.exp(-hi)))


def plot_recall_qps(df: pd.DataFrame, path: Path) -> None:
    fig, panels = _panels(df, "QPS vs recall@k (Pareto front; up and right is better)")
    for ax, part in panels:
        for label, g in _groups(part):
            front = pareto_front(g["recall_at_k"].clip(*_CLIP), g["qps"])
            ax.plot(front["recall"], front["qps"], marker="o", label=label)
        _logit_x(ax, part["recall_at_k"].clip(*_CLIP))
        ax.set_yscale("log")
        ax.set_xlabel("recall@k (tie-aware, logit scale)")
        ax.set_ylabel("queries per second")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_knn_recall(df: pd.DataFrame, path: Path) -> None:
    fig, panels = _panels(df, "kNN accuracy vs recall@k")
    for ax, part in panels:
        if "knn_acc" not in part or part["knn_acc"].isna().all():
            ax.text(0.5, 0.5, "no labels", ha="center", transform=ax.transAxes)
            continue
        for label, g in _groups(part):
            line = ax.scatter(g["recall_at_k"], g["knn_acc"], label=label, s=18)
            if "knn_acc_exact" in g:
                ax.axhline(
                    g["knn_acc_exact"].iloc[0], color=line.get_facecolor()[0], ls="--", lw=0.8
                )
        ax.set_xlabel("recall@k (tie-aware)")
        ax.set_ylabel("kNN accuracy (dashed: exact neighbours)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_build_recall(df: pd.DataFrame, path: Path) -> None:
    fig, panels = _panels(df, "build time vs best recall@k of each built index")
    for ax, part in panels:
        best = part.loc[part.groupby("run_id")["recall_at_k"].idxmax()]  # one row per build
        for label, g in _groups(best):
            ax.scatter(g["recall_at_k"], g["build_s"], label=label, s=24)
        ax.set_yscale("log")
        ax.set_xlabel("best recall@k over the search sweep")
        ax.set_ylabel("build seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_all(tables: list[str], out: str) -> list[Path]:
    """Write the three figures for the given tables into ``out``; returns their paths."""
    df = read_tables(tables)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = {
        "recall_vs_qps.png": plot_recall_qps,
        "knn_vs_recall.png": plot_knn_recall,
        "build_vs_recall.png": plot_build_recall,
    }
    paths = []
    for name, fn in jobs.items():
        fn(df, folder / name)
        paths.append(folder / name)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plot", description=__doc__.split("\n")[0]
    )
    parser.add_argument("tables", nargs="*", default=["results/runs.csv"], help="result CSVs")
    parser.add_argument("--out", default="outputs/figures", help="folder for the PNGs")
    args = parser.parse_args(argv)
    try:
        paths = plot_all(args.tables, args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
