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


def _load_names(**kw):
    """load_names with every name eligible (max_rank=None) unless a test sets max_rank: these
    tests were written for the rank-free rule; the rank rule has its own tests."""
    return load_names(**{"max_rank": None, **kw})


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
    ds = _load_names(min_share=0.5, limit=50, test_fraction=0.2, seed=0, cache_dir=cache)
    assert ds.name == "names" and (len(ds.db), len(ds.queries)) == (40, 10)
    assert not set(ds.db) & set(ds.queries)
    assert "Mixed" not in ds.db + ds.queries  # share 0.4 < 0.5
    again = _load_names(min_share=0.5, limit=50, test_fraction=0.2, seed=0, cache_dir=cache)
    assert again.db == ds.db and again.fingerprint == ds.fingerprint
    other = _load_names(min_share=0.5, limit=50, test_fraction=0.2, seed=1, cache_dir=cache)
    assert other.db != ds.db and other.fingerprint != ds.fingerprint
    # the cached table is used: the pickle is not read again
    monkeypatch.setattr(names, "_pickle_path", lambda: (_ for _ in ()).throw(AssertionError))
    every = _load_names(min_share=0.0, limit=None, cache_dir=cache)
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
        _load_names(cache_dir=str(tmp_path / "c"), **kw)


@pytest.mark.slow
def test_real_package_loads_fast_after_conversion(tmp_path):
    cache = str(tmp_path / "cache")
    _load_names(cache_dir=cache)  # one-time conversion
    t0 = time.perf_counter()
    ds = _load_names(cache_dir=cache, limit=20000)
    assert time.perf_counter() - t0 < 2.0
    assert (len(ds.db), len(ds.queries)) == (16000, 4000)


# --- labels=region, n_queries and nested subsets (a second tiny fake table) ---------------------

RAW2 = {
    "Smith": {"country": {"US": 0.4, "GB": 0.35, "FR": 0.25}},  # country 0.4, English 0.75
    "García": {"country": {"MX": 0.3, "ES": 0.3, "US": 0.4}},  # country US 0.4, Spanish 0.6
    "Müller": {"country": {"DE": 0.8, "CH": 0.2}},
    "Tie": {"country": {"US": 0.5, "FR": 0.5}},  # region tie -> first region (English-speaking)
}
RAW2.update({f"R{i:03d}": {"country": {("IT", "PL", "JP")[i % 3]: 0.9}} for i in range(300)})


@pytest.fixture
def fake_pkl2(tmp_path, monkeypatch):
    p = tmp_path / "last_names2.pkl.gz"
    with gzip.open(p, "wb") as f:
        pickle.dump(RAW2, f)
    monkeypatch.setattr(names, "_pickle_path", lambda: str(p))
    return str(tmp_path / "cache2")


def _labelled(ds):
    return dict(zip(ds.db + ds.queries, list(ds.db_labels) + list(ds.query_labels), strict=True))


def test_region_labels_sum_the_shares_of_a_regions_countries(fake_pkl2):
    by_country = _labelled(_load_names(labels="country", limit=None, cache_dir=fake_pkl2))
    assert "Smith" not in by_country and "García" not in by_country  # no country holds 0.5
    assert by_country["Müller"] == "DE" and by_country["Tie"] == "FR"  # tie -> alphabetical
    by_region = _labelled(_load_names(labels="region", limit=None, cache_dir=fake_pkl2))
    assert by_region["Smith"] == "English-speaking"
    assert by_region["García"] == "Spanish & Portuguese"  # non-ASCII names decode intact
    assert by_region["Müller"] == "Germanic" and by_region["Tie"] == "English-speaking"
    assert {by_region[f"R{i:03d}"] for i in range(3)} == {
        "Italian & Greek",
        "Slavic & Baltic",
        "East Asian",
    }
    strict = _labelled(_load_names(labels="region", min_share=0.7, limit=None, cache_dir=fake_pkl2))
    assert "Smith" in strict and "García" not in strict


def test_regions_recomputed_when_the_mapping_changed(fake_pkl2, monkeypatch):
    fresh = _load_names(labels="region", limit=None, cache_dir=fake_pkl2)
    table = names._load_table(fake_pkl2)
    stale = dict(table, region_of_country=np.full_like(table["region_of_country"], "Old"))
    stale["region"] = np.zeros_like(table["region"])
    monkeypatch.setattr(names, "_load_table", lambda cache_dir: stale)
    again = _load_names(labels="region", limit=None, cache_dir=fake_pkl2)
    assert _labelled(again) == _labelled(fresh)


