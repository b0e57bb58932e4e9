"""`python -m bench.plot [TABLE ...] [--where KEY=VALUE ...] [--out DIR]`: figures from result
tables (tables only; no metric is computed here, every plotted value is a column).

A grid of panels: one row per dataset (with its parameters and database size), one column per
plot kind:
- recall_vs_qps: QPS over tie-aware recall@k, one curve per build, points annotated with their
  search-knob value, the curve's Pareto front drawn as a line, dominated points hollow;
- <metric>_vs_recall: each metric the metric table marks for plotting (``plot=True`` in
  :mod:`lookup.schema`; today knn_acc: kNN accuracy with the index's neighbours, dashed: exact);
- build_vs_recall: build seconds against the best recall of each built index.
Curves are split by every parameter that differs except the swept search knob (encoder
parameters such as pooling, build parameters, n_db, dataset parameters, settings), and their
legend names those parameters. Recall is on a logit axis with ticks chosen for its range.
Error bars (recall CI on x, qps_std on y) appear when rows were measured more than once.

Writes overview.png (every kind) and one file per kind (recall_vs_qps.png,
knn_acc_vs_recall.png, build_vs_recall.png). Rows of other kinds (probe rows: see
bench.plot_probe) and rows without recall or QPS are left out, and the command says how many.
Runbook rows (``workload=runbook``) get a figure of their own, runbook.png: recall, QPS,
upkeep seconds and index size over generations (:mod:`bench.plot_runbook`).
Filter rows (``python -m bench filter=...``) get a figure of their own, filters.png: recall
and QPS at ``--target-recall`` against selectivity on a log axis (bench.plot_filters).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench.errors import bad_input_code
from bench.table import default_table, read_rows
from lookup import frontier, schema
from lookup.errors import BadInput
from lookup.io import atomic_path, check_input_file, check_output_dir

if TYPE_CHECKING:  # matplotlib is imported lazily, when a figure is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# Panels: QPS and build time against recall, and one panel per metric the metric table marks
# for plotting (``plot=True``: knn_acc today), named "<metric>_vs_recall".
KINDS = (
    "recall_vs_qps",
    *(f"{mt.name}_vs_recall" for mt in schema.plot_metrics("job")),
    "build_vs_recall",
)
PANEL_IN = (4.4, 3.6)  # inches per panel
LEGEND_IN = 3.6  # inches for the legend column right of each row
# How far to keep recall 0 and 1 from the logit axis's infinite ends (see clip_bounds).
_EDGE = 1e-4

_SHORT = {
    "build_ef_construction": "efC",
    "build_train_size": "train",
    "build_factory": "",  # the factory string names itself: 'IVF256,Flat'
    "encoder_fingerprint": "weights",
    "encoder_hidden_size": "hidden",
    "encoder_embedding_size": "emb",
}


def add_where_argument(parser: argparse.ArgumentParser) -> None:
    """``--where KEY=VALUE`` (repeatable), the row filter of every command that reads tables;
    `lookup.frontier.apply_where` applies it."""
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep rows whose column KEY equals VALUE (repeat; same key repeated = any of)",
    )


def read_tables(paths: list[str]) -> pd.DataFrame:
    """Concatenate result tables, read by the one table reader (:func:`bench.table.read_rows`:
    damaged last rows are skipped with a warning), numbers as numbers. A missing, empty or
    foreign file is one BadInput line naming it."""
    frames = []
    for p in paths:
        path = check_input_file(None, Path(p), valid="a results CSV table")  # no FIFO read
        rows = read_rows(path)
        if not rows:
            raise BadInput(f"{p} has no rows")
        df = frontier.numeric(pd.DataFrame(rows).replace("", np.nan))
        missing = [c for c in frontier.REQUIRED if c not in df.columns]
        if missing:
            raise BadInput(f"{p} is not a results table (missing columns: {', '.join(missing)})")
        frames.append(df)
    if not frames:
        raise BadInput("no result table given")
    return pd.concat(frames, ignore_index=True)


def job_rows(df: pd.DataFrame, command: str) -> pd.DataFrame:
    """The rows ``command`` can draw or summarise (job rows with recall and QPS); says on
    stderr which rows it left out and what reads them."""
    rows, left = frontier.rows_of_kind(df, "job")
    for line in frontier.left_out_lines(left):
        print(f"{command}: left out {line}", file=sys.stderr)
    if rows.empty:
        raise BadInput(f"{command} found no job rows with recall and QPS to draw")
    return rows


# ----------------------------------------------------------------------------- curves
@dataclass(frozen=True)
class Curve:
    """The rows of one curve (one build of one encoder x index on one dataset) and its label."""

    label: str
    rows: pd.DataFrame
    knobs: tuple[str, ...]  # search_* columns set on these rows


def _short(col: str, others: list[str]) -> str:
    if col in _SHORT:
        return _SHORT[col]
    for prefix in ("build_", "encoder_", "dataset_"):
        if col.startswith(prefix):
            name = col.removeprefix(prefix)
            clash = any(
                o != col and o.split("_", 1)[-1] == name and o.split("_", 1)[0] != "search"
                for o in others
            )
            return f"{prefix[:-1]}.{name}" if clash else name
    return col


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v == ""


def describe(key: dict, columns: list[str]) -> str:
    """'M=16 efC=200 pooling=gather': the named, non-missing values of ``columns``."""
    parts = []
    for c in columns:
        v = key.get(c)
        if _is_missing(v):
            continue
        name = _short(c, columns)
        text = frontier.format_value(v)
        if c == "encoder_fingerprint":
            text = text[:8]
        parts.append(f"{name}={text}" if name else text)
    return " ".join(parts)


def panel_columns(df: pd.DataFrame) -> list[str]:
    """Columns that make a panel row: the dataset, its varying parameters and size."""
    cols = ["dataset", *frontier.dataset_param_columns(df)]
    if "n_db" in df.columns:
        cols.append("n_db")
    return cols


def curves(part: pd.DataFrame) -> list[Curve]:
    """Split one panel's rows into curves by encoder, index and every parameter that differs
    within one encoder x index except the search knobs; labels are
    'encoder / index [knob] param=value ...' naming those parameters."""
    fixed = {*panel_columns(part), "encoder", "index"}
    split = [c for c in frontier.curve_columns(part) if c not in fixed]
    # a parameter that differs only between families is already told apart by encoder / index
    differs: set[str] = set()
    for _, family in frontier.iter_groups(part, ["encoder", "index"]):
        differs.update(frontier.varying(family, split))
    vary = [c for c in split if c in differs]
    if "encoder_fingerprint" in vary:  # weights named by a hash only when nothing else differs
        rest = [c for c in vary if c != "encoder_fingerprint"]
        count = lambda cols: len(list(frontier.iter_groups(part, ["encoder", "index", *cols])))  # noqa: E731
        if rest and count(rest) == count(vary):
            vary = rest
    out = []
    for key, rows in frontier.iter_groups(part, ["encoder", "index", *vary]):
        knobs = tuple(c for c in frontier.search_columns(rows) if rows[c].notna().any())
        label = f"{key['encoder']} / {key['index']}"
        if knobs:
            label += " [" + ",".join(k.removeprefix("search_") for k in knobs) + "]"
        extra = describe(key, vary)
        out.append(Curve(f"{label} {extra}".strip(), rows, knobs))
    return out


# ------------------------------------------------------------------------------ axes
def clip_bounds(values: pd.Series) -> tuple[float, float]:
    """Where recall 0 and 1 are drawn on a logit axis: just outside the nearest measured
    value (half-way in logit units, at most _EDGE from the end), so distinct values stay
    distinct and ordered."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    inner = v[(v > 0) & (v < 1)]
    hi_gap = min(_EDGE, 0.5 * (1 - inner.max())) if len(inner) else _EDGE
    lo_gap = min(_EDGE, 0.5 * inner.min()) if len(inner) else _EDGE
    return lo_gap, 1 - hi_gap


