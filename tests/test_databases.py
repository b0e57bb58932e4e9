"""The embedded databases (lookup.index.database): one fresh folder per build under ``workdir``,
removed by close, on a failed build and when the index is dropped; index_bytes is that folder;
query knobs really reach the engine. Each test skips when its package is not installed."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest
from test_index_contract import PACKAGES, structured

from lookup import registry
from lookup.errors import BadPath
from lookup.index.base import path_bytes
from lookup.index.database import DatabaseIndex
from lookup.index.exact import exact_knn
from lookup.metrics import recall_ids

DATABASES = {
    "qdrant": {},
    "chroma": {"max_neighbors": 8, "ef_construction": 32},
    "lancedb": {"index_type": "IVF_FLAT", "num_partitions": 2},
    "milvus_lite": {"index_type": "IVF_FLAT", "nlist": 4},
}


def test_every_registered_database_is_covered() -> None:
    dbs = {n for n in registry.INDEXES if issubclass(registry.resolve(n), DatabaseIndex)}
    assert dbs == set(DATABASES)


def make(name: str, workdir, **extra) -> DatabaseIndex:
    pytest.importorskip(PACKAGES[name])
    return registry.resolve(name)(
        metric="euclidean", workdir=str(workdir), **DATABASES[name], **extra
    )


@pytest.fixture(scope="module")
def tiny() -> tuple[np.ndarray, np.ndarray]:
    return structured(120, 5, 8, 3, seed=3)


def folders(workdir) -> list[str]:
    return sorted(p for p in os.listdir(workdir) if p.startswith("lookup-"))


@pytest.mark.parametrize("name", list(DATABASES))
def test_one_folder_per_build_removed_by_close(name: str, tiny, tmp_path) -> None:
    xb, xq = tiny
    index = make(name, tmp_path)
    assert folders(tmp_path) == []  # configuring creates nothing
    index.build(xb)
    first = folders(tmp_path)
    assert len(first) == 1 and index.folder == str(tmp_path / first[0])
    _, I = index.search(xq, 3)  # noqa: E741
    assert (I >= 0).all()

    # index_bytes: the database folder as it is on disk (save copies it)
    on_disk = path_bytes(index.folder)
    assert index.save(str(tmp_path / "copy")) == on_disk > 0

    index.build(xb)  # a rebuild starts from a fresh folder and removes the old one
    second = folders(tmp_path)
    assert len(second) == 1 and second != first
    index.close()
    assert folders(tmp_path) == []
    index.close()  # idempotent
    with pytest.raises(RuntimeError):
        index.search(xq, 3)


@pytest.mark.parametrize("name", list(DATABASES))
def test_folder_removed_when_the_index_is_dropped(name: str, tiny, tmp_path) -> None:
    index = make(name, tmp_path)
    index.build(tiny[0])
    assert len(folders(tmp_path)) == 1
    del index
    gc.collect()
    assert folders(tmp_path) == []


@pytest.mark.parametrize("name", list(DATABASES))
def test_failed_build_leaves_nothing(name: str, tiny, tmp_path, monkeypatch) -> None:
    index = make(name, tmp_path)
    real = type(index)._build

    def build_then_fail(self, xb):
        real(self, xb)  # the database is written, then something goes wrong
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(index), "_build", build_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        index.build(tiny[0])
    assert folders(tmp_path) == []
    with pytest.raises(RuntimeError):
        index.search(tiny[1], 3)


@pytest.mark.parametrize("name", list(DATABASES))
def test_workdir_must_exist(name: str, tmp_path) -> None:
    with pytest.raises(BadPath) as exc:
        registry.resolve(name)(workdir=str(tmp_path / "nope"))
    text = str(exc.value)
    assert "\n" not in text and "index.workdir=" in text and "valid:" in text


@pytest.mark.parametrize(
    "name,build,low,high",
    [
        (
            "chroma",
            {"max_neighbors": 4, "ef_construction": 8},
            {"ef_search": 1},
            {"ef_search": 400},
        ),
        ("milvus_lite", {"index_type": "IVF_FLAT", "nlist": 32}, {"nprobe": 1}, {"nprobe": 32}),
        (
            "lancedb",
            {"index_type": "IVF_FLAT", "num_partitions": 32},
            {"nprobes": 1},
            {"nprobes": 32},
        ),
    ],
)
def test_query_knobs_reach_the_engine(name, build, low, high, tmp_path) -> None:
    """Recall moves with the knob on one built database (Chroma keeps a loaded index's ef
    unless its client is reopened: this failed before the backend reopened it)."""
    pytest.importorskip(PACKAGES[name])
    xb, xq = structured(3000, 40, 16, 12, seed=4)
    true_I = exact_knn(xb, xq, 10, "euclidean")[1]
    index = registry.resolve(name)(metric="euclidean", workdir=str(tmp_path), **build)
    index.build(xb)
    recall = {}
    for label, knobs in (("low", low), ("high", high), ("low again", low)):
        index.set_search_params(**knobs)
        recall[label] = recall_ids(true_I, index.search(xq, 10)[1], 10)
    index.close()
    assert recall["high"] > recall["low"] + 0.2 and recall["low"] == recall["low again"], recall
    assert recall["high"] >= 0.95, recall  # chroma's graph (M=4) is not seeded: 0.985-1.0 seen
