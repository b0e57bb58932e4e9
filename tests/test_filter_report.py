"""Filter rows in the readers: the crossover on hand-made tables, bench.plot's filters.png on
mixed tables (job figures still drawn, filter rows said to be left out of them), bench.report's
crossover section with and without job rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import plot
from bench.plot_filters import draw_filters
from bench.report import Targets, write_report
from lookup import crossover, frontier

SHARES = [0.001, 0.01, 0.1, 1.0]
# QPS at recall >= 0.95: exact falls with the share, the index rises; they cross between
# 0.01 and 0.1 (ratio index/exact 0.5 there -> 2.0 at 0.1)
EXACT = [100_000, 10_000, 1_000, 100]
INDEX = [50, 5_000, 2_000, 40_000]


def _rows(kind: str = "selectivity", repeats: int = 1, spread: float = 0.0, **common) -> list:
    base = dict(
        schema_version=3,
        row_kind="filter",
        dataset="names",
        encoder="rnn02",
        index="hnswlib",
        k=10,
        metric="cosine",
        mode="single",
        threads=1,
        n_db=30000,
        filter_kind=kind,
        n_repeats=repeats,
        run_id="r1",
        config_id="c1",
    )
    base.update(common)
    out = []
    for s, ex, ix in zip(SHARES, EXACT, INDEX, strict=True):
        point = dict(base, filter_selectivity=s, filter_selectivity_achieved=s)
        out.append(dict(point, filter_strategy="exact", recall_at_k=1.0, qps=ex,
                        qps_min=ex * (1 - spread), qps_max=ex * (1 + spread)))  # fmt: skip
        for ef, recall, qps in ((10, 0.9, 3 * ix), (40, 0.97, ix)):  # only ef=40 reaches 0.95
            out.append(dict(point, filter_strategy="in_search", search_ef=ef,
                            recall_at_k=recall, recall_at_k_ci_low=recall, qps=qps,
                            qps_min=qps * (1 - spread), qps_max=qps * (1 + spread)))  # fmt: skip
    return out


def test_bracket_and_interpolation() -> None:
    b = crossover.bracket(SHARES, INDEX, EXACT)
    assert b["status"] == "crossover" and b["n_flips"] == 1
    assert b["exact_wins_below"] == 0.01 and b["index_wins_from"] == 0.1
    # log ratio -log2 at 0.01, +log2 at 0.1: the geometric middle
    assert b["crossover"] == pytest.approx(math.sqrt(0.01 * 0.1))
    assert crossover.bracket(SHARES, [1e9] * 4, EXACT)["status"] == "index wins everywhere"
    everywhere = crossover.bracket(SHARES, [np.nan] * 4, EXACT)
    assert everywhere["status"] == "exact wins everywhere"
    assert everywhere["exact_wins_below"] == 1.0 and math.isnan(everywhere["index_wins_from"])
    flips = crossover.bracket(SHARES, [1e9, 1, 1e9, 1e9], EXACT)
    assert flips["n_flips"] == 2 and flips["exact_wins_below"] == 0.01


def test_crossover_of_a_table_with_its_interval_from_repeats() -> None:
    one = crossover.crossovers(pd.DataFrame(_rows()), [0.95])
    rec = one[one["strategy"] == "in_search"].iloc[0]
    assert rec["crossover"] == pytest.approx(math.sqrt(0.001))
    assert (rec["crossover_low"], rec["crossover_high"]) == (0.01, 0.1)
    assert set(one["strategy"]) == {"in_search", "best"}
    # with a 60% spread over repeats, the index's slowest build loses at 0.1 (800 < 1600)
    wide = crossover.crossovers(pd.DataFrame(_rows(repeats=3, spread=0.6)), [0.95])
    rec = wide[wide["strategy"] == "in_search"].iloc[0]
    assert rec["n_repeats"] == 3 and rec["crossover_high"] == 1.0
    assert rec["crossover_low"] == 0.001  # the index's fastest build wins at 0.01 (8000 > 4000)
    # an unreachable target: exact wins everywhere
    none = crossover.crossovers(pd.DataFrame(_rows()), [0.99])
    assert set(none["status"]) == {"exact wins everywhere"}


def test_own_label_points_are_its_bins_not_the_all_row() -> None:
    rows = _rows("own_label")
    for r in rows:
        r["query_group"] = f"bin{r['filter_selectivity']}"
        r["filter_selectivity"] = np.nan
    rows += [dict(rows[0], query_group="all", qps=1.0)]
    pts = crossover.point_rows(pd.DataFrame(rows))
    assert "all" not in set(pts["_point"]) and len(set(pts["_point"])) == 4
    got = crossover.crossovers(pd.DataFrame(rows), [0.95])
    assert got.iloc[0]["filter_kind"] == "own_label" and got.iloc[0]["status"] == "crossover"


def _job_rows() -> list[dict]:
    return [
        dict(
            schema_version=3,
            row_kind="job",
            dataset="names",
            encoder="rnn02",
            index="hnswlib",
            k=10,
            metric="cosine",
            mode="single",
            threads=1,
            n_db=30000,
            search_ef=ef,
            recall_at_k=r,
            qps=q,
            run_id="j",
            config_id="j",
        )  # fmt: skip
        for ef, r, q in ((10, 0.9, 9000), (40, 0.99, 4000))
    ]


def test_plot_draws_filters_png_and_job_figures_on_a_mixed_table(tmp_path, capsys) -> None:
    table = tmp_path / "mixed.csv"
    pd.DataFrame(_job_rows() + _rows()).to_csv(table, index=False)
    paths = plot.plot_all([str(table)], str(tmp_path / "fig"))
    assert {p.name for p in paths} >= {"overview.png", "recall_vs_qps.png", "filters.png"}
    err = capsys.readouterr().err
    assert "left out 12 filter rows (bench.plot draws them in filters.png" in err
    only = tmp_path / "filters_only.csv"
    pd.DataFrame(_rows()).to_csv(only, index=False)
    assert [p.name for p in plot.plot_all([str(only)], str(tmp_path / "fig2"))] == ["filters.png"]


def test_the_filter_figure_has_log_selectivity_axes() -> None:
    fig = draw_filters(pd.DataFrame(_rows() + _rows("own_label", query_group="0.001-0.003")))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4  # two kinds x (QPS, recall)
    assert all(ax.get_xscale() == "log" for ax in axes)
    qps = axes[0]
    assert qps.get_yscale() == "log" and "QPS at recall >= 0.95" in qps.get_ylabel()
    crossing = [ln for ln in qps.get_lines() if ln.get_linestyle() == ":"]
    assert len(crossing) == 1 and crossing[0].get_xdata()[0] == pytest.approx(math.sqrt(0.001))


def test_report_names_the_crossover_with_and_without_job_rows(tmp_path, capsys) -> None:
    for name, rows in (("filters", _rows()), ("mixed", _job_rows() + _rows())):
        table = tmp_path / f"{name}.csv"
        pd.DataFrame(rows).to_csv(table, index=False)
        out = tmp_path / f"out_{name}"
        paths, text = write_report([str(table)], out, None, Targets((0.95,)))
        assert (out / "crossovers.csv").is_file() and (out / "figures" / "filters.png").is_file()
        assert "crossovers (exact over the filtered subset vs the index):" in text
        md = (out / "report.md").read_text()
        assert "where exact search over the subset wins" in md and "0.0316" in md
        assert ("operating points:" in text) == (name == "mixed")
    cross = pd.read_csv(tmp_path / "out_mixed" / "crossovers.csv")
    assert set(cross["strategy"]) == {"in_search", "best"}


def test_rows_of_kind_filter_and_the_readers_line() -> None:
    df = pd.DataFrame(_job_rows() + _rows())
    rows, left = frontier.rows_of_kind(df, "job")
    assert len(rows) == 2 and left == {"filter rows": 12}
    line = frontier.left_out_lines(left)[0]
    assert line.startswith("12 filter rows (bench.plot draws them in filters.png")


@pytest.fixture(autouse=True)
def _no_display(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield


def test_table_files_are_not_touched(tmp_path: Path) -> None:
    table = tmp_path / "f.csv"
    pd.DataFrame(_rows()).to_csv(table, index=False)
    before = table.read_bytes()
    write_report([str(table)], tmp_path / "o", None, Targets((0.9, 0.95)))
    assert table.read_bytes() == before
