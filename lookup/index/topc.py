"""Top-c selection over a tile of GEMM scores, compiled with numba (``selector="numba"`` of
:class:`lookup.index.exact.ExactSearcher`).

A tile holds the scores of ``nj`` items (rows) against ``nq`` queries (columns, contiguous), as a
product ``items @ queries.T`` writes them. Each query keeps the ``c`` largest scores seen so far
in its row of ``vals``/``ids``, ascending (the smallest kept score, the row's threshold, at
``[row, 0]``). The kernel walks the tile in blocks of ``block`` items: first, vertically, the
block's maximum for every query (an element-wise max over contiguous rows, which the compiler
turns into SIMD instructions), then, for the rare queries whose block maximum beats their
threshold, each item of the block is compared and, when larger, shifted into the row. Once a
few blocks are in, thresholds are high and the tile costs about one SIMD pass, instead of
faiss's scalar compare-and-branch per score (``float_minheap_array_t.addn``); the kept set is
the same: a score enters when it is larger than the row's threshold (NaN never does, ties with
the threshold do not).

Compiled on first use and cached on disk (next to this file, or numba's user cache when that is
not writable; per process when neither is, see :func:`compiled`); ``nogil=True`` lets one
Python thread per query chunk run it.
"""

from __future__ import annotations

import numba
import numpy as np


def compiled(**options):
    """``numba.njit(**options)`` with its machine code cached on disk when numba finds a
    writable place for it (next to this file, ``NUMBA_CACHE_DIR`` or the user's cache);
    compiled once per process when it finds none (a read-only install and home), where
    ``cache=True`` alone would fail at import."""

    def wrap(fn):
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available for file"
            return numba.njit(**options)(fn)

    return wrap


@compiled(nogil=True, boundscheck=False, inline="always")
def _insert(vals: np.ndarray, ids: np.ndarray, row: int, v: float, i: int) -> None:
    """Drop the smallest entry of row ``row`` (ascending: at 0) and put ``(v, i)`` in order.
    A shift through a sorted row of c entries mispredicts once (where it stops), a heap's
    sift-down at every level; equal values stay in arrival order, the newest first out."""
    c = vals.shape[1]
    pos = 0
    while pos + 1 < c and vals[row, pos + 1] < v:
        vals[row, pos] = vals[row, pos + 1]
        ids[row, pos] = ids[row, pos + 1]
        pos += 1
    vals[row, pos] = v
    ids[row, pos] = i


@compiled(nogil=True, boundscheck=False)
def push_tile(
    scores: np.ndarray,
    bias: np.ndarray,
    j0: int,
    vals: np.ndarray,
    ids: np.ndarray,
    row0: int,
    block: int,
    best: np.ndarray,
) -> None:
    """Offer every score of ``scores`` (nj items, nq queries) plus its item's ``bias`` (``bias[r]``
    for item ``r``, added in float32; zeros for none) to rows ``row0 .. row0 + nq - 1`` of
    ``vals``/``ids`` (b, c; each row ascending, its smallest kept score at 0: start from -inf and
    -1); item ``r`` of the tile has id ``j0 + r``.
    ``best`` is scratch of at least ``2 nq`` entries (block maxima, then the thresholds, kept
    contiguous so that the check of a block is one pass over two arrays)."""
    nj, nq = scores.shape
    thr = best[nq : 2 * nq]
    for q in range(nq):
        thr[q] = vals[row0 + q, 0]
    for jb in range(0, nj, block):
        je = min(jb + block, nj)
        for q in range(nq):
            best[q] = -np.inf
        # Four rows per sweep (one store of best per four loads); NaN never wins a comparison,
        # so it cannot hide a larger score.
        r = jb
        while r + 4 <= je:
            b0, b1, b2, b3 = bias[r], bias[r + 1], bias[r + 2], bias[r + 3]
            for q in range(nq):
                m = best[q]
                v = scores[r, q] + b0
                m = v if v > m else m
                v = scores[r + 1, q] + b1
                m = v if v > m else m
                v = scores[r + 2, q] + b2
                m = v if v > m else m
                v = scores[r + 3, q] + b3
                m = v if v > m else m
                best[q] = m
            r += 4
        while r < je:
            b0 = bias[r]
            for q in range(nq):
                v = scores[r, q] + b0
                best[q] = v if v > best[q] else best[q]
            r += 1
        for q in range(nq):
            if best[q] > thr[q]:
                row, t = row0 + q, thr[q]
                for r in range(jb, je):
                    v = scores[r, q] + bias[r]
                    if v > t:
                        _insert(vals, ids, row, v, j0 + r)
                        t = vals[row, 0]
                thr[q] = t
