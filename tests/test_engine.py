"""The engine as a library: the metric table on hand-made arrays, tail metrics, per-query
arrays kept and rescored to the live numbers, query groups, and the registry's _target_ rule."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from bench import rescore
from bench import table as results_table
from bench.run import run
from lookup import metrics, perquery, registry, schema
from lookup.errors import BadInput
from lookup.experiment import measure
from lookup.job import Job, Option, Settings

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


# -- the metric table on hand-made arrays ---------------------------------------------------------
def _truth(k: int = 2) -> schema.Truth:
    # 4 queries, true distances 0.1, 0.2 (k=2); labels a/b
    D = np.tile(np.array([[0.1, 0.2]], np.float32), (4, 1))
    I = np.array([[0, 1], [2, 3], [4, 5], [6, 7]])  # noqa: E741
    db_labels = np.array(list("aabbaabb") + ["c"] * 192)  # far items (ids >= 100) are "c"
    return schema.Truth(D, I, k, db_labels=db_labels, query_labels=np.array(list("abab")))


def _answer(hits_per_query: list[int], lat: list[float] | None = None) -> schema.Answer:
    """Each query returns its true ids for the first `hits` slots, far items after."""
    I, D = [], []  # noqa: E741
    truth = _truth()
    for q, h in enumerate(hits_per_query):
        ids = list(truth.I[q][:h]) + [100 + q * 2 + j for j in range(2 - h)]
        d = list(truth.D[q][:h]) + [9.0] * (2 - h)
        I.append(ids)
        D.append(d)
    lat_arr = None if lat is None else np.array(lat)
    total = float(np.sum(lat)) if lat is not None else 1.0
    return schema.Answer(np.array(I), np.array(D, np.float32), lat_arr, total)


def test_tail_metrics_count_queries_not_items() -> None:
    t = _truth()
    a = _answer([2, 2, 1, 0], lat=[0.001] * 4)  # per-query recall 1, 1, 0.5, 0
    row = schema.evaluate(t, [a], seed=0, n_boot=200)
    assert row["recall_at_k"] == pytest.approx(0.625)
    assert row["robustness_at_k_0.5"] == pytest.approx(0.75)
    assert row["robustness_at_k_0.9"] == pytest.approx(0.5)
    assert row["robustness_at_k_1.0"] == pytest.approx(0.5)
    assert row["recall_at_k_p1"] == pytest.approx(np.quantile([1, 1, 0.5, 0], 0.01))
    assert row["recall_at_k_ci_low"] <= row["recall_at_k"] <= row["recall_at_k_ci_high"]
    assert row["robustness_at_k_0.9_ci_low"] <= 0.5 <= row["robustness_at_k_0.9_ci_high"]


def test_the_same_mean_can_hide_a_failing_tail() -> None:
    t = _truth()
    even = _answer([1, 1, 1, 1])  # every query at 0.5
    tail = _answer([2, 2, 0, 0])  # half perfect, half nothing
    a, b = schema.evaluate(t, [even], n_boot=50), schema.evaluate(t, [tail], n_boot=50)
    assert a["recall_at_k"] == b["recall_at_k"] == 0.5
    assert a["robustness_at_k_0.5"] == 1.0 and b["robustness_at_k_0.5"] == 0.5
    assert a["recall_at_k_p5"] == 0.5 and b["recall_at_k_p5"] == 0.0


def test_repeats_average_per_query_and_spread_timing() -> None:
    t = _truth()
    r1, r2 = _answer([2, 2, 2, 0], lat=[0.001] * 4), _answer([2, 2, 0, 0], lat=[0.002] * 4)
    row = schema.evaluate(t, [r1, r2], n_boot=50)
    assert row["recall_at_k"] == pytest.approx((0.75 + 0.5) / 2)
    assert row["qps"] == pytest.approx((1000 + 500) / 2)
    assert row["qps_std"] == pytest.approx(np.std([1000, 500], ddof=1))
    assert row["qps_min"] == pytest.approx(500) and row["qps_max"] == pytest.approx(1000)


def test_label_metrics_need_labels_and_batch_mode_has_no_percentiles() -> None:
    t = _truth()
    bare = schema.Truth(t.D, t.I, t.k)
    row = schema.evaluate(bare, [_answer([2, 2, 2, 2])], n_boot=20)  # batch: no latencies
    assert "knn_acc" not in row and "hit_at_k" not in row
    assert row["latency_p99_ms"] is None and row["qps"] == pytest.approx(4.0)


def test_every_metric_is_declared_once_with_a_doc() -> None:
    names = [mt.name for mt in schema.METRICS]
    assert len(names) == len(set(names))
    for mt in schema.METRICS:
        assert mt.doc and mt.kind in ("per_query", "aggregate", "timing", "exact", "recorded")
        assert mt.kind == "recorded" or callable(mt.fn)
    assert all(mt.name in schema.ROW_KINDS["job"].metrics for mt in schema.summary_metrics())


def test_shared_bootstrap_equals_the_single_interval() -> None:
    x = np.random.default_rng(3).random(500)
    assert metrics.bootstrap_intervals(x[None, :], ["mean"], seed=4, n_boot=300)[0] == (
        metrics.bootstrap_ci(x, seed=4, n_boot=300)
    )


# -- per-query arrays, rescored -------------------------------------------------------------------
@pytest.fixture(scope="module")
def vec_files(tmp_path_factory) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("engine_vectors")
    centres = rng.normal(size=(5, 12)).astype(np.float32)
    lb, lq = rng.integers(0, 5, 400), rng.integers(0, 5, 40)
    arrays = {
        "db": centres[lb] + 0.4 * rng.normal(size=(400, 12)).astype(np.float32),
        "queries": centres[lq] + 0.4 * rng.normal(size=(40, 12)).astype(np.float32),
        "db_labels": lb.astype(str),
        "query_labels": lq.astype(str),
    }
    paths = {}
    for name, arr in arrays.items():
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], arr)
    return paths


def _overrides(v: dict[str, Path], table: Path) -> list[str]:
    return [
        "dataset=vectors",
        "encoder=none",
        *(f"dataset.{k}={p}" for k, p in v.items()),
        f"results.table={table}",
        "warmup=1",
        "passes=1",
        "index=hnswlib",
        "index.search.ef=[1,4,20]",
    ]


def _run(overrides: list[str]) -> list[dict]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        return run(cfg)


def test_old_rows_rescored_from_their_arrays_equal_the_live_ones(vec_files, tmp_path) -> None:
    table = tmp_path / "runs.csv"
    live = _run(_overrides(vec_files, table))
    assert len(live) == 3 and live[0]["row_kind"] == "job"
    sidecar = perquery.path_of(table, live[0]["config_id"], live[0]["run_id"])
    assert sidecar.is_file()
    old, new = rescore.rescore_table(str(table))
    assert all(r["rescored"] for r in new)
    for a, b in zip(live, new, strict=True):
        for col in schema.metric_columns():
            if col in a:
                x, y = a[col], float(b[col]) if b[col] not in ("", None) else None
                assert (x is None and y is None) or x == pytest.approx(y, rel=1e-12), col
    assert all(worst < 1e-9 for _, _, worst in rescore.differences(old, new))


@pytest.mark.parametrize("damage", ["cut", "not_npz", "fifo"])
def test_an_unreadable_sidecar_keeps_its_rows_unrescored_with_one_warning(
    vec_files, tmp_path, caplog, damage: str
) -> None:
    table = tmp_path / "runs.csv"
    live = _run(_overrides(vec_files, table))
    sidecar = perquery.path_of(table, live[0]["config_id"], live[0]["run_id"])
    if damage == "cut":
        sidecar.write_bytes(sidecar.read_bytes()[:200])
    elif damage == "not_npz":
        sidecar.write_text("hello", encoding="utf-8")
    else:
        sidecar.unlink()
        os.mkfifo(sidecar)
    with pytest.raises(ValueError, match=str(sidecar)):
        perquery.load(sidecar)
    with caplog.at_level("WARNING", logger="lookup.perquery"):
        new = perquery.rescore_rows(live, table)
    assert [r["rescored"] for r in new] == [False] * len(live)
    if damage != "fifo":  # a FIFO is no file: rows without a sidecar are kept silently
        said = [r for r in caplog.records if r.name == "lookup.perquery"]
        assert [r.levelname for r in said] == ["WARNING"]
        assert str(sidecar) in said[0].getMessage()


def test_rescore_command_writes_a_new_table_and_says_what_it_did(
    vec_files, tmp_path, capsys
) -> None:
    table = tmp_path / "runs.csv"
    _run(_overrides(vec_files, table))
    out = tmp_path / "rescored.csv"
    assert rescore.main([str(table), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 of 3 job rows recomputed" in printed and "robustness_at_k_0.9" in printed
    assert len(results_table.read_rows(out)) == 3
    assert rescore.main([str(table), "--out", str(out)]) == 2  # never over rows
    assert rescore.main([str(tmp_path / "missing.csv")]) == 2


# -- query groups and the _target_ rule ------------------------------------------------------------
def grouped_loader(n: int = 300, nq: int = 30, seed: int = 0):
    """A loader for the tests: vectors whose queries come in two groups."""
    from lookup.data.base import Dataset

    rng = np.random.default_rng(seed)
    xb = rng.normal(size=(n, 8)).astype(np.float32)
    xq = rng.normal(size=(nq, 8)).astype(np.float32)
    groups = np.array(["short", "long"] * (nq // 2))
    return Dataset("grouped", xb, xq, None, None, f"grouped-{seed}", query_groups=groups)


def _grouped_job() -> Job:
    return Job(
        dataset=Option("grouped", {"_target_": f"{__name__}.grouped_loader"}),
        encoder=None,
        index=Option("exact", {"_target_": "lookup.index.exact.ExactIndex"}),
        settings=Settings(warmup=0, passes=1),
        cache_dir=str(Path(sys.modules[__name__].__file__).parent / ".." / ".cache" / "tests"),
    )


def test_an_unregistered_target_is_refused_before_anything_runs(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(registry.EXTRA_ENV, raising=False)
    with pytest.raises(BadInput, match=r"dataset._target_='os.system' is invalid"):
        registry.dataset_loader({"_target_": "os.system", "command": "touch x"})
    side = tmp_path / "side_effect_module.py"
    side.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\nclass X: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BadInput, match="LOOKUP_EXTRA_TARGETS"):
        registry.resolve("side_effect_module.X", "index")
    assert not (tmp_path / "ran").exists(), "the module was imported before the check"


def test_query_groups_give_one_row_per_group_and_an_allowed_target_runs(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv(registry.EXTRA_ENV, f"{__name__}.grouped_loader")
    job = Job(**{**_grouped_job().__dict__, "cache_dir": str(tmp_path / "cache")})
    result = measure(job)
    groups = [r.get("query_group") for r in result.rows]
    assert groups == ["all", "long", "short"]
    assert [r["n_queries"] for r in result.rows] == [30, 15, 15]
    assert all(r["recall_at_k"] == 1.0 for r in result.rows)  # exact search


def test_mrr_is_the_reciprocal_rank_of_the_true_nearest() -> None:
    t = _truth()
    # query 0: nearest first (1); 1: nearest second (1/2); 2: nearest first (1); 3: missed (0)
    I = np.array([[0, 1], [3, 2], [4, 104], [106, 107]])  # noqa: E741
    D = np.array([[0.1, 0.2], [0.2, 0.1], [0.1, 9], [9, 9]], np.float32)
    row = schema.evaluate(t, [schema.Answer(I, D, None, 1.0)], n_boot=50)
    assert row["mrr_at_k"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert row["mrr_at_k_ci_low"] <= row["mrr_at_k"] <= row["mrr_at_k_ci_high"]