def test_n_queries_fixes_the_queries_and_nests_the_databases(fake_pkl2):
    small = _load_names(limit=50, n_queries=10, seed=3, cache_dir=fake_pkl2)
    large = _load_names(limit=200, n_queries=10, seed=3, cache_dir=fake_pkl2)
    every = _load_names(limit=None, n_queries=10, seed=3, cache_dir=fake_pkl2)
    assert (len(small.queries), len(small.db)) == (10, 40)
    assert small.queries == large.queries == every.queries
    assert large.db[:40] == small.db and every.db[:190] == large.db
    assert list(every.db_labels[:40]) == list(small.db_labels)
    assert len(every.db) + 10 == 302  # all names with a country share >= 0.5
    assert not set(every.queries) & set(every.db)
    assert len({small.fingerprint, large.fingerprint, every.fingerprint}) == 3
    other_seed = _load_names(limit=50, n_queries=10, seed=4, cache_dir=fake_pkl2)
    assert other_seed.queries != small.queries
    # without n_queries the query side is a fraction, so it grows with the limit
    assert len(_load_names(limit=100, test_fraction=0.1, cache_dir=fake_pkl2).queries) == 10


def test_fingerprint_follows_content(fake_pkl2):
    a = _load_names(labels="country", limit=100, cache_dir=fake_pkl2)
    b = _load_names(labels="region", limit=100, cache_dir=fake_pkl2)
    assert (
        a.fingerprint == _load_names(labels="country", limit=100, cache_dir=fake_pkl2).fingerprint
    )
    assert a.fingerprint != b.fingerprint


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"labels": "continent"}, "labels='continent' is invalid; valid: country, region"),
        ({"min_share": -0.1}, "min_share=-0.1 is invalid"),
        ({"min_share": True}, "min_share=True is invalid"),
        ({"limit": 2.5}, "limit=2.5 is invalid"),
        ({"limit": 0}, "limit=0 is invalid"),
        ({"n_queries": 0}, "n_queries=0 is invalid"),
        ({"n_queries": 50, "limit": 50}, "n_queries=50 is invalid with limit=50"),
        ({"n_queries": 400, "limit": None}, "n_queries=400 is invalid: only 302 names"),
        ({"test_fraction": 1.0}, "test_fraction=1.0 is invalid"),
        ({"seed": -1}, "seed=-1 is invalid"),
        ({"seed": "0"}, "seed='0' is invalid"),
        ({"cache_dir": ""}, "cache_dir='' is invalid"),
    ],
)
def test_every_argument_is_checked_in_one_line(fake_pkl2, kw, message):
    kw = {"cache_dir": fake_pkl2, **kw}
    with pytest.raises(ValueError) as info:
        _load_names(**kw)
    assert str(info.value).startswith(f"dataset.{message}") and "\n" not in str(info.value)


def test_country_names_and_regions():
    from lookup.data.countries import COUNTRIES, REGIONS, country_name, region_of

    assert country_name("DE") == "Germany" and country_name("KR") == "South Korea"
    assert country_name("english") == "english"  # labels that are not codes pass through
    assert region_of("IE") == "English-speaking" and region_of("BR") == "Spanish & Portuguese"
    assert len(COUNTRIES) == 105 and set(REGIONS) == {c.region for c in COUNTRIES.values()}
    with pytest.raises(KeyError, match="XX"):
        region_of("XX")
    pycountry = pytest.importorskip("pycountry")  # names-dataset depends on it
    for code in COUNTRIES:
        assert pycountry.countries.get(alpha_2=code) is not None, code


@pytest.mark.slow
def test_real_package_every_name_loads_fast(tmp_path):
    cache = str(tmp_path / "cache")
    names._load_table(cache)  # one-time conversion
    t0 = time.perf_counter()
    ds = _load_names(cache_dir=cache, limit=None, n_queries=10000)
    assert time.perf_counter() - t0 < 3.0
    assert len(ds.queries) == 10000 and 700_000 < len(ds.db) < 750_000
    regions = _load_names(cache_dir=cache, labels="region", limit=20000)
    assert set(regions.db_labels) <= {c.region for c in names.COUNTRIES.values()}


# --- max_rank: common surnames only (ranks per country, 1 = most common) ------------------------

RAW3 = {
    "Common": {"country": {"DE": 0.9, "AT": 0.1}, "rank": {"DE": 3, "AT": 40}},
    "RareHere": {"country": {"DE": 0.9, "AT": 0.1}, "rank": {"DE": 5000, "AT": 2}},
    "Unranked": {"country": {"DE": 1.0}, "rank": {}},
    "Oneill": {"country": {"GB": 0.45, "IE": 0.26, "US": 0.29}, "rank": {"GB": 130, "IE": 21}},
    "BadRank": {"country": {"FR": 1.0}, "rank": {"FR": "x"}},
}
RAW3.update({f"C{i:03d}": {"country": {"IT": 0.9}, "rank": {"IT": i + 1}} for i in range(50)})


@pytest.fixture
def fake_pkl3(tmp_path, monkeypatch):
    p = tmp_path / "last_names3.pkl.gz"
    with gzip.open(p, "wb") as f:
        pickle.dump(RAW3, f)
    monkeypatch.setattr(names, "_pickle_path", lambda: str(p))
    return str(tmp_path / "cache3")


