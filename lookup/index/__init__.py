"""ANN backends behind one small Index protocol (see :mod:`lookup.protocols`).

Every backend takes its build parameters as constructor keywords, lists its query knobs in
``SEARCH_PARAMS``, reports harness distances and int64 ids padded with -1, and never raises
when its library finds fewer than k results.
"""

from __future__ import annotations

from lookup.index.annoy_backend import AnnoyIndex
from lookup.index.exact import ExactIndex
from lookup.index.faiss_backend import FaissIndex
from lookup.index.hnswlib_backend import HnswlibIndex

BACKENDS: dict[str, type] = {
    "exact": ExactIndex,
    "annoy": AnnoyIndex,
    "hnswlib": HnswlibIndex,
    "faiss": FaissIndex,
}

__all__ = ["BACKENDS", "AnnoyIndex", "ExactIndex", "FaissIndex", "HnswlibIndex"]
