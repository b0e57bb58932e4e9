"""The value every dataset loader returns."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Database and query items with their labels.

    For text datasets ``db``/``queries`` are lists of strings (the encoder's training split is
    the database side); for precomputed vectors they are float32 arrays and ``metric`` says how
    the vectors are meant to be compared. ``fingerprint`` identifies the content for caches.
    ``query_groups`` names a group per query (short, long, misspelt, ...; None: one group),
    as read from a ``group=`` column (``lookup.data.texts``).
    """

    name: str
    db: Sequence[str] | np.ndarray
    queries: Sequence[str] | np.ndarray
    db_labels: np.ndarray | None  # (n_db,) str, or None when the data has no labels
    query_labels: np.ndarray | None  # (n_queries,)
    fingerprint: str
    metric: str | None = None
    query_groups: np.ndarray | None = None  # (n_queries,) str, or None when ungrouped

    @property
    def is_text(self) -> bool:
        return not isinstance(self.db, np.ndarray)


def fingerprint(*parts: Sequence[str] | np.ndarray | bytes | None) -> str:
    """The content fingerprint of a dataset (16 hex of sha256), the one helper every loader
    uses: each part a sequence of texts, a numeric array (shape, dtype and bytes), raw bytes,
    or None; stable across runs and machines. A loader passes everything that makes its
    content: both sides, their labels, and anything else it returns."""
    h = hashlib.sha256()
    for part in parts:
        h.update(b"\x1e")
        if part is None:
            continue
        if isinstance(part, bytes):
            h.update(part)
        elif isinstance(part, np.ndarray) and part.dtype.kind in "biuf":
            a = np.ascontiguousarray(part)
            h.update(f"{a.shape}{a.dtype}".encode())
            h.update(a.data)
        else:
            h.update("\x1f".join(map(str, part)).encode("utf-8"))
    return h.hexdigest()[:16]


def fingerprint_texts(*parts: Sequence[str] | None) -> str:
    """:func:`fingerprint` of text columns (the name other caches use)."""
    return fingerprint(*parts)
