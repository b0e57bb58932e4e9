"""The runbook figure of ``bench.plot`` (``runbook.png``): indexes that live, over generations.

One row of panels per dataset x runbook (with the encoder when several are drawn), four
columns over the checkpoint generation: tie-aware recall@k against exact search over the live
ids (its 95% interval shaded), QPS, the cumulative seconds spent keeping the index current
(build + inserts + deletes: ``upkeep_s_total``) and the index bytes. One curve per run and
search knob point (:func:`lookup.lifecycle.runbook_curves`): solid in place, dashed rebuilt
from scratch at every checkpoint (the control). Every value is a column of the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from lookup import frontier, lifecycle

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANELS = (  # (column, title, y label, log scale)
    ("recall_at_k", "recall over generations", "recall@k vs exact search over the live ids", False),
    ("qps", "QPS over generations", "queries per second", True),
    ("upkeep_s_total", "upkeep", "seconds kept current (build + inserts + deletes)", True),
    ("index_mb", "index size", "index MB", False),
)
PANEL_IN = (4.2, 3.3)
LEGEND_IN = 3.4  # width of one legend column
LEGEND_ROWS = 24  # entries per legend column
LEGEND_ENTRY_IN = 0.15  # height of one legend entry: a row of panels is tall enough for its legend
_STYLE = {"in_place": "-", "rebuild": "--"}


def _panel_rows(df: pd.DataFrame) -> list[str]:
    cols = ["dataset", "runbook", *frontier.varying(df, ["n_db", "encoder"])]
    return [c for c in cols if c in df.columns]


def _knobs(key: dict) -> str:
    knobs = [c for c in key if c.startswith("search_") and not pd.isna(key[c])]
    return " ".join(f"{c.removeprefix('search_')}={frontier.format_value(key[c])}" for c in knobs)


def _label(key: dict, vary: list[str]) -> str:
    parts = [str(key.get("index")), str(key.get("maintenance", "")).replace("_", " "), _knobs(key)]
    parts += [f"{c}={frontier.format_value(key[c])}" for c in vary if not pd.isna(key.get(c))]
    return " ".join(p for p in parts if p)


def _values(rows: pd.DataFrame, col: str) -> pd.Series:
    if col == "index_mb":
        return pd.to_numeric(rows["index_bytes"], errors="coerce") / 1e6
    return pd.to_numeric(rows[col], errors="coerce")


def _draw_row(axes, curves: list, title: str, ncol: int) -> None:
    """One dataset x runbook: every curve in the four panels, the legend at the right."""
    from matplotlib import colormaps

    fixed = {"dataset", "runbook", "index", "maintenance", "encoder", "n_db"}
    keys = pd.DataFrame([k for k, _ in curves])
    cols = [c for c in keys.columns if c not in fixed and not c.startswith("search_")]
    vary = frontier.varying(keys, cols)
    families = list(dict.fromkeys((k.get("index"), _knobs(k)) for k, _ in curves))
    palette = colormaps["tab20"].colors  # one colour per index x knobs: in place vs rebuilt
    for key, rows in curves:
        color = palette[families.index((key.get("index"), _knobs(key))) % len(palette)]
        x = pd.to_numeric(rows["generation"], errors="coerce")
        style = _STYLE.get(str(key.get("maintenance")), ":")
        for ax, (col, *_) in zip(axes, PANELS, strict=True):
            y = _values(rows, col)
            ax.plot(x, y, style, color=color, marker=".", ms=3, lw=1.1, label=_label(key, vary))
        if "recall_at_k_ci_low" in rows:
            low, high = _values(rows, "recall_at_k_ci_low"), _values(rows, "recall_at_k_ci_high")
            axes[0].fill_between(x, low, high, color=color, alpha=0.12, lw=0)
    for ax, (_, name, ylabel, log) in zip(axes, PANELS, strict=True):
        ax.set_title(f"{title}: {name}", fontsize=9)
        ax.set_xlabel("generation (0: right after the build)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    h, lab = axes[0].get_legend_handles_labels()
    axes[-1].legend(
        h,
        lab,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=7,
        frameon=False,
        ncol=ncol,
        title="index, maintenance (dashed: rebuilt), knobs",
        title_fontsize=7,
    )


def draw_runbooks(df: pd.DataFrame) -> Figure:
    """The runbook figure of the runbook rows of ``df`` (one panel row per dataset x
    runbook). Uses matplotlib's object API (no pyplot)."""
    from matplotlib.figure import Figure

    groups = [
        (key, part, lifecycle.runbook_curves(part))
        for key, part in frontier.iter_groups(df, _panel_rows(df))
    ]
    entries = max(len(curves) for _, _, curves in groups)
    ncol = -(-entries // LEGEND_ROWS)
    row_in = max(PANEL_IN[1], LEGEND_ENTRY_IN * min(entries, LEGEND_ROWS) + 0.8)
    fig = Figure(
        figsize=(PANEL_IN[0] * len(PANELS) + LEGEND_IN * ncol, row_in * len(groups)),
        layout="constrained",
    )
    axes = fig.subplots(len(groups), len(PANELS), squeeze=False)
    for r, (key, part, curves) in enumerate(groups):
        title = " ".join(frontier.format_value(v) for v in key.values())
        if "n_db" in part:
            title += f" (n_db {frontier.format_value(part['n_db'].iloc[0])})"
        _draw_row(axes[r], curves, title, ncol)
    return fig
