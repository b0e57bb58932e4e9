"""Caches heal: a damaged entry is one warning, moved aside, recomputed, then a clean hit."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from lookup.cache import cached_arrays, quarantine
from lookup.io import atomic_path, atomic_write_bytes


def _compute(calls: list[int]):
    def compute():
        calls.append(1)
        return {"xb": np.arange(6, dtype=np.float32).reshape(3, 2), "xq": np.ones((1, 2))}, {
            "encode_db_s": 0.5
        }

    return compute


def _good_entry(tmp_path: Path) -> Path:
    calls: list[int] = []
    cached_arrays(tmp_path, "vectors", "abc", _compute(calls))
    assert calls == [1]
    return tmp_path / "vectors" / "abc.npz"


def _missing_array(path: Path) -> None:
    """An entry that says it holds xb and xq but holds only xb."""
    with np.load(path) as z:
        kept = {name: z[name] for name in z.files if name != "xq"}
    np.savez(path, **kept)


def _no_meta(path: Path) -> None:
    np.savez(path, xb=np.zeros((3, 2)), xq=np.zeros((1, 2)))


def _bad_meta(path: Path) -> None:
    np.savez(path, __meta__=np.array("{not json"), xb=np.zeros((3, 2)), xq=np.zeros((1, 2)))


DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_bytes(os.urandom(300)),
    "missing-array": _missing_array,
    "no-meta": _no_meta,
    "bad-meta-json": _bad_meta,
    "pickled-object": lambda p: np.savez(p, __meta__=np.array("{}"), xb=np.array([{}, 1])),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_entry_heals_with_one_warning(tmp_path: Path, caplog, damage: str) -> None:
    path = _good_entry(tmp_path)
    DAMAGE[damage](path)
    calls: list[int] = []
    with caplog.at_level(logging.WARNING, logger="lookup.cache"):
        arrays, meta, hit = cached_arrays(tmp_path, "vectors", "abc", _compute(calls))
    assert not hit and calls == [1]
    assert arrays["xb"].shape == (3, 2) and meta == {"encode_db_s": 0.5}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert str(path) in text and "\n" not in text and "corrupt" in text
    assert (path.parent / "abc.npz.corrupt").exists()
    caplog.clear()
    again: list[int] = []
    with caplog.at_level(logging.WARNING, logger="lookup.cache"):
        arrays, meta, hit = cached_arrays(tmp_path, "vectors", "abc", _compute(again))
    assert hit and again == [] and meta == {"encode_db_s": 0.5}
    assert np.array_equal(arrays["xq"], np.ones((1, 2)))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_expect_names_required_arrays(tmp_path: Path) -> None:
    _good_entry(tmp_path)
    calls: list[int] = []
    _, _, hit = cached_arrays(tmp_path, "vectors", "abc", _compute(calls), expect=("xb", "D"))
    assert not hit and calls == [1]  # no D: recomputed


def test_an_older_corrupt_copy_is_replaced(tmp_path: Path) -> None:
    path = _good_entry(tmp_path)
    (path.parent / "abc.npz.corrupt").write_bytes(b"old")
    path.write_bytes(b"new garbage")
    cached_arrays(tmp_path, "vectors", "abc", _compute([]))
    assert (path.parent / "abc.npz.corrupt").read_bytes() == b"new garbage"


def test_quarantine_moves_files_and_folders(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "char_rnn" / "key"
    folder.mkdir(parents=True)
    (folder / "model.state").write_bytes(b"x")
    old = tmp_path / "char_rnn" / "key.corrupt"
    old.mkdir()
    (old / "stale").write_bytes(b"y")
    with caplog.at_level(logging.WARNING, logger="lookup.cache"):
        quarantine(folder, "vocab.json: bad\ntypes")
    assert not folder.exists()
    assert (old / "model.state").read_bytes() == b"x" and not (old / "stale").exists()
    (msg,) = [r.getMessage() for r in caplog.records]
    assert str(folder) in msg and "vocab.json: bad types" in msg
    quarantine(tmp_path / "never-there", "gone")  # nothing to move: no error


def test_cache_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = _good_entry(tmp_path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_atomic_writes_keep_the_old_mode_and_clean_up(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"
    old = os.umask(0o002)
    try:
        atomic_write_bytes(target, b"one")
        assert stat.S_IMODE(target.stat().st_mode) == 0o664
        os.chmod(target, 0o640)
        atomic_write_bytes(target, b"two")
        assert target.read_bytes() == b"two"
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
    finally:
        os.umask(old)
    with pytest.raises(RuntimeError), atomic_path(target, suffix=".npz") as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".npz")
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]


def test_names_table_heals(tmp_path: Path, caplog, monkeypatch) -> None:
    import gzip
    import pickle

    from lookup.data import names

    raw = {"Abe": {"country": {"DE": 0.9, "AT": 0.1}}, "Bo": {"country": {"JP": 0.8}}}
    src = tmp_path / "last_names.pkl.gz"
    with gzip.open(src, "wb") as f:
        pickle.dump(raw, f)
    monkeypatch.setattr(names, "_pickle_path", lambda: str(src))
    cache = tmp_path / "cache"
    path = cache / names.TABLE_NAME
    first = names._load_table(str(cache))
    assert names._decode(first["blob"], first["offsets"], [0, 1]) == ["Abe", "Bo"]
    good = path.read_bytes()
    for damage in (b"", b"garbage", good[:40], good[: len(good) - 30]):
        path.write_bytes(damage)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="lookup.cache"):
            out = names._load_table(str(cache))
        assert names._decode(out["blob"], out["offsets"], [1]) == ["Bo"]
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and str(path) in warnings[0]
        assert (cache / (names.TABLE_NAME + ".corrupt")).read_bytes() == damage
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="lookup.cache"):
            names._load_table(str(cache))  # then a clean hit
        assert not caplog.records
