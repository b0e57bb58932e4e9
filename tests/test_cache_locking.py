"""The content-keyed caches under concurrency: several processes, one computation per key.

Jobs of a parallel sweep (the Ray or submitit launchers, or two shells) share one cache
directory. Each test starts fresh processes with the ``spawn`` method (no state inherited from
pytest), releases them together through a barrier, and lets every one ask the cache for the
same entry. Every call of the compute function leaves a marker file, so the tests count how
often the work was really done.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
import uuid
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from lookup.cache import cached_arrays

N_PROCS = 4
DELAY_S = 0.5  # compute sleeps this long, so the other processes arrive while it runs
TIMEOUT_S = 180  # generous: spawned interpreters start slowly on a loaded 2-core machine


def _compute(marker_dir: str, tag: str) -> tuple[dict[str, np.ndarray], dict]:
    """The cached work: leaves a marker per call, takes DELAY_S, returns fixed arrays."""
    (Path(marker_dir) / f"{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}").touch()
    time.sleep(DELAY_S)
    rng = np.random.default_rng(int.from_bytes(tag.encode(), "little"))  # one seed per key
    arrays = {"x": rng.normal(size=(64, 8)).astype(np.float32), "ids": np.arange(64)}
    return arrays, {"computed_by": os.getpid(), "tag": tag}


def _compute_failing_first(marker_dir: str, flag: str) -> tuple[dict[str, np.ndarray], dict]:
    """The first call anywhere raises (before any marker); later calls compute normally."""
    try:
        os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return _compute(marker_dir, "a")
    raise RuntimeError("injected failure")


def _array_worker(barrier, queue, cache_dir: str, key: str, compute) -> None:
    try:
        barrier.wait(timeout=TIMEOUT_S)
        arrays, meta, hit = cached_arrays(cache_dir, "vectors", key, compute)
        queue.put(("ok", os.getpid(), key, hit, arrays, meta))
    except RuntimeError as exc:
        queue.put(("raised", os.getpid(), key, str(exc), None, None))
    except BaseException:  # noqa: BLE001 - report anything else to the parent
        queue.put(("error", os.getpid(), key, traceback.format_exc(), None, None))


def _train_worker(barrier, queue, cache_dir: str, marker_dir: str) -> None:
    try:
        import torch

        from lookup.encoders.char_rnn import train as tr

        torch.set_num_threads(1)
        real_train = tr.train

        def counting_train(*args, **kwargs):
            (Path(marker_dir) / f"train-{os.getpid()}").touch()
            time.sleep(DELAY_S)
            return real_train(*args, **kwargs)

        tr.train = counting_train  # train_cached looks train up in its module at call time
        cfg = tr.TrainConfig(
            task="predict", embedding_size=4, hidden_size=8, epochs=1, batch_size=8, seed=0
        )
        barrier.wait(timeout=TIMEOUT_S)
        model, _vec, metrics = tr.train_cached(cfg, _NAMES, None, cache_dir=cache_dir)
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        queue.put(("ok", os.getpid(), "rnn", False, state, metrics))
    except BaseException:  # noqa: BLE001
        queue.put(("error", os.getpid(), "rnn", traceback.format_exc(), None, None))


_NAMES = ["smith", "jones", "nakamoto", "schmidt", "oneill", "garcia", "muller", "rossi"] * 4


def _run_together(target, args_per_proc: list[tuple]) -> list[tuple]:
    """Start one spawned process per args tuple, release them at once, collect their reports."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(args_per_proc))
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(barrier, queue, *a)) for a in args_per_proc]
    for p in procs:
        p.start()
    try:
        reports = [queue.get(timeout=TIMEOUT_S) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [r[3] for r in reports if r[0] == "error"]
    assert not errors, "\n".join(errors)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return reports


def _markers(marker_dir: Path, tag: str) -> list[str]:
    return sorted(p.name for p in marker_dir.iterdir() if p.name.startswith(f"{tag}-"))


def _leftover_temporaries(folder: Path) -> list[str]:
    """Hidden temp files of an interrupted write (lock files are expected and kept)."""
    return [p.name for p in folder.rglob(".*") if not p.name.endswith(".lock")]


def test_one_key_is_computed_once_and_read_by_all(tmp_path: Path) -> None:
    cache, markers = tmp_path / "cache", tmp_path / "markers"
    markers.mkdir()
    compute = partial(_compute, str(markers), "a")
    reports = _run_together(_array_worker, [(str(cache), "k1", compute)] * N_PROCS)

    assert len(_markers(markers, "a")) == 1, "the entry was computed more than once"
    assert sorted(r[3] for r in reports) == [False] + [True] * (N_PROCS - 1)
    first = reports[0]
    for r in reports[1:]:
        assert r[4].keys() == first[4].keys()
        for name in first[4]:
            np.testing.assert_array_equal(r[4][name], first[4][name])
        assert r[5] == first[5]  # every process read the one computation's meta
    assert _leftover_temporaries(cache) == []
    # a later job is a plain hit and computes nothing
    _, _, hit = cached_arrays(cache, "vectors", "k1", compute)
    assert hit and len(_markers(markers, "a")) == 1


def test_different_keys_each_computed_once(tmp_path: Path) -> None:
    cache, markers = tmp_path / "cache", tmp_path / "markers"
    markers.mkdir()
    args = [(str(cache), key, partial(_compute, str(markers), key)) for key in ("a", "a", "b", "b")]
    reports = _run_together(_array_worker, args)

    assert len(_markers(markers, "a")) == 1 and len(_markers(markers, "b")) == 1
    for key in ("a", "b"):
        mine = [r for r in reports if r[2] == key]
        assert sorted(r[3] for r in mine) == [False, True]
        np.testing.assert_array_equal(mine[0][4]["x"], mine[1][4]["x"])
    a = next(r for r in reports if r[2] == "a")[4]["x"]
    b = next(r for r in reports if r[2] == "b")[4]["x"]
    assert not np.array_equal(a, b)


def test_a_failed_computation_writes_nothing_and_the_next_process_computes(
    tmp_path: Path,
) -> None:
    cache, markers = tmp_path / "cache", tmp_path / "markers"
    markers.mkdir()
    compute = partial(_compute_failing_first, str(markers), str(tmp_path / "failed-once"))
    reports = _run_together(_array_worker, [(str(cache), "k1", compute)] * N_PROCS)

    kinds = sorted(r[0] for r in reports)
    assert kinds == ["ok"] * (N_PROCS - 1) + ["raised"]
    ok = [r for r in reports if r[0] == "ok"]
    assert sorted(r[3] for r in ok) == [False] + [True] * (N_PROCS - 2)
    assert len(_markers(markers, "a")) == 1
    for r in ok[1:]:
        np.testing.assert_array_equal(r[4]["x"], ok[0][4]["x"])
    assert _leftover_temporaries(cache) == []


def test_char_rnn_checkpoint_is_trained_once(tmp_path: Path) -> None:
    tr = pytest.importorskip("lookup.encoders.char_rnn.train")
    if not hasattr(tr, "train_cached"):
        pytest.skip("lookup.encoders.char_rnn.train has no train_cached")
    cache, markers = tmp_path / "cache", tmp_path / "markers"
    markers.mkdir()
    reports = _run_together(
        _train_worker, [(str(cache), str(markers))] * 2
    )  # torch import: 2 suffice

    assert len(_markers(markers, "train")) == 1, "the checkpoint was trained more than once"
    first = reports[0]
    for r in reports[1:]:
        assert r[4].keys() == first[4].keys()
        for name in first[4]:
            np.testing.assert_array_equal(r[4][name], first[4][name])
        assert r[5] == first[5]
    assert _leftover_temporaries(cache) == []
