"""Surnames loader: the shared reference copy, malformed CSVs, the checksummed download."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from lookup.data import surnames
from lookup.data.surnames import fetch, load_surnames

DATA_DIR = Path(
    os.environ.get("LOOKUP_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared/data")
)
SHARED = DATA_DIR / "surnames.csv"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} not available")

GOOD = (
    "split,surname,nationality\ntrain,Hadad,arabic\ntrain,Smith,english\ntest,Nakamura,japanese\n"
)


def write(tmp_path, text: str, name: str = "s.csv") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


@needs_shared
def test_shared_copy_loads():
    ds = load_surnames(str(SHARED))
    assert ds.name == "surnames"
    assert (len(ds.db), len(ds.queries)) == (16059, 4015)
    assert len(set(ds.db_labels)) == 18
    assert ds.db_labels.shape == (16059,) and ds.query_labels.shape == (4015,)
    assert isinstance(ds.db[0], str) and ds.is_text


@needs_shared
def test_env_var_default(monkeypatch):
    monkeypatch.setenv("LOOKUP_DATA_DIR", str(DATA_DIR))
    assert load_surnames().fingerprint == load_surnames(str(SHARED)).fingerprint


def test_tiny_csv_and_fingerprint(tmp_path):
    ds = load_surnames(write(tmp_path, GOOD))
    assert ds.db == ["Hadad", "Smith"] and ds.queries == ["Nakamura"]
    assert list(ds.db_labels) == ["arabic", "english"]
    ds2 = load_surnames(write(tmp_path, GOOD.replace("Smith", "Smyth"), "t.csv"))
    assert ds2.fingerprint != ds.fingerprint


def test_no_path_no_env(monkeypatch):
    monkeypatch.delenv("LOOKUP_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="LOOKUP_DATA_DIR"):
        load_surnames()


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset.download=true"):
        load_surnames(str(tmp_path / "nope.csv"))


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "is empty"),
        ("split,surname,nationality\n", "no rows"),
        ("split,name\ntrain,Hadad\n", r"lacks columns \['surname', 'nationality'\]"),
        ("split,surname,nationality\ntrain,Hadad\n", "2 fields, expected 3"),
        ("split,surname,nationality\nval,Hadad,arabic\n", "split 'val'"),
        ("split,surname,nationality\ntrain,,arabic\n", "empty surname"),
        ("split,surname,nationality\ntrain,Hadad,arabic\n", "both train and test"),
    ],
)
def test_malformed_csv(tmp_path, text, match):
    with pytest.raises(ValueError, match=match) as info:
        load_surnames(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_not_utf8(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(b"split,surname,nationality\ntrain,\xff\xfe,x\n")
    with pytest.raises(ValueError, match="UTF-8"):
        load_surnames(str(p))


def test_download_verifies_checksum_and_is_atomic(tmp_path):
    src = Path(write(tmp_path, GOOD, "remote.csv"))
    url = src.as_uri()
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    out_dir = tmp_path / "dl"
    dest = out_dir / "surnames.csv"

    with pytest.raises(ValueError, match="sha256") as info:
        fetch(str(dest), url=url, sha256="0" * 64)
    assert "\n" not in str(info.value)
    assert list(out_dir.iterdir()) == []  # nothing half-written, no temp file

    assert fetch(str(dest), url=url, sha256=sha) == str(dest)
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in out_dir.iterdir()] == ["surnames.csv"]


def test_load_with_download(tmp_path, monkeypatch):
    src = Path(write(tmp_path, GOOD, "remote.csv"))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setattr(surnames, "fetch", lambda dest: fetch(dest, url=src.as_uri(), sha256=sha))
    ds = load_surnames(str(tmp_path / "cache" / "surnames.csv"), download=True)
    assert ds.queries == ["Nakamura"]


def test_download_failure_is_one_line_and_leaves_nothing(tmp_path):
    """An unreachable URL (a closed local port, never the network) is a ValueError."""
    dest = tmp_path / "s.csv"
    with pytest.raises(ValueError, match="could not download"):
        fetch(str(dest), url="http://127.0.0.1:9/surnames.csv", timeout=5)
    assert list(tmp_path.iterdir()) == []
