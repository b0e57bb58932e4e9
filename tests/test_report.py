"""Operating points, frontiers and the report on hand-made tables (no run, no network)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.report import Targets, parse_targets, write_report
from bench.report import main as report_main
from lookup import frontier

REPO = Path(__file__).resolve().parents[1]


def _table(points: list[dict], **common) -> pd.DataFrame:
    """Rows of one group (names / rnn02 / hnswlib) unless a point says otherwise."""
    base = dict(
        schema_version=2,
        dataset="names",
        encoder="rnn02",
        index="hnswlib",
        k=10,
        metric="cosine",
        mode="single",
        threads=1,
        n_db=1000,
        build_M=16,
        build_s=1.0,
        index_bytes=1000,
        latency_p50_ms=0.1,
        latency_p99_ms=0.2,
        run_id="r1",
    )
    base.update(common)
    return pd.DataFrame([{**base, **p} for p in points])


def test_highest_qps_reaching_the_target() -> None:
    df = _table(
        [
            dict(search_ef=10, recall_at_k=0.90, qps=1000),
            dict(search_ef=20, recall_at_k=0.96, qps=800),
            dict(search_ef=40, recall_at_k=0.99, qps=500),
        ]
    )
    row, best = frontier.operating_point(df, 0.95)
    assert row["search_ef"] == 20 and best == pytest.approx(0.99)
    row, _ = frontier.operating_point(df, 0.96)  # reaching includes equality
    assert row["search_ef"] == 20


def test_ties_are_broken_deterministically() -> None:
    df = _table(
        [
            dict(search_ef=10, recall_at_k=0.96, qps=800, latency_p99_ms=0.3),
            dict(search_ef=20, recall_at_k=0.97, qps=800, latency_p99_ms=0.3),  # higher recall
            dict(search_ef=30, recall_at_k=0.97, qps=800, latency_p99_ms=0.2),  # + lower p99
            dict(search_ef=40, recall_at_k=0.97, qps=800, latency_p99_ms=0.2),  # same: later
        ]
    )
    row, _ = frontier.operating_point(df, 0.95)
    assert row["search_ef"] == 30
    assert frontier.operating_point(df.iloc[::-1], 0.95)[0]["search_ef"] == 40  # table order


def test_no_point_reaching_the_target_is_reported() -> None:
    df = _table([dict(search_ef=e, recall_at_k=r, qps=q) for e, r, q in [(1, 0.7, 9), (2, 0.8, 5)]])
    row, best = frontier.operating_point(df, 0.9)
    assert row is None and best == pytest.approx(0.8)
    ops = frontier.operating_points(df, [0.75, 0.9])
    assert list(ops["status"]) == ["ok", "unreached"]
    unreached = ops[ops["status"] == "unreached"].iloc[0]
    assert unreached["best"] == pytest.approx(0.8) and pd.isna(unreached.get("qps"))


def test_ci_lower_bound_decides_when_repeated() -> None:
    points = [
        dict(search_ef=10, recall_at_k=0.96, recall_at_k_ci_low=0.94, qps=1000),
        dict(search_ef=20, recall_at_k=0.97, recall_at_k_ci_low=0.955, qps=500),
    ]
    once = _table(points, n_repeats=1)
    assert frontier.operating_point(once, 0.95)[0]["search_ef"] == 10
    repeated = _table(points, n_repeats=3)
    assert frontier.operating_point(repeated, 0.95)[0]["search_ef"] == 20
    # the `repeats` setting is used when n_repeats is absent
    assert frontier.operating_point(_table(points, repeats=5), 0.95)[0]["search_ef"] == 20
    # no lower bound recorded: the recall itself
    no_ci = repeated.assign(recall_at_k_ci_low=np.nan)
    assert frontier.operating_point(no_ci, 0.95)[0]["search_ef"] == 10


def test_knn_target_is_relative_to_exact_accuracy() -> None:
    df = _table(
        [
            dict(search_ef=10, recall_at_k=0.9, knn_acc=0.70, qps=1000),
            dict(search_ef=20, recall_at_k=0.99, knn_acc=0.715, qps=500),
        ],
        knn_acc_exact=0.72,
    )
    ops = frontier.operating_points(df, [], [0.97, 0.99, 0.999])
    assert list(ops["status"]) == ["ok", "ok", "unreached"]
    assert list(ops["search_ef"][:2]) == [10, 20]
    assert ops["score"].iloc[0] == pytest.approx(0.70 / 0.72)
    no_labels = frontier.operating_points(df.drop(columns=["knn_acc", "knn_acc_exact"]), [], [0.9])
    assert list(no_labels["status"]) == ["no labels"]


def test_groups_split_by_encoder_params_not_build_params() -> None:
    df = pd.concat(
        [
            _table([dict(search_ef=10, recall_at_k=0.99, qps=100)], encoder_pooling="last"),
            _table([dict(search_ef=10, recall_at_k=0.99, qps=200)], encoder_pooling="gather"),
            _table(
                [dict(search_ef=10, recall_at_k=0.99, qps=300)],
                encoder_pooling="gather",
                build_M=32,
                build_s=2.0,
                run_id="r2",
            ),
        ]
    )
    ops = frontier.operating_points(df, [0.95])
    assert len(ops) == 2  # two poolings; M=16 and M=32 compete inside one group
    gather = ops[ops["encoder_pooling"] == "gather"].iloc[0]
    assert gather["build_M"] == 32 and gather["qps"] == 300


def test_encoder_fit_metrics_and_v1_metrics_are_not_parameters() -> None:
    df = _table([dict(recall_at_k=0.9, qps=1)], encoder_fit_heldout_accuracy=0.5)
    assert frontier.encoder_param_columns(df) == []
    v1 = _table([dict(recall_at_k=0.9, qps=1)], schema_version=1, encoder_train_seconds=3.0)
    assert frontier.encoder_param_columns(v1) == []
    assert "build_s" not in frontier.build_param_columns(df)


def test_pareto_mask() -> None:
    r = [0.9, 0.95, 0.95, 0.99, 0.8, 0.95]
    q = [100, 80, 90, 10, 50, 90]
    assert list(frontier.pareto_mask(r, q)) == [True, False, True, True, False, True]
    assert not frontier.pareto_mask([np.nan], [1.0])[0]


def test_where_filters() -> None:
    df = _table([dict(recall_at_k=0.9, qps=1), dict(recall_at_k=0.9, qps=2, build_M=32)])
    assert list(frontier.apply_where(df, ["build_M=32"])["qps"]) == [2]
    assert len(frontier.apply_where(df, ["build_M=32", "build_M=16"])) == 2
    with pytest.raises(ValueError, match="no column"):
        frontier.apply_where(df, ["nope=1"])
    with pytest.raises(ValueError, match="no rows match"):
        frontier.apply_where(df, ["dataset=other"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        frontier.apply_where(df, ["dataset"])


def test_which_encoder_end_to_end() -> None:
    df = pd.concat(
        [
            _table(
                [dict(recall_at_k=0.99, qps=1000, latency_p50_ms=0.5)],
                encoder="a",
                encode_queries_items_per_s=2000.0,
            ),
            _table(
                [dict(recall_at_k=0.99, qps=3000, latency_p50_ms=0.1)],
                encoder="a",
                index="annoy",
                encode_queries_items_per_s=2000.0,
            ),
            _table([dict(recall_at_k=0.5, qps=9000)], encoder="b"),
        ]
    )
    enc = frontier.which_encoder(df, 0.95).set_index("encoder")
    assert enc.loc["a", "index"] == "annoy"
    assert enc.loc["a", "end_to_end_ms"] == pytest.approx(1000 / 2000 + 0.1)
    assert enc.loc["b", "status"] == "unreached"


def test_parse_targets() -> None:
    assert parse_targets("0.99,0.9", "--target-recall") == [0.9, 0.99]
    for bad in ("0", "1.5", "abc", "0.9,,0.95"):
        with pytest.raises(ValueError, match="--target-recall"):
            parse_targets(bad, "--target-recall")


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def _sweep() -> pd.DataFrame:
    parts = []
    for enc, pooling, shift in (("rnn01", "last", 0.0), ("rnn01", "gather", 0.01)):
        for index, knob, values in (
            ("hnswlib", "search_ef", [10, 20, 40]),
            ("annoy", "search_search_k", [100, 1000, 5000]),
        ):
            parts.append(
                _table(
                    [
                        {
                            knob: v,
                            "recall_at_k": r + shift,
                            "qps": q,
                            "knn_acc": 0.7,
                            "hit_at_k": 0.9,
                        }
                        for v, r, q in zip(
                            values, [0.9, 0.97, 0.995], [3000, 2000, 1000], strict=True
                        )
                    ],
                    encoder=enc,
                    encoder_pooling=pooling,
                    index=index,
                    knn_acc_exact=0.71,
                    encode_queries_items_per_s=5e4,
                    run_id=f"{enc}{pooling}{index}",
                )
            )
    return pd.concat(parts, ignore_index=True)


def test_html_is_self_contained(tmp_path: Path) -> None:
    table = _write(_sweep(), tmp_path / "runs.csv")
    paths, _ = write_report([str(table)], tmp_path / "out", None, Targets((0.95, 0.999), (0.99,)))
    names = {p.name for p in paths}
    assert {"report.html", "report.md", "operating_points.csv", "which_encoder.csv"} <= names
    page = (tmp_path / "out" / "report.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?//""", page)
    assert not re.search(r"<script[^>]+src", page) and "<link" not in page
    assert page.count("data:image/png;base64,") >= 1
    assert '<table class="sortable">' in page and "none reaches 0.999" in page
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Which encoder" in md and "| gather |" in md


