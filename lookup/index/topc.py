"""Top-c selection over a tile of GEMM scores, compiled with numba (``selector="numba"`` of
:class:`lookup.index.exact.ExactSearcher`).

A tile holds the scores of ``nj`` items (rows) against ``nq`` queries (columns, contiguous), as a
product ``items @ queries.T`` writes them. Each query keeps the ``c`` largest scores seen so far
in a min-heap (its row of ``vals``/``ids``; the smallest kept score, the row's threshold, at
``[row, 0]``). The kernel walks the tile in blocks of ``block`` items: first, vertically, the
block's maximum for every query (an element-wise max over contiguous rows, which the compiler
turns into SIMD instructions), then, for the rare queries whose block maximum beats their
threshold, each item of the block goes through the heap. Once a few blocks are in, thresholds
are high and the tile costs about one SIMD pass, instead of faiss's scalar compare-and-branch per
score (``float_minheap_array_t.addn``); the result is the same: a score enters when it is larger
than the row's threshold (NaN never does, ties with the threshold do not).

Compiled on first use and cached on disk (``cache=True``: next to this file, or numba's user cache
when that is not writable); ``nogil=True`` lets one Python thread per query chunk run it.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _replace_top(vals: np.ndarray, ids: np.ndarray, v: float, i: int) -> None:
    """Put ``(v, i)`` in place of the smallest entry of the min-heap ``vals``/``ids`` (1-d)."""
    c = vals.shape[0]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= c:
            break
        if child + 1 < c and vals[child + 1] < vals[child]:
            child += 1
        if vals[child] < v:
            vals[pos] = vals[child]
            ids[pos] = ids[child]
            pos = child
        else:
            break
    vals[pos] = v
    ids[pos] = i


@numba.njit(nogil=True, cache=True, boundscheck=False)
def push_tile(
    scores: np.ndarray,
    j0: int,
    vals: np.ndarray,
    ids: np.ndarray,
    row0: int,
    block: int,
    best: np.ndarray,
) -> None:
    """Offer every score of ``scores`` (nj items, nq queries) to the heaps of rows
    ``row0 .. row0 + nq - 1`` of ``vals``/``ids`` (b, c); item ``r`` of the tile has id ``j0 + r``.
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
        for r in range(jb, je):  # NaN never wins a comparison: it cannot hide a larger score
            for q in range(nq):
                v = scores[r, q]
                best[q] = v if v > best[q] else best[q]
        for q in range(nq):
            if best[q] > thr[q]:
                for r in range(jb, je):
                    v = scores[r, q]
                    if v > vals[row0 + q, 0]:
                        _replace_top(vals[row0 + q], ids[row0 + q], v, j0 + r)
                thr[q] = vals[row0 + q, 0]