def _logit(p):
    p = np.asarray(p, dtype=float)
    return np.log(p / (1 - p))


def _tick_levels() -> list[list[float]]:
    """Candidate ticks, coarse to fine: 0.9, 0.99, ...; then 0.95, 0.995, ...; then 0.92..."""
    levels, acc = [], {0.5}
    for mantissas in ((1,), (5,), (2, 3, 4, 6, 7, 8, 9)):
        for n in range(1, 8):
            for m in mantissas:
                p = m * 10.0**-n
                if p < 0.5:
                    acc |= {round(p, 12), round(1 - p, 12)}
        levels.append(sorted(acc))
    return levels


def _label(p: float) -> str:
    for d in range(1, 10):
        if abs(round(p, d) - p) < 1e-12:
            return f"{p:.{d}f}"
    return f"{p:.9g}"


def logit_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Readable ticks for a logit axis spanning (lo, hi): the coarsest level of candidates that
    gives at least three ticks, thinned so neighbours are at least 1/max_ticks of the axis
    apart (in logit units), keeping the high-recall end."""
    span = float(_logit(hi) - _logit(lo))
    chosen: list[float] = []
    for level in _tick_levels():
        chosen = [p for p in level if lo <= p <= hi]
        if len(chosen) >= 3:
            break
    kept: list[float] = []
    for p in sorted(chosen, reverse=True):
        if not kept or _logit(kept[-1]) - _logit(p) >= span / max_ticks:
            kept.append(p)
    return sorted(kept)


def set_logit_x(ax: Axes, values: pd.Series, clip: tuple[float, float]) -> None:
    """Logit x axis around ``values`` (already clipped), our ticks, no minor labels; a dotted
    line marks where recall = 1 is drawn when some value sits there."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    v = pd.to_numeric(values, errors="coerce").dropna()
    lo_l, hi_l = float(_logit(v.min())) - 0.4, float(_logit(v.max())) + 0.4
    lo, hi = 1 / (1 + math.exp(-lo_l)), 1 / (1 + math.exp(-hi_l))
    ax.set_xscale("logit")
    ax.set_xlim(lo, hi)
    ticks = logit_ticks(lo, hi)
    labels = [_label(t) for t in ticks]
    if (v >= clip[1]).any():  # recall 1 drawn at clip[1]: mark it, drop ticks crowding it
        gap = (hi_l - lo_l) / 8
        keep = [i for i, t in enumerate(ticks) if abs(_logit(t) - _logit(clip[1])) >= gap]
        ticks = [ticks[i] for i in keep] + [clip[1]]
        labels = [labels[i] for i in keep] + ["1"]
        ax.axvline(clip[1], color="0.6", ls=":", lw=0.8)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xticklabels(labels)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plain(v: float, _pos=None) -> str:
    """A tick label as a number people read: 20000, 0.3 (never 2x10^4 or 3x10^-1)."""
    if not np.isfinite(v) or v <= 0:
        return ""
    return f"{v:,.0f}" if v >= 1 else f"{v:.3g}"


