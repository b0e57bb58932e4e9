"""Filtered lookups: recall against min(k, passing) on hand-made arrays, filters from labels,
every strategy against the exact filtered truth on tiny data, and one line for each bad
filter setting with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.__main__ import job as bench_job
from bench.cli import compose_and_run
from lookup import filters as F
from lookup import metrics, schema
from lookup.errors import BadInput
from lookup.filter_run import measure
from lookup.job import Job, Option, Settings

INF = np.inf


# -- recall against min(k, passing), on hand-made arrays ------------------------------------------
def test_filtered_recall_counts_against_min_k_passing() -> None:
    # k = 3; query 0: 5 pass (k_0 = 3), query 1: 2 pass (k_1 = 2), query 2: nothing passes
    true_D = np.array([[0.1, 0.2, 0.3], [0.1, 0.4, INF], [INF, INF, INF]])
    n_pass = np.array([5, 2, 0])
    run_D = np.array(
        [
            [0.1, 0.3, 0.5],  # 2 of 3
            [0.4, 0.1, INF],  # both (order does not matter), padding never a hit
            [INF, INF, INF],  # nothing to find: 1.0
        ]
    )
    r = metrics.filtered_recall_per_query(true_D, run_D, 3, n_pass)
    assert r.tolist() == pytest.approx([2 / 3, 1.0, 1.0])
    # a short answer: one of the two passing items found
    r = metrics.filtered_recall_per_query(
        true_D, np.array([[INF] * 3, [0.1, INF, INF], [INF] * 3]), 3, n_pass
    )
    assert r.tolist() == pytest.approx([0.0, 0.5, 1.0])
    short = metrics.short_answers(
        np.array([[0.1, 0.2, INF], [0.1, 0.4, INF], [INF] * 3]), 3, n_pass
    )
    assert short.tolist() == [1.0, 0.0, 0.0]


def test_filtered_recall_keeps_the_tie_rule_and_equals_recall_when_all_pass() -> None:
    true_D = np.array([[0.1, 0.2]])
    tie = np.array([[0.1, 0.2 * (1 + 2.0**-22)]])  # within 8 float32 ulps: a tie
    far = np.array([[0.1, 0.2 * (1 + 2.0**-18)]])
    assert metrics.filtered_recall_per_query(true_D, tie, 2, np.array([9]))[0] == 1.0
    assert metrics.filtered_recall_per_query(true_D, far, 2, np.array([9]))[0] == 0.5
    rng = np.random.default_rng(0)
    t = np.sort(rng.random((20, 5)), axis=1)
    a = np.sort(rng.random((20, 5)), axis=1)
    np.testing.assert_array_equal(
        metrics.filtered_recall_per_query(t, a, 5, np.full(20, 7)),
        metrics.recall_per_query(t, a, 5),
    )


def _filtered_truth(**kw) -> schema.FilteredTruth:
    D = np.array([[0.1, 0.2], [0.1, INF], [0.3, 0.4]], np.float32)
    I = np.array([[0, 1], [2, -1], [4, 5]])  # noqa: E741
    db = np.array(list("aabbcc"))
    base = dict(db_labels=db, query_labels=np.array(list("abc")), n_pass=np.array([4, 1, 6]))
    return schema.FilteredTruth(D, I, 2, **{**base, **kw})


def test_evaluate_filter_rows_on_hand_made_arrays() -> None:
    t = _filtered_truth(label_open=np.array([True, False, True]))
    a = schema.Answer(
        np.array([[0, 3], [2, -1], [5, 1]]),
        np.array([[0.1, 0.9], [0.1, INF], [0.4, INF]], np.float32),  # id 1 rejected: inf
        np.array([0.001, 0.002, 0.001]),
        0.004,
    )
    row = schema.evaluate(t, [a], kind="filter", n_boot=20)
    assert row["recall_at_k"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert row["n_short_answers"] == 1.0  # query 2: one passing item of its 2
    assert row["filter_n_below_k"] == 1.0  # query 1: its filter passes one item
    # kNN over the open queries 0 and 2: query 0 votes a (id 0 first), query 2 votes c (5)
    assert row["filter_knn_acc"] == 1.0 and row["filter_knn_acc_exact"] == 1.0
    assert "knn_acc" not in row and "recall_at_k_ids" not in row
    sub = schema.evaluate(t.subset(np.array([1])), [a.subset(np.array([1]))], kind="filter")
    assert sub["recall_at_k"] == 1.0 and np.isnan(sub["filter_knn_acc"])


def test_job_rows_do_not_carry_filter_metrics() -> None:
    job_metrics = set(schema.ROW_KINDS["job"].metrics)
    assert not job_metrics & {"n_short_answers", "filter_n_below_k", "filter_knn_acc"}
    assert "recall_at_k" in schema.ROW_KINDS["filter"].metrics


# -- filters from labels ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def labels() -> F.LabelIndex:
    db = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5)
    rng = np.random.default_rng(3)
    return F.LabelIndex.of(rng.permutation(db), np.array(list("abcdabcd")))


def test_own_and_other_label_filters(labels: F.LabelIndex) -> None:
    own = F.own_label(labels)
    for q, j in enumerate(own.of_query):
        assert set(labels.codes[own.sets[j]]) == {labels.query_codes[q]}
    assert own.n_pass.tolist() == [50, 30, 15, 5] * 2
    other = F.other_label(labels, seed=0)
    for q, j in enumerate(other.of_query):
        drawn = set(labels.codes[other.sets[j]])
        assert len(drawn) == 1 and labels.query_codes[q] not in drawn
    again = F.other_label(labels, seed=0)
    assert [s.tolist() for s in again.sets] == [s.tolist() for s in other.sets]


@pytest.mark.parametrize("target", [0.01, 0.05, 0.2, 0.37, 0.5, 1.0])
def test_label_sets_reach_the_target_share(labels: F.LabelIndex, target: float) -> None:
    f = F.label_set(labels, target, seed=1, nq=8)
    (ids,) = f.sets
    assert len(ids) == round(target * 100) and len(np.unique(ids)) == len(ids)
    assert f.n_pass.tolist() == [len(ids)] * 8
    present, counts = np.unique(labels.codes[ids], return_counts=True)
    whole = [c for c, n in zip(present, counts, strict=True) if n == len(labels.postings[c])]
    assert len(whole) == f.n_labels and len(present) - len(whole) == (f.n_split > 0)
    assert F.filter_columns(f)["filter_selectivity_achieved"] == pytest.approx(target)


def test_selectivity_bins_name_half_decades(labels: F.LabelIndex) -> None:
    groups = F.selectivity_groups(F.own_label(labels))
    assert groups.tolist() == ["0.3-1", "0.1-0.3", "0.1-0.3", "0.03-0.1"] * 2
    assert F.selectivity_groups(F.label_set(labels, 0.1, seed=0, nq=8)) is None


@pytest.mark.parametrize(
    "given,expect",
    [
        ({"selectivity": [0.0, 0.1]}, "filter.selectivity=[0.0, 0.1] is invalid"),
        ({"selectivity": [1.5]}, "(0, 1]"),
        ({"selectivity": [float("nan")]}, "filter.selectivity"),
        ({"kinds": ["own", "selectivity"]}, "filter.kinds"),
        ({"strategies": ["pre"]}, "filter.strategies"),
        ({"oversample": [0]}, "filter.oversample"),
        ({"kinds": ["labels"]}, "filter.labels=[]"),
        ({"faiss_selector": "set"}, "filter.faiss_selector='set'"),
    ],
)
def test_bad_filter_options_are_one_line(given: dict, expect: str) -> None:
    with pytest.raises(BadInput) as err:
        F.FilterOptions(**given)
    assert expect in str(err.value) and "\n" not in str(err.value)


# -- tiny data: every strategy against the exact filtered truth ----------------------------------
@pytest.fixture(scope="module")
def vec_files(tmp_path_factory) -> dict[str, Path]:
    rng = np.random.default_rng(5)
    folder = tmp_path_factory.mktemp("filter_vectors")
    centres = rng.normal(size=(6, 12)).astype(np.float32)
    shares = np.array([0.4, 0.25, 0.15, 0.1, 0.07, 0.03])
    lb, lq = rng.choice(6, 800, p=shares), rng.integers(0, 6, 30)
    arrays = {
        "db": centres[lb] + 0.6 * rng.normal(size=(800, 12)).astype(np.float32),
        "queries": centres[lq] + 0.6 * rng.normal(size=(30, 12)).astype(np.float32),
        "db_labels": np.array(list("abcdef"))[lb],
        "query_labels": np.array(list("abcdef"))[lq],
    }
    paths = {}
    for name, arr in arrays.items():
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], arr)
    return paths


INDEXES = {
    "hnswlib": ({"_target_": "lookup.index.hnswlib_backend.HnswlibIndex", "M": 8}, "ef"),
    "faiss_ivf": (
        {"_target_": "lookup.index.faiss_backend.FaissIndex", "factory": "IVF{nlist},Flat"},
        "nprobe",
    ),
    "faiss_hnsw": (
        {"_target_": "lookup.index.faiss_backend.FaissIndex", "factory": "HNSW8"},
        "efSearch",
    ),
    "faiss_flat": ({"_target_": "lookup.index.faiss_backend.FaissIndex", "factory": "Flat"}, ""),
}


def _job(vec_files, index: str, tmp_path: Path, knob_values=(), metric="cosine") -> Job:
    params, knob = INDEXES[index]
    data = {
        "_target_": "lookup.data.vectors.load_vectors",
        **{k: str(p) for k, p in vec_files.items()},
    }
    grid = tuple({knob: v} for v in knob_values) if knob else ({},)
    return Job(
        dataset=Option("vectors", data),
        encoder=None,
        index=Option(index, params),
        settings=Settings(k=10, metric=metric, warmup=0, passes=1),
        cache_dir=str(tmp_path / "cache"),
        grid=grid,
        kind="filter",
    )


HIGHEST = {"hnswlib": (800,), "faiss_ivf": (1024,), "faiss_hnsw": (800,), "faiss_flat": ()}


@pytest.mark.parametrize("index", list(INDEXES))
def test_every_strategy_at_its_highest_effort_is_exact(vec_files, tmp_path, index) -> None:
    job = _job(vec_files, index, tmp_path, HIGHEST[index])
    opts = F.FilterOptions(selectivity=(0.002, 0.03, 0.3, 1.0), oversample=(80,))
    rows = measure(job, opts)
    whole = [r for r in rows if r.get("query_group") in (None, "all")]
    assert {r["filter_strategy"] for r in whole} == {"post", "in_search", "exact"}
    for r in whole:
        assert r["recall_at_k"] == 1.0, (
            r["filter_kind"],
            r["filter_selectivity"],
            r["filter_strategy"],
        )
        assert r["n_short_answers"] == 0.0
    low = [r for r in whole if r["filter_selectivity"] == 0.002]
    assert low and all(r["filter_n_below_k"] == 30 for r in low)  # 2 items pass: k_i = 2
    kinds = {r["filter_kind"] for r in rows}
    assert kinds == {"own_label", "other_label", "selectivity"}
    binned = [r for r in rows if r.get("query_group") not in (None, "all")]
    assert binned and all(r["filter_kind"] in ("own_label", "other_label") for r in binned)


def test_exact_subset_returns_the_truth_ids(vec_files, tmp_path) -> None:
    from lookup import filter_strategies as S
    from lookup.timing import run_queries

    xb, xq = np.load(vec_files["db"]), np.load(vec_files["queries"])
    index = F.LabelIndex.of(np.load(vec_files["db_labels"]), np.load(vec_files["query_labels"]))
    for metric in ("cosine", "euclidean", "ip"):
        for f in (F.own_label(index), F.label_set(index, 0.05, seed=2, nq=len(xq))):
            D, I = F.filtered_truth(str(tmp_path), xb, xq, metric, 10, f)  # noqa: E741
            calls = S.exact(S.ExactRows(xb, metric), xq, 10, [f.sets[j] for j in f.of_query])
            got = run_queries(calls, xq, 10, warmup=0, passes=1)
            np.testing.assert_array_equal(got.I, I)


def test_post_filtering_counts_short_answers(vec_files, tmp_path) -> None:
    job = _job(vec_files, "hnswlib", tmp_path, (10,))
    opts = F.FilterOptions(kinds=("other_label",), strategies=("post",), oversample=(1,))
    rows = measure(job, opts)
    whole = [r for r in rows if r["query_group"] == "all"]
    assert whole[0]["n_short_answers"] > 0 and whole[0]["recall_at_k"] < 1.0
    assert whole[0]["filter_k_searched"] == 10 and whole[0]["search_ef"] == 10


# -- bad filter settings through python -m bench: one line, exit 2, nothing written ---------------
def _cli(vec_files, tmp_path: Path, *args: str, labels: bool = True) -> list[str]:
    files = {k: p for k, p in vec_files.items() if labels or "labels" not in k}
    return [
        "dataset=vectors",
        "encoder=none",
        *(f"dataset.{k}={p}" for k, p in files.items()),
        f"results.table={tmp_path / 'runs.csv'}",
        f"cache_dir={tmp_path / 'cache'}",
        "warmup=0",
        "passes=1",
        "filter=sweep",
        *args,
    ]


@pytest.mark.parametrize(
    "args,labels,expect",
    [
        (("filter.kinds=[labels]", "filter.labels=[zz]"), True, "'zz' is not a label of"),
        (("filter.selectivity=[0,0.5]",), True, "filter.selectivity=[0.0, 0.5] is invalid"),
        (("filter.selectivity=[1.01]",), True, "each in (0, 1]"),
        ((), False, "filter needs database labels but dataset db has none"),
        (("index=usearch",), True, "is invalid for index usearch"),
        (("index=faiss_flat", "index.factory=SQ8"), True, "IndexScalarQuantizer"),
        (("mode=batch",), True, "mode=batch is invalid for filtered lookups"),
        (("index=faiss_ivf", "index.search.ht=[4]", "filter.strategies=[in_search]"), True, "ht"),
    ],
)
def test_bad_filter_settings_are_one_line_and_write_nothing(
    vec_files, tmp_path, capsys, args, labels, expect
) -> None:
    with pytest.raises(SystemExit) as exit_:
        compose_and_run(bench_job, _cli(vec_files, tmp_path, *args, labels=labels))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2
    assert err[-1].startswith("error: ") and expect in err[-1], err
    assert not (tmp_path / "runs.csv").exists()


def test_a_filter_job_through_python_m_bench_appends_filter_rows(vec_files, tmp_path, capsys):
    from bench.table import read_rows

    args = ("filter.kinds=[selectivity]", "filter.selectivity=[0.05,1.0]", "index.search.ef=[20]")
    compose_and_run(bench_job, _cli(vec_files, tmp_path, *args, "filter.oversample=[4]"))
    out = capsys.readouterr().out
    assert "selectivity" in out and "in_search" in out
    rows = read_rows(tmp_path / "runs.csv")
    assert {r["row_kind"] for r in rows} == {"filter"} and len(rows) == 2 * 3
    compose_and_run(bench_job, _cli(vec_files, tmp_path, *args, "filter.oversample=[4]"))
    assert "already measured" in capsys.readouterr().out
    assert len(read_rows(tmp_path / "runs.csv")) == 6


def test_given_labels_and_post_points_that_would_run_alike_once(vec_files, tmp_path) -> None:
    # ef=10/20 x k'=10/40: (ef 20, k' 40) searches with ef 40 like (ef 10, k' 40): measured once
    job = _job(vec_files, "hnswlib", tmp_path, (10, 20))
    opts = F.FilterOptions(kinds=("labels",), labels=("a", "f"), oversample=(1, 4))
    rows = measure(job, opts)
    post = [
        (r["search_ef"], r["filter_k_searched"]) for r in rows if r["filter_strategy"] == "post"
    ]
    assert sorted(post) == [(10, 10), (20, 10), (40, 40)]
    share = float(np.isin(np.load(vec_files["db_labels"]), ["a", "f"]).mean())
    for r in rows:
        assert r["filter_kind"] == "labels" and r["filter_labels"] == "a f"
        assert r["filter_selectivity_achieved"] == pytest.approx(share)
        assert r["filter_n_labels"] == 2 and r.get("query_group") is None
    assert {r["recall_at_k"] for r in rows if r["filter_strategy"] == "exact"} == {1.0}
