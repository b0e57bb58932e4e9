"""bench.plot on hand-made tables: curve splitting, labels, logit ticks, error bars, filters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import plot

REPO = Path(__file__).resolve().parents[1]


def _sweep(**common) -> list[dict]:
    base = dict(
        schema_version=2,
        dataset="surnames",
        encoder="rnn01",
        index="hnswlib",
        k=10,
        metric="cosine",
        mode="single",
        threads=1,
        n_db=1000,
        build_M=16,
        build_s=1.0,
        knn_acc_exact=0.7,
        run_id="r",
    )
    base.update(common)
    return [
        {**base, "search_ef": ef, "recall_at_k": r, "qps": q, "knn_acc": 0.69}
        for ef, r, q in [(10, 0.995, 3000), (20, 0.999, 2000), (40, 0.9999, 1000)]
    ]


def _pooling_table() -> pd.DataFrame:
    rows = _sweep(encoder_pooling="last", run_id="a", build_s=1.1)
    rows += _sweep(encoder_pooling="gather", run_id="b", build_s=1.3)
    return pd.DataFrame(rows)


def _labelled_lines(ax) -> list:
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def test_pooling_sweep_makes_two_labelled_curves() -> None:
    fig = plot.draw(_pooling_table(), ("recall_vs_qps",))
    ax = fig.axes[0]
    labels = sorted(ln.get_label() for ln in _labelled_lines(ax))
    assert labels == ["rnn01 / hnswlib [ef] pooling=gather", "rnn01 / hnswlib [ef] pooling=last"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == labels
    # every point carries its knob value
    assert sorted(t.get_text() for t in ax.texts) == sorted(["10", "20", "40"] * 2)


def test_measurements_do_not_split_curves() -> None:
    rows = _sweep(run_id="a")
    rows[1]["build_s"] = 2.0  # a measurement differs, not a parameter
    rows[2]["build_peak_rss"] = 5
    cs = plot.curves(pd.DataFrame(rows))
    assert [c.label for c in cs] == ["rnn01 / hnswlib [ef]"]


def test_build_and_dataset_params_split_and_name_curves() -> None:
    rows = _sweep(build_M=16, build_ef_construction=200, run_id="a")
    rows += _sweep(build_M=32, build_ef_construction=200, run_id="b")
    rows += _sweep(index="annoy", build_M=np.nan, build_trees=50, run_id="c")
    labels = [c.label for c in plot.curves(pd.DataFrame(rows))]
    assert labels == [
        "rnn01 / annoy [ef]",  # one annoy build: nothing to tell apart
        "rnn01 / hnswlib [ef] M=16",
        "rnn01 / hnswlib [ef] M=32",
    ]
    # a different dataset sample is a different panel row
    more = pd.DataFrame(rows + _sweep(dataset_limit=2000, n_db=1600, run_id="d"))
    fig = plot.draw(more, ("recall_vs_qps",))
    assert len(fig.axes) == 2


@pytest.mark.parametrize("lo,hi", [(0.995, 0.9999), (0.5, 0.99999), (0.99990, 0.99999), (0.1, 0.9)])
def test_logit_ticks_are_readable(lo: float, hi: float) -> None:
    ticks = plot.logit_ticks(lo, hi)
    assert 2 <= len(ticks) <= 6
    assert all(lo <= t <= hi for t in ticks)
    labels = [plot._label(t) for t in ticks]
    assert len(set(labels)) == len(labels)
    gaps = np.diff(plot._logit(ticks))
    assert (gaps >= (plot._logit(hi) - plot._logit(lo)) / 6 - 1e-9).all()


def test_tick_labels_do_not_overlap_when_drawn() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot.draw(_pooling_table())
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes:
        boxes = [
            t.get_window_extent(renderer)
            for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
            if t.get_visible() and t.get_text()
        ]
        assert boxes, "no x tick labels"
        boxes.sort(key=lambda b: b.x0)
        for a, b in zip(boxes, boxes[1:], strict=False):
            assert a.x1 <= b.x0, [t.get_text() for t in ax.get_xticklabels()]


def test_error_bars_when_repeated() -> None:
    from matplotlib.container import ErrorbarContainer

    df = _pooling_table()
    assert not any(isinstance(c, ErrorbarContainer) for c in plot.draw(df).axes[0].containers)
    df = df.assign(
        n_repeats=3,
        recall_at_k_ci_low=df.recall_at_k - 0.0005,
        recall_at_k_ci_high=(df.recall_at_k + 0.00005).clip(upper=1),
        qps_std=50.0,
    )
    ax = plot.draw(df, ("recall_vs_qps",)).axes[0]
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 2


def test_where_and_bad_input(tmp_path: Path, capsys) -> None:
    table = tmp_path / "runs.csv"
    _pooling_table().to_csv(table, index=False)
    out = tmp_path / "fig"
    assert plot.main([str(table), "--where", "encoder_pooling=gather", "--out", str(out)]) == 0
    for name in ("overview", "recall_vs_qps", "knn_acc_vs_recall", "build_vs_recall"):
        assert (out / f"{name}.png").stat().st_size > 10_000
    capsys.readouterr()
    assert plot.main([str(table), "--where", "encoder_pooling=mean", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no rows match")


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, bench.plot, bench.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