def set_log_y(ax: Axes) -> None:
    """A log y axis labelled with plain numbers: decades, and 2 and 5 times them in between
    when a panel spans less than two decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    span = np.log10(hi / lo) if lo > 0 and hi > lo else 3
    subs = (1.0, 2.0, 5.0) if span < 2 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _repeated(rows: pd.DataFrame) -> bool:
    return "n_repeats" in rows and (pd.to_numeric(rows["n_repeats"], errors="coerce") > 1).any()


def _col(rows: pd.DataFrame, name: str) -> pd.Series:
    if name not in rows:
        return pd.Series(np.nan, index=rows.index)
    return pd.to_numeric(rows[name], errors="coerce")


def _xerr(rows: pd.DataFrame, x: pd.Series, clip) -> np.ndarray | None:
    if not _repeated(rows) or "recall_at_k_ci_low" not in rows:
        return None
    low = _col(rows, "recall_at_k_ci_low").clip(*clip)
    high = _col(rows, "recall_at_k_ci_high").clip(*clip)
    return np.vstack([(x - low).clip(lower=0).fillna(0), (high - x).clip(lower=0).fillna(0)])


def _knob_text(row: pd.Series, knobs: tuple[str, ...]) -> str:
    return "/".join(frontier.format_value(row[k]) for k in knobs if not _is_missing(row[k]))


# ----------------------------------------------------------------------------- panels
def _recall_vs_qps(ax: Axes, cs: list[Curve], styles: dict, clip) -> None:
    allx = []
    for c in cs:
        rows = c.rows.sort_values("recall_at_k", kind="stable")
        x = _col(rows, "recall_at_k").clip(*clip)
        y = _col(rows, "qps")
        allx.append(x)
        color, marker = styles[c.label]
        front = frontier.pareto_mask(x, y)
        ax.plot(x[front], y[front], color=color, marker=marker, ms=4, lw=1.2, label=c.label)
        ax.scatter(x[~front], y[~front], facecolors="none", edgecolors=color, marker=marker, s=16)
        if _repeated(rows):
            ax.errorbar(
                x,
                y,
                xerr=_xerr(rows, x, clip),
                yerr=_col(rows, "qps_std").fillna(0),
                fmt="none",
                ecolor=color,
                elinewidth=0.7,
                capsize=2,
            )
        right = float(x.max()) if len(x) else 1.0
        for (_, row), xi, yi in zip(rows.iterrows(), x, y, strict=True):
            text = _knob_text(row, c.knobs)
            if text and np.isfinite(xi) and np.isfinite(yi):
                edge = xi >= right and xi >= clip[1]  # at recall 1: label to the left
                ax.annotate(
                    text,
                    (xi, yi),
                    xytext=(-3, 3) if edge else (3, 3),
                    ha="right" if edge else "left",
                    textcoords="offset points",
                    fontsize=6,
                    color=color,
                )
    set_logit_x(ax, pd.concat(allx), clip)
    set_log_y(ax)
    ax.set_xlabel("recall@k (tie-aware, logit scale)")
    ax.set_ylabel("queries per second")
    ax.grid(True, which="major", alpha=0.3)


def _metric_vs_recall(mt: schema.Metric):
    """A panel drawer of one metric of the metric table against recall: its curve per build,
    its exact-search value dashed (``mt.exact``), its interval as error bars with repeats."""

    def draw_panel(ax: Axes, cs: list[Curve], styles: dict, clip) -> None:
        if not any(mt.name in c.rows and c.rows[mt.name].notna().any() for c in cs):
            why = "no labels" if mt.needs_labels else f"no {mt.name}"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            return
        allx = []
        for c in cs:
            rows = c.rows.sort_values("recall_at_k", kind="stable")
            x = _col(rows, "recall_at_k").clip(*clip)
            y = _col(rows, mt.name)
            allx.append(x)
            color, marker = styles[c.label]
            ax.plot(x, y, color=color, marker=marker, ms=4, lw=0.8, label=c.label)
            exact = _col(rows, mt.exact).dropna() if mt.exact else pd.Series(dtype=float)
            if len(exact):
                ax.axhline(exact.iloc[0], color=color, ls="--", lw=0.8)
            low, high = f"{mt.name}_ci_low", f"{mt.name}_ci_high"
            if _repeated(rows) and low in rows:
                yerr = np.vstack(
                    [
                        (y - _col(rows, low)).clip(lower=0).fillna(0),
                        (_col(rows, high) - y).clip(lower=0).fillna(0),
                    ]
                )
                ax.errorbar(
                    x,
                    y,
                    xerr=_xerr(rows, x, clip),
                    yerr=yerr,
                    fmt="none",
                    ecolor=color,
                    elinewidth=0.7,
                    capsize=2,
                )
        set_logit_x(ax, pd.concat(allx), clip)
        ax.set_xlabel("recall@k (tie-aware, logit scale)")
        ax.set_ylabel(mt.label + (" (dashed: exact neighbours)" if mt.exact else ""))
        ax.grid(True, alpha=0.3)

    return draw_panel


def _build_vs_recall(ax: Axes, cs: list[Curve], styles: dict, clip) -> None:
    allx = []
    for c in cs:
        rows = c.rows
        if "build_s" not in rows or rows["build_s"].isna().all():
            continue
        by = rows["run_id"] if "run_id" in rows else pd.Series(0, index=rows.index)
        best = rows.loc[_col(rows, "recall_at_k").groupby(by).idxmax().dropna()]
        x = _col(best, "recall_at_k").clip(*clip)
        y = _col(best, "build_s")
        allx.append(x)
        color, marker = styles[c.label]
        ax.scatter(x, y, color=color, marker=marker, s=30, label=c.label)
        if "build_s_std" in best and _col(best, "build_s_std").notna().any():
            ax.errorbar(
                x,
                y,
                yerr=_col(best, "build_s_std").fillna(0),
                fmt="none",
                ecolor=color,
                elinewidth=0.7,
                capsize=2,
            )
    if not allx:
        ax.text(0.5, 0.5, "no build times", ha="center", va="center", transform=ax.transAxes)
        return
    set_logit_x(ax, pd.concat(allx), clip)
    set_log_y(ax)
    ax.set_xlabel("best recall@k over the search sweep (logit)")
    ax.set_ylabel("build seconds")
    ax.grid(True, which="major", alpha=0.3)


_DRAW = {
    "recall_vs_qps": _recall_vs_qps,
    **{f"{mt.name}_vs_recall": _metric_vs_recall(mt) for mt in schema.plot_metrics("job")},
    "build_vs_recall": _build_vs_recall,
}
_TITLE = {
    "recall_vs_qps": "QPS vs recall (up-right is better)",
    **{f"{mt.name}_vs_recall": f"{mt.label} vs recall" for mt in schema.plot_metrics("job")},
    "build_vs_recall": "build time vs best recall",
}


def _styles(labels: list[str]) -> dict[str, tuple]:
    """A distinct (colour, marker) per curve label: tab10, then tab20 x markers."""
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors if len(labels) <= 10 else colormaps["tab20"].colors
    markers = "os^Dvx*P"
    return {
        lab: (palette[i % len(palette)], markers[(i // len(palette)) % len(markers)])
        for i, lab in enumerate(labels)
    }


def drawable(df: pd.DataFrame, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds with something to draw: a metric panel whose column no row filled (a table
    older than the metric, or kNN accuracy without labels) is left out."""
    metric_panels = {f"{mt.name}_vs_recall": mt.name for mt in schema.plot_metrics("job")}
    keep = []
    for k in kinds:
        col = metric_panels.get(k)
        if col is None or (col in df and pd.to_numeric(df[col], errors="coerce").notna().any()):
            keep.append(k)
    return tuple(keep) or kinds[:1]


