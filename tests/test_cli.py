"""The user's commands on small real data (the card's command, bench.lookup, bench.embed), and
the front door they share (bench.cli.run_app): override rewriting, the precheck, Hydra's flags,
Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.cli import BadInput, precheck, rewrite_search_knobs, run_app, split_args
from bench.table import read_rows

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", *args, f"hydra.run.dir={tmp / 'hydra'}"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_card_command_writes_rows(data_dir: Path, tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    proc = _cli(
        "bench",
        "encoder=rnn02",
        "index=annoy",
        "index.trees=50",
        "dataset=surnames",
        "encoder.epochs=1",
        "max_queries=300",
        "passes=1",
        f"results.table={table}",
        tmp=tmp_path,
    )
    rows = read_rows(table)
    assert len(rows) == 4  # one per search_k of the annoy option
    assert {r["build_trees"] for r in rows} == {"50"}
    assert {r["choice_encoder"] for r in rows} == {"rnn02"}
    accuracy = [k for k in rows[0] if k.startswith("encoder_") and k.endswith("accuracy")]
    assert accuracy, sorted(rows[0])  # trained here, on the spot: its held-out metric
    assert all(0 < float(rows[0][k]) < 1 for k in accuracy if rows[0][k])
    assert rows[0]["overrides"].startswith("encoder=rnn02 index=annoy index.trees=50")
    assert "recall" in proc.stdout and "search_k" in proc.stdout


def test_lookup_prints_neighbours_and_prediction(tmp_path: Path) -> None:
    proc = _cli("bench.lookup", "Smith", "Nakamoto", "experiment=smoke", "k=5", tmp=tmp_path)
    blocks = proc.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    for block, name in zip(blocks, ("Smith", "Nakamoto"), strict=True):
        lines = block.splitlines()
        assert lines[0].startswith(f"'{name}'") and "predicted:" in lines[0]
        assert len(lines) == 6


def test_embed_writes_an_ann_benchmarks_file_the_bench_reads(tmp_path: Path) -> None:
    out = tmp_path / "emb"
    _cli("bench.embed", "experiment=smoke", f"results.embeddings={out}", tmp=tmp_path)
    (h5,) = out.glob("*.hdf5")
    with h5py.File(h5) as f:
        assert f.attrs["distance"] == "angular"
        n_db, n_q = f["train"].shape[0], f["test"].shape[0]
        assert f["neighbors"].shape == (n_q, 100) and f["distances"].shape == (n_q, 100)
    (db,) = out.glob("*db.npy")  # <dataset>-<encoder>-<fingerprint>.db.npy (or db.npy)
    assert np.load(db).shape[0] == n_db
    table = tmp_path / "runs.csv"
    _cli(
        "bench",
        "dataset=vectors",
        "encoder=none",
        f"dataset.path={h5}",
        "index=faiss_flat",
        f"results.table={table}",
        tmp=tmp_path,
    )
    (row,) = read_rows(table)
    assert float(row["recall_at_k"]) == 1.0 and row["n_db"] == str(n_db)


# --- bench.cli: the front door every entry point shares


def test_search_knobs_are_rewritten_and_flags_left_alone() -> None:
    argv = ["-m", "--cfg", "job", "index.search.ef=[1,2]", "+index.search.x=1", "index.M=8"]
    assert rewrite_search_knobs(argv) == [
        "-m",
        "--cfg",
        "job",
        "++index.search.ef=[1,2]",
        "+index.search.x=1",
        "index.M=8",
    ]
    flags, overrides = split_args(["--info", "searchpath", "k=1", "-cn", "other", "index=x"])
    assert flags == ["--info", "searchpath", "-cn", "other"] and overrides == ["k=1", "index=x"]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["index.search.ef=[]"],
        ["-m", "index=annoy,hnswlib", "++index.search.foo=[1]"],
        ["-m", "experiment=surnames_sweep"],
        ["-m", "k=range(1,3)", "index=glob(faiss_*)"],
        ["hydra/launcher=basic", "index=faiss_ivf", "index.factory='IVF8,Flat'"],
        ["--help", "index=nope"],  # Hydra's own help: no precheck
    ],
)
def test_precheck_passes_good_command_lines(argv: list[str]) -> None:
    precheck(rewrite_search_knobs(argv))


def test_precheck_names_the_problem_in_one_line() -> None:
    with pytest.raises(BadInput) as info:
        precheck(["-m", "index=annoy,hnswlib,nope"])
    assert str(info.value).startswith("index=nope is invalid; valid: annoy, exact")
    with pytest.raises(BadInput, match=r"^index\.trees_x=1 is invalid; index\.trees_x is not"):
        precheck(["index=annoy", "index.trees_x=1"])


_APP = textwrap.dedent(
    """
    import sys, time
    from bench.cli import run_app
    from lookup.errors import BadInput

    def task(cfg):
        if cfg.k == 0:
            raise BadInput("k=0 is invalid; valid: an integer >= 1")
        if cfg.k == 7:
            raise ValueError("a bug, not bad input")
        if cfg.k == 99:
            print("started", flush=True)
            time.sleep(60)
        print("k", cfg.k, list(cfg.index.search.get("ef", [])), flush=True)

    run_app(task)
    """
)


def _sigint_default() -> None:
    """In the child: SIGINT raises KeyboardInterrupt even when this test runs in a
    background job (whose SIGINT is ignored, and inherited so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _app(tmp: Path, *args: str, **kw) -> subprocess.Popen:
    script = tmp / "app.py"
    script.write_text(_APP)
    return subprocess.Popen(
        [
            sys.executable,
            str(script),
            *args,
            f"hydra.run.dir={tmp / 'run'}",
            f"hydra.sweep.dir={tmp / 'multirun'}",
        ],
        cwd=tmp,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
        **kw,
    )


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    proc = _app(tmp_path, "k=99", f"results.table={table}")
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == f"interrupted; finished configurations are in {table}"
    assert "Traceback" not in err


def test_flags_sweeps_and_errors_through_run_app(tmp_path: Path) -> None:
    proc = _app(tmp_path, "-m", "index.search.ef=[1],[2]")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "k 10 [1]" in out and "k 10 [2]" in out
    proc = _app(tmp_path, "--cfg", "job", "index=exact")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "_target_: lookup.index.exact.ExactIndex" in out
    proc = _app(tmp_path, "--help")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Powered by Hydra" in out
    proc = _app(tmp_path, "k=0")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err == "error: k=0 is invalid; valid: an integer >= 1\n"
    proc = _app(tmp_path, "k=7")  # a bug keeps its traceback and exits 1
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" in err and "a bug, not bad input" in err


def test_run_app_in_process_runs_the_task_once_per_job(tmp_path: Path) -> None:
    seen = []
    common = [f"hydra.run.dir={tmp_path / 'r'}", f"hydra.sweep.dir={tmp_path / 'm'}"]
    run_app(lambda cfg: seen.append(cfg.k), ["k=3", *common])
    run_app(lambda cfg: seen.append(cfg.k), ["-m", "k=4,5", *common])
    assert seen == [3, 4, 5]


def test_real_ctrl_c_of_python_m_bench(tmp_path: Path) -> None:
    """The real app, interrupted in the middle of a long warm-up: one line, exit 130."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "db.npy", rng.normal(size=(200, 8)).astype(np.float32))
    np.save(tmp_path / "q.npy", rng.normal(size=(20, 8)).astype(np.float32))
    table = tmp_path / "runs.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "dataset=vectors",
            "encoder=none",
            f"dataset.db={tmp_path / 'db.npy'}",
            f"dataset.queries={tmp_path / 'q.npy'}",
            "index=exact",
            "warmup=100000000",
            f"results.table={table}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    try:
        time.sleep(8)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # never leave a runaway job behind (warmup is 10^8 queries)
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == f"interrupted; finished configurations are in {table}"
    assert "Traceback" not in err and not table.exists()


def test_a_key_of_another_option_names_that_option(capsys) -> None:
    """The README's faiss tip on the default index: not '+index.factory' (which fails again)
    but the options that have the key, the closest first."""
    from bench.cli import BadInput, precheck

    with pytest.raises(BadInput) as exc:
        precheck(["index.factory='IVF1024,Flat'"])
    line = str(exc.value)
    assert "e.g. index=faiss_ivf index.factory='IVF1024,Flat'" in line and "+index" not in line
    with pytest.raises(BadInput, match=r"index options that have it: hnswlib \(e.g. index=hnswlib"):
        precheck(["index=annoy", "index.M=8"])
