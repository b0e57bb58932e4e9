"""The PyTorch NLP tutorial's surnames dataset (18 nationalities, train/test splits).

CSV with header ``split,surname,nationality``; ``split`` is ``train`` or ``test``. The train split
is the database side, the test split the queries.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import urllib.error
import urllib.request

import numpy as np

from lookup.data.base import Dataset, fingerprint_texts
from lookup.errors import BadInput, MissingFile
from lookup.io import atomic_path, check_input_file, open_regular

log = logging.getLogger(__name__)

COLUMNS = ("split", "surname", "nationality")
SPLITS = ("train", "test")
FILENAME = "surnames.csv"
# Pinned copy for users with internet. The checksum is that of the reference copy this project is
# tested against; a download whose bytes differ is rejected, never used.
URL = "https://raw.githubusercontent.com/joosthub/pytorch-nlp-tutorial-ny2018/master/data/surnames.csv"
SHA256 = "e61a6a7e8e1f0bf07b2c13020c53eabf4ee8ff6ea3606f68967946bcf5b54624"


def default_path() -> str | None:
    """``$LOOKUP_DATA_DIR/surnames.csv`` or None when the variable is unset."""
    d = os.environ.get("LOOKUP_DATA_DIR")
    return os.path.join(d, FILENAME) if d else None


def fetch(dest: str, *, url: str = URL, sha256: str = SHA256, timeout: float = 60.0) -> str:
    """Fetch ``url`` to ``dest``, verify its sha256, and move it into place atomically
    (:func:`lookup.io.atomic_path`: through a symlink, never over a FIFO or device).

    On a checksum mismatch or any error nothing is left at ``dest``.
    """
    h = hashlib.sha256()
    try:
        with atomic_path(dest, suffix=".csv", key="dataset.path") as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                while chunk := resp.read(1 << 16):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != sha256:
                raise BadInput(
                    f"download of {url} has sha256 {h.hexdigest()}, expected {sha256}; not saved"
                )
    except urllib.error.URLError as exc:  # no network, DNS, HTTP 404, ...
        raise BadInput(
            f"could not download {url} ({exc.reason}); put the CSV at {dest} or set path=..."
        ) from None
    log.info("downloaded %s -> %s (sha256 ok)", url, dest)
    return dest


def read_surnames_csv(path: str) -> tuple[list[str], list[str], list[str]]:
    """(splits, surnames, nationalities); one-line ValueError on any malformed content."""
    check_input_file("dataset.path", path, valid="a surnames CSV file")
    try:
        raw = open_regular("dataset.path", path)
        with io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise BadInput(f"{path} is empty; expected a CSV with header {','.join(COLUMNS)}")
            header = [h.strip() for h in header]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise BadInput(
                    f"{path} lacks columns {missing}; expected header {','.join(COLUMNS)}"
                )
            cols = [header.index(c) for c in COLUMNS]
            splits, names, nats = [], [], []
            for lineno, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise BadInput(
                        f"{path}:{lineno} has {len(row)} fields, expected {len(header)} "
                        f"({','.join(header)})"
                    )
                sp, name, nat = (row[i] for i in cols)
                if sp not in SPLITS:
                    raise BadInput(f"{path}:{lineno} split {sp!r} is not one of {SPLITS}")
                if not name or not nat:
                    raise BadInput(f"{path}:{lineno} has an empty surname or nationality")
                splits.append(sp)
                names.append(name)
                nats.append(nat)
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not UTF-8 text ({exc.reason}); expected a CSV") from None
    if not names:
        raise BadInput(f"{path} has a header but no rows; expected {','.join(COLUMNS)} rows")
    return splits, names, nats


def load_surnames(path: str | None = None, *, download: bool = False) -> Dataset:
    """Load the tutorial surnames: db = train split, queries = test split.

    Args:
        path: CSV file; None means ``$LOOKUP_DATA_DIR/surnames.csv``.
        download: if the file is missing, fetch it from the pinned `URL` and check `SHA256`.
    """
    if path is None:
        path = default_path()
        if path is None:
            raise MissingFile(
                "no surnames CSV: pass path=... or set LOOKUP_DATA_DIR to the directory "
                f"holding {FILENAME}"
            )
    if not os.path.lexists(path):
        if not download:
            raise MissingFile(
                f"dataset.path={path} does not exist; valid: the tutorial's surnames.csv (set "
                "LOOKUP_DATA_DIR to its folder or dataset.path=FILE), or dataset.download=true "
                "to fetch it (README: Data)"
            )
        fetch(path)
    splits, names, nats = read_surnames_csv(path)
    sp = np.asarray(splits)
    arr_names = np.asarray(names, dtype=object)
    arr_nats = np.asarray(nats)
    tr, te = sp == "train", sp == "test"
    if not tr.any() or not te.any():
        raise BadInput(
            f"{path} needs both train and test rows; got {int(tr.sum())}/{int(te.sum())}"
        )
    db, queries = list(arr_names[tr]), list(arr_names[te])
    log.info("surnames: %d train / %d test from %s", len(db), len(queries), path)
    return Dataset(
        name="surnames",
        db=db,
        queries=queries,
        db_labels=arr_nats[tr],
        query_labels=arr_nats[te],
        fingerprint=fingerprint_texts(db, list(arr_nats[tr]), queries, list(arr_nats[te])),
    )
