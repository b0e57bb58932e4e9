"""Distances as the harness defines them, and the checks every array passes at the boundary.

Harness distance conventions (smaller is nearer), used everywhere in the project:

- ``cosine``: ``1 - cos(q, x)``; a zero vector has cosine 0 with everything (distance 1), no NaN;
- ``euclidean``: true L2 distance (not squared);
- ``ip``: ``-<q, x>``;
- ``hamming``: the number of differing bits of packed binary codes (uint8 rows, 8 bits a byte;
  :mod:`lookup.codes`), an integer, so ties are exact.

Ground truth and scoring both use :func:`pair_distances` (float64 from the float32 vectors), so a
backend is never scored with its own library's numbers.
"""

from __future__ import annotations

import numpy as np

from lookup.errors import BadInput

METRICS = ("cosine", "euclidean", "ip")  # metrics of float vectors (every float backend)
ALL_METRICS = (*METRICS, "hamming")  # hamming: packed binary codes (binary backends, exact)


def check_metric(metric: str, allowed: tuple[str, ...] = METRICS) -> str:
    """Return ``metric`` if it is one of ``allowed`` (the float metrics by default), else a
    one-line BadInput."""
    if metric not in allowed:
        raise BadInput(f"unknown metric {metric!r}; valid metrics: {', '.join(allowed)}")
    return metric


