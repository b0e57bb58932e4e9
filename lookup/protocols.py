"""The two roles that carry the design: an Encoder turns texts into vectors, an Index finds
neighbours of vectors. Backends and models implement them structurally (no base classes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from lookup.distances import METRICS  # noqa: F401 - part of the contract


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to an (n, dim) float32 array in input order."""

    dim: int
    fingerprint: str  # changes whenever the vectors could change (weights, vocab, pooling)
    training: dict  # held-out metrics of the training that made the weights; {} if loaded

    def encode(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray: ...


@runtime_checkable
class Index(Protocol):
    """An ANN backend. Constructor keywords are its build parameters."""

    def build(self, xb: np.ndarray) -> None: ...

    def set_search_params(self, **params) -> None: ...  # unknown key -> ValueError listing valid

    def search(self, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...  # (nq, k) each

    def save(self, path: str) -> int: ...  # bytes written
