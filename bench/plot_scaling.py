"""`python -m bench.plot_scaling TABLE [--target-recall 0.95] [--where KEY=VALUE] [--out DIR]`:
the scaling curve of a results table (e.g. from ``python -m bench -m experiment=scaling``).

Against the database size ``n_db`` (log axes), one line per index: build seconds, index bytes,
and QPS at the recall target next to exact search's QPS; plus the measured crossover, the
smallest ``n_db`` at which an ANN index's QPS at the target exceeds exact search's at the same
``n_db``. Everything plotted is a column of the table: the only selection is the operating
point at the target (:func:`lookup.frontier.operating_point`, the fastest row reaching it).

Writes ``scaling.png`` into ``--out`` and prints the per-size table and the crossover table.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from bench.errors import bad_input_code
from bench.plot import add_where_argument, read_tables
from lookup import frontier
from lookup.errors import BadInput
from lookup.io import atomic_path, check_output_dir

if TYPE_CHECKING:  # matplotlib is imported lazily, when a figure is drawn
    from matplotlib.figure import Figure

EXACT = "exact"
# Brute-force index families: baselines of the crossover, drawn dashed, never an ANN index.
BRUTE_FORCE = ("exact", "faiss_flat")
# Columns that change with the size by construction, so they do not split a scaling series.
_SIZE_COLUMNS = ("n_db", "dataset_limit", "index")


def series_columns(df: pd.DataFrame) -> list[str]:
    """Group columns (:func:`lookup.frontier.group_columns`) that must be equal along one
    scaling curve: everything except the size and the index family."""
    return [c for c in frontier.group_columns(df) if c not in _SIZE_COLUMNS]


def check_one_series(df: pd.DataFrame) -> None:
    """ValueError naming the columns that split ``df`` into several scaling series (dataset,
    encoder parameters, settings): filter them with --where first."""
    split = frontier.varying(df, series_columns(df))
    if split:
        shown = ", ".join(
            f"{c} ({', '.join(map(str, df[c].dropna().unique()[:4]))})" for c in split
        )
        raise BadInput(f"the table holds several scaling series; choose one with --where: {shown}")


def _knobs_of(row: pd.Series, knobs: list[str]) -> str:
    """'ef=40': the search knobs set on a row, as a user would type them."""
    return " ".join(
        f"{c.removeprefix('search_')}={frontier.format_value(row[c])}"
        for c in knobs
        if c in row.index and pd.notna(row[c])
    )


def scaling_table(df: pd.DataFrame, target: float) -> pd.DataFrame:
    """One row per (index, n_db): the operating point at ``target`` (its recall, QPS and
    search knobs) with its build seconds and index bytes; ``status`` is ``ok`` or
    ``unreached`` (then ``best_recall`` says how close it came and the cost columns come
    from the fastest row, so build time and size are still drawn)."""
    frontier.check_table(df)
    if "n_db" not in df.columns:
        raise BadInput("the table has no n_db column; it is not a scaling table")
    check_one_series(df)
    knobs = frontier.search_columns(df)
    out = []
    for (index, n_db), rows in df.groupby(["index", "n_db"], sort=True):
        row, best = frontier.operating_point(rows, target)
        rec = {"index": index, "n_db": int(n_db), "target": target, "best_recall": best}
        if row is None:
            rec["status"] = "unreached"
            row = rows.sort_values("qps", ascending=False).iloc[0]
            rec["qps_at_target"] = math.nan
            rec["recall_at_k"] = math.nan
        else:
            rec["status"] = "ok"
            rec["qps_at_target"] = float(row["qps"])
            rec["recall_at_k"] = float(row["recall_at_k"])
        rec["knobs"] = _knobs_of(row, knobs) if rec["status"] == "ok" else ""
        for c in ("build_s", "index_bytes", "build_peak_rss"):
            rec[c] = float(row[c]) if c in row.index and pd.notna(row[c]) else math.nan
        out.append(rec)
    return pd.DataFrame(out)


def crossovers(table: pd.DataFrame, baseline: str = EXACT) -> pd.DataFrame:
    """Per ANN index of a :func:`scaling_table`: the smallest ``n_db`` at which its QPS at the
    target exceeds the ``baseline`` brute force's QPS at the same ``n_db`` (sizes where either
    is missing are skipped). ``status``: ``ok``; ``below range`` when it already wins at the
    smallest size compared; ``none`` when it never wins in the measured range; ``no exact``
    when the table has no rows of the baseline. ``wins_above`` tells whether it also wins at
    every larger size."""
    base = table[(table["index"] == baseline) & (table["status"] == "ok")]
    exact_qps = dict(zip(base["n_db"], base["qps_at_target"], strict=True))
    out = []
    ann = table[~table["index"].isin(BRUTE_FORCE)]
    for index, rows in ann.groupby("index", sort=True):
        rows = rows[rows["n_db"].isin(exact_qps) & rows["qps_at_target"].notna()]
        rows = rows.sort_values("n_db")
        rec = {
            "index": index,
            "baseline": baseline,
            "crossover_n_db": math.nan,
            "sizes_compared": len(rows),
        }
        if not exact_qps:
            rec["status"] = "no exact"
            out.append(rec)
            continue
        wins = [q > exact_qps[n] for n, q in zip(rows["n_db"], rows["qps_at_target"], strict=True)]
        if not any(wins):
            rec["status"] = "none"
        else:
            first = wins.index(True)
            rec["crossover_n_db"] = int(rows["n_db"].iloc[first])
            rec["status"] = "below range" if first == 0 else "ok"
            rec["qps_at_target"] = float(rows["qps_at_target"].iloc[first])
            rec["baseline_qps"] = float(exact_qps[rows["n_db"].iloc[first]])
            rec["wins_above"] = all(wins[first:])
        out.append(rec)
    return pd.DataFrame(out)


def draw(table: pd.DataFrame, cross: pd.DataFrame, target: float) -> Figure:
    """Three log-log panels against n_db: build seconds, index bytes, QPS (ANN indexes at the
    target, exact search dashed); crossovers marked with a ring on the QPS panel."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    names = sorted(table["index"].unique(), key=lambda s: (s not in BRUTE_FORCE, s))
    colors = {n: colormaps["tab10"](i) for i, n in enumerate(names)}
    panels = [
        (axes[0], "build_s", "build seconds"),
        (axes[1], "index_bytes", "index bytes"),
        (axes[2], "qps_at_target", f"QPS at recall@k >= {target:g} (brute force dashed)"),
    ]
    for ax, col, title in panels:
        for name in names:
            rows = table[table["index"] == name].sort_values("n_db")
            y = rows[col]
            if not y.notna().any():
                continue
            style = "--" if name in BRUTE_FORCE else "-"
            ax.plot(rows["n_db"], y, style, marker="o", color=colors[name], label=name)
            if col == "qps_at_target":
                for _, r in rows[rows["status"] == "unreached"].iterrows():
                    ax.annotate(
                        f"<{target:g}",
                        (r["n_db"], 1),
                        xycoords=("data", "axes fraction"),
                        ha="center",
                        va="top",
                        fontsize=7,
                        color=colors[name],
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n_db (database names)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    qax = axes[2]
    for _, c in cross.iterrows():
        if pd.notna(c["crossover_n_db"]):
            at = "<=" if c["status"] == "below range" else "from"
            qax.plot(
                c["crossover_n_db"],
                c["qps_at_target"],
                "o" if c["baseline"] == EXACT else "s",
                ms=14,
                mfc="none",
                color=colors[c["index"]],
                label=f"{c['index']} beats {c['baseline']} {at} n_db={int(c['crossover_n_db']):,}",
            )
    axes[0].legend(fontsize=7)
    qax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def plot_scaling(
    tables: list[str], out: str, target: float = 0.95, where: list[str] | None = None
) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """Read, filter, tabulate and draw; returns (png path, scaling table, crossover table)."""
    folder = check_output_dir("--out", out)
    df = frontier.apply_where(read_tables(tables), where)
    table = scaling_table(df, target)
    baselines = [b for b in BRUTE_FORCE if b in set(table["index"])] or [EXACT]
    cross = pd.concat([crossovers(table, b) for b in baselines], ignore_index=True)
    path = folder / "scaling.png"
    with atomic_path(path, suffix=".png", key="--out") as tmp:
        draw(table, cross, target).savefig(tmp, dpi=110)
    return path, table, cross


def _fmt(df: pd.DataFrame) -> str:
    return df.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.6g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plot_scaling", description=__doc__.split("\n")[0]
    )
    parser.add_argument("tables", nargs="+", help="result CSVs")
    parser.add_argument("--target-recall", type=float, default=0.95, help="recall@k target")
    parser.add_argument("--out", default="outputs/figures", help="folder for scaling.png")
    add_where_argument(parser)
    args = parser.parse_args(argv)
    try:
        path, table, cross = plot_scaling(args.tables, args.out, args.target_recall, args.where)
    except Exception as exc:  # noqa: BLE001 - bad input: one line, exit 2; a bug: raised
        return bad_input_code(exc)
    cols = [
        "n_db",
        "index",
        "status",
        "recall_at_k",
        "qps_at_target",
        "knobs",
        "build_s",
        "index_bytes",
        "best_recall",
    ]
    print(_fmt(table[cols]))
    print()
    print(_fmt(cross))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