def draw(df: pd.DataFrame, kinds: tuple[str, ...] = KINDS) -> Figure:
    """A figure with one row of panels per dataset and one column per plot kind; each row has
    its legend at its right. Uses matplotlib's object API (no pyplot, no global backend)."""
    from matplotlib.figure import Figure

    frontier.check_table(df)
    df = df.reset_index(drop=True)
    unknown = [k for k in kinds if k not in _DRAW]
    if unknown:
        raise BadInput(f"unknown plot kind {unknown[0]}; valid: {', '.join(_DRAW)}")
    kinds = drawable(df, kinds)
    panels = list(frontier.iter_groups(df, panel_columns(df)))
    vary = frontier.varying(df, panel_columns(df))
    fig = Figure(
        figsize=(PANEL_IN[0] * len(kinds) + LEGEND_IN, PANEL_IN[1] * len(panels)),
        layout="constrained",
    )
    axes = fig.subplots(len(panels), len(kinds), squeeze=False)
    for r, (key, part) in enumerate(panels):
        cs = curves(part)
        styles = _styles([c.label for c in cs])
        clip = clip_bounds(pd.concat([_col(part, "recall_at_k"), _col(part, "recall_at_k_ci_low")]))
        name = f"{key['dataset']} {describe(key, [c for c in vary if c != 'dataset'])}".strip()
        for c, kind in enumerate(kinds):
            ax = axes[r, c]
            _DRAW[kind](ax, cs, styles, clip)
            ax.set_title(f"{name}\n{_TITLE[kind]}", fontsize=9)
            ax.tick_params(labelsize=7)
        handles = [
            axes[r, 0].get_legend_handles_labels(),
            *(axes[r, c].get_legend_handles_labels() for c in range(1, len(kinds))),
        ]
        h, lab = max(handles, key=lambda hl: len(hl[1]))
        if h:
            axes[r, -1].legend(
                h,
                lab,
                loc="upper left",
                bbox_to_anchor=(1.02, 1.0),
                fontsize=7,
                frameon=False,
                title=(
                    f"{name}\nencoder / index [knob] params\n"
                    "numbers: knob values; hollow: not on the curve's\nQPS-recall front "
                    "(another knob is faster and better)"
                ),
                title_fontsize=7,
            )
    return fig


