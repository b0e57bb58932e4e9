"""Datasets: each loader returns a `Dataset` with a database side and a query side."""

from lookup.data.base import Dataset, fingerprint_texts

__all__ = ["Dataset", "fingerprint_texts"]
