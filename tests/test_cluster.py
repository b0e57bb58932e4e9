"""Sweeps through the cluster launchers (the ``[cluster]`` extra): Ray on a local cluster, submitit.

Each test runs the user's command, ``python -m bench -m hydra/launcher=...``, as a 4-job sweep
over tiny vectors, and reads the one table every job appended to: every (job, operating point)
row exactly once, the launcher recorded in every row. Skipped when the extra is not installed.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

INDEXES = ("hnswlib", "annoy", "exact", "faiss_flat")
TIMEOUT_S = 900  # a local Ray start alone takes ~30 s on a loaded 2-core machine


@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> dict[str, Path]:
    """600 database / 50 query vectors near 6 labelled centres (as in test_bench_e2e)."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("vectors")
    centres = rng.normal(size=(6, 16)).astype(np.float32)
    lab_b, lab_q = rng.integers(0, 6, 600), rng.integers(0, 6, 50)
    arrays = {
        "db": centres[lab_b] + 0.3 * rng.normal(size=(600, 16)).astype(np.float32),
        "queries": centres[lab_q] + 0.3 * rng.normal(size=(50, 16)).astype(np.float32),
        "db_labels": lab_b.astype(str),
        "query_labels": lab_q.astype(str),
    }
    paths = {}
    for name, arr in arrays.items():
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], arr)
    return paths


def _expected_points(index: str) -> int:
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[1] / "conf" / "index" / f"{index}.yaml"
    search = OmegaConf.load(conf).get("search") or {}
    return int(np.prod([len(v) for v in search.values()])) if search else 1


def _sweep(
    launcher_args: list[str], v: dict[str, Path], work: Path, env=None, relative: bool = True
) -> Path:
    """Run the 4-job sweep from ``work``; with ``relative``, table and cache paths are relative
    (workers started for the sweep share the driver's cwd; a running cluster's do not)."""
    where = Path() if relative else work
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "-m",
        *launcher_args,
        "dataset=vectors",
        "encoder=none",
        f"dataset.db={v['db']}",
        f"dataset.queries={v['queries']}",
        f"dataset.db_labels={v['db_labels']}",
        f"dataset.query_labels={v['query_labels']}",
        "warmup=2",
        "passes=1",
        "index=" + ",".join(INDEXES),
        f"results.table={where / 'runs.csv'}",
        f"cache_dir={where / 'cache'}",
        f"hydra.sweep.dir={work / 'multirun'}",
    ]
    env = env or {k: val for k, val in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    return work / "runs.csv"


def _check_table(table: Path, launcher: str) -> None:
    with open(table, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(_expected_points(i) for i in INDEXES)
    assert sorted({r["choice_index"] for r in rows}) == sorted(INDEXES)
    runs = {r["run_id"] for r in rows}
    assert len(runs) == len(INDEXES), "a job ran twice or not at all"
    for index in INDEXES:
        mine = [r for r in rows if r["choice_index"] == index]
        assert len({r["run_id"] for r in mine}) == 1
        assert len(mine) == _expected_points(index)
        knobs = [tuple(v for k, v in sorted(r.items()) if k.startswith("search_")) for r in mine]
        assert len(set(knobs)) == len(knobs), f"{index}: an operating point appears twice"
    assert {r["launcher"] for r in rows} == {launcher}
    if "host" in rows[0]:
        assert all(r["host"] for r in rows)
    assert all(float(r["recall_at_k"]) >= 0 for r in rows)


def test_ray_launcher_local_cluster(vectors, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    launcher = [
        "hydra/launcher=ray",
        "hydra.launcher.ray.init.address=local",  # a private local cluster, never a running one
        "+hydra.launcher.ray.init.num_cpus=2",
        "+hydra.launcher.ray.init.include_dashboard=false",
    ]
    table = _sweep(launcher, vectors, tmp_path)
    _check_table(table, "ray")
    # the cache entry the jobs share was written once and is complete
    assert len(list((tmp_path / "cache" / "exact").glob("*.npz"))) == 1


def test_submitit_local_launcher(vectors, tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    table = _sweep(
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=15"], vectors, tmp_path
    )
    _check_table(table, "submitit_local")
    assert len(list((tmp_path / "cache" / "exact").glob("*.npz"))) == 1


_HOLDER = """
import sys, ray
ray.init(address="local", num_cpus=2, resources={"bench_node": 1}, include_dashboard=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes stdin
ray.shutdown()
"""
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def _job_span(log: Path) -> tuple[str, str]:
    stamps = [m.group(1) for line in log.read_text().splitlines() if (m := _STAMP.match(line))]
    return stamps[0], stamps[-1]


def test_ray_latency_on_a_running_cluster_one_job_at_a_time(vectors, tmp_path: Path) -> None:
    """``ray_latency`` on a running cluster whose one node offers one ``bench_node``."""
    pytest.importorskip("ray")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    env = {k: val for k, val in os.environ.items() if k != "RAY_ADDRESS"}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER],
        cwd=tmp_path,  # a running cluster's workers start in its cwd, not the driver's
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        address = holder.stdout.readline().strip()
        assert address, "the Ray cluster did not start"
        launcher = ["hydra/launcher=ray_latency", f"hydra.launcher.ray.init.address={address}"]
        # Ray 2.60 clusters use token auth; with an explicit address the driver must opt in
        table = _sweep(
            launcher, vectors, tmp_path, {**env, "RAY_AUTH_MODE": "token"}, relative=False
        )
    finally:
        holder.stdin.close()
        try:
            holder.wait(timeout=120)
        except subprocess.TimeoutExpired:
            holder.kill()
    _check_table(table, "ray_latency")
    spans = sorted(_job_span(log) for log in (tmp_path / "multirun").glob("*/*.log"))
    assert len(spans) == len(INDEXES)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, "two jobs shared the node"
