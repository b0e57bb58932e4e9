"""Distances as the harness defines them, and the checks every array passes at the boundary.

Harness distance conventions (smaller is nearer), used everywhere in the project:

- ``cosine``: ``1 - cos(q, x)``; a zero vector has cosine 0 with everything (distance 1), no NaN;
- ``euclidean``: true L2 distance (not squared);
- ``ip``: ``-<q, x>``;
- ``hamming``: the number of differing bits of packed binary codes (uint8 rows, 8 bits a byte;
  :mod:`lookup.codes`), an integer, so ties are exact.

Ground truth and scoring both use :func:`pair_distances` (float64 from the float32 vectors), so a
backend is never scored with its own library's numbers.

Precision: squares and products of finite float32 values cannot overflow or underflow in
float64 (|x| < 2^128 and >= 2^-149, so products stay within 2^-298..2^256), so every harness
distance, norm and normalisation is computed in float64. What a library computes in float32
is handed rows that are safe for it: unit rows normalised in float64 (:func:`normalize_rows`),
or rows rescaled by a power of two (:func:`pow2_scale`, :func:`scale_rows`: exact, so neighbour
order is unchanged) when their magnitude is outside :data:`SAFE_ABS`.
"""

from __future__ import annotations

import numpy as np

from lookup.errors import BadInput

METRICS = ("cosine", "euclidean", "ip")  # metrics of float vectors (every float backend)
ALL_METRICS = (*METRICS, "hamming")  # hamming: packed binary codes (binary backends, exact)
F32_MAX = float(np.finfo(np.float32).max)
# |values| for which a float32 library's sums of squares and dot products over thousands of
# dimensions stay far from overflow (2^128) and from the subnormal range (2^-126).
SAFE_ABS = (2.0**-20, 2.0**20)
_CHUNK = 1 << 18  # float64 entries converted at once (2 MiB): bounds the temporaries


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


def _steps(x: np.ndarray):
    step = max(1, _CHUNK // max(1, x.shape[1]))
    return range(0, x.shape[0], step), step


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Unit rows (float32), normalised in float64 and rounded once, so no finite float32 row
    underflows or overflows on the way (a row scaled by 1e30 or 1e-40 gives the same unit
    row); zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    out = np.empty(x.shape, dtype=np.float32)
    starts, step = _steps(x)
    for s in starts:
        b = x[s : s + step].astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", b, b))
        b /= np.where(norms > 0, norms, 1.0)[:, None]
        out[s : s + step] = b
    return out


def max_abs_rows(x: np.ndarray) -> np.ndarray:
    """(n,) float64 largest absolute value of each row (0 for an empty row); no (n, d) copy."""
    x = np.asarray(x)
    if x.shape[1] == 0:
        return np.zeros(len(x))
    return np.maximum(x.max(axis=1), -x.min(axis=1)).astype(np.float64)


def pow2_scale(
    max_abs: np.ndarray | float, safe: tuple[float, float] = SAFE_ABS
) -> np.ndarray | float:
    """Powers of two ``s`` that bring ``max_abs * s`` into [0.5, 1) where ``max_abs`` is
    outside ``safe``; 1 elsewhere (and for 0 or non-finite values). Elementwise.

    Multiplying float32 values by a power of two is exact (unless it leaves the float32
    range), so rows scaled this way keep their neighbour order for every metric: globally
    (one ``s`` for all rows) for euclidean and ip, per row for cosine and for ip queries.
    """
    m = np.asarray(max_abs, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        _, e = np.frexp(np.where(np.isfinite(m), m, 1.0))
        keep = ~np.isfinite(m) | (m == 0) | ((m >= safe[0]) & (m <= safe[1]))
    out = np.where(keep, 1.0, np.ldexp(1.0, -e))
    return float(out) if out.ndim == 0 else out


def scale_rows(x: np.ndarray, scale: np.ndarray | float) -> tuple[np.ndarray, int]:
    """``x * scale`` as float32 rows (``scale``: powers of two, a number or one per row),
    clipped to the float32 range; returns (rows, number of values clipped). A power of two
    times a float32 is exact, or rounded once into the subnormal range, exactly as a float64
    product rounded to float32 would be, so the product is taken in float32 (no float64
    copy); only an overflow differs, and it is clipped and counted. With every scale 1 the
    input itself comes back."""
    x = np.asarray(x, dtype=np.float32)
    if np.all(np.asarray(scale) == 1.0):
        return x, 0
    factor = np.asarray(scale, dtype=np.float64)
    if factor.ndim:
        factor = factor[:, None]
    with np.errstate(over="ignore"):
        if np.all(factor <= F32_MAX):  # a factor beyond float32 (x ~ 1e-45): go through float64
            out = x * factor.astype(np.float32)
        else:
            out = (x * factor).astype(np.float32)
    clipped = 0
    if out.size and not (np.isfinite(out.min()) and np.isfinite(out.max())):
        big = np.isinf(out) & np.isfinite(x)
        clipped = int(big.sum())
        np.clip(out, -F32_MAX, F32_MAX, out=out)
    return out, clipped


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
    """Harness distances (float64, shape of ``I``) between each query and its returned ids.

    ``-1`` ids (padding) get ``+inf``. Computed in float64 from the vectors, so backends are
    scored in one metric regardless of what their library reports; kept in float64, as the
    ground truth's are, because an inner product of finite float32 vectors can leave the
    float32 range (1e30-scaled vectors: ~1e61; 1e-40-scaled: ~1e-80), where float32 storage
    made every distance -inf or 0 and every point a tie.
    """
    check_metric(metric, ALL_METRICS)
    ids = np.asarray(I)
    if ids.ndim != 2 or ids.shape[0] != len(xq):
        raise ValueError(f"I must have shape (nq={len(xq)}, k), got {ids.shape}")
    out = np.empty(ids.shape, dtype=np.float64)
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
    qmax = float(np.sqrt(np.max(_sq_norms(xq), initial=0.0)))
    bmax = float(np.sqrt(np.max(_sq_norms(xb), initial=0.0)))
    return float(dim * 2.0**-52 * qmax * bmax)


def _sq_norms(x: np.ndarray) -> np.ndarray:
    """float64 squared row norms (a float32 einsum overflows at |x| ~ 1e19)."""
    x = np.asarray(x)
    out = np.empty(len(x), dtype=np.float64)
    starts, step = _steps(x)
    for s in starts:
        b = x[s : s + step].astype(np.float64)
        out[s : s + step] = np.einsum("ij,ij->i", b, b)
    return out


def check_finite(x: np.ndarray, what: str) -> None:
    """One-line BadInput when rows of ``x`` hold NaN or inf: the count and the first row."""
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
