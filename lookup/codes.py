"""Compressed codes of an encoder's output: float16, int8, uint8, binary and truncated vectors,
and rescoring with the float32 vectors.

A :class:`Codes` value (the ``encoder.output`` and ``encoder.truncate_dim`` keys, which every
encoder option accepts) turns the float32 vectors of both sides into the stored code:

- ``truncate_dim=N`` keeps the first N dimensions (Matryoshka-style); rows that were unit
  length are renormalised (cosine and inner product over unit vectors need it, a shorter prefix
  of a unit vector is not unit), other rows are kept as cut;
- ``float16``: each value rounded to half precision;
- ``int8`` / ``uint8``: per-dimension ranges calibrated on the database side (the minimum and
  maximum of each dimension over a seeded sample of at most :data:`CALIBRATION_ROWS` rows), each
  value mapped linearly onto 256 levels (``[-128, 127]`` or ``[0, 255]``), queries with the
  database's ranges and clipped into them (the sentence-transformers recipe);
- ``binary``: one bit per dimension, set where the value is > 0, packed 8 per byte
  (``numpy.packbits``, big-endian within a byte); searched with the Hamming distance.

The code's **own space** is the code values compared with the job's metric (``hamming`` for
binary): exact search there says how good an index over the codes is. The float32 vectors stay
the **reference**: recall against their exact neighbours says what the user wanted.
``bytes_per_vector`` is the code's size per vector (what storing it costs, before any index).

:class:`Rescored` wraps any index: it fetches ``r * k`` candidates from the codes and re-ranks
them with the float32 vectors (the binary-plus-rescore recipe), all inside the timed call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookup.cache import array_digest, cached_arrays, key_of
from lookup.errors import BadInput
from lookup.protocols import QueryPlan

log = logging.getLogger(__name__)

OUTPUTS = ("float32", "float16", "int8", "uint8", "binary")
BYTES_PER_VALUE = {"float32": 4.0, "float16": 2.0, "int8": 1.0, "uint8": 1.0, "binary": 1 / 8}
CALIBRATION_ROWS = 100_000  # rows of the database side that calibrate the int8 ranges
UNIT_TOL = 1e-3  # rows within this of length 1 count as unit vectors (renormalised when cut)
CACHE_FORMAT = 1
RERANK_BYTES = 64 << 20  # gathered float vectors per re-rank block (batch mode: rows x r·k x d)


@dataclass(frozen=True)
class Codes:
    """``encoder.output`` and ``encoder.truncate_dim``: the code the vectors are stored in."""

    output: str = "float32"
    truncate_dim: int | None = None

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise BadInput(
                f"encoder.output={self.output!r} is invalid; valid: one of {', '.join(OUTPUTS)}"
            )
        t = self.truncate_dim
        if t is not None and (not isinstance(t, int) or isinstance(t, bool) or t < 1):
            raise BadInput(f"encoder.truncate_dim={t!r} is invalid; valid: null or an integer >= 1")

    @property
    def is_identity(self) -> bool:
        """float32 at full width: the vectors are their own code."""
        return self.output == "float32" and self.truncate_dim is None

    def metric(self, metric: str) -> str:
        """The metric of the code's own space."""
        return "hamming" if self.output == "binary" else metric

    def bytes_per_vector(self, dim: int) -> float:
        """Bytes one vector's code takes (binary: ceil(dim / 8))."""
        d = self.width(dim)
        return float(-(-d // 8)) if self.output == "binary" else BYTES_PER_VALUE[self.output] * d

    def width(self, dim: int) -> int:
        """Dimensions kept; BadInput when ``truncate_dim`` exceeds the encoder's width."""
        if self.truncate_dim is None:
            return dim
        if self.truncate_dim > dim:
            raise BadInput(
                f"encoder.truncate_dim={self.truncate_dim} is invalid; valid: at most the "
                f"encoder's dimension, {dim}"
            )
        return self.truncate_dim

    def columns(self, dim: int) -> dict[str, Any]:
        """The row columns that name the code."""
        return {
            "encoder_output": self.output,
            "encoder_truncate_dim": self.truncate_dim,
            "bytes_per_vector": self.bytes_per_vector(dim),
        }


@dataclass(frozen=True)
class CodeVectors:
    """Both sides in the code, the metric of the code's space and the calibration used."""

    xb: np.ndarray  # (n_db, d) float32 values of the code, or (n_db, ceil(d/8)) uint8 bits
    xq: np.ndarray
    metric: str
    ranges: np.ndarray | None  # (2, d) int8/uint8 calibration: per-dimension min and max


def truncate(x: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` dimensions; rows that were unit length renormalised (float64)."""
    x = np.asarray(x, dtype=np.float32)
    if dim >= x.shape[1]:
        return x
    norms = np.linalg.norm(x.astype(np.float64), axis=1)
    cut = x[:, :dim].astype(np.float64)
    unit = np.abs(norms - 1.0) <= UNIT_TOL
    if unit.any():
        n = np.linalg.norm(cut[unit], axis=1, keepdims=True)
        cut[unit] = cut[unit] / np.where(n > 0, n, 1.0)
    return cut.astype(np.float32)


def calibrate(xb: np.ndarray, seed: int) -> np.ndarray:
    """(2, d) per-dimension minimum and maximum over a seeded sample of database rows."""
    rows = np.arange(len(xb))
    if len(xb) > CALIBRATION_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(xb), CALIBRATION_ROWS, replace=False))
    sample = np.asarray(xb)[rows]
    return np.stack([sample.min(axis=0), sample.max(axis=0)]).astype(np.float32)


def quantize(x: np.ndarray, output: str, ranges: np.ndarray | None) -> np.ndarray:
    """``x`` in the code ``output``: float32 values of the code, or packed bits for binary."""
    x = np.asarray(x, dtype=np.float32)
    if output == "float32":
        return x
    if output == "float16":
        return x.astype(np.float16).astype(np.float32)
    if output == "binary":
        return np.packbits(x > 0, axis=1)
    lo, hi = ranges
    step = np.where(hi > lo, (hi - lo) / 255.0, 1.0)
    levels = np.clip(np.rint((x - lo) / step), 0, 255)
    offset = 128.0 if output == "int8" else 0.0
    return (levels - offset).astype(np.float32)


def apply(
    codes: Codes, xb: np.ndarray, xq: np.ndarray, metric: str, *, seed: int, cache_dir: str
) -> CodeVectors:
    """Both sides in ``codes`` (cached by the vectors' content, the code and the seed)."""
    width = codes.width(xb.shape[1])

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        cb, cq = truncate(xb, width), truncate(xq, width)
        arrays = {}
        ranges = None
        if codes.output in ("int8", "uint8"):
            ranges = calibrate(cb, seed)
            arrays["ranges"] = ranges
        arrays.update(xb=quantize(cb, codes.output, ranges), xq=quantize(cq, codes.output, ranges))
        return arrays, {}

    key = key_of(
        xb=array_digest(xb),
        xq=array_digest(xq),
        output=codes.output,
        width=width,
        seed=seed,
        format=CACHE_FORMAT,
    )
    arrays, _, hit = cached_arrays(cache_dir, "codes", key, compute)
    log.info(
        "codes %s%s: %s bytes per vector (%s)",
        codes.output,
        f" of the first {width} dimensions" if codes.truncate_dim else "",
        f"{codes.bytes_per_vector(xb.shape[1]):g}",
        "from the cache" if hit else "computed",
    )
    return CodeVectors(arrays["xb"], arrays["xq"], codes.metric(metric), arrays.get("ranges"))


# ----------------------------------------------------------------------------- rescoring
def _prepared(x: np.ndarray, metric: str) -> np.ndarray:
    """Float rows as the re-rank compares them (unit rows for cosine)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if metric == "cosine":
        n = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
        x = (x / np.where(n > 0, n, 1.0)).astype(np.float32)
    return x


def stable_smallest(score: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest entries of each row, in the order a stable sort
    gives them (equal values by position): ``np.argsort(score, axis=1, kind="stable")[:, :k]``,
    with a partition for the k-th value instead of a sort of the whole row."""
    m, n = score.shape
    kth = np.partition(score, k - 1, axis=1)[:, k - 1 : k] if k < n else None
    if kth is None or np.isnan(kth).any():  # NaN sorts last: the plain sort says where
        return np.argsort(score, axis=1, kind="stable")[:, :k]
    below, tie = score < kth, score == kth
    need = k - below.sum(axis=1, keepdims=True)  # >= 1: the k-th value itself ties
    keep = below | (tie & (np.cumsum(tie, axis=1) <= need))  # exactly k per row
    cols = np.nonzero(keep)[1].reshape(m, k)  # ascending positions
    order = np.argsort(np.take_along_axis(score, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


class Rescored:
    """Any index over the codes, re-ranked with the float32 vectors: a query asks the codes for
    ``factor * k`` candidates, then keeps the k nearest of them by the float32 vectors (cosine
    and ip by dot product of unit/raw rows, euclidean by squared distance), all inside the
    timed call. Satisfies the parts of :class:`lookup.protocols.Index` the timer and the
    engine use (``query_plan``, ``search_params``, ``threads_used``)."""

    def __init__(
        self, inner: Any, xb: np.ndarray, xq: np.ndarray, factor: int, metric: str
    ) -> None:
        self.inner, self.factor, self.float_metric = inner, int(factor), metric
        self.metric = inner.metric  # what its queries are (the codes' space)
        self.xb, self.xq = _prepared(xb, metric), _prepared(xq, metric)

    def search_params(self) -> dict[str, Any]:
        return {**self.inner.search_params(), "rescore": self.factor}

    def threads_used(self, mode: str) -> dict[str, int]:
        return self.inner.threads_used(mode)

    def _rerank(self, ids: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the k best candidates per row by the float32 vectors, a block of
        rows at a time (the gathered candidate vectors stay within ``RERANK_BYTES``, gathered
        into one buffer: a fresh array per block spent as long in page faults as in copying)."""
        m, kk = ids.shape
        d = self.xb.shape[1]
        per_row = max(1, kk * d * self.xb.itemsize)
        step = max(1, min(m, RERANK_BYTES // per_row))
        buf = np.empty((step * kk, d), dtype=self.xb.dtype)
        rows = range(0, m, step)
        parts = [self._rerank_rows(ids[i : i + step], q[i : i + step], k, buf) for i in rows]
        if len(parts) == 1:
            return parts[0]
        return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])

    def _rerank_rows(
        self, ids: np.ndarray, q: np.ndarray, k: int, buf: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        valid = ids >= 0
        r, kk = ids.shape
        safe = np.where(valid, ids, 0).reshape(-1)  # in range: "clip" is the unbuffered take
        vecs = np.take(self.xb, safe, axis=0, out=buf[: r * kk], mode="clip").reshape(r, kk, -1)
        if self.float_metric == "euclidean":
            score = np.square(vecs - q[:, None, :]).sum(axis=2)
        else:
            score = -np.einsum("mkd,md->mk", vecs, q)
        score = np.where(valid, score, np.inf)
        order = stable_smallest(score, k)
        return np.take_along_axis(ids, order, 1), np.take_along_axis(score, order, 1)

    def query_plan(self, xq: np.ndarray, k: int, mode: str) -> QueryPlan:
        """The inner plan for ``factor * k`` candidates, its finish and the re-rank as the
        timed call. Row i of ``xq`` is float query i given at construction, so ``xq`` may be
        a prefix of those rows (the timer's warm-up batch is one)."""
        if len(xq) > len(self.xq):
            raise ValueError(f"{len(xq)} queries, but only {len(self.xq)} float rows to re-rank by")
        kk = min(self.factor * k, len(self.xb))
        plan = self.inner.query_plan(xq, kk, mode)
        inner_call, inner_finish = plan.call, plan.finish

        def call(inp):
            raw, q = inp
            return self._rerank(inner_finish([inner_call(raw)])[1], q, k)

        if mode == "batch":
            inputs = [(plan.inputs[0], self.xq[: len(xq)])]
        else:
            inputs = [(plan.inputs[i], self.xq[i : i + 1]) for i in range(len(plan.inputs))]

        def finish(raws: list) -> tuple[np.ndarray, np.ndarray]:
            ids = np.vstack([r[0] for r in raws]).astype(np.int64)
            dist = np.vstack([r[1] for r in raws]).astype(np.float32)
            return np.where(ids >= 0, dist, np.float32(np.inf)), ids

        return QueryPlan(inputs, call, finish)