def test_max_rank_keeps_names_common_in_a_country_of_their_label(fake_pkl3):
    def kept(**kw):
        return set(_labelled(_load_names(limit=None, cache_dir=fake_pkl3, **kw)))

    every = kept()
    assert {"Common", "RareHere", "Unranked", "BadRank"} <= every and "Oneill" not in every
    top10 = kept(max_rank=10)
    # ranked in the labelled country (DE 3), not merely somewhere (RareHere is 2nd in AT only)
    assert top10 == {"Common"} | {f"C{i:03d}" for i in range(10)}
    # region labels: the best rank among the region's countries (IE 21 for English-speaking)
    assert "Oneill" in kept(labels="region", max_rank=25)
    assert "Oneill" not in kept(labels="region", max_rank=20)
    assert "RareHere" in kept(labels="region", max_rank=2)  # AT is Germanic too
    with pytest.raises(ValueError, match=r"dataset\.max_rank=0 is invalid"):
        _load_names(max_rank=0, cache_dir=fake_pkl3)
    with pytest.raises(ValueError, match=r"dataset\.max_rank=True is invalid"):
        _load_names(max_rank=True, cache_dir=fake_pkl3)
    with pytest.raises(ValueError, match=r"dataset\.max_rank=1 is invalid .*only 1 names"):
        _load_names(max_rank=1, labels="country", cache_dir=fake_pkl3, limit=None)


def test_label_shares_look_names_up_as_typed_then_folded(fake_pkl3):
    common, oneill, missing = names.label_shares(
        ["Common", "O'NEILL", "Nobody"], cache_dir=fake_pkl3
    )
    assert common == pytest.approx({"DE": 0.9, "AT": 0.1})
    assert oneill == pytest.approx({"GB": 0.45, "IE": 0.26, "US": 0.29})
    assert missing is None
    (region,) = names.label_shares(["Oneill"], labels="region", cache_dir=fake_pkl3)
    assert region == pytest.approx({"English-speaking": 1.0})  # GB + IE + US
    with pytest.raises(ValueError, match="labels='x' is invalid"):
        names.label_shares(["Common"], labels="x", cache_dir=fake_pkl3)


# --- the streaming conversion (the package's layout) against pickle.load + build_table ----------


def _package_like(n: int) -> dict:
    """A dict laid out like names-dataset's: every name with country, gender and rank dicts,
    country codes shared (interned) as in the package, > 1000 items (several top-level
    batches) and > 256 memoized objects (LONG_BINGET references)."""
    import sys

    rng = np.random.default_rng(0)
    codes = [sys.intern(c) for c in ("US", "GB", "DE", "FR", "JP", "PR", "MX", "NG", "CM", "IT")]
    raw = {}
    for i in range(n):
        k = int(rng.integers(1, 4))
        picked = rng.choice(len(codes), k, replace=False)
        shares = rng.dirichlet(np.ones(k))
        country = {codes[j]: float(round(s, 3)) for j, s in zip(picked, shares, strict=True)}
        ranks = {
            codes[j]: int(rng.integers(1, 70000)) for j in picked[: int(rng.integers(0, k + 1))]
        }
        name = f"{'  ' if i % 97 == 0 else ''}Näme{i % (n - 5)}"  # some duplicates, stripped
        raw[name] = {"country": country, "gender": {}, "rank": ranks}
    raw["Late"] = {"country": {sys.intern("ZZ"): 1.0}, "gender": {}, "rank": {"ZZ": 5}}  # new code
    return raw


def _same_tables(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_streaming_conversion_equals_pickle_load(tmp_path, monkeypatch, caplog):
    raw = _package_like(2600)
    p = tmp_path / "last_names.pkl.gz"
    with gzip.open(p, "wb") as f:
        pickle.dump(raw, f, protocol=4)
    collector = names._collect_package(str(p))
    assert collector.items == len(raw) and collector.strict
    _same_tables(names._table(collector), build_table(raw))
    # and through the cache, with no fallback
    monkeypatch.setattr(names, "_pickle_path", lambda: str(p))
    caplog.set_level("INFO", logger="lookup.data.names")
    names._load_table(str(tmp_path / "cache"))
    assert "not recognised" not in caplog.text


def test_items_of_another_shape_stream_too_and_a_foreign_layout_falls_back(
    fake_pkl, tmp_path, monkeypatch, caplog
):
    """RAW's names mostly lack gender/rank: the rewrite leaves them as they are (they are still
    read exactly, only not released early). A layout outside the package's (an unknown key)
    makes the streaming path refuse: one log line, then pickle.load, the same table."""
    caplog.set_level("INFO", logger="lookup.data.names")
    _same_tables(names._table(names._collect_package(str(fake_pkl))), build_table(RAW))
    odd = dict(RAW, Odd={"country": {"DE": 1.0}, "origin": "x"})
    p = tmp_path / "odd.pkl.gz"
    with gzip.open(p, "wb") as f:
        pickle.dump(odd, f, protocol=4)
    monkeypatch.setattr(names, "_pickle_path", lambda: str(p))
    table = names._load_table(str(tmp_path / "cache"))
    assert "names package layout not recognised (unexpected entry 'Odd'" in caplog.text
    _same_tables(table, build_table(odd))
