"""Runbooks: the step generator (seeded, counts right), every in-place backend against exact
search over the live set with the dataset's ids kept, bad runbooks as one line each, the
engine's rows (in place and rebuilt), and a run killed half-way then rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from bench import table as results_table
from bench import workload
from lookup import registry, runbook
from lookup.errors import BadInput, MissingFile
from lookup.index.exact import exact_knn
from lookup.job import Job, Option, Settings
from lookup.metrics import recall_ids
from lookup.protocols import MutableIndex

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


# -- the generator ---------------------------------------------------------------------------
def churn(**kw) -> runbook.Runbook:
    spec = {
        "start": 0.5,
        "generations": 6,
        "generation": [{"delete": 0.05}, {"insert": 10}, "search"],
        "search_every": 2,
    }
    return runbook.Runbook(**{**spec, **kw})


def test_steps_are_seeded_and_counts_are_right() -> None:
    steps = runbook.generate(churn(), 200, seed=3)
    again = runbook.generate(churn(), 200, seed=3)
    other = runbook.generate(churn(), 200, seed=4)
    same = [
        np.array_equal(a.added, b.added) and np.array_equal(a.removed, b.removed)
        for a, b in zip(steps, again, strict=True)
    ]
    assert all(same)
    assert not np.array_equal(steps[0].added, other[0].added)
    assert [s.kind for s in steps[:2]] == ["build", "search"] and len(steps[0].added) == 100
    live = np.zeros(200, bool)
    for s in steps:
        if s.kind == "build":
            live[s.added] = True
        assert live[s.removed].all(), "deletes come from the live ids"
        assert not live[s.added].any() or s.kind == "build", "inserts come from the others"
        live[s.removed] = False
        live[s.added] = True
        assert s.n_live == live.sum()
        if s.kind == "delete":
            assert len(s.removed) == 10 and not len(s.added)  # 5% of 200
        if s.kind == "insert":
            assert len(s.added) == 10 and not len(s.removed)
    checks = [s.generation for s in steps if s.kind == "search"]
    assert checks == [0, 2, 4, 6]  # the build, every 2nd generation, the last


def test_the_last_generation_is_always_checked_and_replace_swaps() -> None:
    rb = churn(generations=5, generation=[{"replace": 0.1}, "search"], search_every=3)
    steps = runbook.generate(rb, 100, seed=0)
    assert [s.generation for s in steps if s.kind == "search"] == [0, 3, 5]
    swap = next(s for s in steps if s.kind == "replace")
    assert len(swap.added) == len(swap.removed) == 10
    assert not set(swap.added) & set(swap.removed)
    assert all(s.n_live == 50 for s in steps)


def test_a_deleted_id_can_come_back_and_ids_stay_in_range() -> None:
    rb = churn(start=0.9, generations=30, generation=[{"delete": 5}, {"insert": 5}, "search"])
    steps = runbook.generate(rb, 50, seed=1)
    deleted, back = set(), set()
    for s in steps:
        back |= deleted & set(s.added.tolist())
        deleted |= set(s.removed.tolist())
        assert all(0 <= i < 50 for i in (*s.added, *s.removed))
    assert back, "with 5 ids outside, inserts must reuse deleted ones"


def test_a_runbook_round_trips_through_its_dict() -> None:
    rb = churn()
    assert runbook.runbook_of(rb.as_dict()) == rb
    assert rb.needs() == {"insert", "delete"}
    assert runbook.Runbook(
        start=0.1, generations=2, generation=[{"insert": 0.1}, "search"]
    ).needs() == {"insert"}


@pytest.mark.parametrize(
    "spec,match",
    [
        (
            {"generation": [{"upsert": 3}, "search"]},
            r"runbook.generation\[0\]=\{'upsert': 3\} is "
            "not a runbook step; valid: search, or one of insert: N",
        ),
        ({"generation": [{"delete": 0}, "search"]}, r"generation\[0\].delete=0 is invalid"),
        ({"generation": [{"insert": 1.5}, "search"]}, r"insert=1.5 is invalid; valid: a share"),
        ({"generation": [{"insert": 2}]}, "has no search step"),
        ({"start": 0.0}, r"runbook.start=0.0 is invalid"),
        ({"generations": -1}, r"runbook.generations=-1 is invalid"),
        ({"search_every": 0}, r"runbook.search_every=0 is invalid"),
        ({"generation": "search"}, r"runbook.generation='search' is invalid; valid: a list"),
    ],
)
def test_bad_runbooks_are_one_line(spec: dict, match: str) -> None:
    with pytest.raises(BadInput, match=match) as err:
        churn(**spec)
    assert "\n" not in str(err.value)


def test_deleting_more_than_is_live_is_one_line_before_any_work() -> None:
    rb = churn(generation=[{"delete": 0.3}, "search"])
    with pytest.raises(
        BadInput,
        match=r"delete asks for 60 ids at generation 2 but only 40 "
        "are live",
    ):
        runbook.generate(rb, 200, seed=0)
    with pytest.raises(BadInput, match="asks for 150 ids at generation 1 but only 100 are not"):
        runbook.generate(churn(generation=[{"insert": 150}, "search"]), 200, seed=0)
    with pytest.raises(BadInput, match="fewer than k=10"):
        runbook.generate(churn(generation=[{"delete": 95}, "search"]), 200, seed=0, k=10)
    with pytest.raises(BadInput, match="is 0 items of a 20-item database"):
        runbook.generate(churn(start=0.01), 20, seed=0)


def test_runbook_files(tmp_path) -> None:
    good = tmp_path / "steps.yaml"
    good.write_text("start: 100\ngenerations: 2\ngeneration:\n  - insert: 0.1\n  - search\n")
    rb = runbook.runbook_of({"path": str(good)})
    assert rb.start == 100 and isinstance(rb.start, int) and rb.generation[0] == ("insert", 0.1)
    cases = {
        "bad.yaml": ("start: [1\n", "is not valid YAML"),
        "list.yaml": ("- insert: 1\n", "holds list; valid: a mapping"),
        "unknown.yaml": ("start: 1\nsteps: []\n", "runbook.steps is not a parameter"),
    }
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(BadInput, match=match) as err:
            runbook.runbook_of({"path": str(tmp_path / name)})
        assert "\n" not in str(err.value)
    with pytest.raises(MissingFile, match="no such file"):
        runbook.runbook_of({"path": str(tmp_path / "missing.yaml")})
    with pytest.raises(BadInput, match=r"runbook.path=None is invalid"):
        runbook.runbook_of({"path": None})


# -- backends that change in place ---------------------------------------------------------------
def structured(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 4))
    return (z @ rng.standard_normal((4, dim)) + 0.05 * rng.standard_normal((n, dim))).astype(
        np.float32
    )


MUTABLE = {
    "hnswlib": ("hnswlib", {"M": 8, "ef_construction": 64}, {"ef": 64}),
    "usearch": ("usearch", {}, {"expansion_search": 64}),
    "faiss-IVF": ("faiss", {"factory": "IVF4,Flat", "nlist": None}, {"nprobe": 4}),
    "faiss-Flat": ("faiss", {"factory": "Flat"}, {}),
    "faiss-HNSW": ("faiss", {"factory": "HNSW8"}, {"efSearch": 64}),
}


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "ip"])
@pytest.mark.parametrize("case", list(MUTABLE))
def test_add_and_remove_match_exact_search_over_the_live_ids(case: str, metric: str) -> None:
    x = structured(560, 16, seed=2)
    xb, xq = x[:500], x[500:]
    name, build, knobs = MUTABLE[case]
    index = registry.resolve(name)(metric=metric, **build)
    index.set_search_params(**knobs)
    assert isinstance(index, MutableIndex)
    deletes = "delete" in index.changes()
    rng = np.random.default_rng(5)
    live = np.zeros(500, bool)
    start = np.sort(rng.choice(500, 200, replace=False)) + 0  # dataset ids, not 0..199
    live[start] = True
    index.build_with_ids(xb[start], start)
    for _ in range(8):
        if deletes:
            gone = rng.choice(np.flatnonzero(live), 25, replace=False)
            index.remove(gone)
            live[gone] = False
        new = rng.choice(np.flatnonzero(~live), 25, replace=False)  # may be deleted ones back
        index.add(xb[new], new)
        live[new] = True
    ids = np.flatnonzero(live)
    _, true = exact_knn(xb[ids], xq, 10, metric)
    _, got = index.search(xq, 10)
    assert set(got[got >= 0].tolist()) <= set(ids.tolist()), "only live dataset ids come back"
    assert recall_ids(ids[true], got, 10) >= 0.97


def test_faiss_hnsw_refuses_deletes_and_annoy_is_not_mutable() -> None:
    faiss_hnsw = registry.resolve("faiss")(factory="HNSW8")
    assert faiss_hnsw.changes() == {"insert"}
    x = structured(50, 8, 0)
    faiss_hnsw.build_with_ids(x, np.arange(100, 150))
    with pytest.raises(BadInput, match=r"index=faiss \(HNSW8\) cannot delete in place") as err:
        faiss_hnsw.remove(np.array([100]))
    assert "\n" not in str(err.value)
    assert not isinstance(registry.resolve("annoy")(), MutableIndex)
    assert not isinstance(registry.resolve("exact")(), MutableIndex)


def test_hnswlib_brings_back_ids_whose_slots_were_reused() -> None:
    """Regression: a deleted id re-added after replacements took other deleted slots must keep
    one live mapping (hnswlib drops a label's mapping when it reuses that label's old slot)."""
    x = structured(40, 8, 1)
    index = registry.resolve("hnswlib")(M=4, ef_construction=20)
    index.set_search_params(ef=40)
    index.build_with_ids(x[:20], np.arange(20))
    index.remove(np.arange(10))
    index.add(x[20:25], np.arange(20, 25))  # takes 5 of the 10 deleted slots
    index.add(x[:10], np.arange(10))  # 5 revived in their slots, 5 into the remaining ones
    index.add(x[25:40], np.arange(25, 40))  # grows the capacity
    index.remove(np.arange(10))  # every one of them is found again
    index.add(x[:10], np.arange(10))
    _, got = index.search(x, 1)
    assert (got[:, 0] == np.arange(40)).all()
    assert index.library_index.max_elements >= 40


def test_plain_builds_keep_positions_as_ids() -> None:
    x = structured(30, 8, 3)
    for name in ("hnswlib", "usearch", "faiss"):
        index = registry.resolve(name)()
        index.build(x)
        _, got = index.search(x, 1)
        assert (got[:, 0] == np.arange(30)).all(), name


# -- the engine ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vec_files(tmp_path_factory) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("runbook_vectors")
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


def _job(vec_files, index: Option, rb: runbook.Runbook, rebuild: bool, tmp_path) -> Job:
    params = {
        "_target_": "lookup.data.vectors.load_vectors",
        **{k: str(p) for k, p in vec_files.items()},
    }
    return Job(
        dataset=Option("vectors", params),
        encoder=None,
        index=index,
        settings=Settings(warmup=0, passes=1),
        cache_dir=str(tmp_path / "cache"),
        grid=({},),
        kind="runbook",
        options={"runbook": rb.as_dict(), "rebuild": rebuild},
    )


HNSW = Option(
    "hnswlib",
    {"_target_": "lookup.index.hnswlib_backend.HnswlibIndex", "M": 8, "ef_construction": 64},
)
EXACT = Option("exact", {"_target_": "lookup.index.exact.ExactIndex"})


def test_rows_per_checkpoint_in_place_and_rebuilt(vec_files, tmp_path) -> None:
    rb = churn(generations=4, generation=[{"delete": 20}, {"insert": 30}, "search"])
    job = _job(vec_files, HNSW, rb, False, tmp_path)
    rows = runbook.measure(job, "cid")
    expected = [s for s in runbook.generate(rb, 400, seed=0, k=10) if s.kind == "search"]
    assert [r["generation"] for r in rows] == [s.generation for s in expected]
    assert [r["n_live"] for r in rows] == [200, 220, 240] == [s.n_live for s in expected]
    assert all(r["row_kind"] == "runbook" and r["maintenance"] == "in_place" for r in rows)
    assert all(r["dead_ids"] == 0 and r["recall_at_k"] > 0.9 for r in rows)
    assert rows[0]["n_inserted"] == 0 and rows[-1]["n_inserted"] == 60  # since generation 2
    assert rows[-1]["n_deleted_total"] == 80 and rows[-1]["insert_s_total"] > 0
    assert rows[-1]["insert_per_s"] == pytest.approx(60 / rows[-1]["insert_s"])
    assert rows[-1]["upkeep_s_total"] == pytest.approx(
        rows[-1]["builds_s_total"] + rows[-1]["insert_s_total"] + rows[-1]["delete_s_total"]
    )
    assert 0 <= rows[0]["knn_acc"] <= 1 and rows[0]["index_bytes"] > 0
    assert rows[0]["runbook_generation"] == '[{"delete": 20}, {"insert": 30}, "search"]'

    rebuilt = runbook.measure(_job(vec_files, EXACT, rb, True, tmp_path), "cid")
    assert [r["n_live"] for r in rebuilt] == [r["n_live"] for r in rows]
    assert all(r["recall_at_k"] == 1.0 and r["maintenance"] == "rebuild" for r in rebuilt)
    assert rebuilt[-1]["builds_s_total"] > rebuilt[-1]["build_s"] > 0
    assert rebuilt[-1]["insert_s_total"] == 0 and rebuilt[-1]["insert_per_s"] is None


def test_a_returned_deleted_id_is_a_miss(vec_files, tmp_path, monkeypatch) -> None:
    """The harness owns the truth: an index that returns a deleted id is scored a miss."""
    from lookup.index.hnswlib_backend import HnswlibIndex

    monkeypatch.setattr(HnswlibIndex, "_remove", lambda self, ids: None)  # forgets to delete
    rb = churn(generations=1, generation=[{"delete": 0.25}, "search"])
    rows = runbook.measure(_job(vec_files, HNSW, rb, False, tmp_path), "cid")
    assert rows[0]["dead_ids"] == 0 and rows[-1]["dead_ids"] > 0
    assert rows[-1]["recall_at_k"] < rows[0]["recall_at_k"]


def test_indexes_that_cannot_change_are_refused_before_any_work(vec_files, tmp_path) -> None:
    annoy = Option("annoy", {"_target_": "lookup.index.annoy_backend.AnnoyIndex", "trees": 5})
    hnsw = Option(
        "faiss_hnsw", {"_target_": "lookup.index.faiss_backend.FaissIndex", "factory": "HNSW16"}
    )
    with pytest.raises(
        BadInput, match="index=annoy cannot change in place; valid: workload.rebuild=true"
    ):
        runbook.check_runbook(_job(vec_files, annoy, churn(), False, tmp_path))
    with pytest.raises(
        BadInput,
        match=r"index=faiss_hnsw cannot delete in place \(it does "
        r"insert only\)",
    ):
        runbook.check_runbook(_job(vec_files, hnsw, churn(), False, tmp_path))
    grow = churn(generation=[{"insert": 0.05}, "search"])
    assert runbook.check_runbook(_job(vec_files, hnsw, grow, False, tmp_path))[0] == grow
    assert runbook.check_runbook(_job(vec_files, annoy, churn(), True, tmp_path))[1] is True
    assert not (tmp_path / "cache").exists(), "nothing was loaded"


# -- through the app -----------------------------------------------------------------------------
def _overrides(vec_files, table: Path, *extra: str) -> list[str]:
    return [
        "dataset=vectors",
        "encoder=none",
        *(f"dataset.{k}={p}" for k, p in vec_files.items()),
        f"results.table={table}",
        "warmup=0",
        "passes=1",
        "workload=runbook",
        *extra,
    ]


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_presets_compose_and_run(vec_files, tmp_path) -> None:
    table = tmp_path / "runs.csv"
    cfg = _compose(
        _overrides(vec_files, table, "runbook=grow", "index=faiss_ivf", "index.search.nprobe=[1,8]")
    )
    rows = workload.run_workload(cfg)
    assert len(rows) == 10 * 2 and rows[0]["runbook"] == "grow"
    assert [r["n_live"] for r in rows[::2]] == list(range(40, 401, 40))
    churn_cfg = _compose(_overrides(vec_files, table, "runbook.generations=3"))
    assert workload.runbook_job(churn_cfg).options["runbook"]["generation"][0] == {"delete": 0.01}
    stored = workload.run_workload(cfg)
    assert all(r["_stored"] for r in stored) and len(stored) == 20


def _app(vec_files, table: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "bench", *_overrides(vec_files, table, *extra)]
    return subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_runbook_killed_half_way_leaves_nothing_and_its_rerun_everything(
    vec_files, tmp_path
) -> None:
    table = tmp_path / "runs.csv"
    run = (
        "runbook.generations=60",
        "runbook.search_every=1",
        "passes=3",
        "runbook.generation=[{replace:5},search]",
        "index.search.ef=[10,40]",
    )
    proc = _app(vec_files, table, *run)
    seen = 0
    for line in proc.stderr:  # wait for the third checkpoint, then kill -9
        seen += "runbook checkpoint" in line
        if seen == 3:
            proc.send_signal(signal.SIGKILL)
            break
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert results_table.read_rows(table) == []  # nothing half-written
    done = _app(vec_files, table, *run)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-2000:]
    rows = results_table.read_rows(table)
    assert len(rows) == 61 * 2 and len({r["config_id"] for r in rows}) == 1
    keys = {(r["step"], r["point_index"]) for r in rows}
    assert len(keys) == len(rows), "no checkpoint twice"
    assert [int(r["generation"]) for r in rows[::2]] == list(range(61))
    again = _app(vec_files, table, *run)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0 and "already measured" in out
    assert len(results_table.read_rows(table)) == 122


def test_plot_and_report_read_runbook_rows_beside_job_rows(vec_files, tmp_path, capsys) -> None:
    from bench import plot, report
    from bench.run import run

    mixed, alone = tmp_path / "mixed.csv", tmp_path / "alone.csv"
    rb = ("runbook.generations=4", "runbook.search_every=2", "index.search.ef=[20]")
    for table in (mixed, alone):
        for rebuild in ("false", "true"):
            cfg = _compose(_overrides(vec_files, table, *rb, f"workload.rebuild={rebuild}"))
            workload.run_workload(cfg)
    job = [o for o in _overrides(vec_files, mixed) if o != "workload=runbook"]
    run(_compose([*job, "index.search.ef=[10,40]"]))
    paths = plot.plot_all([str(mixed)], str(tmp_path / "fig"))
    assert [p.name for p in paths][:2] == ["runbook.png", "overview.png"]
    assert (
        "left out 6 runbook rows (bench.plot draws them in runbook.png" in capsys.readouterr().err
    )
    assert [p.name for p in plot.plot_all([str(alone)], str(tmp_path / "fig2"))] == ["runbook.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    out = tmp_path / "report"
    files, text = report.write_report([str(alone)], out, targets=report.Targets(recall=(0.5,)))
    names = {p.name for p in files}  # a table of runbooks only: their sections alone
    assert {"rebuild_pays.csv", "runbook_milestones.csv", "runbook.png"} <= names
    assert "operating_points.csv" not in names
    assert "runbooks, when a rebuild pays for itself" in text
    assert "never: in place meets the target throughout" in text
    assert "## Runbooks, recall over generations" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "text,extra,match",
    [
        (
            "start: 0.5\ngenerations: 2\ngeneration: [{upsert: 3}, search]\n",
            (),
            r"runbook.generation\[0\]=\{'upsert': 3\} is not a runbook step",
        ),
        (
            "start: 0.5\ngenerations: 2\ngeneration: [{delete: 0.3}, search]\n",
            (),
            "delete asks for 120 ids at generation 2 but only 80 are live",
        ),
        (
            "start: 0.5\ngenerations: 2\ngeneration: [{replace: 5}, search]\n",
            ("index=faiss_hnsw",),
            r"index=faiss_hnsw cannot delete in place \(it does insert only\)",
        ),
        ("start: 0.5\ngeneration: [search]\nsteps: 3\n", (), "runbook.steps is not a parameter"),
    ],
)
def test_bad_runbook_files_are_one_line_through_the_app(vec_files, tmp_path, text, extra, match):
    steps = tmp_path / "steps.yaml"
    steps.write_text(text)
    table = tmp_path / "runs.csv"
    cfg = _compose(_overrides(vec_files, table, "runbook=file", f"runbook.path={steps}", *extra))
    with pytest.raises(BadInput, match=match) as err:
        workload.run_workload(cfg)
    assert "\n" not in str(err.value) and not table.exists()


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "runbook").glob("*.yaml")))
def test_every_runbook_option_composes(option: str, tmp_path) -> None:
    extra = [f"runbook.path={CONF / 'runbook' / 'grow.yaml'}"] if option == "file" else []
    cfg = _compose(["workload=runbook", f"runbook={option}", *extra])
    job = workload.runbook_job(cfg)
    assert job.kind == "runbook" and job.options["rebuild"] is False
    assert runbook.runbook_of(job.options["runbook"]).needs() <= {"insert", "delete"}


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "refresh").glob("*.yaml")))
def test_every_refresh_option_composes_and_checks(option: str) -> None:
    from lookup import refresh

    for encoder in ("rnn01", "rnn02"):
        cfg = _compose(["workload=refresh", f"refresh={option}", f"encoder={encoder}"])
        new_job, _ = refresh.check_refresh(workload.refresh_job(cfg))
        assert new_job.encoder.params != workload.refresh_job(cfg).encoder.params


@pytest.mark.parametrize("metric", ["euclidean", "ip"])
@pytest.mark.parametrize("case", ["hnswlib", "usearch", "faiss-IVF"])
def test_added_rows_keep_the_database_rescale(case: str, metric: str) -> None:
    """Vectors too large for float32 arithmetic are rescaled by one power of two for the
    whole database at the build; rows added later must get the same factor, even when their
    own magnitude would pick another."""
    x = structured(360, 16, seed=4).astype(np.float64) * 1e30
    x[300:330] *= 1e-6  # an added batch of smaller (still unsafe) magnitude
    xb, xq = x[:330], x[330:]
    name, build, knobs = MUTABLE[case]
    index = registry.resolve(name)(metric=metric, **build)
    index.set_search_params(**knobs)
    index.build_with_ids(xb[:300], np.arange(300))
    index.add(xb[300:], np.arange(300, 330))
    _, true = exact_knn(xb, xq, 10, metric)
    _, got = index.search(xq, 10)
    assert recall_ids(true, got, 10) >= 0.97


def test_codes_and_rescore_are_refused(vec_files, tmp_path) -> None:
    from dataclasses import replace

    from lookup.codes import Codes

    job = _job(vec_files, HNSW, churn(), False, tmp_path)
    with pytest.raises(BadInput, match="encoder.output='int8' is not supported with workload"):
        runbook.check_runbook(replace(job, codes=Codes(output="int8")))
    with pytest.raises(BadInput, match="encoder.truncate_dim=4 is not supported"):
        runbook.check_runbook(replace(job, codes=Codes(truncate_dim=4)))
    with pytest.raises(BadInput, match=r"index.search.rescore=4 is only for codes"):
        runbook.check_runbook(replace(job, grid=({"ef": 10, "rescore": 4},)))
    rows = runbook.measure(
        replace(
            job,
            grid=({"ef": 10, "rescore": 1},),
            options={**job.options, "runbook": churn(generations=0).as_dict()},
        )
    )
    assert len(rows) == 1 and rows[0]["search_ef"] == 10