def check_k(k: int, n_db: int) -> int:
    """Validate a neighbour count against the database size (1 <= k <= n_db)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise BadInput(f"k must be an integer, got {k!r}; valid: 1 <= k <= {n_db}")
    if k <= 0:
        raise BadInput(f"k={k} must be positive; valid: 1 <= k <= {n_db}")
    if k > n_db:
        raise BadInput(
            f"k={k} is larger than the database ({n_db} vectors); valid: 1 <= k <= {n_db}"
        )
    return int(k)


def as_matrix(x: np.ndarray, name: str = "x", dim: int | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (n, d) array, copying only if needed."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise BadInput(f"{name} must be a 2-d (n, d) array, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise BadInput(f"{name} has dimension {x.shape[1]}, expected {dim}")
    return x


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Unit-normalise rows (float32 copy); zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0).astype(np.float32))


def hamming_distances(xb: np.ndarray, xq: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """float64 Hamming distances between packed rows xq[i] and xb[idx[i, j]]; inf for -1."""
    valid = idx >= 0
    codes = np.asarray(xb, dtype=np.uint8)[np.where(valid, idx, 0)]  # (nq, k, bytes)
    q = np.asarray(xq, dtype=np.uint8)[:, None, :]
    d = np.bitwise_count(np.bitwise_xor(codes, q)).sum(axis=2, dtype=np.int64)
    return np.where(valid, d.astype(np.float64), np.inf)


def pair_distances(xb: np.ndarray, xq: np.ndarray, idx: np.ndarray, metric: str) -> np.ndarray:
    """float64 harness distances between xq[i] and xb[idx[i, j]] for valid (>= 0) ids; inf else."""
    if metric == "hamming":
        return hamming_distances(xb, xq, idx)
    valid = idx >= 0
    vecs = np.asarray(xb)[np.where(valid, idx, 0)].astype(np.float64)  # (nq, k, d)
    q = np.asarray(xq, dtype=np.float64)[:, None, :]  # (nq, 1, d)
    if metric == "euclidean":
        d = np.sqrt(np.square(vecs - q).sum(axis=2))
    elif metric == "ip":
        d = -(vecs * q).sum(axis=2)
    else:
        qn = np.linalg.norm(q, axis=2)
        vn = np.linalg.norm(vecs, axis=2)
        denom = qn * vn
        cos = np.where(denom > 0, (vecs * q).sum(axis=2) / np.where(denom > 0, denom, 1.0), 0.0)
        d = 1.0 - np.clip(cos, -1.0, 1.0)  # rounding must not yield a negative distance
    return np.where(valid, d, np.inf)


def recompute_distances(
    xb: np.ndarray,
    xq: np.ndarray,
    I: np.ndarray,  # noqa: E741 (API name)
    metric: str,
) -> np.ndarray:
    """Harness distances (float32, shape of ``I``) between each query and its returned ids.

    ``-1`` ids (padding) get ``+inf``. Computed in float64 from the vectors, so backends are
    scored in one metric regardless of what their library reports.
    """
    check_metric(metric, ALL_METRICS)
    ids = np.asarray(I)
    if ids.ndim != 2 or ids.shape[0] != len(xq):
        raise ValueError(f"I must have shape (nq={len(xq)}, k), got {ids.shape}")
    out = np.empty(ids.shape, dtype=np.float32)
    step = max(1, (1 << 22) // max(1, ids.shape[1] * np.shape(xb)[1]))  # bound the gathered block
    for s in range(0, ids.shape[0], step):
        out[s : s + step] = pair_distances(xb, xq[s : s + step], ids[s : s + step], metric)
    return out


def tie_floor(xb: np.ndarray, xq: np.ndarray, metric: str) -> float:
    """Absolute float64 noise of :func:`pair_distances` near distance 0 (the ``atol`` of
    :func:`lookup.metrics.recall_per_query`): ``dim * 2**-52`` times the operands' scale.

    cosine: scale 1 (cos is in [-1, 1]); ip: ``max|q| * max|x|``; euclidean: 0 (differences of
    float32 inputs are exact in float64, so the error is relative to the distance itself).
    """
    dim = np.shape(xb)[1]
    if metric in ("euclidean", "hamming"):  # hamming: integers, exact
        return 0.0
    if metric == "cosine":
        return float(dim * 2.0**-52)
    qmax = float(np.sqrt(np.max(np.einsum("ij,ij->i", xq, xq), initial=0.0)))
    bmax = float(np.sqrt(np.max(np.einsum("ij,ij->i", xb, xb), initial=0.0)))
    return float(dim * 2.0**-52 * qmax * bmax)


def check_finite(x: np.ndarray, what: str) -> None:
    """One-line ValueError when rows of ``x`` hold NaN or inf: the count and the first row."""
    bad = ~np.isfinite(x).all(axis=1) if np.ndim(x) == 2 else ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise BadInput(
            f"{what} has {int(bad.sum())} rows with NaN or inf; first: row {first}; "
            "valid: finite vectors"
        )


def count_zero_rows(x: np.ndarray) -> int:
    """Rows that are all zeros (their cosine is undefined: distance 1 to everything)."""
    return int((~np.any(x, axis=1)).sum())


def check_ids(I: np.ndarray, n_db: int, owner: str) -> None:  # noqa: E741 (API name)
    """The Index contract on returned ids: int, in ``[-1, n_db)``, no valid id twice in a row.

    One-line ValueError naming the count of offending rows and the first one.
    """
    ids = np.asarray(I)
    if ids.ndim != 2:
        raise ValueError(f"{owner} returned ids of shape {ids.shape}; valid: (nq, k)")
    out = (ids < -1) | (ids >= n_db)
    if out.any():
        rows = np.flatnonzero(out.any(axis=1))
        r = int(rows[0])
        raise ValueError(
            f"{owner} returned ids out of range in {len(rows)} rows; first: row {r} "
            f"(id {int(ids[r][out[r]][0])}); valid: -1 (padding) or 0..{n_db - 1}"
        )
    s = np.sort(ids, axis=1)
    dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    if dup.any():
        rows = np.flatnonzero(dup.any(axis=1))
        r = int(rows[0])
        twice = int(s[r, 1:][dup[r]][0])
        raise ValueError(
            f"{owner} returned duplicate ids in {len(rows)} rows; first: row {r} "
            f"(id {twice} twice); valid: each id at most once per row"
        )
