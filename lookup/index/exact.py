"""Exact search: the ground-truth engine and the ``exact`` backend.

:class:`ExactSearcher` returns what a float64 brute force returns: the k smallest harness
distances (:func:`lookup.distances.pair_distances`), ties broken by the smaller id. It gets
there at matrix-product speed in two steps:

1. **Propose.** The best ``c = k + 8`` candidates of each query by float32 score (``k + 24``
   from bfloat16 products, below), on scaled
   vectors: unit rows for ``cosine`` (normalised in float64, then rounded), rows minus the
   database mean for ``euclidean`` (L2 is shift-invariant, and a large common offset would
   drown the float32 ranking), the raw rows for ``ip``. Who proposes (``proposer``):

   - ``faiss``: ``IndexFlatIP`` / ``IndexFlatL2`` search on faiss's OpenMP threads. Below 20
     queries faiss scores with its own SIMD code; from 20 on it calls its bundled BLAS, which can
     run generic kernels (see :mod:`lookup.kernels`);
   - ``torch`` / ``numpy``: that library's float32 matrix product (torch: MKL or oneDNN on x86,
     whatever OpenBLAS core faiss's copy picked) over cache-sized tiles, each tile's scores cut
     to the best ``c`` per query while still in cache, by the ``selector``:

     - ``numba``: the kernel of :mod:`lookup.index.topc` over tiles of 512 items x 512 queries
       (1 MiB of scores): per block of 32 items a SIMD maximum for every query, and only the
       queries whose block maximum beats their current c-th score look at the block's items;
     - ``heaps``: faiss's C++ top-c heaps (``float_minheap_array_t.addn``, a scalar compare per
       score) over tiles of 512 queries x 2048 items -- faiss's selection without faiss's BLAS;
     - ``auto`` (default): ``numba`` from ``_KERNEL_MIN_SCORES`` (5e8) scores per block of
       queries on, when numba imports (its import and cached code cost ~0.6 s per process),
       else ``heaps``.

     ``precision`` (the products' inputs, for the numba selector's torch GEMM): ``float32``,
     ``bfloat16`` (inputs rounded to bfloat16, zero-padded to a multiple of 32 along the dot,
     products accumulated in float32 by oneDNN: AMX tiles run them ~2.2x faster than float32
     on one core here) or ``auto`` (default): ``bfloat16`` where torch reports AMX or
     AVX512-BF16, else ``float32``. A bfloat16 score is off by up to ~2^-7 of ``|q| |x|``
     instead of ~d 2^-24, so it proposes ``c = k + 24``, re-ranks the best ``k + 8`` first and
     certifies with the bound below; rows it cannot certify get a float32 proposal (then, if
     still thin, the fallback), so data whose neighbours are closer than bfloat16 resolves costs
     at most one float32 pass more for those rows (``reproposed_rows`` counts them).

     The queries are split into one chunk per thread, each run by a Python thread with a
     single-threaded GEMM (torch's thread count is set in each worker: OpenMP's is per thread)
     and a single-threaded selection: no OpenMP barrier between a tile's product and its
     selection, and no two OpenMP pools (torch's and faiss's) spinning against each other,
     which on a busy machine made the same loop with multi-threaded calls 5x slower. For
     ``euclidean`` the score is ``q . 2x - |x|^2`` (``|x|^2`` in float64, rounded once; an extra
     column of the product for the heaps, a per-item bias the kernel adds in float32), and the
     key is ``|q|^2 - score`` in float64;
   - ``auto`` (default): ``faiss`` for fewer than 20 queries, else ``torch`` (torch is a
     dependency; ``numpy`` when torch cannot be imported): the proposal then runs at the speed of
     the fastest GEMM here whichever BLAS faiss brought (``benchmarks/test_perf_exact.py``).

2. **Re-rank and certify.** The candidates are re-ranked in float64 with ``pair_distances``;
   their k-th distance ``d_k`` is an upper bound on the true k-th distance. Every float32 score
   is within a rigorous bound ``E`` of the real one (below), so an item outside the candidates
   can only reach the top k (or tie ``d_k`` with a smaller id) if its float32 key is at most a
   threshold ``T(d_k, E)``. The proposer kept the ``c`` best keys, so every outsider's key is at
   least the ``c``-th key; when that key is above ``T`` the row is certified. Otherwise (thin
   margin: near-ties, duplicates, zero queries under cosine) the row falls back to scoring the
   whole database in float32 and re-ranking in float64 every item whose key is at most ``T`` --
   a superset of the true top k and of its ties -- so the answer is exact either way.

Error bounds, with unit roundoff ``u = 2^-24`` and ``gamma_n = n u / (1 - n u)`` (Higham); a dot
product of length ``d`` in float32, in any summation order, with or without FMA, is within
``gamma_d |q| |x|`` of the real one:

- ``ip``: ``E = gamma_d |q| max|x|`` (plus the float64 re-rank's own ``gamma_d`` in double);
- ``cosine``: unit rows are within ``nu = 1.01 u`` (componentwise, hence in norm) of the real
  unit vectors, so ``E = gamma_d (1 + nu)^2 + 2 nu + nu^2``;
- ``euclidean``: the key is the squared distance of the centred rows, evaluated as
  ``|q|^2 + |x|^2 - 2 q.x`` (faiss, BLAS path), from differences (faiss, direct path) or as
  ``|q|^2 - (q . 2x - fl(|x|^2))`` (GEMM proposers: a length ``d`` or ``d + 1`` product within
  ``gamma_{d+1} (2|q||x| + |x|^2)``, plus ``u |x|^2`` for rounding the norm and ``u`` of the
  sum for the kernel's float32 bias), all within ``gamma_{d+4} (|q_c| + max|x_c|)^2``;
  centring in float32 moves ``|q - x|`` by at most ``1.01 u (|q_c| + max|x_c|)``.
- ``bfloat16`` proposals: with ``q^``, ``x^`` the rounded rows and ``dq = q - q^``, ``dx = x -
  x^`` (exact residuals, measured), ``|q^.x^ - q.x| <= |dq| max|x^| + |q| max|dx|``
  (Cauchy-Schwarz; a real bound, not the worst case ``2^-8 |q||x|`` of every component), plus
  the float32 accumulation and key arithmetic (the float32 term above with ``|q| + |dq|``) and
  ``2 (d + 2) 2^-126`` per unit of norm for subnormals the hardware flushes; twice the product's
  bound for euclidean keys.

The GEMM proposers run with torch's float32 matmul precision at ``"highest"`` for float32
products (a reduced-precision TF32/bf16 product would void their bounds) and ``"medium"``
(oneDNN's bfloat16 products) for bfloat16 ones, set for the call and restored, with torch's
thread count.

The first re-rank scores the best ``k + 2`` (bfloat16: ``k + 8``) candidates and certifies with
the next one's key;
the rows it cannot certify are re-ranked on all ``c`` (``rechecked_rows`` counts them).
``fallback_rows`` counts the rows of the last :meth:`ExactSearcher.search` that needed the
fallback; ``proposed_by``, ``selected_by`` and ``computed_in`` name the proposer, selector and
product precision its last block used.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from lookup.distances import as_matrix, check_k, check_metric, normalize_rows, pair_distances
from lookup.errors import BadInput
from lookup.index.base import BaseIndex, check_choice, check_int

log = logging.getLogger(__name__)

# Candidates proposed beyond k: c = k + _PROPOSE_EXTRA; the first re-rank scores the best
# k + _RANK_EXTRA of them in float64 and certifies with the next one's key, rows it cannot
# certify are re-ranked on all c (then, if still thin, redone over the whole database).
_PROPOSE_EXTRA = 8
_RANK_EXTRA = 2
# Rows of a re-rank per thread below which it stays on the calling thread.
_RANK_ROWS_PER_THREAD = 2048
PROPOSERS = ("auto", "faiss", "torch", "numpy")
SELECTORS = ("auto", "heaps", "numba")
PRECISIONS = ("auto", "float32", "bfloat16")
# bfloat16 proposals are ~2^-7 of |q||x| off instead of ~d 2^-24: more candidates, and a wider
# first re-rank, certify the same rows (measured: benchmarks/test_perf_exact.py).
_PROPOSE_EXTRA_BF16 = 24
_RANK_EXTRA_BF16 = 8
# bfloat16 products run in tiles of 32 values along the dot product (AMX): a length that is not a
# multiple is padded with zeros (measured: d = 65 took 1.6x the time of d = 64, d = 96 1.3x).
_BF16_DIM_STEP = 32
# Absolute slack per term of a bfloat16 product: inputs and outputs below 2^-126 may be flushed.
_FLUSH = 2.0**-126
# From this many queries on, faiss scores through its BLAS (its distance_compute_blas_threshold);
# below it, "auto" lets faiss propose with its own SIMD code.
_GEMM_MIN_QUERIES = 20
# One tile of GEMM scores: queries x items (4 MiB of float32: stays in cache for the heaps).
_TILE_QUERIES, _TILE_ITEMS = 512, 2048
# faiss's HeapArray::addn runs serially up to this many entries per call (its OpenMP threshold).
_HEAP_SERIAL_ENTRIES = 100_000
# The numba selector: tiles of 512 items x 512 queries (1 MiB of scores: stays in a 2 MiB L2 while
# the kernel reads it), blocks of 32 items. "auto" uses it from this many scores (queries x items)
# per block of queries on: numba's import and cached machine code cost ~0.6 s once per process
# (~2 s to compile, once per machine), which ~0.5 ns saved per score pays back.
_KERNEL_TILE_QUERIES, _KERNEL_TILE_ITEMS, _KERNEL_BLOCK = 512, 512, 32
_KERNEL_MIN_SCORES = 500_000_000
# Float32 entries of one block of keys (queries x database) scored by the fallback at once.
_MAX_BLOCK_ENTRIES = 1 << 24  # 64 MiB
# float64 entries gathered by one pair_distances call (bounds its temporaries, keeps them cached).
_MAX_GATHER = 1 << 18  # 2 MiB per temporary
_U32 = 2.0**-24  # float32 unit roundoff
_U64 = 2.0**-53  # float64 unit roundoff
# Relative slack on every bound, for the rounding of the bound's own float64 arithmetic.
_SLACK = 1.0 + 1e-6
# Absolute slack: float32 underflow in a dot product (at most d * 2^-149 each) and the like.
_TINY = 1e-30


def _gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): relative error bound of an n-term float sum."""
    return n * u / (1.0 - n * u)


