"""names-dataset loader on a tiny fake pickle (the real one takes ~8 s to convert: slow test)."""

from __future__ import annotations

import gzip
import pickle
import time

import numpy as np
import pytest

from lookup.data import names
from lookup.data.names import build_table, load_names

RAW = {
    " Cruz": {"country": {"PR": 1.0}, "gender": {}, "rank": {}},
    "Cruz": {"country": {"MX": 0.9, "PR": 0.1}, "gender": {}, "rank": {}},  # dup after strip
    "Abba": {"country": {"CM": 0.021, "NG": 0.979}, "gender": {}, "rank": {}},
    "Even": {"country": {"US": 0.5, "GB": 0.5}, "gender": {}, "rank": {}},  # tie -> GB
    "Mixed": {"country": {"A1": 0.3, "B1": 0.3, "C1": 0.4}, "gender": {}, "rank": {}},
    "Empty": {"country": {}, "gender": {}, "rank": {}},
}
RAW.update({f"N{i:03d}": {"country": {"FR" if i % 2 else "DE": 0.8}} for i in range(100)})


@pytest.fixture
def fake_pkl(tmp_path, monkeypatch):
    p = tmp_path / "last_names.pkl.gz"
    with gzip.open(p, "wb") as f:
        pickle.dump(RAW, f)
    monkeypatch.setattr(names, "_pickle_path", lambda: str(p))
    return p


def test_build_table():
    t = build_table(RAW)
    blob = t["blob"].tobytes()
    got = [blob[a:b].decode() for a, b in zip(t["offsets"][:-1], t["offsets"][1:], strict=True)]
    assert got[:4] == ["Cruz", "Abba", "Even", "Mixed"]  # stripped, deduped, "Empty" dropped
    countries = t["countries"][t["country"]]
    assert list(countries[:4]) == ["PR", "NG", "GB", "C1"]
    np.testing.assert_allclose(t["share"][:4], [1.0, 0.979, 0.5, 0.4])


def test_load_split_limit_min_share_and_cache(fake_pkl, tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    ds = load_names(min_share=0.5, limit=50, test_fraction=0.2, seed=0, cache_dir=cache)
    assert ds.name == "names" and (len(ds.db), len(ds.queries)) == (40, 10)
    assert not set(ds.db) & set(ds.queries)
    assert "Mixed" not in ds.db + ds.queries  # share 0.4 < 0.5
    again = load_names(min_share=0.5, limit=50, test_fraction=0.2, seed=0, cache_dir=cache)
    assert again.db == ds.db and again.fingerprint == ds.fingerprint
    other = load_names(min_share=0.5, limit=50, test_fraction=0.2, seed=1, cache_dir=cache)
    assert other.db != ds.db and other.fingerprint != ds.fingerprint
    # the cached table is used: the pickle is not read again
    monkeypatch.setattr(names, "_pickle_path", lambda: (_ for _ in ()).throw(AssertionError))
    every = load_names(min_share=0.0, limit=None, cache_dir=cache)
    assert len(every.db) + len(every.queries) == 104
    assert set(every.db_labels) | set(every.query_labels) <= {"PR", "NG", "GB", "C1", "FR", "DE"}


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"min_share": 1.5}, "min_share"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"limit": 1}, "limit"),
        ({"min_share": 1.0, "limit": None}, "only 1 names"),
    ],
)
def test_bad_arguments(fake_pkl, tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        load_names(cache_dir=str(tmp_path / "c"), **kw)


@pytest.mark.slow
def test_real_package_loads_fast_after_conversion(tmp_path):
    cache = str(tmp_path / "cache")
    load_names(cache_dir=cache)  # one-time conversion
    t0 = time.perf_counter()
    ds = load_names(cache_dir=cache, limit=20000)
    assert time.perf_counter() - t0 < 2.0
    assert (len(ds.db), len(ds.queries)) == (16000, 4000)
