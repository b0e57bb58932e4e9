"""faiss binary indexes over packed binary codes (``encoder.output=binary``), Hamming distance,
and exact Hamming search for the ground truth.

``index_binary_factory`` strings: ``BFlat`` (exhaustive, SIMD popcount), ``BIVF{nlist}`` (an
inverted file over binary k-means cells; ``nprobe`` at query time), ``BHNSW32`` (an HNSW graph
on Hamming distance; ``efSearch``). Inputs are uint8 rows, 8 bits a byte, as
:func:`lookup.codes.quantize` packs them; faiss returns integer Hamming distances, which are the
harness's own (:func:`lookup.distances.hamming_distances`), and pads with -1.
"""

from __future__ import annotations

import logging
from typing import Any

import faiss
import numpy as np

from lookup.distances import check_k, hamming_distances
from lookup.errors import BadInput
from lookup.index.base import BaseIndex, check_int
from lookup.index.faiss_backend import default_nlist
from lookup.protocols import Knob

log = logging.getLogger(__name__)

_EXTRA = 8  # candidates beyond k proposed by faiss for the exact search
_BLOCK = 1 << 22  # uint8 entries (queries x database bytes) per block of the full scan


def as_codes(x: np.ndarray, name: str = "x", width: int | None = None) -> np.ndarray:
    """``x`` as C-contiguous (n, bytes) uint8 packed codes; one-line BadInput otherwise."""
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype != np.uint8:
        raise BadInput(
            f"{name} holds {x.dtype} values of shape {x.shape}; the Hamming metric needs packed "
            "binary codes (uint8 rows): use encoder.output=binary"
        )
    if width is not None and x.shape[1] != width:
        raise BadInput(f"{name} has {x.shape[1]} bytes per row, expected {width}")
    return np.ascontiguousarray(x)


def exact_knn_hamming(xb: np.ndarray, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (D, I) under Hamming distance, ties by the smaller id, as float32/int64 (nq, k).

    faiss's ``IndexBinaryFlat`` proposes ``k + 8`` candidates; a row whose candidate list
    reaches past its k-th distance holds every item at that distance or nearer, and is sorted
    by (distance, id); a row whose ties run to the end of the list is scanned in full.
    """
    xb, xq = as_codes(xb, "xb"), as_codes(xq, "xq", xb.shape[1])
    k = check_k(k, len(xb))
    c = min(len(xb), k + _EXTRA)
    index = faiss.IndexBinaryFlat(8 * xb.shape[1])
    index.add(xb)
    D, I = index.search(xq, c)  # noqa: E741
    D = D.astype(np.int64)
    I = I.astype(np.int64)  # noqa: E741
    out_D = np.empty((len(xq), k), np.float32)
    out_I = np.empty((len(xq), k), np.int64)
    certain = (D[:, k - 1] < D[:, c - 1]) | (c == len(xb))
    for r in np.flatnonzero(certain):
        order = np.lexsort((I[r], D[r]))[:k]
        out_D[r], out_I[r] = D[r][order], I[r][order]
    rows = np.flatnonzero(~certain)
    step = max(1, _BLOCK // max(1, len(xb) * xb.shape[1]))
    for s in range(0, len(rows), step):
        block = rows[s : s + step]
        full = hamming_distances(xb, xq[block], np.tile(np.arange(len(xb)), (len(block), 1)))
        ids = np.arange(len(xb))
        for j, r in enumerate(block):
            order = np.lexsort((ids, full[j]))[:k]
            out_D[r], out_I[r] = full[j][order], order
    return out_D, out_I


class FaissBinaryIndex(BaseIndex):
    """A faiss binary index from an ``index_binary_factory`` string, Hamming metric only."""

    NAME = "faiss_binary"
    METRICS = ("hamming",)  # the metrics this backend searches
    NORMALISE = False
    KNOBS = (
        Knob("nprobe", 1, doc="BIVF lists visited per query"),
        Knob("efSearch", 1, doc="BHNSW search beam width"),
    )

    def __init__(
        self,
        metric: str = "hamming",
        factory: str = "BFlat",
        nlist: int | None = None,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        if metric != "hamming":
            raise BadInput(
                f"metric={metric!r} is not supported by index {self.NAME} (it searches binary "
                "codes: encoder.output=binary); valid: hamming"
            )
        super().__init__("cosine")  # the shared shell; this backend's metric is hamming
        self.metric = metric
        if not isinstance(factory, str) or not factory.startswith("B"):
            raise BadInput(
                f"index.factory={factory!r} is invalid; valid: a faiss index_binary_factory "
                "string such as BFlat, BIVF{nlist}, BHNSW32"
            )
        self.factory = factory
        self.nlist = None if nlist is None else check_int(self.NAME, "nlist", nlist, 1)
        self.seed = check_int(self.NAME, "seed", seed, 0)
        self.threads = check_int(self.NAME, "threads", threads, 1)
        self._resolved = factory
        self._index: Any = None

    def _prepare(self, x: np.ndarray, name: str, dim: int | None = None) -> tuple[np.ndarray, None]:
        return as_codes(x, name, dim), None  # bits: nothing to rescale

    def _build(self, xb: np.ndarray) -> None:
        n, width = xb.shape
        nlist = self.nlist if self.nlist is not None else default_nlist(n)
        self._resolved = self.factory.replace("{nlist}", str(nlist))
        faiss.omp_set_num_threads(self.threads)
        try:
            index = faiss.index_binary_factory(8 * width, self._resolved)
        except RuntimeError as exc:
            raise BadInput(
                f"index.factory={self._resolved!r} is invalid for {8 * width} bits: "
                f"{' '.join(str(exc).split())[-120:]}"
            ) from None
        if not index.is_trained:
            if hasattr(index, "cp"):
                index.cp.seed = self.seed
            index.train(xb)
        index.add(xb)
        self._index = index

    def _apply_knobs(self) -> None:
        for name, value in self._knobs.items():
            if name == "nprobe" and hasattr(self._index, "nprobe"):
                self._index.nprobe = value
            elif name == "efSearch" and hasattr(self._index, "hnsw"):
                self._index.hnsw.efSearch = value
            else:
                raise BadInput(f"index.search.{name} does not apply to faiss {self._resolved!r}")

    def build_params(self) -> dict[str, Any]:
        nlist = getattr(self._index, "nlist", None) if self._index is not None else self.nlist
        return {
            "metric": self.metric,
            "factory": self._resolved,
            "nlist": None if nlist is None else int(nlist),
            "seed": self.seed,
            "threads": self.threads,
        }

    def threads_used(self, mode: str) -> dict[str, int]:
        search = int(faiss.omp_get_max_threads()) if mode == "batch" else 1
        return {"build": self.threads, "search": search}

    def _call(self, k: int, batch: bool):
        faiss.omp_set_num_threads(self.threads)
        search = self._index.search
        return lambda q: search(q, k)

    def _to_harness(self, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return dist.astype(np.float32)

    def _save(self, path: str) -> None:
        faiss.write_index_binary(self._index, path)