def _row_norms(x: np.ndarray) -> np.ndarray:
    """float64 Euclidean norms of float32 rows."""
    out = np.empty(x.shape[0], dtype=np.float64)
    step = max(1, _MAX_GATHER // max(1, x.shape[1]))
    for s in range(0, x.shape[0], step):
        b = x[s : s + step].astype(np.float64)
        out[s : s + step] = np.sqrt(np.einsum("ij,ij->i", b, b))
    return out


def _check_proposer(proposer: str) -> str:
    return check_choice("exact", "proposer", proposer, PROPOSERS)


def _check_selector(selector: str) -> str:
    check_choice("exact", "selector", selector, SELECTORS)
    if selector == "numba" and not _numba_available():
        raise BadInput(
            "index.selector='numba' needs numba, which does not import here "
            "(pip install numba); valid without it: auto, heaps"
        )
    return selector


def _check_precision(precision: str, proposer: str, selector: str) -> str:
    check_choice("exact", "precision", precision, PRECISIONS)
    if precision != "bfloat16":
        return precision
    if not _bf16_matmul_available():
        raise BadInput(
            "index.precision='bfloat16' needs torch (with oneDNN) and numba, which do not both "
            "import here; valid without them: auto, float32"
        )
    for key, value, valid in (("proposer", proposer, "torch"), ("selector", selector, "numba")):
        if value not in ("auto", valid):
            raise BadInput(
                f"index.precision='bfloat16' needs index.{key} auto or {valid}, not {value!r} "
                "(bfloat16 products feed the numba kernel)"
            )
    return precision


def _bf16_matmul_available() -> bool:
    """torch's float32 products can run on bfloat16 inputs here (oneDNN), and numba imports."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.backends.mkldnn.is_available()) and _numba_available()


def _bf16_native() -> bool:
    """The CPU multiplies bfloat16 in hardware (AMX tiles or AVX512-BF16), as torch reports
    it: only there are bfloat16 products faster than float32 ones."""
    import torch

    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def bf16_round(x: np.ndarray, pad: bool = False) -> np.ndarray:
    """float32 ``x`` rounded to bfloat16 (to nearest, ties to even), kept as float32: a product
    of such inputs in oneDNN's bfloat16 mode reads them without a further rounding. ``pad``:
    zero columns up to a multiple of ``_BF16_DIM_STEP`` (they add exact zeros to every dot)."""
    import torch

    rounded = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).bfloat16().float()
    if not pad or x.shape[1] % _BF16_DIM_STEP == 0:
        return rounded.numpy()
    out = np.zeros((x.shape[0], -(-x.shape[1] // _BF16_DIM_STEP) * _BF16_DIM_STEP), np.float32)
    out[:, : x.shape[1]] = rounded.numpy()
    return out


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _gemm_library() -> str:
    """The GEMM ``auto`` uses for batches: torch's (a dependency), numpy's without it."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return "numpy"
    return "torch"


def _one_thread_here(library: str) -> None:
    """torch's GEMM on one thread in the calling thread: OpenMP's thread count is per thread, so a
    worker thread that did not set it runs torch's GEMM on every core (with two such workers,
    four threads on two cores). The BLAS limit that threadpoolctl sets holds process-wide."""
    if library == "torch":
        import torch

        torch.set_num_threads(1)


@contextlib.contextmanager
def _single_threaded(library: str, precision: str = "float32") -> Iterator[None]:
    """``library``'s GEMM on one thread per call (the callers are the threads), and torch's
    float32 matmul precision at "highest" for ``float32`` (TF32/bf16 would void its error bounds)
    or "medium" for ``bfloat16`` (oneDNN's bfloat16 products, float32 accumulation); both
    restored after the block."""
    if library == "torch":
        import torch

        threads, before = torch.get_num_threads(), torch.get_float32_matmul_precision()
        torch.set_num_threads(1)
        torch.set_float32_matmul_precision("medium" if precision == "bfloat16" else "highest")
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.set_float32_matmul_precision(before)
    else:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            yield


def _run_parts(fn, n: int, workers: int) -> None:
    """``fn(lo, hi)`` over ``workers`` contiguous parts of ``range(n)``, one Python thread each
    (on the calling thread when ``workers`` is 1)."""
    if workers <= 1:
        fn(0, n)
        return
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, n, workers + 1).astype(int).tolist()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, bounds[:-1], bounds[1:]))