def plot_all(
    tables: list[str], out: str, where: list[str] | None = None, target: float = 0.95
) -> list[Path]:
    """Write overview.png and one PNG per kind for the (filtered) tables' job rows into ``out``
    (checked first; each file atomic, through symlinks: :func:`lookup.io.atomic_path`),
    memory_front.png when they hold codes, runbook.png for runbook rows and filters.png for
    filter rows (``target``: its recall target)."""
    folder = check_output_dir("--out", out)
    table = frontier.apply_where(read_tables(tables), where)
    kinds = frontier.kinds_of(table)
    paths: list[Path] = []

    def save(name: str, fig) -> None:
        paths.append(folder / name)
        with atomic_path(paths[-1], suffix=".png", key="--out") as tmp:
            fig.savefig(tmp, dpi=110)

    runbooks = frontier.rows_of_kind(table, "runbook")[0]
    if not runbooks.empty:
        from bench.plot_runbook import draw_runbooks

        save("runbook.png", draw_runbooks(runbooks))
    if (kinds == "filter").any():
        from bench.plot_filters import draw_filters

        save("filters.png", draw_filters(table, target))
    if paths and not (kinds == "job").any():
        return paths  # a table of other kinds only
    df = job_rows(table, "bench.plot")
    for name, panels in [("overview", KINDS), *((k, (k,)) for k in drawable(df, KINDS))]:
        save(f"{name}.png", draw(df, panels))
    from bench.plot_codes import draw_memory_front, has_codes

    if has_codes(df):
        save("memory_front.png", draw_memory_front(df))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plot", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "tables",
        nargs="*",
        default=[default_table()],
        help="result CSVs (default: the results table)",
    )
    parser.add_argument("--out", default="outputs/figures", help="folder for the PNGs")
    add_where_argument(parser)
    parser.add_argument(
        "--target-recall",
        type=float,
        default=0.95,
        help="filters.png: the recall target of its QPS panels",
    )
    args = parser.parse_args(argv)
    try:
        if not 0 < args.target_recall <= 1:
            raise BadInput(f"--target-recall {args.target_recall} is invalid; valid: (0, 1]")
        paths = plot_all(args.tables, args.out, args.where, args.target_recall)
    except Exception as exc:  # noqa: BLE001 - bad input: one line, exit 2; a bug: raised
        return bad_input_code(exc)
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