def test_report_on_the_repository_tables_v1_and_v2_together() -> None:
    """results/sentences_runs.csv is schema 1, results/demo_runs.csv schema 2: one report."""
    tables = [REPO / "results" / "demo_runs.csv", REPO / "results" / "sentences_runs.csv"]
    if not all(t.is_file() for t in tables):
        pytest.skip("results tables not in this checkout")
    df = pd.concat([pd.read_csv(t) for t in tables], ignore_index=True)
    ops = frontier.operating_points(df, [0.9, 0.999])
    assert set(ops["dataset"]) == {"names", "surnames", "coco_captions"}
    assert (ops[ops["target"] == 0.9]["status"] == "ok").all()
    missed = ops[ops["status"] == "unreached"]
    assert len(missed) > 0 and (missed["target"] == 0.999).all()
    for _, row in missed.iterrows():  # the best recall seen is reported, never dropped
        group = df[(df["dataset"] == row["dataset"]) & (df["index"] == row["index"])]
        assert row["best"] <= group["recall_at_k"].max() and row["best"] < 0.999


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "header only", "foreign", "bad where", "unknown column", "bad target"],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys, case: str) -> None:
    good = _write(_sweep(), tmp_path / "runs.csv")
    args = {
        "missing": [str(tmp_path / "nope.csv")],
        "empty": [str(_write(pd.DataFrame(), tmp_path / "e.csv"))],
        "header only": [str(_write(_sweep().iloc[0:0], tmp_path / "h.csv"))],
        "foreign": [str(_write(pd.DataFrame({"a": [1]}), tmp_path / "f.csv"))],
        "bad where": [str(good), "--where", "dataset"],
        "unknown column": [str(good), "--where", "nope=1"],
        "bad target": [str(good), "--target-recall", "0.9,2"],
    }[case]
    code = report_main([*args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    assert not (tmp_path / "out" / "report.html").exists()


@pytest.mark.parametrize("kind", ["file", "fifo", "under a file"])
def test_out_that_is_not_a_folder_is_one_line(tmp_path: Path, capsys, kind: str) -> None:
    """--out naming a file was a NotADirectoryError traceback (after reading the tables)."""
    good = _write(_sweep(), tmp_path / "runs.csv")
    thing = tmp_path / "thing"
    if kind == "fifo":
        os.mkfifo(thing)
    else:
        thing.write_text("keep me\n")
    out = thing / "sub" if kind == "under a file" else thing
    code = report_main([str(good), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --out="), err
    assert str(thing) in err[0] and ("FIFO" in err[0] if kind == "fifo" else "file" in err[0])
    if kind != "fifo":
        assert thing.read_text() == "keep me\n"


def test_report_files_are_written_through_symlinks(tmp_path: Path) -> None:
    table = _write(_sweep(), tmp_path / "runs.csv")
    (tmp_path / "out").mkdir()
    (tmp_path / "kept.md").write_text("old\n")
    (tmp_path / "out" / "report.md").symlink_to(tmp_path / "kept.md")
    write_report([str(table)], tmp_path / "out", None, Targets((0.95,)))
    assert (tmp_path / "out" / "report.md").is_symlink()
    assert (tmp_path / "kept.md").read_text().startswith("# Benchmark report")