class ExactSearcher:
    """Exact k-NN over one database, with the per-database work (scaling, norms, error bounds)
    done once so that many small searches (single-query timing) stay cheap.

    The module docstring gives the method: ``proposer`` (faiss, or a torch/numpy GEMM whose
    tiles ``selector`` cuts: faiss's heaps or the numba kernel) proposes ``k + 8`` candidates
    per query in float32, a float64 re-rank orders
    them, a rigorous float32 error bound certifies that no other item can enter the top k, and
    uncertified rows are redone over the whole database. Distances are the harness's float64
    ones (kept in float64: an inner product of finite float32 vectors can leave the float32
    range); ties go to the smaller id.
    """

    def __init__(
        self,
        xb: np.ndarray,
        metric: str,
        *,
        proposer: str = "auto",
        selector: str = "auto",
        precision: str = "auto",
    ) -> None:
        self.metric = check_metric(metric)
        self.proposer = _check_proposer(proposer)
        self.selector = _check_selector(selector)
        self.precision = _check_precision(precision, proposer, selector)
        self.xb = as_matrix(xb, "xb")
        self.fallback_rows = self.rechecked_rows = self.reproposed_rows = 0
        self.proposed_by = ""
        self.selected_by = ""
        self.computed_in = ""  # the precision of the last block's proposal products
        self._flat = None  # faiss flat index over the scaled rows, made on the first search
        # the scaled rows as each GEMM reads them: (library, "heaps") -> (d', n) matrix,
        # (library, "kernel", precision) -> ((n, d) rows, per-item bias)
        self._gemm_db: dict[tuple[str, ...], Any] = {}
        n, d = self.xb.shape
        self._center: np.ndarray | None = None
        self._sq: np.ndarray | None = None  # float32 squared norms of the centred rows (L2)
        if metric == "cosine":
            self._xs = normalize_rows(self.xb)
        elif metric == "euclidean":
            self._center = self.xb.mean(axis=0, dtype=np.float64).astype(np.float32)
            self._xs = np.ascontiguousarray(self.xb - self._center)
            self._sq = np.einsum("ij,ij->i", self._xs, self._xs)
        else:
            self._xs = self.xb
        self._max_norm = float(_row_norms(self._xs).max()) * _SLACK if n else 0.0
        self._g32 = _gamma(d + 4, _U32)  # float32 score error, d-term dot product + 4 ops
        self._g64 = _gamma(d + 12, _U64)  # float64 re-rank error (pair_distances)

    @staticmethod
    def threads_used() -> int:
        """Threads a search runs on: faiss's OpenMP threads (faiss's proposal and the heaps of
        the GEMM proposers); torch's and the BLAS threads, which ``pin_threads`` sets alike, run
        the GEMMs and the float32 fallback."""
        import faiss

        return int(faiss.omp_get_max_threads())

    def proposer_for(self, n_queries: int) -> str:
        """The proposer a block of ``n_queries`` queries gets (resolving ``auto``)."""
        if self.proposer != "auto":
            return self.proposer
        return "faiss" if n_queries < _GEMM_MIN_QUERIES else _gemm_library()

    def selector_for(self, n_scores: int) -> str:
        """How a GEMM proposer picks the best ``c`` of ``n_scores`` scores (resolving ``auto``):
        ``numba`` (the compiled block-max kernel of :mod:`lookup.index.topc`) from
        ``_KERNEL_MIN_SCORES`` on when numba imports, else ``heaps`` (faiss's C++ heaps)."""
        if self.selector != "auto":
            return self.selector
        if n_scores >= _KERNEL_MIN_SCORES and _numba_available():
            return "numba"
        return "heaps"

    def precision_for(self, proposer: str, selector: str) -> str:
        """The input precision of the proposal products (resolving ``auto``): ``bfloat16`` only
        for torch's GEMM feeding the numba kernel, where asked or (``auto``) where the CPU
        multiplies bfloat16 in hardware; else ``float32``."""
        if proposer != "torch" or selector != "numba" or self.precision == "float32":
            return "float32"
        if self.precision == "bfloat16":
            return "bfloat16"
        return "bfloat16" if _bf16_matmul_available() and _bf16_native() else "float32"

    def _plan(self, n_queries: int) -> tuple[str, str, str]:
        """(proposer, selector, precision) for a block of ``n_queries`` queries."""
        proposer = self.proposer_for(n_queries)
        if proposer == "faiss":
            return proposer, "", "float32"
        selector = self.selector_for(n_queries * self.xb.shape[0])
        return proposer, selector, self.precision_for(proposer, selector)

    # ---- scaling and keys ----------------------------------------------------------------------

    def _scale(self, xq: np.ndarray) -> np.ndarray:
        """Queries in the scaled space of ``self._xs``."""
        if self.metric == "cosine":
            return normalize_rows(xq)
        if self.metric == "euclidean":
            return np.ascontiguousarray(xq - self._center)
        return xq

    @functools.cached_property
    def _bf16_norms(self) -> tuple[float, float]:
        """(max |x^|, max |x - x^|) over the scaled rows ``x`` and their bfloat16 roundings
        ``x^`` (with slack), once per database."""
        rounded = bf16_round(self._xs)
        return (
            float(_row_norms(rounded).max()) * _SLACK,
            float(_row_norms(self._xs - rounded).max()) * _SLACK,
        )

    def _bf16_error(self, xq_s: np.ndarray, qn: np.ndarray) -> np.ndarray:
        """Per query, a bound on |q^.x^ - q.x| plus the float32 accumulation of ``q^.x^`` (any
        order), for every item: ``|dq| max|x^| + |q| max|dx|`` (the inputs' rounding, by
        Cauchy-Schwarz on the exact residuals) ``+ gamma (|q| + |dq| + R)^2`` (float32 sums,
        the bias and key arithmetic: the float32 path's own term) plus flushed subnormals.
        ``qn``: the query norms."""
        xhat, dx = self._bf16_norms
        dq = _row_norms(xq_s - bf16_round(xq_s)) * _SLACK
        reach = max(xhat, self._max_norm)
        span = qn + dq + reach
        flush = 2.0 * (xq_s.shape[1] + 2) * _FLUSH * (1.0 + span)
        return dq * xhat + qn * dx + self._g32 * span * span + flush

    def _thresholds(
        self, xq_s: np.ndarray, d_k: np.ndarray, precision: str = "float32"
    ) -> np.ndarray:
        """Per-row key threshold T: an item whose float64 distance is <= ``d_k`` has a key <= T
        from a proposal in ``precision`` (keys: negated score for ip/cosine, squared centred
        distance for euclidean); bfloat16 proposals widen the score error (``_bf16_error``)."""
        g32, g64, r = self._g32, self._g64, self._max_norm
        bf16 = precision == "bfloat16"
        if self.metric == "cosine":
            nu = 1.01 * _U32
            if bf16:  # unit rows: |q| <= 1 + nu
                score = self._bf16_error(xq_s, np.full(len(xq_s), (1.0 + nu) * _SLACK))
            else:
                score = g32 * (1.0 + nu) ** 2
            err = score + 2.0 * nu + nu * nu + 4.0 * g64
            return (d_k - 1.0) + err * _SLACK + _TINY
        qn = _row_norms(xq_s) * _SLACK
        if self.metric == "ip":
            score = self._bf16_error(xq_s, qn) if bf16 else g32 * qn * r
            return d_k + (score + g64 * qn * r) * _SLACK + _TINY
        span = qn + r  # |q_c| + max |x_c|
        reach = d_k * (1.0 + 2.0 * g64) + 1.01 * _U32 * span  # bound on |q_c - x_c|
        # euclidean keys take twice the product's error (the score is q.2x - |x|^2)
        score = 2.0 * self._bf16_error(xq_s, qn) if bf16 else g32 * span * span
        return (reach * reach + score) * _SLACK + _TINY

    def _keys(self, xq_s: np.ndarray) -> np.ndarray:
        """float32 keys of ``xq_s`` against the whole database, (b, n_db); smaller is nearer.

        Vectors near the float32 limits (scaled by 1e30) overflow here; a row with a key that
        is not finite is re-ranked over the whole database in float64 (``_fallback``), so the
        overflow is expected and not warned about."""
        with np.errstate(over="ignore", invalid="ignore"):
            ip = xq_s @ self._xs.T  # (b, n_db)
            if self.metric != "euclidean":
                return np.negative(ip, out=ip)
            qsq = np.einsum("ij,ij->i", xq_s, xq_s)
            ip *= -2.0
            ip += qsq[:, None]
            ip += self._sq[None, :]
        return ip

    def _propose(
        self, xq_s: np.ndarray, c: int, plan: tuple[str, str, str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best ``c`` per query by float32 key: (keys ascending, ids), both (b, c);
        ``plan``: the block's ``_plan`` when the caller has it."""
        plan = plan or self._plan(len(xq_s))
        self.proposed_by, self.selected_by, self.computed_in = plan
        if self.proposed_by == "faiss":
            return self._propose_faiss(xq_s, c)
        return self._propose_gemm(xq_s, c, self.proposed_by, self.selected_by, self.computed_in)

    def _propose_faiss(self, xq_s: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
        """faiss's best ``c`` per query. A flat index holds the scaled database once (its norms
        precomputed, as IndexFlat.search uses them)."""
        import faiss

        if self._flat is None:
            d = self._xs.shape[1]
            self._flat = (
                faiss.IndexFlatL2(d) if self.metric == "euclidean" else faiss.IndexFlatIP(d)
            )
            self._flat.add(self._xs)
        keys, ids = self._flat.search(xq_s, c)
        if self.metric != "euclidean":
            np.negative(keys, out=keys)
        return keys, ids

    def _gemm_database(self, library: str):
        """The scaled rows for ``library``'s GEMM feeding the heaps (made once): ``x`` for
        ip/cosine, ``[2x, -|x|^2]`` for euclidean (the norm in float64, rounded once), as the
        (d', n) transpose (a tile of items is a column slice: the heaps read one query's scores
        contiguously)."""
        key = (library, "heaps")
        if key not in self._gemm_db:
            xs = self._xs
            if self.metric == "euclidean":
                xa = np.empty((xs.shape[0], xs.shape[1] + 1), dtype=np.float32)
                np.multiply(xs, 2.0, out=xa[:, :-1])  # exact: a power of two
                with np.errstate(over="ignore"):  # near float32's limits: such rows fall back
                    xa[:, -1] = -(_row_norms(xs) ** 2)
                xs = xa
            db = np.ascontiguousarray(xs.T)
            if library == "torch":
                import torch

                db = torch.from_numpy(db)
            self._gemm_db[key] = db
        return self._gemm_db[key]

    def _kernel_database(self, library: str, precision: str):
        """The scaled rows for ``library``'s GEMM feeding the kernel (made once per precision),
        (n, d) with one item's scores contiguous in the product: ``x`` for ip/cosine, ``2x`` for
        euclidean with ``bias = -|x|^2`` (float64, rounded once) that the kernel adds (zeros
        else: a product of length d, not d + 1, is what bfloat16 tiles run fastest); rounded to
        bfloat16 (zero-padded to a multiple of 32 columns) for ``bfloat16``. Returns ``(rows,
        bias)``."""
        key = (library, "kernel", precision)
        if key not in self._gemm_db:
            xs = self._xs
            bias = np.zeros(xs.shape[0], dtype=np.float32)
            if precision == "bfloat16":
                xs = bf16_round(xs, pad=True)
            if self.metric == "euclidean":
                xs = xs * np.float32(2.0)  # exact: a power of two
                with np.errstate(over="ignore"):  # near float32's limits: such rows fall back
                    bias[:] = -(_row_norms(self._xs) ** 2)
            db = np.ascontiguousarray(xs, dtype=np.float32)
            if library == "torch":
                import torch

                db = torch.from_numpy(db)
            self._gemm_db[key] = (db, bias)
        return self._gemm_db[key]

    def _propose_gemm(
        self, xq_s: np.ndarray, c: int, library: str, selector: str, precision: str = "float32"
    ):
        """The best ``c`` per query from ``library``'s GEMM over cache-sized tiles, each
        tile's scores selected while in cache by ``selector``: faiss's top-c heaps or the numba
        kernel (:mod:`lookup.index.topc`); both keep a score when it beats the row's c-th.
        ``precision``: the products' inputs, float32 or bfloat16 (float32 accumulation).

        The queries are split into one contiguous chunk per thread (``threads_used()``); each
        chunk runs in a Python thread of its own with a single-threaded GEMM and a
        single-threaded selection, so no parallel region, barrier or spinning pool sits between
        a tile's GEMM and its selection. torch, faiss's heaps and the kernel release the GIL.
        torch's (or the BLAS's) thread count is 1 for the call and restored after it.
        """
        b = len(xq_s)
        q = xq_s
        score = np.empty((b, c), dtype=np.float32)  # best first once sorted
        ids = np.empty((b, c), dtype=np.int64)
        if selector == "numba":
            rows = _KERNEL_TILE_QUERIES
            if precision == "bfloat16":
                q = bf16_round(q, pad=True)
            chunk, finish = self._kernel_chunks(q, library, precision, score, ids)
        else:
            rows = _TILE_QUERIES
            if self.metric == "euclidean":
                q = np.empty((b, xq_s.shape[1] + 1), dtype=np.float32)
                q[:, :-1] = xq_s
                q[:, -1] = 1.0
            chunk, finish = self._heap_chunks(q, library, score, ids)

        def worker(lo: int, hi: int) -> None:
            _one_thread_here(library)
            chunk(lo, hi)

        # counted before _single_threaded: torch's set_num_threads(1) is OpenMP's, and faiss
        # reads the same OpenMP runtime's count
        workers = max(1, min(self.threads_used(), -(-b // rows)))
        with _single_threaded(library, precision):
            _run_parts(worker, b, workers)
        finish()
        if self.metric == "euclidean":  # key = |q|^2 - score, in float64
            keys = _row_norms(xq_s)[:, None] ** 2 - score
        else:
            keys = np.negative(score, out=score)
        return keys, ids

    @staticmethod
    def _wrap(library: str, q: np.ndarray):
        """``q``, the matrix product and an array wrapper in ``library``'s types."""
        if library == "torch":
            import torch

            return torch.from_numpy(q), torch.mm, torch.from_numpy
        return q, np.matmul, lambda a: a

    def _heap_chunks(self, q: np.ndarray, library: str, score: np.ndarray, ids: np.ndarray):
        """A chunk runner and its finish: (queries x items) tiles pushed into faiss's heaps over
        ``score`` and ``ids``; the finish sorts each row (descending score)."""
        import faiss

        db = self._gemm_database(library)
        n = db.shape[1]
        heaps = faiss.float_minheap_array_t()  # keeps the c largest scores of each row
        heaps.k, heaps.nh = score.shape[1], score.shape[0]
        heaps.val, heaps.ids = faiss.swig_ptr(score), faiss.swig_ptr(ids)
        heaps.heapify()
        qt, mm, wrap = self._wrap(library, q)
        width = min(n, _TILE_ITEMS)
        group = max(1, _HEAP_SERIAL_ENTRIES // width)  # rows per addn: no OpenMP region

        def chunk(lo: int, hi: int) -> None:
            tile = np.empty(min(hi - lo, _TILE_QUERIES) * width, dtype=np.float32)
            out = wrap(tile)
            for s in range(lo, hi, _TILE_QUERIES):
                qs = qt[s : min(s + _TILE_QUERIES, hi)]
                nq = qs.shape[0]
                for j in range(0, n, _TILE_ITEMS):
                    part = db[:, j : j + _TILE_ITEMS]  # (d', nj)
                    nj = part.shape[1]
                    mm(qs, part, out=out[: nq * nj].reshape(nq, nj))  # (nq, nj) scores
                    for r in range(0, nq, group):
                        rows = min(group, nq - r)
                        heaps.addn(nj, faiss.swig_ptr(tile[r * nj :]), j, s + r, rows)

        return chunk, heaps.reorder  # reorder: each row by descending score

    def _kernel_chunks(
        self, q: np.ndarray, library: str, precision: str, score: np.ndarray, ids: np.ndarray
    ):
        """A chunk runner and its finish: (items x queries) tiles offered to the numba kernel,
        which keeps each row of ``score``/``ids`` ascending; the finish reverses the rows."""
        from lookup.index.topc import push_tile

        db, bias = self._kernel_database(library, precision)
        n = db.shape[0]
        score.fill(-np.inf)  # below every score the kernel can keep: an unfilled slot stays -1
        ids.fill(-1)
        qt, mm, wrap = self._wrap(library, q)

        starts = range(0, n, _KERNEL_TILE_ITEMS)
        parts = [db[j : j + _KERNEL_TILE_ITEMS] for j in starts]  # (nj, d) row slices
        biases = [bias[j : j + _KERNEL_TILE_ITEMS] for j in starts]

        def chunk(lo: int, hi: int) -> None:
            tile = np.empty(_KERNEL_TILE_ITEMS * min(hi - lo, _KERNEL_TILE_QUERIES), np.float32)
            out = wrap(tile)
            scratch = np.empty(2 * _KERNEL_TILE_QUERIES, dtype=np.float32)
            for s in range(lo, hi, _KERNEL_TILE_QUERIES):
                nq = min(s + _KERNEL_TILE_QUERIES, hi) - s
                qs_t = qt[s : s + nq].T  # (d, nq): a transposed view, no copy
                views = {}  # (nj, nq) views of the tile, in both libraries' types, per nj
                for j, part, part_bias in zip(starts, parts, biases, strict=True):
                    nj = part.shape[0]
                    if nj not in views:
                        views[nj] = (
                            out[: nj * nq].reshape(nj, nq),
                            tile[: nj * nq].reshape(nj, nq),
                        )
                    out_nj, scores = views[nj]
                    mm(part, qs_t, out=out_nj)  # (nj, nq) scores
                    push_tile(scores, part_bias, j, score, ids, s, _KERNEL_BLOCK, scratch)

        def finish() -> None:  # each row by descending score (the kernel keeps them ascending)
            score[:] = score[:, ::-1].copy()
            ids[:] = ids[:, ::-1].copy()

        return chunk, finish

    # ---- exact re-ranking ----------------------------------------------------------------------

    def _rank(self, xq: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """float64 distances of the candidate ids, sorted by (distance, id); (b, k) each. Rows
        are scored in contiguous parts on ``threads_used()`` Python threads (numpy releases
        the GIL) when there are at least ``_RANK_ROWS_PER_THREAD`` per thread."""
        step = max(1, _MAX_GATHER // max(1, cand.shape[1] * self.xb.shape[1]))
        d = np.empty(cand.shape, dtype=np.float64)

        def score(lo: int, hi: int) -> None:
            for s in range(lo, hi, step):
                e = min(s + step, hi)
                d[s:e] = pair_distances(self.xb, xq[s:e], cand[s:e], self.metric)

        workers = max(1, min(self.threads_used(), len(cand) // _RANK_ROWS_PER_THREAD))
        _run_parts(score, len(cand), workers)
        order = np.lexsort((cand, d), axis=1)[:, :k]
        return np.take_along_axis(d, order, axis=1), np.take_along_axis(cand, order, axis=1)

    def _rank_ids(self, q: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top k of one query ``q`` (1, d) among ``ids`` (1-d, ascending)."""
        step = max(1, _MAX_GATHER // max(1, self.xb.shape[1]))
        d = np.concatenate(
            [
                pair_distances(self.xb, q, ids[None, s : s + step], self.metric)[0]
                for s in range(0, len(ids), step)
            ]
        )
        order = np.lexsort((ids, d))[:k]
        return d[order], ids[order]

    def _fallback(
        self, xq: np.ndarray, xq_s: np.ndarray, cand: np.ndarray, thr: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top k of the given rows: every item whose float32 key is at most the row's
        threshold (plus the proposed candidates), re-ranked in float64."""
        n_db = self.xb.shape[0]
        out_d = np.empty((len(xq), k), dtype=np.float64)
        out_i = np.empty((len(xq), k), dtype=np.int64)
        rows = max(1, _MAX_BLOCK_ENTRIES // n_db)
        for s in range(0, len(xq), rows):
            keys = self._keys(xq_s[s : s + rows])
            for j in range(keys.shape[0]):
                r = s + j
                ids = np.flatnonzero(keys[j] <= thr[r])
                ids = np.union1d(ids, cand[r][cand[r] >= 0])
                if len(ids) < k or not np.isfinite(keys[j]).all():  # NaN/overflow: all
                    ids = np.arange(n_db)
                out_d[r], out_i[r] = self._rank_ids(xq[r : r + 1], ids, k)
        return out_d, out_i

    def _certify(self, q, q_s, keys, cand, k, precision):
        """Re-rank the candidates in float64 and certify each row: ``(d, i, thr, thin)``.

        The best ``r = k + _RANK_EXTRA`` candidates are re-ranked first; every item not
        re-ranked (the other candidates, and the outsiders) has a key at least ``keys[:, r]``
        (candidates come by ascending key), so a row is certified when that key is above
        ``T(d_k)``: no such item can reach the top k. Rows it leaves are re-ranked on all ``c``
        candidates and certified with ``keys[:, c - 1]``; ``thin`` marks the rows neither
        certifies (or with fewer than ``c`` candidates: a score that was NaN or -inf)."""
        c = cand.shape[1]
        r = min(c, k + (_RANK_EXTRA_BF16 if precision == "bfloat16" else _RANK_EXTRA))
        d, i = self._rank(q, cand[:, :r], k)
        thr = self._thresholds(q_s, d[:, k - 1], precision)
        first = keys[:, r] if r < c else keys[:, c - 1]
        thin = ~((first > thr) & np.isfinite(first)) | (cand[:, c - 1] < 0)
        if r < c and thin.any():
            rows = np.flatnonzero(thin)
            self.rechecked_rows += len(rows)
            d[rows], i[rows] = self._rank(q[rows], cand[rows], k)
            thr[rows] = self._thresholds(q_s[rows], d[rows, k - 1], precision)
            last = keys[rows, c - 1]
            thin[rows] = ~((last > thr[rows]) & np.isfinite(last)) | (cand[rows, c - 1] < 0)
        return d, i, thr, thin

    # ---- search --------------------------------------------------------------------------------

    def search(
        self, xq: np.ndarray, k: int, *, block_size: int = 65536, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(D, I)``: float64 harness distances and int64 ids, (nq, k), ascending by
        float64 distance, ties broken by the smaller id."""
        xq = as_matrix(xq, "xq", self.xb.shape[1])
        n_db = self.xb.shape[0]
        k = check_k(k, n_db)
        if block_size <= 0:
            raise BadInput(f"block_size={block_size} must be positive")
        out_d = np.empty((xq.shape[0], k), dtype=np.float64)
        out_i = np.empty((xq.shape[0], k), dtype=np.int64)
        self.fallback_rows = self.rechecked_rows = self.reproposed_rows = 0
        starts = range(0, xq.shape[0], block_size)
        if progress:
            from lookup.progress import progress as _progress

            starts = _progress(starts, desc="exact_knn", unit="block")
        for s in starts:
            q = xq[s : s + block_size]
            plan = self._plan(len(q))
            bf16 = plan[2] == "bfloat16"
            c = min(n_db, k + (_PROPOSE_EXTRA_BF16 if bf16 else _PROPOSE_EXTRA))
            if c == n_db:  # every item is a candidate: nothing to certify
                cand = np.broadcast_to(np.arange(n_db), (len(q), n_db))
                d, i = self._rank(q, cand, k)
                out_d[s : s + len(q)], out_i[s : s + len(q)] = d, i
                continue
            q_s = self._scale(q)
            keys, cand = self._propose(q_s, c, plan)
            d, i, thr, thin = self._certify(q, q_s, keys, cand, k, self.computed_in)
            if bf16 and thin.any() and n_db > k + _PROPOSE_EXTRA:
                # bfloat16's margin too thin for these rows: a float32 proposal for them
                rows = np.flatnonzero(thin)
                self.reproposed_rows += len(rows)
                keys, cand32 = self._propose_gemm(
                    q_s[rows], k + _PROPOSE_EXTRA, self.proposed_by, self.selected_by, "float32"
                )
                d[rows], i[rows], thr[rows], thin[rows] = self._certify(
                    q[rows], q_s[rows], keys, cand32, k, "float32"
                )
            if thin.any():
                rows = np.flatnonzero(thin)
                d[rows], i[rows] = self._fallback(q[rows], q_s[rows], cand[rows], thr[rows], k)
                self.fallback_rows += len(rows)
            out_d[s : s + len(q)], out_i[s : s + len(q)] = d, i
        if self.fallback_rows:
            log.debug(
                "exact search: %d of %d rows needed the full fallback", self.fallback_rows, len(xq)
            )
        return out_d, out_i


def exact_knn(
    xb: np.ndarray,
    xq: np.ndarray,
    k: int,
    metric: str,
    *,
    block_size: int = 65536,
    progress: bool = False,
    proposer: str = "auto",
    precision: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (ground truth): a float32 GEMM proposes, float64 decides.

    See :class:`ExactSearcher` for the method. Returns ``(D, I)``: float64 harness distances
    and int64 ids, shape (nq, k), sorted ascending, ties broken by the smaller id.
    """
    searcher = ExactSearcher(xb, metric, proposer=proposer, precision=precision)
    return searcher.search(xq, k, block_size=block_size, progress=progress)


class ExactIndex(BaseIndex):
    """Brute-force k-NN with :class:`ExactSearcher`; distances are harness ones. Build
    parameters: ``block_size`` (queries per call), ``proposer``, ``selector`` and ``precision``
    (see the module docstring)."""

    NAME = "exact"
    KNOBS = ()
    NORMALISE = False  # ExactSearcher scores the raw rows in the harness's metric

    def __init__(
        self,
        metric: str = "cosine",
        block_size: int = 65536,
        proposer: str = "auto",
        selector: str = "auto",
        precision: str = "auto",
    ) -> None:
        super().__init__(metric)
        self.block_size = check_int(self.NAME, "block_size", block_size, 1)
        self.proposer = _check_proposer(proposer)
        self.selector = _check_selector(selector)
        self.precision = _check_precision(precision, proposer, selector)
        self._searcher: ExactSearcher | None = None

    def _build(self, xb: np.ndarray) -> None:
        self._searcher = ExactSearcher(
            xb,
            self.metric,
            proposer=self.proposer,
            selector=self.selector,
            precision=self.precision,
        )

    def build_params(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "block_size": self.block_size,
            "proposer": self.proposer,
            "selector": self.selector,
            "precision": self.precision,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        n = self._searcher.threads_used()
        return {"build": n, "search": n if mode == "batch" else 1}

    def _call(self, k: int, batch: bool):
        search, block = self._searcher.search, self.block_size
        return lambda q: search(q, k, block_size=block)

    def _save(self, path: str) -> None:
        with open(path, "wb") as f:
            np.save(f, self._searcher.xb)
