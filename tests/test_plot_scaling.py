"""bench.plot_scaling on a hand-made table: operating points per size, crossover found or not."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench import plot_scaling

SIZES = (10_000, 30_000, 100_000)


def _rows(index: str, n_db: int, points: list[tuple], **extra) -> list[dict]:
    base = dict(
        schema_version=2,
        dataset="names",
        encoder="rnn02",
        index=index,
        k=10,
        metric="cosine",
        mode="single",
        threads=1,
        n_db=n_db,
        dataset_limit=n_db + 100,
        build_s=n_db / 1e4,
        index_bytes=n_db * 300,
        run_id=f"{index}-{n_db}",
        **extra,
    )
    return [{**base, "search_ef": ef, "recall_at_k": r, "qps": q} for ef, r, q in points]


def _table(hnsw_qps: dict[int, float], with_exact: bool = True) -> pd.DataFrame:
    rows = []
    for n in SIZES:
        if with_exact:
            rows += _rows("exact", n, [(math.nan, 1.0, 1e8 / n)])  # 10k: 10000 qps, 100k: 1000
        # below the target the index is very fast: that point must never be chosen
        rows += _rows("hnswlib", n, [(10, 0.90, 1e6), (40, 0.96, hnsw_qps[n]), (80, 0.99, 10.0)])
    return pd.DataFrame(rows)


def test_crossover_is_the_smallest_size_where_the_index_beats_exact():
    table = plot_scaling.scaling_table(_table({10_000: 5000, 30_000: 4000, 100_000: 3000}), 0.95)
    hnsw = table[table["index"] == "hnswlib"].set_index("n_db")
    assert hnsw["qps_at_target"].tolist() == [5000, 4000, 3000]  # ef=40 rows, not ef=10
    assert hnsw["knobs"].tolist() == ["ef=40"] * 3
    assert hnsw.loc[30_000, "build_s"] == 3.0 and hnsw.loc[30_000, "index_bytes"] == 9e6
    exact = table[table["index"] == "exact"]
    assert exact["qps_at_target"].tolist() == pytest.approx([10000, 1e8 / 3e4, 1000])

    cross = plot_scaling.crossovers(table).set_index("index")
    # 10k: 5000 < 10000; 30k: 4000 > 3333 -> crossover at 30k, and it keeps winning at 100k
    assert cross.loc["hnswlib", "crossover_n_db"] == 30_000
    assert cross.loc["hnswlib", "status"] == "ok"
    assert bool(cross.loc["hnswlib", "wins_above"]) is True


def test_no_crossover_is_reported_as_none():
    table = plot_scaling.scaling_table(_table({10_000: 100, 30_000: 100, 100_000: 100}), 0.95)
    cross = plot_scaling.crossovers(table).set_index("index")
    assert cross.loc["hnswlib", "status"] == "none"
    assert math.isnan(cross.loc["hnswlib", "crossover_n_db"])


def test_winning_at_the_smallest_size_is_below_range_and_unreached_target_is_kept():
    df = _table({10_000: 20000, 30_000: 20000, 100_000: 20000})
    df = df[~((df["index"] == "hnswlib") & (df["n_db"] == 100_000) & (df["recall_at_k"] > 0.95))]
    table = plot_scaling.scaling_table(df, 0.95)
    last = table[(table["index"] == "hnswlib") & (table["n_db"] == 100_000)].iloc[0]
    assert last["status"] == "unreached" and last["best_recall"] == pytest.approx(0.90)
    assert math.isnan(last["qps_at_target"]) and last["build_s"] == 10.0  # cost still drawn
    cross = plot_scaling.crossovers(table).set_index("index")
    assert cross.loc["hnswlib", "status"] == "below range"
    assert cross.loc["hnswlib", "crossover_n_db"] == 10_000
    assert cross.loc["hnswlib", "sizes_compared"] == 2


def test_faiss_flat_is_a_baseline_not_an_ann_index():
    df = _table({10_000: 5000, 30_000: 4000, 100_000: 3000})
    flat = df[df["index"] == "exact"].assign(index="faiss_flat", qps=lambda d: d["qps"] * 10)
    table = plot_scaling.scaling_table(pd.concat([df, flat]), 0.95)
    vs_exact = plot_scaling.crossovers(table)
    assert vs_exact["index"].tolist() == ["hnswlib"]
    assert vs_exact["crossover_n_db"].tolist() == [30_000]
    vs_flat = plot_scaling.crossovers(table, "faiss_flat").set_index("index")
    # faiss_flat: 100000, 33333, 10000 QPS -> hnswlib (5000, 4000, 3000) never beats it
    assert vs_flat.loc["hnswlib", "status"] == "none"
    assert vs_flat.loc["hnswlib", "baseline"] == "faiss_flat"


def test_no_exact_rows_and_mixed_series(tmp_path):
    table = plot_scaling.scaling_table(_table({n: 1.0 for n in SIZES}, with_exact=False), 0.95)
    assert plot_scaling.crossovers(table)["status"].tolist() == ["no exact"]
    mixed = pd.concat(
        [_table({n: 1.0 for n in SIZES}), _table({n: 1.0 for n in SIZES}).assign(k=5)]
    )
    with pytest.raises(ValueError, match="several scaling series.*k"):
        plot_scaling.scaling_table(mixed, 0.95)


def test_cli_writes_png_and_prints_crossover(tmp_path, capsys):
    path = tmp_path / "t.csv"
    _table({10_000: 5000, 30_000: 4000, 100_000: 3000}).to_csv(path, index=False)
    assert plot_scaling.main([str(path), "--out", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert "crossover_n_db" in out and "30000" in out
    assert (tmp_path / "fig" / "scaling.png").stat().st_size > 0
    assert plot_scaling.main([str(tmp_path / "missing.csv")]) == 2
