"""The filtered-lookup figure: rows of kind ``filter`` (``python -m bench filter=...``), drawn
by ``bench.plot`` as ``filters.png`` and by ``bench.report`` beside its crossover table.

Per dataset two rows of panels, one column per filter kind (selectivity sweep, own label,
other label, given labels), the share of the database that passed on a log x axis:

- top: queries per second of each strategy's fastest knob point reaching the recall target
  (gaps: unreached), log scale; exact search over the filtered subset dashed; a dotted
  vertical line at each index's crossover (its faster strategy against exact,
  :mod:`lookup.crossover`); error bars from the QPS min/max over repeats when there are some;
- bottom: each strategy's best recall over its knob points (the target dashed grey).

Colour: encoder / index; line style and marker: strategy. Own- and other-label points are
the half-decade selectivity bins of their queries. Every drawn value is a column of the table
or a selection of rows (:func:`lookup.crossover.point_table`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lookup import crossover, frontier
from lookup.errors import BadInput
from lookup.filters import KINDS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PANEL_IN = (4.4, 3.2)
LEGEND_IN = 3.2
STRATEGY_STYLE = {"exact": ("--", "o"), "post": ("-", "s"), "in_search": ("-", "^")}
_TITLE = {
    "selectivity": "label sets (seeded) by selectivity",
    "own_label": "the query's own label (bins)",
    "other_label": "a random other label (bins)",
    "labels": "the given labels",
}


def _panel_columns(df: pd.DataFrame) -> list[str]:
    cols = ["dataset", *frontier.dataset_param_columns(df)]
    return cols + (["n_db"] if "n_db" in df.columns else [])


def _curve_groups(rows: pd.DataFrame):
    """(label, rows) per encoder x index x settings within one panel and kind."""
    for key, part in frontier.iter_groups(rows, crossover.group_columns(rows)):
        yield f"{key['encoder']} / {key['index']}", part


def _draw_kind(ax_q: Axes, ax_r: Axes, rows: pd.DataFrame, colours: dict, target: float):
    for label, part in _curve_groups(rows):
        pts = crossover.point_table(part, target)
        colour = colours[label]
        repeated = pd.to_numeric(part.get("n_repeats"), errors="coerce").max() > 1
        for strategy, (ls, marker) in STRATEGY_STYLE.items():
            if strategy not in set(part["filter_strategy"]):
                continue
            y = pts[strategy]
            yerr = None
            if repeated:
                yerr = np.vstack(
                    [(y - pts[f"{strategy}_min"]).clip(lower=0), (pts[f"{strategy}_max"] - y)]
                ).clip(min=0)
            kw = dict(color=colour, ls=ls, marker=marker, ms=4, lw=1.1)
            ax_q.errorbar(pts["x"], y, yerr=yerr, capsize=2, elinewidth=0.7, **kw)
            ax_r.plot(pts["x"], pts[f"{strategy}_recall"], **kw)
        if "best" in pts and pts["best"].notna().any():
            cross = crossover.bracket(pts["x"], pts["best"], pts["exact"])["crossover"]
            if not math.isnan(cross):
                ax_q.axvline(cross, color=colour, ls=":", lw=1.0)
    for ax in (ax_q, ax_r):
        ax.set_xscale("log")
        ax.grid(True, which="major", alpha=0.3)
        ax.tick_params(labelsize=7)
    ax_q.set_yscale("log")
    ax_q.set_ylabel(f"QPS at recall >= {target:g}")
    ax_r.axhline(target, color="0.5", ls="--", lw=0.8)
    ax_r.set_ylim(-0.02, 1.02)
    ax_r.set_ylabel("best recall@k (filtered truth)")
    ax_r.set_xlabel("selectivity: share of the database that passes (log)")


def _legend(ax: Axes, colours: dict) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=2, label=lab) for lab, c in colours.items()]
    handles += [
        Line2D([], [], color="0.2", ls=ls, marker=m, ms=4, label=s)
        for s, (ls, m) in STRATEGY_STYLE.items()
    ]
    handles.append(Line2D([], [], color="0.2", ls=":", label="crossover (faster index strategy)"))
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=7,
        frameon=False,
        title="encoder / index; strategy",
        title_fontsize=7,
    )


def draw_filters(df: pd.DataFrame, target: float = 0.95) -> Figure:
    """The figure of the filter rows of ``df`` (other rows are ignored)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    rows = crossover.point_rows(df[frontier.kinds_of(df) == "filter"])
    if rows.empty:
        raise BadInput("no filter rows to draw (python -m bench filter=sweep writes them)")
    kinds = [k for k in KINDS if k in set(rows["filter_kind"])]
    panels = list(frontier.iter_groups(rows, _panel_columns(rows)))
    fig = Figure(
        figsize=(PANEL_IN[0] * len(kinds) + LEGEND_IN, 2 * PANEL_IN[1] * len(panels)),
        layout="constrained",
    )
    axes = fig.subplots(2 * len(panels), len(kinds), squeeze=False)
    palette = colormaps["tab10"].colors
    for p, (key, part) in enumerate(panels):
        labels = list(dict.fromkeys(label for label, _ in _curve_groups(part)))
        colours = {lab: palette[i % len(palette)] for i, lab in enumerate(labels)}
        for c, kind in enumerate(kinds):
            ax_q, ax_r = axes[2 * p, c], axes[2 * p + 1, c]
            mine = part[part["filter_kind"] == kind]
            if mine.empty:
                ax_q.set_visible(False)
                ax_r.set_visible(False)
                continue
            _draw_kind(ax_q, ax_r, mine, colours, target)
            ax_q.set_title(f"{key['dataset']}: {_TITLE[kind]}", fontsize=9)
        _legend(axes[2 * p, -1], colours)
    return fig
