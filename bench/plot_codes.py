"""The memory front: bytes per vector against kNN accuracy and against recall versus float32
exact search, one curve per encoder, one row of panels per dataset.

Each point is one code (``encoder.output`` x ``encoder.truncate_dim``) at its most accurate
measured configuration (:func:`lookup.frontier.memory_front`); the dashed line is kNN accuracy
of float32 exact search, the grey band one point below it (the tolerance the report uses to
name the smallest code). Drawn by ``bench.plot`` when the table holds more than one code.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lookup import frontier

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANEL_IN = (4.6, 3.6)


def has_codes(df: pd.DataFrame) -> bool:
    """Whether the rows hold more than one code (or any code other than float32)."""
    if "encoder_output" not in df:
        return False
    codes = df[list(c for c in frontier.CODE_COLUMNS if c in df)].astype(str).drop_duplicates()
    return len(codes) > 1 or (df["encoder_output"].dropna() != "float32").any()


def code_label(row: pd.Series) -> str:
    """'int8', 'binary/256' (truncated to 256 dimensions)."""
    width = row.get("encoder_truncate_dim")
    cut = (
        ""
        if width is None or (isinstance(width, float) and math.isnan(width))
        else f"/{int(width)}"
    )
    return f"{row['encoder_output']}{cut}"


def draw_memory_front(df: pd.DataFrame) -> Figure:
    """Two panels per dataset: kNN accuracy and recall vs float32 against bytes per vector."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    front = frontier.memory_front(df)
    datasets = list(dict.fromkeys(front["dataset"]))
    fig = Figure(figsize=(PANEL_IN[0] * 2 + 2.6, PANEL_IN[1] * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    palette = colormaps["tab10"].colors
    for r, name in enumerate(datasets):
        part = front[front["dataset"] == name]
        for i, (enc, rows) in enumerate(part.groupby("encoder", sort=True)):
            rows = rows.sort_values("bytes_per_vector")
            color = palette[i % len(palette)]
            x = rows["bytes_per_vector"].astype(float)
            for ax, col in zip(axes[r], ("knn_acc", "ref_recall"), strict=True):
                y = rows[col].astype(float)
                ax.plot(x, y, marker="o", ms=4, lw=1, color=color, label=str(enc))
                for (_, row), xi, yi in zip(rows.iterrows(), x, y, strict=True):
                    if np.isfinite(yi):
                        ax.annotate(
                            code_label(row),
                            (xi, yi),
                            xytext=(3, 3),
                            fontsize=6,
                            textcoords="offset points",
                            color=color,
                        )
            if rows["knn_acc_ci_low"].notna().any():
                axes[r, 0].errorbar(
                    x,
                    rows["knn_acc"].astype(float),
                    yerr=np.vstack(
                        [
                            (rows["knn_acc"] - rows["knn_acc_ci_low"]).clip(lower=0).fillna(0),
                            (rows["knn_acc_ci_high"] - rows["knn_acc"]).clip(lower=0).fillna(0),
                        ]
                    ),
                    fmt="none",
                    ecolor=color,
                    elinewidth=0.7,
                    capsize=2,
                )
            exact = rows["ref_knn_exact"].dropna()
            if len(exact):
                f32 = float(exact.iloc[0])
                axes[r, 0].axhline(f32, color=color, ls="--", lw=0.8)
                axes[r, 0].axhspan(f32 - frontier.KNN_TOLERANCE, f32, color=color, alpha=0.08)
        for ax, what in zip(axes[r], ("kNN accuracy", "recall@k vs float32 exact"), strict=True):
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_xlabel("bytes per vector (log scale)")
            ax.set_ylabel(what)
            ax.set_title(f"{name}: {what} per code", fontsize=9)
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=7)
        axes[r, 1].legend(
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=7,
            frameon=False,
            title="encoder (dashed: float32 exact)",
            title_fontsize=7,
        )
    return fig
